import type { RedisConnection as Redis } from '../queue/redis.js';
import type { PublicWorker, StoredWorker, WorkerPage, WorkerQuery, WorkerStatus } from '../schemas/worker.js';
import type { Keys } from './keys.js';

/** Longest worker id looked up (hostnames are at most 253 characters, plus `:<pid>`). */
const MAX_WORKER_ID_LENGTH = 300;

/**
 * The registry of worker processes in Redis (the hetuflow scheduler API reference's agents), shared by the worker (which writes
 * its heartbeat) and the API (which reads). Each worker is a JSON string under `keys.worker(id)` that
 * expires `forgetAfterMs` after its last heartbeat, indexed in the sorted set `keys.workers` by last
 * heartbeat (ms). Index entries older than `forgetAfterMs`, or whose entry expired, are removed when
 * the index is read.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** WORKER_FORGET_AFTER_MS: entry TTL (writer) and index cutoff (reader). */
    private readonly forgetAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes `worker`'s entry and indexes it by `heartbeatMs`. Rejects when Redis is unreachable. */
  async heartbeat(worker: StoredWorker, heartbeatMs = this.now()): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.worker(worker.id), JSON.stringify(worker), 'PX', this.forgetAfterMs)
      .zadd(this.keys.workers, heartbeatMs, worker.id)
      .exec();
  }

  /** One worker by id, or undefined when unknown or aged out. */
  async get(id: string): Promise<PublicWorker | undefined> {
    if (id.length === 0 || id.length > MAX_WORKER_ID_LENGTH) return undefined;
    const raw = await this.redis.get(this.keys.worker(id));
    const worker = raw ? this.toPublic(raw) : undefined;
    return worker && this.now() - Date.parse(worker.last_heartbeat) <= this.forgetAfterMs ? worker : undefined;
  }

  /** Workers matching `query`, newest heartbeat first, with the total before paging. */
  async list(query: WorkerQuery): Promise<WorkerPage> {
    const cutoff = this.now() - this.forgetAfterMs;
    const ids = await this.redis
      .multi()
      .zremrangebyscore(this.keys.workers, '-inf', `(${cutoff}`)
      .zrevrangebyscore(this.keys.workers, '+inf', cutoff)
      .exec()
      .then((replies) => (replies?.[1]?.[1] as string[] | undefined) ?? []);
    const raws = ids.length ? await this.redis.mget(ids.map((id) => this.keys.worker(id))) : [];
    const gone = ids.filter((_, i) => !raws[i]);
    if (gone.length) await this.redis.zrem(this.keys.workers, ...gone);

    const wanted = Object.entries(query.labels ?? {});
    const matching: PublicWorker[] = [];
    for (const raw of raws) {
      const worker = raw ? this.toPublic(raw) : undefined;
      if (!worker) continue;
      if (query.status && worker.status !== query.status) continue;
      if (!wanted.every(([k, v]) => Object.hasOwn(worker.labels, k) && worker.labels[k] === v)) continue;
      matching.push(worker);
    }
    return { total: matching.length, limit: query.limit, offset: query.offset, items: matching.slice(query.offset, query.offset + query.limit) };
  }

  /**
   * The pools some worker in the registry serves (its `pool` label; no label: `default`), online or
   * not: a worker that restarts keeps its pool served until it is forgotten (WORKER_FORGET_AFTER_MS).
   */
  async servedPools(): Promise<Set<string>> {
    const page = await this.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 });
    return new Set(page.items.map((w) => w.labels.pool ?? 'default'));
  }

  /** The stored JSON with its status judged now; undefined for an entry that does not parse. */
  private toPublic(raw: string): PublicWorker | undefined {
    let stored: StoredWorker;
    try {
      stored = JSON.parse(raw) as StoredWorker;
    } catch {
      return undefined;
    }
    const age = this.now() - Date.parse(stored.last_heartbeat);
    const status: WorkerStatus = stored.state !== 'stopped' && age <= stored.offline_after_ms ? 'online' : 'offline';
    const { id, ...rest } = stored;
    return { id, status, ...rest };
  }
}
