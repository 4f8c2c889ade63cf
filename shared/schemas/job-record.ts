/**
 * The job record's shapes (docs/api.md#job-lifecycle), as zod schemas; the types come from them.
 * `GET /jobs/{job_id}` is the FunctionalScaffold API reference's record to the letter, plus
 * `webhook` when the job has one, and the job options and fields below, each present only when it
 * carries something. The store (shared/store/job-store.ts) keeps a {@link StoredJob}.
 *
 * These are also the API's wire schemas: the OpenAPI document (api/openapi/) reads their
 * descriptions and examples from zod's own `.meta()` (`id` names the component), so no OpenAPI
 * extension is needed here and the worker loads none.
 */
import { z } from 'zod';
import { CommandViewSchema, FailedDependencySchema } from './command.js';

/** An ISO 8601 time as the records write it (the FunctionalScaffold API reference's form). */
export const IsoTimeSchema = z.string().meta({ example: '2026-02-02T10:00:00.000+00:00' });

/** Every status, for validation of listing filters: pending → running → completed | failed, plus `cancelled`. */
export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** Most a job's priority may be; 0 is the default and the lowest. */
export const MAX_PRIORITY = 1000;

/** Most retries a request may ask for (`max_retries`; the server's JOB_MAX_RETRIES caps it lower). */
export const MAX_RETRIES_LIMIT = 1000;

/** Longest `retry_interval_ms` a request may ask for: one day. */
export const MAX_RETRY_INTERVAL_MS = 86_400_000;

/** How a failed attempt's retry waits: the same `retry_interval_ms` each time, or doubling from it. */
export const RETRY_BACKOFFS = ['fixed', 'exponential'] as const;
export const RetryBackoffSchema = z.enum(RETRY_BACKOFFS);
export type RetryBackoff = z.infer<typeof RetryBackoffSchema>;

/**
 * Job options as a record keeps and shows them; each shows on the record only when it was given,
 * in this order (the store's option fields are this schema's keys). Their bounds are checked on
 * the way in: the request schema (api/schemas/jobs.ts) takes the same names, enum and limits from here.
 */
export const JobOptionsSchema = z.object({
  /** 0 (default) to MAX_PRIORITY; higher runs first among waiting jobs. */
  priority: z.number().int().optional(),
  /** Wait before the job may start, ms. */
  delay_ms: z.number().int().optional(),
  /** When a delayed job may start: created_at + delay_ms (ISO 8601). */
  run_at: IsoTimeSchema.optional().meta({ description: 'When a delayed job may start' }),
  /** Retries after a failed attempt (0 default: an algorithm failure is final). */
  max_retries: z.number().int().optional(),
  retry_backoff: RetryBackoffSchema.optional(),
  /** First retry's wait, ms (then the same, or doubled each time when exponential). */
  retry_interval_ms: z.number().int().optional(),
  /** Longest one attempt may run, ms, after the server's cap (JOB_TIMEOUT_MAX_MS). */
  timeout_ms: z.number().int().optional().meta({ description: 'After the server cap' }),
  /** The pool (worker `pool` label) that runs the job; shown when not `default`. */
  pool: z.string().optional().meta({ description: 'Shown when not `default`' }),
});
export type JobOptions = z.infer<typeof JobOptionsSchema>;

/** The option fields of a record, in the order the record shows them. */
export const JOB_OPTION_FIELDS = JobOptionsSchema.keyof().options;

/** Progress an algorithm or function reported. */
export const JobProgressSchema = z
  .object({
    /** 0 to 100. */
    percent: z.number().min(0).max(100),
    message: z.string().nullable(),
    updated_at: IsoTimeSchema,
  })
  .meta({ id: 'Progress' });
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** How an attempt ended (`running` while it runs). */
export const ATTEMPT_STATUSES = ['running', 'completed', 'failed', 'timeout', 'cancelled', 'lost'] as const;

/**
 * One attempt of a job (the hetuflow scheduler API reference's task instance): which worker ran it,
 * when, and how it ended. `lost`: the worker stopped heartbeating the job (killed, or its lock
 * expired) and the job ran again.
 */
export const AttemptRecordSchema = z
  .object({
    attempt: z.number().int(),
    worker_id: z.string(),
    status: z.enum(ATTEMPT_STATUSES),
    started_at: IsoTimeSchema,
    finished_at: IsoTimeSchema.nullable(),
    /** Wall time of the attempt, ms; null while running. */
    duration_ms: z.number().nullable(),
    error: z.string().nullable(),
    error_code: z.string().nullable(),
    /** The runner process's exit code when it exited (a crash); else null. */
    exit_code: z.number().int().nullable(),
  })
  .meta({ id: 'Attempt' });
export type AttemptRecord = z.infer<typeof AttemptRecordSchema>;

