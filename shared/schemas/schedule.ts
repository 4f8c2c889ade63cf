/**
 * A schedule as stored (docs/operations.md#schedules), as a zod schema; the type comes from it. The
 * store (shared/store/schedule-store.ts) keeps it; the API's answer (ScheduleSchema,
 * api/schemas/schedules.ts) is derived from it: the same fields in the same order, without the
 * write counter, with the API's target schema, the webhook masked, and `next_run_at` added.
 * Descriptions and examples are zod's `.meta()`, which the OpenAPI document reads.
 */
import { z } from 'zod';
import { RetryBackoffSchema } from './job-record.js';

const IsoTime = z.string().meta({ example: '2026-11-21T12:00:00.000+00:00' });

/**
 * A schedule as stored: `cron` xor `every_ms` (the other null), the webhook unmasked, and a write
 * counter. The target is stored as JSON and validated by the API's schema on the way in.
 */
export const StoredScheduleSchema = z.object({
  /** 12 lowercase hex characters, also the BullMQ job scheduler id. */
  schedule_id: z.string().meta({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
  /** Unique among schedules. */
  name: z.string(),
  cron: z.string().nullable(),
  /** Interval, ms. */
  every_ms: z.number().int().nullable(),
  /** IANA zone `cron` is read in; default UTC. */
  timezone: z.string().meta({ example: 'UTC' }),
  /** What each run does (its shape: the API's TargetSchema). */
  target: z.unknown(),
  enabled: z.boolean(),
  webhook: z.string().optional(),
  /** The job options of each run, as POST /jobs takes them. */
  max_retries: z.number().int().optional(),
  retry_backoff: RetryBackoffSchema.optional(),
  /** ms. */
  retry_interval_ms: z.number().int().optional(),
  /** ms, as asked (each run is capped at JOB_TIMEOUT_MAX_MS). */
  timeout_ms: z.number().int().optional().meta({ description: 'As asked; runs are capped at JOB_TIMEOUT_MAX_MS' }),
  /** 0 to 1000, higher first. */
  priority: z.number().int().optional(),
  /** The namespace of its runs (docs/security.md#namespaces); absent: `default`. */
  namespace: z.string().optional().meta({ description: 'The namespace of its runs; absent: default' }),
  /** The job definition of the hetuflow-compatible API its runs carry (docs/compat-hetuflow.md#schedules). */
  definition_id: z.string().optional().meta({ description: 'The hetuflow-compatible job definition it runs (set by /api/v1/schedules)' }),
  /** ISO 8601 with `+00:00`, as job records. */
  created_at: IsoTime,
  updated_at: IsoTime,
  /** Incremented by every write; a write based on an older version is refused and tried again. */
  version: z.number().int(),
});

/** A schedule as stored, `T` the target's shape (see {@link StoredScheduleSchema}). */
export type StoredSchedule<T = unknown> = Omit<z.infer<typeof StoredScheduleSchema>, 'target'> & { target: T };
