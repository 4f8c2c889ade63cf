/** What the hand-written baseline's API and worker processes (BASELINE, not fnqueue) agree on. */

/** Its queue, under its own prefix (fnqueue's queues use a per-run QUEUE_PREFIX). */
export const HANDWRITTEN_QUEUE = 'jobs';
export const HANDWRITTEN_PREFIX = 'benchhand';

/**
 * The job options such a service would pick: finished jobs kept for an hour (so `GET /jobs/:id`
 * finds them and `waitUntilFinished` reads the result), three attempts with exponential backoff.
 */
export const HANDWRITTEN_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 86_400 },
} as const;
