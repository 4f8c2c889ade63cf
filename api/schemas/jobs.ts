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

/** Body of `POST /jobs` (the FunctionalScaffold API reference), plus the job options. Header `Idempotency-Key` dedupes resubmissions. */
export const JobRequestSchema = z
  .strictObject({ algorithm: AlgorithmNameSchema, params: ParamsSchema, webhook: WebhookUrlSchema.optional(), ...JobOptionsSchema.shape })
  .openapi('JobRequest', { example: { algorithm: 'PrimeChecker', params: { number: 17 } } });
export type JobRequest = z.infer<typeof JobRequestSchema>;

/** Body of `POST /invoke` with an explicit algorithm; without `algorithm` the body is PrimeChecker's params. */
export const InvokeRequestSchema = z
  .strictObject({ algorithm: AlgorithmNameSchema, params: ParamsSchema.default({}), pool: JobOptionsSchema.shape.pool })
  .openapi('InvokeRequest', { example: { algorithm: 'PrimeChecker', params: { number: 17 } } });
export type InvokeRequest = z.infer<typeof InvokeRequestSchema>;

/** `POST /invoke` 200 (the FunctionalScaffold API reference). */
export const InvokeResponseSchema = z
  .object({
    request_id: z.string(),
    status: z.literal('success'),
    result: z.unknown().openapi({ example: { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' } }),
    metadata: JobMetadataSchema,
  })
  .openapi('InvokeResponse');

/** `POST /jobs` 202 (the FunctionalScaffold API reference). */
export const JobAcceptedSchema = z
  .object({
    job_id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
    status: z.literal('pending'),
    message: z.string(),
    created_at: IsoTimeSchema,
  })
  .openapi('JobAccepted');

/** Largest page of job listings. */
export const MAX_JOBS_LIMIT = 100;

const queryInt = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

const queryTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'must be an ISO 8601 time, e.g. 2026-11-21T12:00:00Z' })
  .transform((s) => Date.parse(s));

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
    limit: queryInt(1, MAX_JOBS_LIMIT, 20),
    offset: queryInt(0, 1_000_000, 0),
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
    timestamp: z.number().openapi({ description: 'Unix time in seconds', example: 1706868000.123 }),
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
