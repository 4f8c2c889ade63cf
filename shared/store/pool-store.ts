/**
 * The set of pools jobs or schedules were sent to (`keys.pools`), so any API process knows every jobs
 * queue; a pool leaves it once no worker serves it and its queue is empty (JobQueues.pools).
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';

/** Known pools. */
export class PoolStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Whether `pool` is known. */
  async has(pool: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.pools, pool)) === 1;
  }

  /** How many pools are known. */
  count(): Promise<number> {
    return this.redis.scard(this.keys.pools);
  }

  /** Records each of `pools`. */
  async add(...pools: string[]): Promise<void> {
    if (pools.length) await this.redis.sadd(this.keys.pools, ...pools);
  }

  /** Forgets `pool`. */
  async remove(pool: string): Promise<void> {
    await this.redis.srem(this.keys.pools, pool);
  }

  /** Every known pool, unordered. */
  all(): Promise<string[]> {
    return this.redis.smembers(this.keys.pools);
  }
}
