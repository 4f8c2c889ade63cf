/**
 * Zod schemas of the functions API (docs/functions.md; the function API reference) and of GET /jobs/{job_id}/logs (the container management API reference's
 * tail/since/until): they validate requests and feed the OpenAPI document (api/openapi/document.ts).
 * Limits that are configuration (FUNCTION_CODE_MAX_BYTES, FUNCTION_MEMORY_MAX_MB, JOB_TIMEOUT_MAX_MS)
 * are checked by api/services/function-service.ts.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { EXECUTION_TYPES, FUNCTION_RUNTIMES, FunctionRecordSchema } from '../../shared/schemas/function-record.js';
import { JobLogLineSchema } from '../../shared/schemas/job-log.js';
import { ENV_NAME_PATTERN, MAX_DEPENDENCIES, MAX_DEPENDENCY_SPEC_CHARS, MAX_FUNCTION_ENV_VALUE_CHARS, MAX_FUNCTION_ENV_VARS } from '../../shared/functions/limits.js';
import { JobRecordSchema, MAX_PRIORITY, MAX_RETRIES_LIMIT } from '../../shared/schemas/job-record.js';
import { PROJECT_NAME_RULE, ProjectNameSchema } from '../../shared/schemas/project-name.js';
import { JobListSchema, JobOptionsSchema, WebhookUrlSchema } from './jobs.js';
import { isIsoTime, queryInt } from './query.js';

extendZodWithOpenApi(z);

/** A function name: 1-64 letters, digits, `_ . -`, starting with a letter or digit (the function API reference: `myFunction`). */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A handler name: an identifier both runtimes accept. */
const HANDLER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Largest max_output_bytes a function may ask for (64 MiB). */
export const MAX_OUTPUT_BYTES_LIMIT = 64 * 1024 * 1024;
/** Largest page of functions. */
export const MAX_FUNCTIONS_LIMIT = 100;
/** Most log lines one GET /jobs/{job_id}/logs may ask for with tail. */
export const MAX_LOG_TAIL = 1_000_000;

const required = (what: string) => (iss: { input: unknown }) => (iss.input === undefined ? 'is required' : `must be ${what}`);

const int = (min: number, max: number) =>
  z
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const NameSchema = z
  .string({ error: required('a string') })
  .regex(FUNCTION_NAME_PATTERN, { error: 'must be 1-64 letters, digits, _ . or -, starting with a letter or digit' })
  .openapi({ example: 'myFunction', description: 'Unique among functions (409 CONFLICT when taken)' });

const RuntimeSchema = z
  .enum(FUNCTION_RUNTIMES, { error: (iss) => (iss.input === undefined ? 'is required' : "must be 'python' or 'nodejs'") })
  .openapi({ example: 'python' });

const CodeSchema = z
  .string({ error: required('a string') })
  .refine((s) => s.trim() !== '', { error: 'must not be empty' })
  .openapi({
    example: 'def handler(event): return event',
    description:
      'The source. Defines a top-level `handler` (or the name in `handler`): Python `def handler(event)` or `async def`; Node `function handler(event)`, `module.exports.handler`, `export function handler`, async or not. ' +
      'At most FUNCTION_CODE_MAX_BYTES (default 256 KiB); compiled at deploy (400 with the compiler message on a syntax error).',
  });

const ExecutionTypeSchema = z
  .enum(EXECUTION_TYPES, { error: "must be 'sync' or 'async'" })
  .openapi({ description: '`sync`: invoke answers 200 with the finished job; `async`: invoke answers 202 with the pending job. Default `sync`' });

const EnvSchema = z
  .record(
    z.string().regex(ENV_NAME_PATTERN, { error: 'env names must be letters, digits and _, not starting with a digit' }),
    z
      .string({ error: 'env values must be strings' })
      .max(MAX_FUNCTION_ENV_VALUE_CHARS, { error: `env values must be at most ${MAX_FUNCTION_ENV_VALUE_CHARS} characters` })
      // A process environment cannot hold NUL: refused here rather than failing every invocation.
      .refine((v) => !v.includes('\0'), { error: 'env values must not contain NUL' }),
    { error: 'must be an object of strings' },
  )
  .refine((env) => Object.keys(env).length <= MAX_FUNCTION_ENV_VARS, { error: `must have at most ${MAX_FUNCTION_ENV_VARS} variables` })
  .openapi({ example: { GREETING: 'hello' }, description: "The function's own env: layered over the system (FUNCTION_SYSTEM_ENV) and project env. The service's own environment never reaches a function." });

