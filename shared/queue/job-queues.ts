import { Queue } from './bullmq-queue.js';
import { bullmqTelemetry } from '../tracing.js';
import type { RedisConnection as Redis } from './redis.js';
import { AppError, poolNotServed } from '../errors/index.js';
import type { JobData } from './job-data.js';
import type { Keys } from '../store/keys.js';
import { DEFAULT_POOL, jobsQueueName } from './names.js';
import { PoolStore } from '../store/pool-store.js';

/** Most pools no worker serves that schedules may name (pools some worker serves are not counted). */
export const MAX_POOLS = 100;

/** How long a pool found served is trusted without reading the worker registry again, ms. */
const SERVED_CACHE_MS = 1000;

/**
 * The jobs queues of every pool (routing by label), opened on demand over one connection.
 * A pool exists while a worker serves it (the worker registry's `pool` labels) or while its queue
 * holds jobs or job schedulers: pools jobs or schedules were sent to are remembered in Redis
 * (`keys.pools`), so any API process can list and count every queue, the dashboard included, and
 * forgotten once unserved and empty (docs/operations.md#pools).
 */
export class JobQueues {
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly known: PoolStore;
  private served: { at: number; pools: Set<string> } | undefined;

  /**
   * @param connection a command connection (shared by every queue; never a subscriber).
   * @param keys the deployment's keys: each shard's BullMQ prefix comes from them (`keys.shard(n).bullPrefix`).
   * @param queuePrefix QUEUE_PREFIX (the keys already carry it; kept for the callers' signature).
   * @param onError where queue errors go (connection errors are already logged by the caller).
   * @param servedPools the pools some worker serves (WorkerRegistry.servedPools); without it, only the default pool is served.
   */
  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
    private readonly queuePrefix: string,
    private readonly onError: (queue: string, err: Error) => void = () => undefined,
    private readonly servedPools: () => Promise<Set<string>> = async () => new Set([DEFAULT_POOL]),
  ) {
    this.known = new PoolStore(connection, keys);
  }

  /**
   * Admits a job to `pool`: the default pool always; a named pool only while some worker serves it.
   * @throws AppError CONFLICT (poolNotServed, details `{reason: 'pool_not_served', pool}`) when no worker serves it.
   */
  async admitJob(pool: string = DEFAULT_POOL): Promise<void> {
    if (pool === DEFAULT_POOL) return;
    // A pool found served is trusted for SERVED_CACHE_MS (one registry read per second, not per job);
    // an unserved one is read again each time, so a worker that just started is seen at once.
    const cached = this.served && Date.now() - this.served.at < SERVED_CACHE_MS && this.served.pools.has(pool);
    if (!cached) {
      this.served = { at: Date.now(), pools: await this.servedPools() };
      if (!this.served.pools.has(pool)) throw poolNotServed(pool);
      // Remembered, so a served pool stays listed while its queue holds jobs after its workers leave.
      await this.known.add(...[...this.served.pools].filter((p) => p !== DEFAULT_POOL));
    }
  }

  /**
   * The queue of `pool` (default pool when unset) in shard `shard` (QUEUE_SHARDS; default 0, the
   * shard of `{QUEUE_PREFIX}`, which holds every pool's job schedulers).
   */
  get(pool: string = DEFAULT_POOL, shard = 0): Queue<JobData> {
    const name = `${shard}:${pool}`;
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<JobData>(jobsQueueName(pool), { connection: this.connection, prefix: this.keys.shard(shard).bullPrefix, skipWaitingForReady: true, telemetry: bullmqTelemetry() });
      queue.on('error', (err) => this.onError(queue!.name, err));
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** The queue of `pool` in the shard of job `jobId` (keys.ts shardOf), where its BullMQ job goes. */
  forJob(pool: string | undefined, jobId: string): Queue<JobData> {
    return this.get(pool, this.keys.shardOfJob(jobId).shard);
  }

  /** The queues of `pool` in every shard, shard 0 first: one queue per shard, all named alike. */
  shardsOf(pool: string = DEFAULT_POOL): Queue<JobData>[] {
    return this.keys.allShards.map((shard) => this.get(pool, shard.shard));
  }

  /**
   * Records that `pool` has a job scheduler. At most {@link MAX_POOLS} pools no worker serves are
   * remembered, so callers cannot grow the pools (each a queue the API and dashboard open) without bound.
   * @throws AppError VALIDATION_ERROR (field `pool`) for a new unserved pool past the limit.
   */
  async remember(pool: string): Promise<void> {
    if (pool === DEFAULT_POOL) return;
    if (!(await this.servedPools()).has(pool) && !(await this.known.has(pool)) && (await this.known.count()) >= MAX_POOLS) {
      throw new AppError('VALIDATION_ERROR', `pool '${pool}' would be pool number ${MAX_POOLS + 1} that no worker serves; at most ${MAX_POOLS} may exist`, { field: 'pool', max_pools: MAX_POOLS });
    }
    await this.known.add(pool);
  }

  /**
   * Every pool: the default one first, then those some worker serves or whose queue holds jobs or
   * job schedulers. Remembered pools that are neither served nor hold anything are forgotten here.
   */
  async pools(): Promise<string[]> {
    const [stored, served] = await Promise.all([this.known.all(), this.servedPools()]);
    const kept = await Promise.all(
      stored.map(async (pool) => {
        if (pool === DEFAULT_POOL || served.has(pool) || !(await this.isEmpty(pool))) return true;
        await this.known.remove(pool);
        for (const shard of this.keys.allShards) {
          this.queues.get(`${shard.shard}:${pool}`)?.close().catch(() => undefined);
          this.queues.delete(`${shard.shard}:${pool}`);
        }
        return false;
      }),
    );
    const all = new Set([...stored.filter((_, i) => kept[i]), ...served]);
    all.delete(DEFAULT_POOL);
    return [DEFAULT_POOL, ...[...all].sort()];
  }

  /** Whether `pool`'s queues (every shard's) hold no job (in any state) and no job scheduler. */
  private async isEmpty(pool: string): Promise<boolean> {
    for (const queue of this.shardsOf(pool)) {
      const counts = await queue.getJobCounts();
      if (Object.values(counts).some((n) => n > 0)) return false;
    }
    return (await this.get(pool).getJobSchedulersCount()) === 0;
  }

  /** The queues of every known pool, each pool's shards in order (QUEUE_SHARDS queues of the same name per pool). */
  async all(): Promise<Queue<JobData>[]> {
    return (await this.pools()).flatMap((pool) => this.shardsOf(pool));
  }

  /** Closes every queue opened (the connection stays open; it is the caller's). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
