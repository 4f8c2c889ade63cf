import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  AttemptRecordSchema,
  IsoTimeSchema,
  JOB_STATUSES,
  JobMetadataSchema,
  JobRecordSchema,
  MAX_PRIORITY,
  MAX_RETRIES_LIMIT,
  MAX_RETRY_INTERVAL_MS,
  RETRY_BACKOFFS,
  type JobOptions,
} from '../../shared/schemas/job-record.js';
import { POOL_PATTERN } from '../../shared/queue/names.js';
import { NAMESPACE_PATTERN, NAMESPACE_RULE } from '../../shared/schemas/namespace.js';
import { ENV_NAME_PATTERN, MAX_FUNCTION_ENV_VALUE_CHARS, MAX_FUNCTION_ENV_VARS } from '../../shared/functions/limits.js';
import { CommandResultSchema, MAX_COMMAND_ARG_CHARS, MAX_COMMAND_ARGS, MAX_COMMAND_CHARS, MAX_DEPENDS_ON } from '../../shared/schemas/command.js';
import { PROJECT_NAME_RULE, ProjectNameSchema } from '../../shared/schemas/project-name.js';
import { queryInt, queryTime } from './query.js';

extendZodWithOpenApi(z);

/** An http(s) URL (the FunctionalScaffold API reference: webhook). */
export const WebhookUrlSchema = z
  .string({ error: 'must be a string' })
  .max(2048, { error: 'must be at most 2048 characters' })
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { error: 'must be an http or https URL' },
  )
  .openapi({
    example: 'https://example.com/callback',
    description:
      'Receives the outcome as a POST (the payload of the FunctionalScaffold API reference); retried at 1 s, 5 s, 15 s. Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) when the service has WEBHOOK_SECRET. ' +
      'Hosts that are or resolve to loopback, private, link-local, CGNAT, multicast or cloud metadata addresses are refused (400 for a literal IP or metadata name; a failed delivery otherwise) unless WEBHOOK_ALLOW_PRIVATE; redirects are not followed.',
  });

const AlgorithmNameSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'must be at most 200 characters' })
  .openapi({ example: 'PrimeChecker' });

const ParamsSchema = z
  .record(z.string(), z.unknown(), { error: (iss) => (iss.input === undefined ? 'is required' : 'must be an object') })
  .openapi({ example: { number: 17 }, description: "The algorithm's params; see GET /algorithms for each schema." });

const int = (min: number, max: number) =>
  z
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });


// Command jobs and job dependencies (docs/commands.md, docs/api.md#job-dependencies): the request side;
// the shapes api and worker share are in shared/schemas/command.ts.

/** Largest `max_output_size` a request may give (the server caps it at JOB_LOGS_MAX_BYTES). */
export const MAX_OUTPUT_SIZE_LIMIT = 64 * 1024 * 1024;

const noNul = (s: string) => !s.includes('\0');

/** `cmd`: a program name (no `/`, looked up on PATH inside the sandbox) or an absolute path. */
const CmdSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
  .min(1, { error: 'must not be empty' })
  .max(MAX_COMMAND_CHARS, { error: `must be at most ${MAX_COMMAND_CHARS} characters` })
  .refine(noNul, { error: 'must not contain NUL' })
  .refine((s) => s.startsWith('/') || !s.includes('/'), { error: 'must be a program name (looked up on PATH inside the sandbox) or an absolute path' })
  .openapi({ example: 'bash', description: 'A program name, looked up on PATH inside the sandbox (PATH=/usr/local/bin:/usr/bin:/bin unless the env sets it), or an absolute path in the sandbox view. COMMAND_ALLOWLIST may restrict it' });

const ArgsSchema = z
  .array(
    z
      .string({ error: 'must be strings' })
      .max(MAX_COMMAND_ARG_CHARS, { error: `must be at most ${MAX_COMMAND_ARG_CHARS} characters each` })
      .refine(noNul, { error: 'must not contain NUL' }),
    { error: 'must be an array of strings' },
  )
  .max(MAX_COMMAND_ARGS, { error: `must have at most ${MAX_COMMAND_ARGS} entries` })
  .openapi({ example: ['-c', 'echo Hello World'], description: 'Arguments, passed as they are (no shell)' });

