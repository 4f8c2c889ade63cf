/**
 * Idempotency-Keys (docs/operations.md#idempotency): one string per caller and key, `<job_id> <body sha256>`,
 * kept {@link IDEMPOTENCY_TTL_SECONDS}.
 */
import { DEFAULT_COMMAND_TIMEOUT_MS, type RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/** How long an Idempotency-Key is remembered, seconds (24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 86_400;

/**
 * Age of a claim whose job record does not exist past which a request with the same key and body
 * takes the key over, ms: 60 s, or 10 × REDIS_COMMAND_TIMEOUT_MS when that is longer, so that it
 * is far longer than a submit takes, each of its few Redis commands bounded by that timeout
 * (docs/operations.md#idempotency).
 * @param commandTimeoutMs REDIS_COMMAND_TIMEOUT_MS. Default {@link DEFAULT_COMMAND_TIMEOUT_MS}.
 */
export function idempotencyClaimStaleMs(commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): number {
  return Math.max(60_000, 10 * commandTimeoutMs);
}

/** Claims of Idempotency-Keys. `scopedKey` is the caller-scoped hash the service derives from the header. */
export class IdempotencyStore {
  private readonly redis: ScriptedRedis;

  /** @param redis a command connection (not a subscriber). */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    this.redis = withScripts(redis);
  }

  /** Claims the key for `value` (SET NX, 24 h). @returns true when claimed, false when it was already held. */
  async claim(scopedKey: string, value: string): Promise<boolean> {
    return (await this.redis.set(this.keys.idempotency(scopedKey), value, 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX')) !== null;
  }

  /** What the key holds, or null when it is free. */
  get(scopedKey: string): Promise<string | null> {
    return this.redis.get(this.keys.idempotency(scopedKey));
  }

  /**
   * Frees the key while it holds `value`, this request's claim (its job was never created); a
   * claim another request made since stays. Sent on the connection of the claim, it runs after
   * the claim even when the claim timed out unanswered and lands later.
   */
  async release(scopedKey: string, value: string): Promise<void> {
    await runScript(this.redis, 'idempotency-release', this.keys.idempotency(scopedKey), value);
  }

  /**
   * Claims the key for `value` in place of `stale`, a claim at least `staleMs` old whose job was
   * never created (a request whose process died, or whose release was lost, between its claim and
   * its record).
   * @returns true when claimed, false when the key holds something else or the claim is younger.
   */
  async takeOver(scopedKey: string, stale: string, value: string, staleMs: number): Promise<boolean> {
    return (await runScript<number>(this.redis, 'idempotency-take-over', this.keys.idempotency(scopedKey), stale, value, staleMs, IDEMPOTENCY_TTL_SECONDS)) === 1;
  }
}
