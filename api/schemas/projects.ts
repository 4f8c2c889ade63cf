/**
 * Request and response schemas of projects, env and dependencies (docs/functions.md#projects; the project FaaS API reference), used
 * both to validate and to document (api/openapi/document.ts).
 */
import { z } from 'zod';
import { ENV_NAME_PATTERN, ENV_NAME_RULE, MAX_PROJECT_ENV_VALUE_BYTES, MAX_PROJECT_ENV_VARS } from '../../shared/functions/limits.js';
import { PROJECT_NAME_RULE, ProjectNameSchema } from '../../shared/schemas/project-name.js';
import './jobs.js'; // extends zod with .openapi()

export const ProjectNameParamsSchema = z.object({
  name: ProjectNameSchema.clone().openapi({ example: 'shop', description: PROJECT_NAME_RULE }),
});

/** Env values: strings up to {@link MAX_PROJECT_ENV_VALUE_BYTES} bytes, without NUL. */
const EnvValueSchema = z
  .string()
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_PROJECT_ENV_VALUE_BYTES, { message: `must be at most ${MAX_PROJECT_ENV_VALUE_BYTES} bytes` })
  .refine((v) => !v.includes('\0'), { message: 'must not contain NUL' });

/** An env map: validated names, string values. */
export const EnvMapSchema = z
  .record(z.string().regex(ENV_NAME_PATTERN, { message: ENV_NAME_RULE }), EnvValueSchema)
  .refine((m) => Object.keys(m).length <= MAX_PROJECT_ENV_VARS, { message: `must hold at most ${MAX_PROJECT_ENV_VARS} variables` })
  .openapi({ example: { API_BASE: 'https://api.example.com', ENVIRONMENT: 'production' } });

/** PUT /projects/{name}/env. */
export const ProjectEnvPutSchema = z
  .object({
    env: z
      .record(z.string().regex(ENV_NAME_PATTERN, { message: ENV_NAME_RULE }), EnvValueSchema.nullable())
      .openapi({ description: 'Variables to set; with `merge: true`, `null` removes a variable' }),
    merge: z.boolean().default(false).openapi({ description: 'false (default): the env becomes exactly `env`; true: `env` is merged onto the current one' }),
  })
  .strict()
  .openapi('ProjectEnvPut');

export const ProjectEnvSchema = z
  .object({
    project: z.string(),
    env: z.record(z.string(), z.string()).openapi({ description: 'The names; every value is shown as `[redacted]` (env values are write-only)', example: { API_BASE: '[redacted]' } }),
  })
  .openapi('ProjectEnv');

/** A dependency list per runtime. */
export const DependencyListsSchema = z
  .object({
    python: z.array(z.string()).max(100).default([]).openapi({ example: ['requests>=2.31.0'], description: 'Requirement lines (wheels only)' }),
    nodejs: z.array(z.string()).max(100).default([]).openapi({ example: ['lodash@^4.17.21'], description: 'npm specs (install scripts are not run)' }),
  })
  .strict()
  .openapi('DependencyLists');

export const ProjectDependenciesSchema = z
  .object({ project: z.string(), dependencies: DependencyListsSchema })
  .openapi('ProjectDependencies');

export const ProjectFunctionSchema = z
  .object({
    function_id: z.string(),
    name: z.string(),
    runtime: z.enum(['python', 'nodejs']),
    execution_type: z.enum(['sync', 'async']),
    status: z.enum(['active', 'building', 'failed']),
    version: z.number().int(),
    updated_at: z.string(),
  })
  .openapi('ProjectFunction');

export const ProjectSummarySchema = z
  .object({
    name: z.string(),
    status: z.enum(['running', 'stopped']),
    function_count: z.number().int(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('ProjectSummary');

export const ProjectListSchema = z.object({ projects: z.array(ProjectSummarySchema), total: z.number().int() }).openapi('ProjectList');

export const ProjectSchema = ProjectSummarySchema.extend({
  functions: z.array(ProjectFunctionSchema),
  env: z.record(z.string(), z.string()).openapi({ description: 'The project env: the names, every value shown as `[redacted]` (write-only)' }),
  dependencies: DependencyListsSchema,
  started_at: z.string().nullable(),
  stopped_at: z.string().nullable(),
}).openapi('Project');

export const ProjectStateSchema = z
  .object({
    status: z.literal('success'),
    message: z.string(),
    project: z.object({ name: z.string(), status: z.enum(['running', 'stopped']), start_time: z.string().optional(), stop_time: z.string().optional() }),
  })
  .openapi('ProjectState');

export const SystemEnvSchema = z
  .object({ env: z.record(z.string(), z.string()).openapi({ description: 'FUNCTION_SYSTEM_ENV: the names, every value shown as `[redacted]`; never the service environment' }) })
  .openapi('SystemEnv');

export const SystemDependenciesSchema = z
  .object({
    nodejs: z.object({ version: z.string(), npm_version: z.string().nullable(), builtin_modules: z.array(z.string()) }),
    python: z.object({
      version: z.string().nullable(),
      pip_version: z.string().nullable(),
      packages: z.array(z.object({ name: z.string(), version: z.string() })).openapi({ description: 'What `pip list` reports for the interpreter functions run with' }),
    }),
    checked_at: z.string(),
  })
  .openapi('SystemDependencies');

export const DeployResultSchema = z
  .object({
    function_id: z.string(),
    name: z.string(),
    project: z.string(),
    runtime: z.enum(['python', 'nodejs']),
    status: z.enum(['active', 'building', 'failed']),
    version: z.number().int(),
    dependencies: z.array(z.string()),
  })
  .openapi('DeployResult');
