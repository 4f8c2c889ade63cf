/**
 * Answers of the project-FaaS API under `/api/v1` (docs/compat-project-faas.md), as zod schemas
 * for the OpenAPI document: the reference's `{"status": "success", ...}` envelopes with `data`,
 * `functions`, `function` or `project`, and its error body. Times are ISO 8601 in UTC (`…Z`).
 */
import { z } from 'zod';
import { PROJECT_FAAS_CODES } from '../middleware/project-faas-errors.js';
import { PROJECT_NAME_RULE, ProjectNameSchema } from '../../shared/schemas/project-name.js';
import { FUNCTION_NAME_PATTERN } from './functions.js';
import './jobs.js'; // extends zod with .openapi()

const Success = z.literal('success');
const Time = z.string().openapi({ example: '2024-03-21T10:00:00.000Z' });
const ProjectStatus = z.enum(['running', 'stopped']);
const FunctionStatus = z.enum(['active', 'building', 'failed']).openapi({ description: '`active` when it may be invoked; `building` while its requirements install; `failed` when they could not be installed' });

/** `{project_name}`. */
export const FaasProjectParamsSchema = z.object({
  project_name: ProjectNameSchema.clone().openapi({ example: 'project1', description: PROJECT_NAME_RULE }),
});

/** `{project_name}/{function_name}`. */
export const FaasFunctionParamsSchema = FaasProjectParamsSchema.extend({
  function_name: z.string().regex(FUNCTION_NAME_PATTERN).openapi({ example: 'func1', description: '1-64 letters, digits, _ . or -, starting with a letter or digit' }),
});

/** The error body (api/middleware/project-faas-errors.ts). */
export const FaasErrorSchema = z
  .object({
    status: z.literal('error'),
    code: z.enum(PROJECT_FAAS_CODES),
    message: z.string(),
    details: z
      .object({ field: z.string().nullable().openapi({ description: 'The field, path parameter or header at fault; null when none is' }), reason: z.string() })
      .catchall(z.unknown())
      .openapi({ description: "`field` and `reason`, then fnqueue's own details (e.g. job_id, retry_after_seconds)" }),
  })
  .openapi('ProjectFaasError');

/** One function in a list: the reference's fields (`description` from the handler's docstring). */
export const FaasFunctionSummarySchema = z
  .object({
    name: z.string(),
    description: z.string().nullable().openapi({ description: "The first paragraph of the Python handler's docstring; null without one (and for Node.js)" }),
    status: FunctionStatus,
    last_executed: Time.nullable().openapi({ description: 'End of the last finished run; null before any' }),
  })
  .openapi('ProjectFaasFunctionSummary');

export const FaasProjectListSchema = z
  .object({
    status: Success,
    data: z.array(
      z.object({
        name: z.string(),
        status: ProjectStatus,
        functions: z.array(z.string()).openapi({ description: "The project's function names, newest first" }),
        created_at: Time.nullable().openapi({ description: 'null for `default` before anything set it up' }),
        updated_at: Time.nullable(),
      }),
    ),
  })
  .openapi('ProjectFaasProjectList');

export const FaasProjectSchema = z
  .object({
    status: Success,
    data: z.object({
      name: z.string(),
      status: ProjectStatus,
      functions: z.array(FaasFunctionSummarySchema),
      env: z.record(z.string(), z.string()).openapi({ description: 'The project env: names, every value shown as `[redacted]` (values are write-only)', example: { API_KEY: '[redacted]' } }),
      dependencies: z.array(z.string()).openapi({ description: "The project's Python requirement lines", example: ['requests>=2.31.0'] }),
      created_at: Time.nullable(),
      updated_at: Time.nullable(),
    }),
  })
  .openapi('ProjectFaasProject');

export const FaasProjectStateSchema = z
  .object({
    status: Success,
    message: z.string(),
    project: z.object({ name: z.string(), status: ProjectStatus, start_time: Time.optional(), stop_time: Time.optional() }),
  })
  .openapi('ProjectFaasProjectState');

