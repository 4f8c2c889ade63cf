/**
 * The BullMQ options of a job on a jobs queue (docs/operations.md#job-options): retries, backoff,
 * priority, delay and removal, from the job options a record keeps.
 */
import { MAX_PRIORITY, type JobOptions } from '../schemas/job-record.js';

/** Retries on top of max_retries for infrastructure hiccups (a Redis error mid-run), which BullMQ counts as attempts too. */
export const INFRA_ATTEMPTS = 2;

/** Default wait before a retry, ms (`retry_interval_ms`). */
export const DEFAULT_RETRY_INTERVAL_MS = 1000;

/**
 * BullMQ options of one job. Every job gets a BullMQ priority (MAX_PRIORITY + 1 − priority, so higher
 * runs first): BullMQ runs jobs without one before all prioritized jobs, which would invert our order.
 * Failed BullMQ jobs are kept as long as records (`ttlSeconds`); the record is the source of truth.
 */
export function bullJobOptions(ttlSeconds: number, opts: JobOptions, jobId: string) {
  const retries = opts.max_retries ?? 0;
  return {
    jobId,
    attempts: 1 + retries + INFRA_ATTEMPTS,
    backoff:
      retries > 0
        ? { type: opts.retry_backoff ?? 'fixed', delay: opts.retry_interval_ms ?? DEFAULT_RETRY_INTERVAL_MS }
        : { type: 'exponential', delay: 1000 },
    priority: MAX_PRIORITY + 1 - (opts.priority ?? 0),
    ...(opts.delay_ms ? { delay: opts.delay_ms } : {}),
    removeOnComplete: true,
    removeOnFail: { age: ttlSeconds, count: 10_000 },
  };
}

/** The job's own priority (0-1000) from its BullMQ priority; undefined for the default (0). */
export function priorityOfBullPriority(bullPriority: number | undefined): number | undefined {
  return bullPriority && bullPriority <= MAX_PRIORITY ? MAX_PRIORITY + 1 - bullPriority : undefined;
}
