/**
 * A job's attempts (the hetuflow scheduler API reference's task instances), each an
 * {@link AttemptRecord} as JSON: the first on the job's record (field `first_attempt`: a job that
 * runs once, most of them, writes it with the record, no key of its own), later ones in a hash per
 * job, field = attempt number, expiring with the record. An attempt is started and finished
 * together with its record by the job scripts (lua/job-start-attempt.lua, lua/job-update-live.lua,
 * in JobStore); this store reads them and ends one on its own.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { AttemptRecord } from '../schemas/job-record.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';

/** The record field of a job's first attempt. */
const FIRST_ATTEMPT_FIELD = 'first_attempt';

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

  /**
   * Writes attempt `attempt.attempt`'s entry while the job's attempts exist (its record has not
   * expired); the first one's refreshes the record's TTL, as any change of the record does.
   */
  async write(jobId: string, attempt: AttemptRecord): Promise<void> {
    const [key, field] = attempt.attempt === 1 ? [this.keys.job(jobId), FIRST_ATTEMPT_FIELD] : [this.keys.jobAttempts(jobId), String(attempt.attempt)];
    await runScript(this.redis, 'hash-update-if-exists', key, this.ttlSeconds, field, JSON.stringify(attempt));
  }

  /**
   * A job's attempts, oldest first. A `running` attempt followed by a later one is shown `lost`: its
   * worker died or lost the job's lock, and the job ran again.
   */
  async list(jobId: string): Promise<AttemptRecord[]> {
    const [first, later] = await Promise.all([this.redis.hget(this.keys.job(jobId), FIRST_ATTEMPT_FIELD), this.redis.hgetall(this.keys.jobAttempts(jobId))]);
    const byNumber = new Map<number, AttemptRecord>();
    // A record written before `first_attempt` existed keeps attempt 1 in the hash.
    for (const v of [...Object.values(later), ...(first ? [first] : [])]) {
      const a = JSON.parse(v) as AttemptRecord;
      byNumber.set(a.attempt, a);
    }
    const list = [...byNumber.values()].sort((a, b) => a.attempt - b.attempt);
    for (let i = 0; i < list.length - 1; i++) {
      const a = list[i]!;
      if (a.status === 'running') Object.assign(a, { status: 'lost', error: 'the worker stopped holding the job (killed or stalled); it ran again' });
    }
    return list;
  }
}