const DependenciesSchema = z
  .array(z.string({ error: 'must be strings' }).min(1, { error: 'must not be empty' }).max(MAX_DEPENDENCY_SPEC_CHARS, { error: `must be at most ${MAX_DEPENDENCY_SPEC_CHARS} characters` }), { error: 'must be an array of strings' })
  .max(MAX_DEPENDENCIES, { error: `must have at most ${MAX_DEPENDENCIES} entries` })
  .openapi({ example: [], description: 'npm specs (nodejs) or requirements lines (python), installed once per version: the function is `building` until then' });

// clone(): zod 4 gives a schema its methods when it is built, so `.openapi()` needs one built after extendZodWithOpenApi.
const ProjectSchema = ProjectNameSchema.clone().openapi({ example: 'default', description: `The function's project (${PROJECT_NAME_RULE}; the rule of the /projects/{name} routes). Default \`default\`` });

/** The optional fields of a function, as POST and PUT take them. */
const functionFields = {
  handler: z.string({ error: 'must be a string' }).regex(HANDLER_PATTERN, { error: 'must be an identifier (letters, digits, _)' }).openapi({ example: 'handler', description: 'Default `handler`' }),
  timeout_ms: int(1, Number.MAX_SAFE_INTEGER).openapi({ example: 30000, description: 'Longest one invocation may run (its process tree is killed; the job fails with TIMEOUT). Default FUNCTION_TIMEOUT_MS; at most JOB_TIMEOUT_MAX_MS' }),
  memory_mb: int(32, 1_048_576).openapi({ example: 256, description: 'Memory cap of the process, MiB (over it the job fails with an out-of-memory error). Default FUNCTION_MEMORY_MB; at least 96 for nodejs and 32 for python (MIN_MEMORY_MB); at most FUNCTION_MEMORY_MAX_MB' }),
  max_output_bytes: int(1024, MAX_OUTPUT_BYTES_LIMIT).openapi({ example: 1048576, description: 'Captured stdout+stderr per invocation; then `[output truncated at N bytes]`. Default FUNCTION_MAX_OUTPUT_BYTES' }),
  env: EnvSchema,
  dependencies: DependenciesSchema,
  project: ProjectSchema,
};

/** Body of `POST /functions` (the function API reference plus ours). */
export const FunctionCreateSchema = z
  .strictObject({
    name: NameSchema,
    runtime: RuntimeSchema,
    code: CodeSchema,
    execution_type: ExecutionTypeSchema.default('sync'),
    handler: functionFields.handler.optional(),
    timeout_ms: functionFields.timeout_ms.optional(),
    memory_mb: functionFields.memory_mb.optional(),
    max_output_bytes: functionFields.max_output_bytes.optional(),
    env: functionFields.env.optional(),
    dependencies: functionFields.dependencies.optional(),
    project: functionFields.project.optional(),
    pool: JobOptionsSchema.shape.pool,
  })
  .openapi('FunctionCreate', { example: { name: 'echo-py', runtime: 'python', code: 'def handler(event): return event', execution_type: 'sync' } });
export type FunctionCreate = z.infer<typeof FunctionCreateSchema>;

/** Body of `PUT /functions/{function_id}`: any field of POST, merged onto the function; `pool: null` clears the pool. */
export const FunctionUpdateSchema = z
  .strictObject({
    name: NameSchema.optional(),
    runtime: RuntimeSchema.optional(),
    code: CodeSchema.optional(),
    execution_type: ExecutionTypeSchema.optional(),
    handler: functionFields.handler.optional(),
    timeout_ms: functionFields.timeout_ms.optional(),
    memory_mb: functionFields.memory_mb.optional(),
    max_output_bytes: functionFields.max_output_bytes.optional(),
    env: functionFields.env.optional(),
    dependencies: functionFields.dependencies.optional(),
    project: functionFields.project.optional(),
    pool: JobOptionsSchema.shape.pool.unwrap().nullable().optional(),
  })
  .openapi('FunctionUpdate', { example: { code: 'def handler(event): return {"echo": event}' } });
export type FunctionUpdateBody = z.infer<typeof FunctionUpdateSchema>;

