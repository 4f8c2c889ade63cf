/**
 * Metrics snapshots (docs/operations.md#metrics): each process's prom-client registry as JSON under
 * `keys.metricsSnapshot(processId)`, indexed by last push (ms) in `keys.metricsIndex`, so any API
 * process can answer GET /metrics for the whole deployment.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';

/** Snapshots of every process's metrics. */
export class MetricsSnapshotStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Writes one process's snapshot (kept `ttlSeconds`) and indexes it now. Rejects when Redis is unreachable. */
  async push(processId: string, snapshotJson: string, ttlSeconds: number): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.metricsSnapshot(processId), snapshotJson, 'EX', ttlSeconds)
      .zadd(this.keys.metricsIndex, Date.now(), processId)
      .exec();
  }

  /**
   * Drops index entries pushed before `cutoffMs`, then reads every other process's snapshot.
   * @returns the snapshots' JSON texts (expired ones left out).
   */
  async readOthers(selfId: string, cutoffMs: number): Promise<string[]> {
    await this.redis.zremrangebyscore(this.keys.metricsIndex, '-inf', String(cutoffMs));
    const ids = (await this.redis.zrange(this.keys.metricsIndex, '0', '-1')).filter((id) => id !== selfId);
    const snapshots = ids.length ? await this.redis.mget(ids.map((id) => this.keys.metricsSnapshot(id))) : [];
    return snapshots.filter((s): s is string => !!s);
  }
}