export const FaasDeploySchema = z
  .object({
    status: Success,
    message: z.string(),
    function: z.object({
      name: z.string(),
      project: z.string(),
      status: FunctionStatus,
      deployed_at: Time,
      runtime: z.enum(['python', 'nodejs']),
      handler: z.string().openapi({ description: '`handler`, or `main` when the code defines main and no handler' }),
      version: z.number().int().openapi({ description: '1 at the first deploy; a deploy of the same name into the same project makes the next version' }),
      build_log: z.string().nullable().optional().openapi({ description: 'When `failed`: the install output' }),
    }),
  })
  .openapi('ProjectFaasDeploy');

export const FaasInvokeSchema = z
  .object({
    status: Success,
    result: z.unknown().openapi({ description: 'What the handler returned' }),
    execution_time: z.string().openapi({ example: '0.5s', description: "The handler's run time in seconds (to the millisecond)" }),
    timestamp: Time.openapi({ description: 'When the run ended' }),
    job_id: z.string().openapi({ description: 'The job of this run (GET /jobs/{job_id}, GET /jobs/{job_id}/logs)' }),
  })
  .openapi('ProjectFaasInvoke');

export const FaasInvokeAcceptedSchema = z
  .object({ status: Success, message: z.string(), job_id: z.string(), timestamp: Time })
  .openapi('ProjectFaasInvokeAccepted');

export const FaasFunctionListSchema = z.object({ status: Success, functions: z.array(FaasFunctionSummarySchema) }).openapi('ProjectFaasFunctionList');

export const FaasFunctionSchema = z
  .object({
    status: Success,
    function: FaasFunctionSummarySchema.extend({
      parameters: z.record(z.string(), z.string()).openapi({ description: 'Always `{}`: functions declare no parameters (the event is any JSON)' }),
      created_at: Time,
      updated_at: Time,
      execution_count: z.number().int().openapi({ description: 'Finished runs (each attempt of a retried run counts)' }),
      project: z.string(),
      runtime: z.enum(['python', 'nodejs']),
      handler: z.string(),
      version: z.number().int(),
      execution_type: z.enum(['sync', 'async']),
    }),
  })
  .openapi('ProjectFaasFunction');

export const FaasMessageSchema = z.object({ status: Success, message: z.string() }).openapi('ProjectFaasMessage');

export const FaasEnvSchema = z
  .object({ status: Success, data: z.record(z.string(), z.string()).openapi({ description: 'Names, every value shown as `[redacted]` (values are write-only)', example: { API_KEY: '[redacted]' } }) })
  .openapi('ProjectFaasEnv');

export const FaasDependencyListSchema = z
  .object({ status: Success, data: z.array(z.string()).openapi({ example: ['requests>=2.31.0'] }) })
  .openapi('ProjectFaasDependencies');

/** The multipart deploy's parts, for the document. */
export const FaasDeployBodySchema = z.object({
  function_name: z.string().openapi({ description: 'The function name (unique among all functions)' }),
  code: z.string().openapi({ type: 'string', format: 'binary', description: 'The code file (or the code as a text field); Python unless it ends in .js, .mjs or .cjs or `runtime` says otherwise' }),
  requirements: z.string().optional().openapi({ type: 'string', format: 'binary', description: 'requirements.txt lines (or npm specs / a package.json for nodejs), after the project dependencies' }),
  env_vars: z.string().optional().openapi({ description: 'A JSON object, or KEY=VALUE lines (a .env file)', example: '{"API_BASE":"https://api.example.com"}' }),
  runtime: z.enum(['python', 'nodejs']).optional().openapi({ description: 'fnqueue extension; default python' }),
  handler: z.string().optional().openapi({ description: 'fnqueue extension; default `handler`, or `main` when the code defines main and no handler' }),
  execution_type: z.enum(['sync', 'async']).optional().openapi({ description: 'fnqueue extension; default sync' }),
  timeout_ms: z.string().optional().openapi({ description: 'fnqueue extension' }),
  memory_mb: z.string().optional().openapi({ description: 'fnqueue extension' }),
});
