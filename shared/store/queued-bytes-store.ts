/**
 * Payload bytes waiting in each pool's queue (MAX_QUEUED_BYTES, docs/security.md#limits-and-hostile-input): a job's
 * data is counted at submit (with its record: JobStore.createCounted, JobStore.createMany) and released when a worker
 * starts its attempt or ends its run (in the same script: JobStore.startAttempt, finish), when it is cancelled, or when the API's sweep removes
 * it from its queue after its record expired. Entries are scored by the record's expiry (and the
 * payload's bytes), so one whose release was lost stops counting by itself (dropped
 * {@link QUEUED_GRACE_MS} after it).
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys, ShardKeys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/**
 * An entry's score in the `queued` sorted set (queued-helpers.lua): the short form, for payloads
 * under 2 MiB, is floor(expiry ms / 1000) × QUEUED_SHORT + bytes (at least QUEUED_SHORT_MIN), so its
 * release and the sweep read the bytes from the score; the long form (bigger payloads, and every
 * entry an older build wrote) is the expiry in ms, below QUEUED_SHORT_MIN, with the bytes in the
 * `sizes` hash.
 */
const QUEUED_SHORT = 2 ** 21;
const QUEUED_SHORT_MIN = 2 ** 50;

/** How long after its record expired an entry is dropped without the sweep, ms. */
export const QUEUED_GRACE_MS = 10 * 60_000;

/** Expired entries the sweep takes per pool per pass. */
const SWEEP_BATCH = 500;

/** The bound of one shard's part of a pool: ceil(maxBytes / shards); 0 (no bound) stays 0. */
export function shardBound(maxBytes: number, shards: number): number {
  return maxBytes > 0 ? Math.ceil(maxBytes / shards) : 0;
}

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
   * The count lives in the job's shard, and with QUEUE_SHARDS > 1 each shard holds at most
   * ceil(maxBytes / QUEUE_SHARDS) of a pool, checked in one script, so the pool's sum stays within
   * about `maxBytes` without a read of every shard per job.
   * @param expiresAtMs when the job's record expires (ms since the epoch).
   * @returns whether it was counted, and the bytes counted in the pool's part in the job's shard.
   */
  async reserve(pool: string, jobId: string, bytes: number, expiresAtMs: number, maxBytes: number): Promise<QueuedReservation> {
    const bound = shardBound(maxBytes, this.keys.shards);
    const [ok, total] = await runScript<[number, number]>(this.redis, 'queued-reserve', ...this.keysOf(this.keys.shardOfJob(jobId), pool), Date.now(), QUEUED_GRACE_MS, bound, jobId, bytes, expiresAtMs);
    return { ok: ok === 1, total };
  }

  /** Stops counting jobs of `pool` (one script per shard they are in). @returns the bytes released. */
  async release(pool: string, jobIds: readonly string[]): Promise<number> {
    if (jobIds.length === 0) return 0;
    const byShard = new Map<ShardKeys, string[]>();
    for (const id of jobIds) {
      const shard = this.keys.shardOfJob(id);
      const ids = byShard.get(shard);
      if (ids) ids.push(id);
      else byShard.set(shard, [id]);
    }
    const released = await Promise.all([...byShard].map(([shard, ids]) => runScript<number>(this.redis, 'queued-release', ...this.keysOf(shard, pool), ...ids)));
    return released.reduce((a, b) => a + b, 0);
  }

  /**
   * Jobs of `pool` still counted whose record expired (at most 500 per shard and entry form, oldest
   * first in each). A short entry keeps its expiry to the second, rounded down: it is listed once
   * its second has passed, so never before its record expired.
   */
  async expired(pool: string, nowMs = Date.now()): Promise<string[]> {
    const shortBelow = (Math.floor((nowMs - 999) / 1000) + 1) * QUEUED_SHORT;
    const found = await Promise.all(
      this.keys.allShards.flatMap((shard) => [
        this.redis.zrangebyscore(shard.queued(pool), '-inf', nowMs, 'LIMIT', 0, SWEEP_BATCH),
        this.redis.zrangebyscore(shard.queued(pool), QUEUED_SHORT_MIN, `(${shortBelow}`, 'LIMIT', 0, SWEEP_BATCH),
      ]),
    );
    return found.flat();
  }

  /** Bytes counted in `pool`, summed over the shards. */
  async total(pool: string): Promise<number> {
    const totals = await Promise.all(this.keys.allShards.map((shard) => this.redis.get(shard.queuedTotal(pool))));
    return totals.reduce((sum, t) => sum + Number(t ?? 0), 0);
  }

  private keysOf(shard: ShardKeys, pool: string): [string, string, string] {
    return [shard.queued(pool), shard.queuedSizes(pool), shard.queuedTotal(pool)];
  }
}
