/**
 * Job logs (docs/api.md#job-logs, GET /jobs/{job_id}/logs): a function job's captured stdout and
 * stderr lines, a Redis list of {@link JobLogLine} JSON (shared/schemas/job-log.ts) per job, plus a `truncated` marker, both
 * expiring with the job record. Written by the worker after each run, read by the API.
 */
import type { Redis } from 'ioredis';
import type { JobLogLine } from '../schemas/job-log.js';
import type { Keys } from './keys.js';

/** Log lines written per RPUSH. */
const LOG_CHUNK = 1000;

/** A job's stored lines and whether its output was cut. */
export interface StoredJobLogs {
  lines: JobLogLine[];
  truncated: boolean;
}

/** Job log lines in Redis. */
export class JobLogStore {
  /**
   * @param redis a command connection (not a subscriber).
   * @param ttlSeconds RESULT_TTL_SECONDS: logs expire with the record.
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {}

  /** Appends lines to a job's logs (and marks them truncated when `truncated`), refreshing their TTL. */
  async append(jobId: string, lines: readonly JobLogLine[], truncated: boolean): Promise<void> {
    const key = this.keys.jobLogs(jobId);
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < lines.length; i += LOG_CHUNK) pipeline.rpush(key, ...lines.slice(i, i + LOG_CHUNK).map((l) => JSON.stringify(l)));
    pipeline.expire(key, this.ttlSeconds);
    if (truncated) pipeline.set(this.keys.jobLogsTruncated(jobId), '1', 'EX', this.ttlSeconds);
    await pipeline.exec();
  }

  /** Every stored line of a job, oldest first. */
  async read(jobId: string): Promise<StoredJobLogs> {
    const [[, raw], [, truncated]] = (await this.redis.pipeline().lrange(this.keys.jobLogs(jobId), 0, -1).get(this.keys.jobLogsTruncated(jobId)).exec()) as [[null, string[]], [null, string | null]];
    return { lines: raw.map((s) => JSON.parse(s) as JobLogLine), truncated: truncated === '1' };
  }
}
