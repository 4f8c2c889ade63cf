import { z } from 'zod';
import { POOL_PATTERN } from '../../shared/queue/names.js';
import { JobRecordSchema } from '../../shared/schemas/job-record.js';
import { StoredScheduleSchema } from '../../shared/schemas/schedule.js';
import { NAMESPACE_PATTERN, NAMESPACE_RULE } from '../../shared/schemas/namespace.js';
import { CommandRequestSchema, JobOptionsSchema, JobProjectSchema, WebhookUrlSchema } from './jobs.js'; // also extends zod with .openapi()
import { queryInt } from './query.js';

/** Shortest `every_ms`: below it a schedule would be a load generator, not a schedule. */
export const MIN_EVERY_MS = 100;
/** Longest `every_ms`: one year of 365 days. */
export const MAX_EVERY_MS = 365 * 24 * 3600 * 1000;
/** Largest page of `GET /schedules` and `GET /schedules/{schedule_id}/jobs`. */
export const MAX_SCHEDULES_LIMIT = 100;
/** Default page of `GET /schedules` and `GET /schedules/{schedule_id}/jobs`. */
export const DEFAULT_SCHEDULES_LIMIT = 20;

const required = (what: string) => (iss: { input: unknown }) => (iss.input === undefined ? 'is required' : `must be ${what}`);
const int = (what = 'an integer') => z.number({ error: required(what) }).int({ error: `must be ${what}` });

/** A schedule's name: 1-200 characters without control characters, unique among schedules. */
export const ScheduleNameSchema = z
  .string({ error: required('a string') })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'must be at most 200 characters' })
  .regex(/^[^\x00-\x1f\x7f-\x9f]*$/, { error: 'must not contain control characters' }) // Unicode's Cc category
  .refine((s) => s.trim() !== '', { error: 'must not be blank' })
  .openapi({ example: 'nightly-primes', description: 'Unique among schedules (409 CONFLICT otherwise)' });

/** A cron expression as BullMQ's cron-parser reads it (5 fields, or 6 with seconds first; `@daily` and the like). */
export const CronSchema = z
  .string({ error: required('a string') })
  .max(200, { error: 'must be at most 200 characters' })
  .refine((s) => s.trim() !== '', { error: 'must not be empty' })
  .openapi({ example: '*/5 * * * *', description: 'Cron expression (cron-parser 5, as BullMQ reads it: 5 fields, or 6 with seconds first, or a macro such as `@hourly`); in `timezone`' });

/** An interval in ms. */
export const EveryMsSchema = int()
  .min(MIN_EVERY_MS, { error: `must be at least ${MIN_EVERY_MS}` })
  .max(MAX_EVERY_MS, { error: `must be at most ${MAX_EVERY_MS} (one year)` })
  .openapi({ example: 60_000, description: `Interval in ms, ${MIN_EVERY_MS} to ${MAX_EVERY_MS} (one year). The first run is at once, then one per interval.` });

/** An IANA time zone name (checked against Intl in the service). */
export const TimezoneSchema = z
  .string({ error: required('a string') })
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  .openapi({ example: 'Europe/Paris', description: 'IANA time zone of `cron`; default UTC. Ignored by `every_ms`.' });

/** A namespace id (docs/security.md#namespaces). */
const NamespaceIdSchema = z.string({ error: required('a string') }).regex(NAMESPACE_PATTERN, { error: NAMESPACE_RULE });

/** A pool name (worker `pool` label). */
const PoolSchema = z
  .string({ error: required('a string') })
  .regex(POOL_PATTERN, { error: 'must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit' })
  .openapi({ description: 'The pool (worker `pool` label) that runs the jobs, e.g. `gpu`; default `default` (workers without a pool label)' });

/** Runs an algorithm, params as for POST /jobs. */
export const AlgorithmTargetSchema = z
  .strictObject({
    algorithm: z.string({ error: required('a string') }).min(1, { error: 'must not be empty' }).max(200, { error: 'must be at most 200 characters' }).openapi({ example: 'PrimeChecker' }),
    params: z.record(z.string(), z.unknown(), { error: required('an object') }).openapi({ example: { number: 17 }, description: "The algorithm's params; see GET /algorithms for each schema." }),
    pool: PoolSchema.optional(),
  })
  .openapi('ScheduleAlgorithmTarget');

/** Invokes a function with an event (the function API reference; until functions exist, 404 FUNCTION_NOT_FOUND). */
export const FunctionTargetSchema = z
  .strictObject({
    function_id: z.string({ error: required('a string') }).min(1, { error: 'must not be empty' }).max(200, { error: 'must be at most 200 characters' }),
    // z.unknown, not z.json: the body is JSON already, and z.json's recursion defeats the OpenAPI generator.
    event: z.unknown().optional().openapi({ description: "The function's event (its invocation body)" }),
  })
  .openapi('ScheduleFunctionTarget');

/** Runs a command (docs/commands.md), as POST /jobs's `command` and `project`. */
export const CommandTargetSchema = z
  .strictObject({ command: CommandRequestSchema, project: JobProjectSchema.optional() })
  .openapi('ScheduleCommandTarget');

/** What each run does. A target with `function_id` is a function target, one with `command` a command target; any other an algorithm target. */
export const TargetSchema = z.union([AlgorithmTargetSchema, FunctionTargetSchema, CommandTargetSchema], { error: required('an object') }).openapi('ScheduleTarget');
export type CommandTarget = z.infer<typeof CommandTargetSchema>;
export type Target = z.infer<typeof TargetSchema>;
export type AlgorithmTarget = z.infer<typeof AlgorithmTargetSchema>;

