/**
 * Job logs (docs/api.md#job-logs, GET /jobs/{job_id}/logs): a function job's captured stdout and
 * stderr lines, a Redis list of {@link JobLogLine} JSON (shared/schemas/job-log.ts) per job, plus a `truncated` marker, both
 * expiring with the job record. Written by the worker after each run, read by the API.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { JobLogLine } from '../schemas/job-log.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';
import { pipelineReplies } from './pipeline.js';

/** Default stored log bytes per job, all attempts (JOB_LOGS_MAX_BYTES). */
export const JOB_LOGS_MAX_BYTES_DEFAULT = 1024 * 1024;
/** Default stored log lines per job, all attempts (JOB_LOGS_MAX_LINES). */
export const JOB_LOGS_MAX_LINES_DEFAULT = 10_000;
/**
 * Fraction of Redis's maxmemory past which a job's logs are not stored (only a marker line is): the
 * rest is kept for records, queues and their locks (docs/security.md#limits-and-hostile-input).
 */
export const LOG_MEMORY_FRACTION = 0.9;
/** The marker line when Redis is near its maxmemory. */
export const LOGS_NOT_STORED_LINE = '[output not stored: the store is near its memory limit]';

/**
 * What one stored line costs against JOB_LOGS_MAX_BYTES besides its text's UTF-8 bytes (as a
 * function's max_output_bytes counts it, worker/functions/function-run.ts). Each entry's JSON
 * fields take ~200 bytes more in Redis, bounded by JOB_LOGS_MAX_LINES.
 */
export const LOG_LINE_COST_OVERHEAD_BYTES = 32;

/** Bounds of what one job's logs may store. */
export interface JobLogLimits {
  /** JOB_LOGS_MAX_BYTES: bytes of stored lines (text + {@link LOG_LINE_COST_OVERHEAD_BYTES} each), all attempts together. */
  maxBytes: number;
  /** JOB_LOGS_MAX_LINES: entries, all attempts together. */
  maxLines: number;
}

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
  private readonly scripted: ScriptedRedis;

  /** @param limits per job bounds; default 1 MiB and 10,000 lines. */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    private readonly limits: JobLogLimits = { maxBytes: JOB_LOGS_MAX_BYTES_DEFAULT, maxLines: JOB_LOGS_MAX_LINES_DEFAULT },
  ) {
    this.scripted = withScripts(redis);
  }

  /**
   * Appends lines to a job's logs (and marks them truncated when `truncated`), refreshing their TTL,
   * within the job's {@link JobLogLimits}: the line past a bound and the rest become one
   * `[output truncated at N bytes]` (or `… N lines]`) line, and nothing more is stored for the job.
   * When Redis is past {@link LOG_MEMORY_FRACTION} of its maxmemory, only {@link LOGS_NOT_STORED_LINE} is stored.
   * @returns the entries stored (markers included).
   * @throws Error from Redis (e.g. OOM when it is past maxmemory): nothing is stored then.
   */
  async append(jobId: string, lines: readonly JobLogLine[], truncated: boolean): Promise<number> {
    const { maxBytes, maxLines } = this.limits;
    const last = lines.at(-1);
    const marker = (line: string) => JSON.stringify({ ...(last ?? { ts: new Date().toISOString(), stream: 'stderr', attempt: 1, job_id: jobId }), line });
    return runScript<number>(
      this.scripted,
      'job-log-append',
      this.keys.jobLogs(jobId),
      this.keys.jobLogsTruncated(jobId),
      this.keys.jobLogsBytes(jobId),
      this.ttlSeconds,
      maxBytes,
      maxLines,
      truncated ? '1' : '0',
      marker(`[output truncated at ${maxBytes} bytes]`),
      marker(`[output truncated at ${maxLines} lines]`),
      marker(LOGS_NOT_STORED_LINE),
      LOG_MEMORY_FRACTION,
      ...lines.flatMap((l) => [Buffer.byteLength(l.line) + LOG_LINE_COST_OVERHEAD_BYTES, JSON.stringify(l)]),
    );
  }

  /** Every stored line of a job, oldest first. */
  async read(jobId: string): Promise<StoredJobLogs> {
    const [raw, truncated] = (await pipelineReplies(this.redis.pipeline().lrange(this.keys.jobLogs(jobId), 0, -1).get(this.keys.jobLogsTruncated(jobId)))) as [string[], string | null];
    return { lines: raw.map((s) => JSON.parse(s) as JobLogLine), truncated: truncated === '1' };
  }
}
