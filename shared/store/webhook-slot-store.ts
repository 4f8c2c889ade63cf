import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/**
 * Per-receiver delivery slots shared by every worker process (docs/api.md#webhooks): at most
 * `slots` attempts to one receiver host are in flight at once across the deployment. A slot is a
 * lease in a sorted set (Redis server time), released when its attempt ends; a slot whose worker
 * died frees itself when its lease ends.
 */
export class WebhookSlotStore {
  private readonly redis: ScriptedRedis;

  /**
   * @param slots WEBHOOK_HOST_CONCURRENCY: attempts in flight per receiver.
   * @param leaseMs how long a slot stays taken without a release (longer than one attempt can last).
   */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly slots: number,
    private readonly leaseMs: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** Takes a slot of `hostPort` for `holder` (unique per attempt). @returns false when every slot is taken. */
  async acquire(hostPort: string, holder: string): Promise<boolean> {
    return (await runScript<number>(this.redis, 'webhook-slot-acquire', this.keys.webhookSlots(hostPort), this.slots, this.leaseMs, holder)) === 1;
  }

  /** Gives back `holder`'s slot of `hostPort` (a no-op when its lease already ended). */
  async release(hostPort: string, holder: string): Promise<void> {
    await this.redis.zrem(this.keys.webhookSlots(hostPort), holder);
  }
}
