/**
 * The plain BullMQ side of the bench: the job options and prefix both the baseline and the floors
 * use, and the IPC messages between the bench and its no-op worker process (bullmq-worker.ts).
 */

/** The plain BullMQ jobs use fnqueue's job options, but for keeping the last 1000 completed jobs:
 * `waitUntilFinished` reads the finished job once after subscribing, and a job already removed then
 * reads as failed ("Missing key"). */
export const BASE_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { age: 86_400, count: 10_000 },
} as const;

/** The plain BullMQ queues' prefix (fnqueue's own queues use a per-run QUEUE_PREFIX). */
export const BASE_PREFIX = 'benchbull';

/** The bench to the worker process. */
export type WorkerCmd = { type: 'start'; queue: string; concurrency: number } | { type: 'count' } | { type: 'stop' };
/** The worker process to the bench. */
export type WorkerMsg = { type: 'ready' } | { type: 'started'; queue: string } | { type: 'count'; completed: number; lastAt: number } | { type: 'stopped' };
