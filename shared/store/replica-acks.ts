/**
 * REDIS_WAIT_REPLICAS (docs/deployment.md#redis-topologies): after a submission's writes, `WAIT
 * <replicas> <timeout>` on the connection that made them, so a job is answered 202 only once that
 * many replicas hold it and a failover to one of them cannot lose it.
 */
import { AppError } from '../errors/index.js';
import { isCluster, type RedisConnection } from '../queue/redis.js';

/** What `WAIT` answered: the replicas that acknowledged every write of the connection so far. */
export interface ReplicaAck {
  acknowledged: number;
  required: number;
}

/**
 * Confirms writes on `redis` with `WAIT`. WAIT counts the writes of the connection it runs on
 * (Redis documentation, "WAIT"), so it runs on the connection that wrote: on a Cluster, the node
 * connection of the master that serves the key's slot (`Cluster.slots` names it; the slot of a hash
 * tag never changes, so it is asked once with `CLUSTER KEYSLOT` and kept).
 */
export class ReplicaAcks {
  private readonly slots = new Map<string, number>();

  /**
   * @param redis the connection the submit path writes on (the API's request connection).
   * @param jobKey the key of a job's record (`keys.job`): its slot names the node to WAIT on.
   * @param required REDIS_WAIT_REPLICAS (at least 1).
   * @param timeoutMs REDIS_WAIT_TIMEOUT_MS: WAIT's own bound, ms.
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly jobKey: (jobId: string) => string,
    readonly required: number,
    readonly timeoutMs: number,
  ) {}

  /**
   * Waits until {@link required} replicas acknowledged every write made so far on the connection to
   * the node that holds job `jobId`.
   * @throws AppError SERVICE_UNAVAILABLE (details `job_id`, `replicas_required`, `replicas_acknowledged`,
   *   `retry_after_seconds`) when fewer did within the timeout; the job was written to the master and
   *   may still run, but is not promised to survive a failover. Redis errors as they come (toAppError makes them 503).
   */
  async confirm(jobId: string): Promise<ReplicaAck> {
    const node = await this.nodeOf(this.jobKey(jobId));
    const acknowledged = Number(await node.call('WAIT', this.required, this.timeoutMs));
    if (acknowledged >= this.required) return { acknowledged, required: this.required };
    throw new AppError(
      'SERVICE_UNAVAILABLE',
      `job ${jobId} was written but only ${acknowledged} of ${this.required} Redis replicas acknowledged it within ${this.timeoutMs} ms (REDIS_WAIT_REPLICAS): it may still run; check GET /jobs/${jobId} or retry later`,
      { job_id: jobId, replicas_required: this.required, replicas_acknowledged: acknowledged, retry_after_seconds: 1 },
    );
  }

  /** The connection to the master of `key`'s slot (the connection itself but on a Cluster). */
  private async nodeOf(key: string) {
    const redis = this.redis;
    if (!isCluster(redis)) return redis;
    const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
    let slot = this.slots.get(tag);
    if (slot === undefined) {
      slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
      this.slots.set(tag, slot);
    }
    const nodeKey = redis.slots[slot]?.[0];
    const node = nodeKey === undefined ? undefined : redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    // Between a failover and the slot map's refresh no master is known: like a write to it, 503.
    if (!node) throw new AppError('SERVICE_UNAVAILABLE', 'the Redis master of the job is not known yet (a failover is under way); retry later', { retry_after_seconds: 1 });
    return node;
  }
}