/** The record's `metadata` (the FunctionalScaffold API reference's): which algorithm ran and how long, in seconds (`0.001`). */
export const JobMetadataSchema = z
  .object({
    algorithm: z.string(),
    version: z.string(),
    /** Run time of the algorithm in seconds. */
    elapsed_time: z.number().meta({ description: 'seconds' }),
  })
  .meta({ id: 'Metadata', example: { algorithm: 'PrimeChecker', version: '1.0.0', elapsed_time: 0.001 } });
export type JobMetadata = z.infer<typeof JobMetadataSchema>;

/** The outcome of a job's webhook delivery (ours; shown only when a webhook was given). */
export const WebhookOutcomeSchema = z
  .object({
    url: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    /** Attempts made so far (1 + retries). */
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    /** ISO 8601 time of the successful attempt. */
    delivered_at: z.string().nullable(),
  })
  .meta({ id: 'WebhookOutcome' });
export type WebhookOutcome = z.infer<typeof WebhookOutcomeSchema>;

/**
 * A record's command-job and dependency fields (docs/commands.md, docs/api.md#job-dependencies), each
 * shown only when it carries something, in this order after the others.
 */
export const JobTargetFieldsSchema = z.object({
  command: CommandViewSchema.optional(),
  project: z.string().optional().meta({ description: 'The project whose env a command job layers between the system env and its own' }),
  depends_on: z.array(z.string()).optional().meta({ description: 'The jobs this one waits for: it starts once all of them completed' }),
  waiting_for: z
    .array(z.string())
    .optional()
    .meta({ description: 'While pending: the jobs of depends_on that have not completed yet (the reason it has not started)' }),
  failed_dependency: FailedDependencySchema.optional().meta({ description: 'The job of depends_on whose failure, cancellation or expiry failed this one (error_code DEPENDENCY_FAILED)' }),
});

/**
 * `GET /jobs/{job_id}` (see the module comment), in the order toPublicRecord writes it: the
 * FunctionalScaffold API reference's fields, then `webhook`, the options, attempts, progress and origin.
 */
export const JobRecordSchema = z
  .object({
    job_id: z.string(),
    status: JobStatusSchema.meta({ description: 'As the FunctionalScaffold API reference: pending → running → completed | failed; `cancelled` after POST /jobs/{job_id}/cancel' }),
    algorithm: z.string(),
    created_at: IsoTimeSchema,
    started_at: IsoTimeSchema.nullable(),
    completed_at: IsoTimeSchema.nullable(),
    result: z.unknown().meta({ description: "The algorithm's or function's result (any JSON); a command job's is a CommandResult (docs/commands.md; the shape of POST /invoke's answer for a command); null unless completed" }),
    error: z.string().nullable(),
    metadata: JobMetadataSchema.nullable(),
    webhook: WebhookOutcomeSchema.optional(),
    ...JobOptionsSchema.shape,
    /** Attempts started so far (shown when the job may retry or ran more than once). */
    attempts: z.number().int().optional().meta({ description: 'Attempts started; shown when the job may retry or ran more than once. See GET /jobs/{job_id}/attempts' }),
    progress: JobProgressSchema.optional(),
    schedule_id: z.string().optional().meta({ description: 'The schedule that produced this run' }),
    function_id: z.string().optional(),
    ...JobTargetFieldsSchema.shape,
    namespace: z.string().optional().meta({ description: 'The namespace the job belongs to, when not `default` (docs/security.md#namespaces)' }),
    definition_id: z.string().optional().meta({ description: 'The job definition of the hetuflow-compatible API it runs (docs/compat-hetuflow.md)' }),
  })
  .meta({ id: 'JobRecord' });
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** A record plus what the service keeps for itself: the error's code (to answer /invoke) and the params. */
export const StoredJobSchema = JobRecordSchema.extend({
  /** The failure's code (AppError code), carried from the worker to the API as a field. */
  error_code: z.string().nullable(),
  params: z.unknown(),
  /** The BullMQ job id when it is not the record's (a schedule's run: `repeat:<scheduler>:<ms>`). */
  queue_job_id: z.string().optional(),
  /** A job with depends_on: its BullMQ job data (JSON) until it is enqueued. */
  queue_data: z.string().optional(),
});
export type StoredJob = z.infer<typeof StoredJobSchema>;

/** A new job's record, as JobStore.create writes it. */
export const NewJobSchema = JobOptionsSchema.extend({
  job_id: z.string(),
  algorithm: z.string(),
  params: z.unknown(),
  created_at: z.string(),
  webhook: z.string().optional(),
  schedule_id: z.string().optional(),
  function_id: z.string().optional(),
  namespace: z.string().optional(),
  definition_id: z.string().optional(),
  queue_job_id: z.string().optional(),
  command: CommandViewSchema.optional(),
  project: z.string().optional(),
  depends_on: z.array(z.string()).optional(),
  /** A job with depends_on: its BullMQ job data as JSON, enqueued once every dependency completed. */
  queue_data: z.string().optional(),
  /** A caller waits for the job's end (a sync job): its events are published from the start (JobStore.watch). */
  watched: z.boolean().optional(),
});
export type NewJob = z.infer<typeof NewJobSchema>;
