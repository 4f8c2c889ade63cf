/**
 * Idempotency-Keys (docs/operations.md#idempotency): one string per caller and key, `<job_id> <body sha256>`,
 * kept {@link IDEMPOTENCY_TTL_SECONDS}.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';

/** How long an Idempotency-Key is remembered, seconds (24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 86_400;

/** Claims of Idempotency-Keys. `scopedKey` is the caller-scoped hash the service derives from the header. */
export class IdempotencyStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Claims the key for `value` (SET NX, 24 h). @returns true when claimed, false when it was already held. */
  async claim(scopedKey: string, value: string): Promise<boolean> {
    return (await this.redis.set(this.keys.idempotency(scopedKey), value, 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX')) !== null;
  }

  /** What the key holds, or null when it is free. */
  get(scopedKey: string): Promise<string | null> {
    return this.redis.get(this.keys.idempotency(scopedKey));
  }

  /** Frees the key (its job was never created). */
  async release(scopedKey: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(scopedKey));
  }
}