/** A command's own env (the rules of a function's env, shared/functions/limits.ts). */
export const CommandEnvSchema = z
  .record(
    z.string().regex(ENV_NAME_PATTERN, { error: 'env names must be letters, digits and _, not starting with a digit' }),
    z
      .string({ error: 'env values must be strings' })
      .max(MAX_FUNCTION_ENV_VALUE_CHARS, { error: `env values must be at most ${MAX_FUNCTION_ENV_VALUE_CHARS} characters` })
      .refine((v) => !v.includes('\0'), { error: 'env values must not contain NUL' }),
    { error: 'must be an object of strings' },
  )
  .refine((env) => Object.keys(env).length <= MAX_FUNCTION_ENV_VARS, { error: `must have at most ${MAX_FUNCTION_ENV_VARS} variables` })
  .openapi({
    example: { GREETING: 'hello' },
    description: "The command's own env, over the system env (FUNCTION_SYSTEM_ENV and PUT /env/system) and the project's. The worker's own environment never reaches a command. Values are write-only: records show `[redacted]`",
  });

/** The `command` target of POST /jobs and POST /invoke (the hetuflow scheduler API reference's job config: cmd, args, capture_output, max_output_size). */
export const CommandRequestSchema = z
  .strictObject(
    {
      cmd: CmdSchema,
      args: ArgsSchema.default([]),
      env: CommandEnvSchema.default({}),
      capture_output: z.boolean({ error: 'must be true or false' }).default(true).openapi({ description: 'Store stdout and stderr as the job logs (GET /jobs/{job_id}/logs) and their tails in the result. Default true' }),
      max_output_size: z
        .number({ error: 'must be an integer' })
        .int({ error: 'must be an integer' })
        .min(1, { error: 'must be at least 1' })
        .max(MAX_OUTPUT_SIZE_LIMIT, { error: `must be at most ${MAX_OUTPUT_SIZE_LIMIT}` })
        .optional()
        .openapi({ example: 1048576, description: 'Captured stdout+stderr, bytes (each line counts its bytes + 32); past it a line `[output truncated at N bytes]`. Default and cap JOB_LOGS_MAX_BYTES' }),
    },
    { error: (iss) => (iss.input === undefined ? 'is required' : 'must be an object') },
  )
  .openapi('CommandRequest', { example: { cmd: 'bash', args: ['-c', 'echo Hello World'] } });
export type CommandRequest = z.infer<typeof CommandRequestSchema>;

/** `depends_on`: ids of jobs this one waits for, distinct, at most {@link MAX_DEPENDS_ON}. */
export const DependsOnSchema = z
  .array(z.string({ error: 'must be job ids' }).regex(/^[0-9a-f]{12}$/, { error: 'must be job ids (12 lowercase hex characters)' }), { error: 'must be an array of job ids' })
  .min(1, { error: 'must name at least one job' })
  .max(MAX_DEPENDS_ON, { error: `must name at most ${MAX_DEPENDS_ON} jobs` })
  .refine((ids) => new Set(ids).size === ids.length, { error: 'must not name a job twice' })
  .openapi({
    example: ['a1b2c3d4e5f6'],
    description: `Jobs this one waits for (at most ${MAX_DEPENDS_ON}, each existing): it stays pending (record field waiting_for) until all of them completed; when one fails, is cancelled or expires, this one fails with DEPENDENCY_FAILED (record field failed_dependency). Any target`,
  });

/** `project`: the project whose env a command layers between the system env and its own. */
export const JobProjectSchema = ProjectNameSchema.clone().openapi({ example: 'default', description: `Command jobs only: the project (${PROJECT_NAME_RULE}) whose env (PUT /projects/{name}/env) is layered between the system env and the command's own` });

/** The options a request may set: the record's (shared/schemas/job-record.ts), but `run_at`, which the service derives from delay_ms. */
type RequestOptionName = Exclude<keyof JobOptions, 'run_at'>;

/**
 * Job options of `POST /jobs` (docs/operations.md#job-options): the request side of the record's
 * JobOptionsSchema (shared/schemas/job-record.ts), kept apart because it validates input, with
 * messages and bounds, where the record only describes what was kept. The names (checked by
 * `satisfies` below), the backoff enum and the limits (MAX_PRIORITY, MAX_RETRIES_LIMIT,
 * MAX_RETRY_INTERVAL_MS) come from the record's module. Maxima the server sets (JOB_DELAY_MAX_MS,
 * JOB_MAX_RETRIES, JOB_TIMEOUT_MAX_MS) are checked by the job service, since they are configuration.
 */
