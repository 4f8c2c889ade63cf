/**
 * Payload bytes waiting in each pool's queue (MAX_QUEUED_BYTES, docs/security.md#limits-and-hostile-input): a job's
 * data is counted at submit and released when a worker starts it, or when the API's sweep removes
 * it from its queue after its record expired. Entries are scored by the record's expiry, so one
 * whose release was lost stops counting by itself (dropped {@link QUEUED_GRACE_MS} after it).
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/** How long after its record expired an entry is dropped without the sweep, ms. */
export const QUEUED_GRACE_MS = 10 * 60_000;

/** Expired entries the sweep takes per pool per pass. */
const SWEEP_BATCH = 500;

/** The answer of {@link QueuedBytesStore.reserve}. */
export interface QueuedReservation {
  /** False when the job would take its pool past the bound (nothing was counted). */
  ok: boolean;
  /** Bytes counted in the pool after the call. */
  total: number;
}

/** Per pool queued payload bytes in Redis. */
export class QueuedBytesStore {
  private readonly redis: ScriptedRedis;

  /** @param redis a command connection. */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * Counts `bytes` of job `jobId` against `pool`, unless that passes `maxBytes` (0: no bound).
   * @param expiresAtMs when the job's record expires (ms since the epoch).
   */
  async reserve(pool: string, jobId: string, bytes: number, expiresAtMs: number, maxBytes: number): Promise<QueuedReservation> {
    const [ok, total] = await runScript<[number, number]>(this.redis, 'queued-reserve', ...this.keysOf(pool), Date.now(), QUEUED_GRACE_MS, maxBytes, jobId, bytes, expiresAtMs);
    return { ok: ok === 1, total };
  }

  /** Stops counting jobs of `pool`. @returns the bytes released. */
  async release(pool: string, jobIds: readonly string[]): Promise<number> {
    if (jobIds.length === 0) return 0;
    return runScript<number>(this.redis, 'queued-release', ...this.keysOf(pool), ...jobIds);
  }

  /** Jobs of `pool` still counted whose record expired (at most 500, oldest first). */
  async expired(pool: string, nowMs = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.queued(pool), '-inf', nowMs, 'LIMIT', 0, SWEEP_BATCH);
  }

  /** Bytes counted in `pool`. */
  async total(pool: string): Promise<number> {
    return Number((await this.redis.get(this.keys.queuedTotal(pool))) ?? 0);
  }

  private keysOf(pool: string): [string, string, string] {
    return [this.keys.queued(pool), this.keys.queuedSizes(pool), this.keys.queuedTotal(pool)];
  }
}
