/**
 * A job's attempts (the hetuflow scheduler API reference's task instances): a hash per job,
 * field = attempt number, value = {@link AttemptRecord} JSON, expiring with the record. An attempt
 * is started and finished together with its record by the job scripts (lua/job-start-attempt.lua,
 * lua/job-update-live.lua, in JobStore); this store reads them and ends one on its own.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { AttemptRecord } from '../schemas/job-record.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/** Attempts of jobs. */
export class AttemptStore {
  private readonly redis: ScriptedRedis;

  /**
   * @param redis a command connection (not a subscriber).
   * @param ttlSeconds RESULT_TTL_SECONDS.
   */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** Writes attempt `attempt.attempt`'s entry while the job's attempts exist (its record has not expired). */
  async write(jobId: string, attempt: AttemptRecord): Promise<void> {
    await runScript(this.redis, 'hash-update-if-exists', this.keys.jobAttempts(jobId), this.ttlSeconds, String(attempt.attempt), JSON.stringify(attempt));
  }

  /**
   * A job's attempts, oldest first. A `running` attempt followed by a later one is shown `lost`: its
   * worker died or lost the job's lock, and the job ran again.
   */
  async list(jobId: string): Promise<AttemptRecord[]> {
    const h = await this.redis.hgetall(this.keys.jobAttempts(jobId));
    const list = Object.values(h).map((v) => JSON.parse(v) as AttemptRecord).sort((a, b) => a.attempt - b.attempt);
    for (let i = 0; i < list.length - 1; i++) {
      const a = list[i]!;
      if (a.status === 'running') Object.assign(a, { status: 'lost', error: 'the worker stopped holding the job (killed or stalled); it ran again' });
    }
    return list;
  }
}