export const JobOptionsSchema = z.object({
  priority: int(0, MAX_PRIORITY)
    .optional()
    .openapi({ description: `0 (default) to ${MAX_PRIORITY}: among waiting jobs of a pool, higher runs first; equal priorities run in submission order`, example: 10 }),
  delay_ms: int(0, Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'Wait this long before the job may start, ms (at most JOB_DELAY_MAX_MS, default 1 day, and never past RESULT_TTL_SECONDS)', example: 5000 }),
  max_retries: int(0, MAX_RETRIES_LIMIT)
    .optional()
    .openapi({ description: 'Retries after a failed attempt (the algorithm failed or timed out). Default 0: a failure is final (the FunctionalScaffold API reference). At most JOB_MAX_RETRIES (default 25)', example: 3 }),
  retry_backoff: z
    .enum(RETRY_BACKOFFS, { error: 'must be fixed or exponential' })
    .optional()
    .openapi({ description: 'fixed (default): every retry waits retry_interval_ms; exponential: the wait doubles each retry (interval, 2×, 4×...)' }),
  retry_interval_ms: int(0, MAX_RETRY_INTERVAL_MS).optional().openapi({ description: 'Wait before the first retry, ms. Default 1000', example: 1000 }),
  timeout_ms: int(1, Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'Longest one attempt may run, ms; the runner process is killed past it (TIMEOUT). Default ALGORITHM_TIMEOUT_MS; capped at JOB_TIMEOUT_MAX_MS', example: 30000 }),
  pool: z
    .string({ error: 'must be a string' })
    .regex(POOL_PATTERN, { error: 'must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit' })
    .optional()
    .openapi({ description: "Only workers whose `pool` label is this name run the job (default `default`: workers without a pool label), e.g. `gpu`" }),
} satisfies Record<RequestOptionName, z.ZodType>);
export type JobOptionsRequest = z.infer<typeof JobOptionsSchema>;

/**
 * Body of `POST /jobs` (the FunctionalScaffold API reference), plus the job options, a `command`
 * target (docs/commands.md) and `depends_on` (docs/api.md#job-dependencies). A job has exactly one
 * target: `algorithm` with `params`, or `command`. Header `Idempotency-Key` dedupes resubmissions.
 */
export const JobRequestSchema = z
  .strictObject({
    algorithm: AlgorithmNameSchema.optional(),
    params: ParamsSchema.optional(),
    command: CommandRequestSchema.optional(),
    webhook: WebhookUrlSchema.optional(),
    ...JobOptionsSchema.shape,
    depends_on: DependsOnSchema.optional(),
    project: JobProjectSchema.optional(),
    namespace: z
      .string({ error: 'must be a string' })
      .regex(NAMESPACE_PATTERN, { error: NAMESPACE_RULE })
      .optional()
      .openapi({ description: 'The namespace the job belongs to (docs/security.md#namespaces); default `default`. A namespace-limited credential may name only its own' }),
  })
  .superRefine((body, ctx) => {
    const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
    if (body.algorithm === undefined && body.command === undefined) issue('algorithm', 'is required (or give command: a job has one target)');
    else if (body.algorithm !== undefined && body.command !== undefined) issue('command', 'cannot be given with algorithm: a job has one target');
    else if (body.algorithm !== undefined && body.params === undefined) issue('params', 'is required');
    else if (body.command !== undefined && body.params !== undefined) issue('params', 'cannot be given with command (a command takes args and env)');
    if (body.project !== undefined && body.command === undefined) issue('project', 'is only for command jobs (functions take their project from their definition)');
  })
  .openapi('JobRequest', {
    example: { algorithm: 'PrimeChecker', params: { number: 17 } },
    description: 'Exactly one target: `algorithm` with `params`, or `command`. Any target may have `depends_on`.',
  });
export type JobRequest = z.infer<typeof JobRequestSchema>;

/** Body of `POST /invoke` with an explicit algorithm; without `algorithm` the body is PrimeChecker's params. */
export const InvokeRequestSchema = z
  .strictObject({ algorithm: AlgorithmNameSchema, params: ParamsSchema.default({}), pool: JobOptionsSchema.shape.pool })
  .openapi('InvokeRequest', { example: { algorithm: 'PrimeChecker', params: { number: 17 } } });
