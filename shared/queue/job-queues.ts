import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/index.js';
import type { JobData } from './job-data.js';
import { bullPrefix, type Keys } from '../store/keys.js';
import { DEFAULT_POOL, jobsQueueName } from './names.js';
import { PoolStore } from '../store/pool-store.js';

/** Most pools (named by jobs and schedules) that may exist. */
export const MAX_POOLS = 100;

/**
 * The jobs queues of every pool (routing by label), opened on demand over one connection.
 * Pools jobs were submitted to are remembered in Redis (`keys.pools`), so any API process can list
 * and count every queue, the dashboard included.
 */
export class JobQueues {
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly remembered = new Set<string>([DEFAULT_POOL]);
  private readonly known: PoolStore;

  /**
   * @param connection a command connection (shared by every queue; never a subscriber).
   * @param onError where queue errors go (connection errors are already logged by the caller).
   */
  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
    private readonly queuePrefix: string,
    private readonly onError: (queue: string, err: Error) => void = () => undefined,
  ) {
    this.known = new PoolStore(connection, keys);
  }

  /** The queue of `pool` (default pool when unset). */
  get(pool: string = DEFAULT_POOL): Queue<JobData> {
    let queue = this.queues.get(pool);
    if (!queue) {
      queue = new Queue<JobData>(jobsQueueName(pool), { connection: this.connection, prefix: bullPrefix(this.queuePrefix), skipWaitingForReady: true });
      queue.on('error', (err) => this.onError(queue!.name, err));
      this.queues.set(pool, queue);
    }
    return queue;
  }

  /**
   * Records that `pool` has jobs (once per process and pool). At most {@link MAX_POOLS} pools exist,
   * so callers cannot grow the pools (each a queue the API and dashboard open) without bound.
   * @throws AppError VALIDATION_ERROR (field `pool`) for a new pool past the limit.
   */
  async remember(pool: string): Promise<void> {
    if (this.remembered.has(pool)) return;
    if (!(await this.known.has(pool)) && (await this.known.count()) >= MAX_POOLS) {
      throw new AppError('VALIDATION_ERROR', `pool '${pool}' would be pool number ${MAX_POOLS + 1}; at most ${MAX_POOLS} pools may exist`, { field: 'pool', max_pools: MAX_POOLS });
    }
    await this.known.add(pool);
    this.remembered.add(pool);
  }

  /** Every pool known to Redis, the default pool first. */
  async pools(): Promise<string[]> {
    const stored = await this.known.all();
    return [DEFAULT_POOL, ...stored.filter((p) => p !== DEFAULT_POOL).sort()];
  }

  /** The queues of every known pool. */
  async all(): Promise<Queue<JobData>[]> {
    return (await this.pools()).map((pool) => this.get(pool));
  }

  /** Closes every queue opened (the connection stays open; it is the caller's). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
