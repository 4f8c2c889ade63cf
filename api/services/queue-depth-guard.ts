import { isRedisUnavailable, toAppError } from '../../shared/errors/index.js';
import type { Queue } from 'bullmq';
import { AppError } from '../../shared/errors/index.js';

/** How long one count of the queue serves admission decisions. */
export const QUEUE_DEPTH_CACHE_MS = 250;

/** Seconds a caller refused because the queue is full is told to wait (Retry-After). */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 5;

/**
 * Backpressure for POST /jobs and POST /invoke: refuses new jobs while more than MAX_QUEUE_DEPTH
 * wait to run (waiting + delayed + prioritized; running jobs do not count).
 *
 * The count is taken at most once per {@link QUEUE_DEPTH_CACHE_MS} per API process (one
 * in-flight count shared by concurrent requests), so the bound is soft: the queue may pass it by
 * what all API processes accept within that time.
 */
export class QueueDepthGuard {
  private depth = 0;
  private countedAt = -Infinity;
  private counting: Promise<void> | undefined;

  /**
   * @param queues the pool's queues, one per shard (QUEUE_SHARDS): their counts are summed, so the bound is the pool's.
   * @param maxDepth MAX_QUEUE_DEPTH; 0 turns the guard off.
   */
  constructor(
    private readonly queues: readonly Pick<Queue, 'getJobCountByTypes'>[],
    private readonly maxDepth: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Resolves when a job may be added.
   * @throws AppError SERVICE_UNAVAILABLE (details.queue_depth, max_queue_depth, retry_after_seconds) when the queue is full.
   *   SERVICE_UNAVAILABLE too when Redis does not answer the count (toAppError), rather than waiting on it
   *   again to enqueue; another failure of the count lets the job through.
   */
  async check(): Promise<void> {
    if (this.maxDepth === 0) return;
    if (this.now() - this.countedAt > QUEUE_DEPTH_CACHE_MS) {
      this.counting ??= this.count().finally(() => {
        this.counting = undefined;
      });
      await this.counting;
    }
    if (this.depth >= this.maxDepth) {
      throw new AppError('SERVICE_UNAVAILABLE', `the job queue is full (${this.depth} jobs waiting, at most ${this.maxDepth}); retry later`, {
        queue_depth: this.depth,
        max_queue_depth: this.maxDepth,
        retry_after_seconds: QUEUE_FULL_RETRY_AFTER_SECONDS,
      });
    }
  }

  /**
   * The batch form of {@link check} (POST /jobs/batch): how many of `wanted` jobs may be added now
   * (MAX_QUEUE_DEPTH less the jobs counted waiting), counted at once as waiting, so batches within
   * one count do not pass the bound together. Jobs past the room get {@link fullError}.
   * @throws AppError SERVICE_UNAVAILABLE (toAppError) when Redis does not answer the count.
   */
  async room(wanted: number): Promise<number> {
    if (this.maxDepth === 0) return wanted;
    if (this.now() - this.countedAt > QUEUE_DEPTH_CACHE_MS) {
      this.counting ??= this.count().finally(() => {
        this.counting = undefined;
      });
      await this.counting;
    }
    const room = Math.max(0, Math.min(wanted, this.maxDepth - this.depth));
    this.depth += room;
    return room;
  }

  /** The error {@link check} throws when the queue is full (SERVICE_UNAVAILABLE, details.queue_depth, max_queue_depth, retry_after_seconds). */
  fullError(): AppError {
    return new AppError('SERVICE_UNAVAILABLE', `the job queue is full (${this.depth} jobs waiting, at most ${this.maxDepth}); retry later`, {
      queue_depth: this.depth,
      max_queue_depth: this.maxDepth,
      retry_after_seconds: QUEUE_FULL_RETRY_AFTER_SECONDS,
    });
  }

  private async count(): Promise<void> {
    try {
      const counts = await Promise.all(this.queues.map((q) => q.getJobCountByTypes('waiting', 'delayed', 'prioritized')));
      this.depth = counts.reduce((a, b) => a + b, 0);
      this.countedAt = this.now();
    } catch (err) {
      if (isRedisUnavailable(err)) throw toAppError(err);
      // Keep the last count; the next request tries again.
    }
  }
}