/** `GET /functions`. */
export const FunctionListSchema = z
  .object({ functions: z.array(FunctionRecordSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('FunctionList');

/** Query of `GET /functions`: paging and an optional project. Unknown parameters are refused. */
export const FunctionListQuerySchema = z
  .object({ limit: queryInt(1, MAX_FUNCTIONS_LIMIT).default(20), offset: queryInt(0, 1_000_000).default(0), project: ProjectSchema.optional() })
  .strict();

/** The same query as plain parameters, for the OpenAPI document. */
export const FunctionListQueryDocSchema = z.object({
  limit: z.number().int().min(1).max(MAX_FUNCTIONS_LIMIT).optional().openapi({ description: 'Page size, default 20' }),
  offset: z.number().int().min(0).optional().openapi({ description: 'Items to skip, default 0' }),
  project: z.string().optional().openapi({ description: "Only this project's functions" }),
});

/** Query of `GET /functions/{function_id}/jobs`: paging. */
export const FunctionJobsQuerySchema = z.object({ limit: queryInt(1, 100).default(20), offset: queryInt(0, 1_000_000).default(0) }).strict();
export const FunctionJobsQueryDocSchema = FunctionListQueryDocSchema.omit({ project: true });

/** `GET /functions/{function_id}/jobs`: a JobList plus the function's id. */
export const FunctionJobListSchema = JobListSchema.extend({ function_id: z.string() }).openapi('FunctionJobList');

/**
 * Query of `POST /functions/{function_id}/invoke`: the body is the event, so job options travel in
 * the query (strings, read as api/schemas/query.ts reads them). Unknown parameters are refused.
 */
export const FunctionInvokeQuerySchema = z
  .object({
    webhook: WebhookUrlSchema.optional(),
    priority: queryInt(0, MAX_PRIORITY).optional(),
    delay_ms: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
    max_retries: queryInt(0, MAX_RETRIES_LIMIT).optional(),
    timeout_ms: queryInt(1, Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type FunctionInvokeQuery = z.infer<typeof FunctionInvokeQuerySchema>;

/** The same query for the OpenAPI document. */
export const FunctionInvokeQueryDocSchema = z.object({
  webhook: z.string().optional().openapi({ description: 'http(s) URL receiving the outcome (as for POST /jobs), URL-encoded, e.g. `https%3A%2F%2Fexample.com%2Fcallback`' }),
  priority: z.number().int().min(0).max(MAX_PRIORITY).optional().openapi({ description: 'As for POST /jobs' }),
  delay_ms: z.number().int().min(0).optional().openapi({ description: 'As for POST /jobs' }),
  max_retries: z.number().int().min(0).optional().openapi({ description: 'As for POST /jobs (default 0: a failure is final)' }),
  timeout_ms: z.number().int().min(1).optional().openapi({ description: "This invocation's timeout, instead of the function's (capped at JOB_TIMEOUT_MAX_MS)" }),
});

/** `{function_id}` path parameter. */
export const FunctionIdParamsSchema = z.object({ function_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) });

/** A time in a logs query: ISO 8601 or epoch seconds (the container management API reference), as ms. */
const logTime = z
  .string()
  .refine((s) => /^\d+(\.\d+)?$/.test(s) || isIsoTime(s), { error: 'must be an ISO 8601 time or epoch seconds' })
  .transform((s) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : Date.parse(s)));

/** Query of `GET /jobs/{job_id}/logs` (the container management API reference: tail, since, until). */
export const JobLogsQuerySchema = z.object({ tail: queryInt(0, MAX_LOG_TAIL).optional(), since: logTime.optional(), until: logTime.optional() }).strict();

export const JobLogsQueryDocSchema = z.object({
  tail: z.number().int().min(0).optional().openapi({ description: 'Only the last N lines (after since/until)' }),
  since: z.string().optional().openapi({ description: 'Lines at or after this time: ISO 8601 (`2026-01-01T00:00:00Z`) or epoch seconds' }),
  until: z.string().optional().openapi({ description: 'Lines at or before this time: ISO 8601 or epoch seconds (`1767225600`)' }),
});

/** `GET /jobs/{job_id}/logs`. */
export const JobLogsSchema = z
  .object({
    job_id: z.string(),
    logs: z.array(JobLogLineSchema),
    total: z.number().int().openapi({ description: 'Lines matching since/until (before tail)' }),
    truncated: z.boolean().openapi({ description: 'The output was cut at max_output_bytes (a `[output truncated at N bytes]` line marks the spot)' }),
  })
  .openapi('JobLogs');

/** The answers of invoke: the job record (sync: finished; async: pending). */
export const FunctionInvokeResponseSchema = JobRecordSchema;