/**
 * Options of each run: POST /jobs's job options (same rules and server maxima, checked by
 * the job service), but `pool`, which is the target's, and `delay_ms`, which a schedule's timing replaces.
 */
const optionFields = {
  webhook: WebhookUrlSchema,
  max_retries: JobOptionsSchema.shape.max_retries,
  retry_backoff: JobOptionsSchema.shape.retry_backoff,
  retry_interval_ms: JobOptionsSchema.shape.retry_interval_ms,
  timeout_ms: JobOptionsSchema.shape.timeout_ms,
  priority: JobOptionsSchema.shape.priority,
};

/**
 * Body of `POST /schedules`: exactly one of `cron` and `every_ms` (null counts as absent);
 * unknown keys are refused. The cron expression, time zone and target are checked by the service.
 */
export const ScheduleCreateSchema = z
  .strictObject({
    name: ScheduleNameSchema,
    cron: CronSchema.nullable().optional(),
    every_ms: EveryMsSchema.nullable().optional(),
    timezone: TimezoneSchema.nullable().optional(),
    target: TargetSchema,
    enabled: z.boolean({ error: 'must be true or false' }).optional().openapi({ description: 'Default true' }),
    webhook: optionFields.webhook.nullable().optional(),
    max_retries: optionFields.max_retries.nullable(),
    retry_backoff: optionFields.retry_backoff.nullable(),
    retry_interval_ms: optionFields.retry_interval_ms.nullable(),
    timeout_ms: optionFields.timeout_ms.nullable(),
    priority: optionFields.priority.nullable(),
    namespace: NamespaceIdSchema.nullable().optional().openapi({ description: 'The namespace of its runs (docs/security.md#namespaces); default `default`' }),
  })
  .openapi('ScheduleCreate', { example: { name: 'primes-every-minute', cron: '* * * * *', timezone: 'UTC', target: { algorithm: 'PrimeChecker', params: { number: 17 } } } });
export type ScheduleCreate = z.infer<typeof ScheduleCreateSchema>;

/**
 * Body of `PUT /schedules/{schedule_id}`: the fields of POST, all optional, merged onto the schedule.
 * `target` replaces the whole target; giving `cron` or `every_ms` replaces the timing (the other is
 * cleared); `null` clears an optional field (`timezone` back to UTC).
 */
export const ScheduleUpdateSchema = z
  .strictObject({
    name: ScheduleNameSchema.optional(),
    cron: CronSchema.nullable().optional(),
    every_ms: EveryMsSchema.nullable().optional(),
    timezone: TimezoneSchema.nullable().optional(),
    target: TargetSchema.optional(),
    enabled: z.boolean({ error: 'must be true or false' }).optional(),
    webhook: optionFields.webhook.nullable().optional(),
    max_retries: optionFields.max_retries.nullable(),
    retry_backoff: optionFields.retry_backoff.nullable(),
    retry_interval_ms: optionFields.retry_interval_ms.nullable(),
    timeout_ms: optionFields.timeout_ms.nullable(),
    priority: optionFields.priority.nullable(),
    namespace: NamespaceIdSchema.nullable().optional(),
  })
  .openapi('ScheduleUpdate', { example: { every_ms: 300_000, enabled: true } });
export type ScheduleUpdate = z.infer<typeof ScheduleUpdateSchema>;

const IsoTime = z.string().openapi({ example: '2026-11-21T12:00:00.000+00:00' });

/**
 * A schedule as the API shows it: the stored schedule's fields (shared/schemas/schedule.ts) in the
 * same order, without its write counter, the target as {@link TargetSchema}, the webhook's
 * credentials masked, and `next_run_at` added.
 */
export const ScheduleSchema = z
  .object({
    ...StoredScheduleSchema.omit({ version: true }).shape,
    target: TargetSchema,
    webhook: StoredScheduleSchema.shape.webhook.openapi({ description: 'Present when set; credentials in it are masked' }),
    next_run_at: IsoTime.nullable().openapi({ description: 'When the next run is due (BullMQ job scheduler); null when disabled' }),
  })
  .openapi('Schedule');
/** A schedule as the API shows it: `cron` xor `every_ms`, the other null. */
export type ScheduleRecord = z.infer<typeof ScheduleSchema>;

/** `GET /schedules`. */
export const ScheduleListSchema = z
  .object({ schedules: z.array(ScheduleSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('ScheduleList');

/** `GET /schedules/{schedule_id}/jobs`: the schedule's runs, newest first, as `GET /jobs` pages them. */
export const ScheduleRunListSchema = z
  .object({ jobs: z.array(JobRecordSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('ScheduleRunList');

/**
 * The query of `GET /schedules` and `GET /schedules/{schedule_id}/jobs`: `limit` (1-100, default 20)
 * and `offset` (default 0). Unknown parameters are refused (400 VALIDATION_ERROR), as on `GET /workers`.
 */
export const SchedulePageQuerySchema = z
  .strictObject({
    limit: queryInt(1, MAX_SCHEDULES_LIMIT).default(DEFAULT_SCHEDULES_LIMIT),
    offset: queryInt(0, 1_000_000).default(0),
  });

/** The same query as plain parameters, for the OpenAPI document. */
export const SchedulePageQueryDocSchema = z.object({
  limit: z.number().int().min(1).max(MAX_SCHEDULES_LIMIT).optional().openapi({ description: `Page size, default ${DEFAULT_SCHEDULES_LIMIT}` }),
  offset: z.number().int().min(0).optional().openapi({ description: 'Items to skip, default 0' }),
});

/** The path parameter of `/schedules/{schedule_id}...`. */
export const ScheduleIdParamsSchema = z.object({ schedule_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) });
