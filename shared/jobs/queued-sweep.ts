/**
 * The sweep of queued jobs whose record expired (docs/security.md#limits-and-hostile-input): a job waiting in a pool
 * nobody serves would otherwise keep its payload in its BullMQ job hash forever. Every pass takes
 * the jobs each pool still counts against MAX_QUEUED_BYTES past their record's expiry, removes
 * them from their queue and stops counting them. The API runs it every QUEUE_SWEEP_INTERVAL_MS.
 */
import type { JobQueues } from '../queue/job-queues.js';
import type { QueuedBytesStore } from '../store/queued-bytes-store.js';

/**
 * One pass over every known pool.
 * @returns the jobs removed.
 * @throws Error from Redis (the next pass tries again).
 */
export async function sweepExpiredQueued(queues: JobQueues, store: QueuedBytesStore, nowMs = Date.now()): Promise<number> {
  let removed = 0;
  for (const pool of await queues.pools()) {
    const ids = await store.expired(pool, nowMs);
    if (ids.length === 0) continue;
    // A job a worker holds (locked) is not removed: it is running, and ends on its own.
    await Promise.allSettled(ids.map((id) => queues.forJob(pool, id).remove(id)));
    await store.release(pool, ids);
    removed += ids.length;
  }
  return removed;
}