export type InvokeRequest = z.infer<typeof InvokeRequestSchema>;

/** Body of `POST /invoke` with a `command` (docs/commands.md): runs it and waits; the answer's `result` is its CommandResult. */
export const InvokeCommandRequestSchema = z
  .strictObject({ command: CommandRequestSchema, pool: JobOptionsSchema.shape.pool, timeout_ms: JobOptionsSchema.shape.timeout_ms, project: JobProjectSchema.optional() })
  .openapi('InvokeCommandRequest', { example: { command: { cmd: 'bash', args: ['-c', 'echo Hello World'] } } });
export type InvokeCommandRequest = z.infer<typeof InvokeCommandRequestSchema>;

/** `POST /invoke` 200 (the FunctionalScaffold API reference). */
export const InvokeResponseSchema = z
  .object({
    request_id: z.string(),
    status: z.literal('success'),
    result: z.unknown().openapi({ example: { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' } }),
    metadata: JobMetadataSchema,
  })
  .openapi('InvokeResponse');

/** `POST /invoke` 200 for a command (docs/commands.md): the answer of an algorithm, its result a CommandResult. */
export const InvokeCommandResponseSchema = InvokeResponseSchema.extend({
  result: CommandResultSchema.clone(),
  metadata: JobMetadataSchema.clone().openapi({ example: { algorithm: 'command', version: '1', elapsed_time: 0.041 } }),
}).openapi('InvokeCommandResponse');

/** `POST /jobs` 202 (the FunctionalScaffold API reference). */
export const JobAcceptedSchema = z
  .object({
    job_id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
    status: z.literal('pending'),
    message: z.string(),
    created_at: IsoTimeSchema,
  })
  .openapi('JobAccepted');

/** Most jobs one `POST /jobs/batch` may carry. */
export const MAX_BATCH_JOBS = 1000;

const batchJobsError = (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : 'must be an array of job bodies (as POST /jobs takes)');

/**
 * Body of `POST /jobs/batch` as validated before its jobs: the envelope only. Each job is then
 * validated on its own with {@link JobRequestSchema} (a bad job is refused in the answer, not the batch).
 */
export const JobBatchEnvelopeSchema = z.strictObject(
  {
    jobs: z
      .array(z.unknown(), { error: batchJobsError })
      .min(1, { error: 'must hold at least one job' })
      .max(MAX_BATCH_JOBS, { error: `must hold at most ${MAX_BATCH_JOBS} jobs` }),
    webhook: WebhookUrlSchema.optional(),
  },
  { error: 'must be an object' },
);

/** Body of `POST /jobs/batch`, as documented: up to {@link MAX_BATCH_JOBS} bodies of POST /jobs. */
export const JobBatchRequestSchema = z
  .strictObject({
    jobs: z.array(JobRequestSchema).min(1).max(MAX_BATCH_JOBS).openapi({ description: `1 to ${MAX_BATCH_JOBS} jobs, each the body POST /jobs takes; each is validated on its own` }),
    webhook: WebhookUrlSchema.optional().openapi({ description: 'The webhook of every job that gives none of its own' }),
  })
  .openapi('JobBatchRequest', {
    example: { jobs: [{ algorithm: 'PrimeChecker', params: { number: 17 } }, { algorithm: 'PrimeChecker', params: { number: 'x' } }] },
  });
export type JobBatchRequest = z.infer<typeof JobBatchRequestSchema>;

/** One job of a batch that was accepted: as POST /jobs's 202, without the message. */
export const JobBatchAcceptedSchema = z
  .object({
    job_id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
    status: z.literal('pending'),
    created_at: IsoTimeSchema,
  })
  .openapi('JobBatchAccepted');

/** One job of a batch that was refused: the error POST /jobs would answer for it, without request_id. */
export const JobBatchRefusedSchema = z
  .object({
    error: z
      .object({
        code: z.string().openapi({ example: 'VALIDATION_ERROR', description: 'The code POST /jobs would answer with (docs/api.md#errors)' }),
        message: z.string().openapi({ example: 'params.number must be an integer' }),
        details: z.record(z.string(), z.unknown()).openapi({ example: { field: 'params.number', value: 'x' } }),
      })
      .openapi({ description: 'details.field names a field of this job (not of the batch)' }),
  })
  .openapi('JobBatchRefused');

/** `POST /jobs/batch` 202: one entry per job, in the order of the request. */
export const JobBatchResponseSchema = z
  .object({
    results: z.array(z.union([JobBatchAcceptedSchema, JobBatchRefusedSchema])).openapi({ description: 'Per job of the request, in its order: accepted (job_id) or refused (error)' }),
    accepted: z.number().int().openapi({ example: 1 }),
    refused: z.number().int().openapi({ example: 1 }),
  })
  .openapi('JobBatchResponse');
export type JobBatchResponse = z.infer<typeof JobBatchResponseSchema>;

/** Largest page of job listings. */
export const MAX_JOBS_LIMIT = 100;

/** Query of `GET /jobs` (paging as the container management API reference pages). Unknown parameters are refused. */
export const JobListQuerySchema = z
  .object({
    status: z.enum(JOB_STATUSES, { error: `must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
    algorithm: z.string().min(1).max(200).optional(),
    function_id: z.string().min(1).max(200).optional(),
    schedule_id: z.string().min(1).max(200).optional(),
    namespace: z.string().regex(NAMESPACE_PATTERN, { error: NAMESPACE_RULE }).optional(),
    created_after: queryTime.optional(),
    created_before: queryTime.optional(),
    limit: queryInt(1, MAX_JOBS_LIMIT).default(20),
    offset: queryInt(0, 1_000_000).default(0),
  })
  .strict();

/** The same query as plain parameters, for the OpenAPI document. */
export const JobListQueryDocSchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  algorithm: z.string().optional(),
  function_id: z.string().optional(),
  schedule_id: z.string().optional(),
  namespace: z.string().optional().openapi({ description: 'Jobs of one namespace (jobs that name none are in `default`); required of a credential limited to several namespaces (docs/security.md#namespaces)' }),
  created_after: z.string().optional().openapi({ description: 'ISO 8601; jobs created at or after it' }),
  created_before: z.string().optional().openapi({ description: 'ISO 8601; jobs created at or before it' }),
  limit: z.number().int().min(1).max(MAX_JOBS_LIMIT).optional().openapi({ description: 'Page size, default 20' }),
  offset: z.number().int().min(0).optional().openapi({ description: 'Items to skip, default 0' }),
});

/** `GET /jobs`: one page, newest first. */
export const JobListSchema = z
  .object({ jobs: z.array(JobRecordSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('JobList');

/** `GET /jobs/{job_id}/attempts`. */
export const AttemptListSchema = z
  .object({ job_id: z.string(), attempts: z.array(AttemptRecordSchema), total: z.number().int() })
  .openapi('AttemptList');

/** The one error shape (DESIGN.md, Errors). */
export const ErrorSchema = z
  .object({
    error: z.string().openapi({ example: 'VALIDATION_ERROR' }),
    message: z.string().openapi({ example: 'number must be an integer' }),
    details: z.record(z.string(), z.unknown()).openapi({ example: { field: 'number', value: 'abc' } }),
    request_id: z.string().openapi({ example: '550e8400-e29b-41d4-a716-446655440000' }),
  })
  .openapi('Error');

/** `GET /healthz` (the FunctionalScaffold API reference). */
export const HealthSchema = z
  .object({ status: z.literal('healthy'), timestamp: z.number().openapi({ description: 'Unix time in seconds', example: 1706868000.123 }) })
  .openapi('Health');

/** `GET /health` (the project FaaS API reference's liveness path): GET /healthz's answer with the version. */
export const ProjectHealthSchema = z
  .object({
    status: z.literal('healthy'),
    version: z.string().openapi({ example: '0.1.0', description: "This API process's version (package.json)" }),
    timestamp: z.string().openapi({ description: 'ISO 8601 in UTC, as the project FaaS API reference writes it (GET /healthz has epoch seconds)', example: '2024-03-21T10:00:00.000Z' }),
  })
  .openapi('ProjectHealth');

/** `GET /readyz` (the FunctionalScaffold API reference). */
export const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    timestamp: z.number(),
    checks: z.record(z.string(), z.boolean()).openapi({ example: { algorithm: true, redis: true, accepting: true } }),
  })
  .openapi('Ready');

/** `GET /algorithms`. */
export const AlgorithmListSchema = z
  .object({
    algorithms: z.array(
      z.object({ name: z.string(), version: z.string(), description: z.string(), params_schema: z.record(z.string(), z.unknown()) }),
    ),
  })
  .openapi('AlgorithmList');
