/**
 * The worker's side of function jobs: loads the version a job names, runs it in the
 * worker's {@link FunctionPool}, and after each run stores its captured output as the job's logs
 * and adds its measurements to the function's statistics. Used by the jobs-queue processor
 * (worker/processor.ts) for jobs with a `function_id`.
 */
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import type { JobLogLine } from '../../shared/schemas/job-log.js';
import { JOB_LOGS_MAX_BYTES_DEFAULT, JOB_LOGS_MAX_LINES_DEFAULT, JobLogStore, type JobLogLimits } from '../../shared/store/job-log-store.js';
import { functionGone } from '../../shared/errors/index.js';
import type { FunctionStore, FunctionVersion } from '../../shared/store/function-store.js';
import type { Logger } from '../../shared/logger.js';
import type { FunctionJob } from '../../shared/queue/job-data.js';
import type { Keys } from '../../shared/store/keys.js';
import type { FunctionPool } from './function-pool.js';
import type { FunctionRunReport, FunctionRunResult, FunctionSpec } from './function-run.js';

/** How long a loaded version and its env layers are reused before being read again, ms (project env changes apply within this). */
export const SPEC_CACHE_MS = 2000;
/** Most versions kept in a worker's spec cache (least recently loaded dropped first). */
const SPEC_CACHE_MAX = 500;

/** What {@link FunctionJobs} needs. */
export interface FunctionJobsDeps {
  pool: FunctionPool;
  functions: FunctionStore;
  /** Command connection, for the logs. */
  redis: Redis;
  keys: Keys;
  /** RESULT_TTL_SECONDS: logs expire with the job record. */
  ttlSeconds: number;
  /**
   * JOB_LOGS_MAX_BYTES and JOB_LOGS_MAX_LINES: what a job's logs may store, all attempts together;
   * a run's captured output (held in memory) is capped at maxBytes too. Default 1 MiB, 10,000 lines.
   */
  logLimits?: JobLogLimits;
  /** FUNCTION_SYSTEM_ENV: the first env layer. */
  systemEnv: Record<string, string>;
  logger: Logger;
  /** This worker's id (WORKER_ID or its default), written on each log line. */
  workerId?: string;
  /**
   * Where a version's dependencies are on this host (e.g. the dependency installer, installing them
   * here first when needed); undefined: the version's stored `deps_dir`, if any.
   */
  depsDirFor?: (version: FunctionVersion) => Promise<string | undefined>;
}

/** Runs function jobs on a worker; see the module comment. */
export class FunctionJobs {
  private readonly cache = new Map<string, { spec: FunctionSpec; at: number }>();

  private readonly logs: JobLogStore;
  private readonly logLimits: JobLogLimits;

  constructor(private readonly deps: FunctionJobsDeps) {
    this.logLimits = deps.logLimits ?? { maxBytes: JOB_LOGS_MAX_BYTES_DEFAULT, maxLines: JOB_LOGS_MAX_LINES_DEFAULT };
    this.logs = new JobLogStore(deps.redis, deps.keys, deps.ttlSeconds, this.logLimits);
  }

  /**
   * Runs the job's function version with its event (`params`), with the job id as run id (so
   * {@link cancel} reaches it). The job's timeout_ms, when given, overrides the function's.
   * `onProgress` gets the function's progress reports.
   * @throws AppError FUNCTION_NOT_FOUND when the version is gone (deleted more than the retention ago);
   *   FunctionRunError from the pool (TIMEOUT, ALGORITHM_ERROR with details.reason, SERVICE_UNAVAILABLE).
   */
  async run(data: FunctionJob, jobId: string, onProgress?: (percent: number, message?: string) => void): Promise<FunctionRunResult> {
    const spec = await this.spec(data.function_id, data.function_version ?? (await this.currentVersion(data.function_id)));
    // What is captured (in this process's memory) is at most what a job may store.
    const run = { ...spec, max_output_bytes: Math.min(spec.max_output_bytes, this.logLimits.maxBytes), ...(data.timeout_ms !== undefined ? { timeout_ms: data.timeout_ms } : {}) };
    return this.deps.pool.run(run, data.params, { run_id: jobId, onProgress });
  }

  /**
   * The function's current version: what a schedule's run, whose job data names no
   * version, runs. Sets it on `data`, so the record's metadata shows it.
   * @throws AppError FUNCTION_NOT_FOUND when the function was deleted.
   */
  async resolveVersion(data: FunctionJob): Promise<void> {
    data.function_version ??= await this.currentVersion(data.function_id);
  }

  private async currentVersion(functionId: string): Promise<number> {
    const fn = await this.deps.functions.get(functionId);
    if (!fn) throw functionGone(functionId);
    return fn.version;
  }

  /** Stops the run of a job (queued or running in the pool). @returns false when this worker runs no such job. */
  cancel(jobId: string): boolean {
    return this.deps.pool.cancel(jobId);
  }

  /**
   * After a run (finished or failed, not cancelled): appends its output to the job's logs (expiring
   * with the record) and adds the run to the function's statistics. Errors are logged, never thrown:
   * the job's outcome stands.
   * @param report the run's report (FunctionRunResult or FunctionRunError.report); undefined when the
   *   run never started (e.g. its version is gone): then only the failure is counted.
   */
  async afterRun(jobId: string, data: FunctionJob, report: FunctionRunReport | undefined, ok: boolean, attempt: number, elapsedMs: number): Promise<void> {
    const { functions, logger, workerId } = this.deps;
    try {
      if (report && (report.logs.length > 0 || report.truncated)) {
        // The store keeps the job's bounds (JOB_LOGS_MAX_BYTES, JOB_LOGS_MAX_LINES) and marks the cut.
        const lines = report.logs.map((l): JobLogLine => ({ ts: l.ts, stream: l.stream, line: l.line, attempt, ...(workerId ? { worker_id: workerId } : {}), job_id: jobId }));
        await this.logs.append(jobId, lines, report.truncated).catch((err: unknown) => {
          // Refused (e.g. Redis out of memory): the logs are lost, the run's outcome and statistics stand.
          logger.warn('could not store the function run logs', { error: String(err) });
        });
      }
      await functions.recordRun(
        data.function_id,
        { ok, duration_ms: report?.duration_ms ?? elapsedMs, cpu_ms: report?.cpu_ms ?? null, peak_rss_bytes: report?.peak_rss_bytes ?? null },
        new Date().toISOString().replace('Z', '+00:00'),
      );
    } catch (err) {
      logger.warn('could not store the function run logs or statistics', { error: String(err) });
    }
  }

  /** The pool's spec of a version: cached {@link SPEC_CACHE_MS} (versions are immutable; env layers may change). */
  private async spec(functionId: string, version: number): Promise<FunctionSpec> {
    const key = `${functionId}:${version}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < SPEC_CACHE_MS) return hit.spec;
    const v = await this.deps.functions.getVersion(functionId, version);
    if (!v) throw functionGone(functionId, version);
    const spec = toSpec(v, await this.deps.functions.layeredEnv(v.project, v.env, this.deps.systemEnv));
    if (this.deps.depsDirFor) {
      const dir = await this.deps.depsDirFor(v);
      if (dir) spec.deps_dir = dir;
    }
    this.cache.delete(key);
    this.cache.set(key, { spec, at: Date.now() });
    if (this.cache.size > SPEC_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    return spec;
  }
}

function toSpec(v: FunctionVersion, env: Record<string, string>): FunctionSpec {
  const spec: FunctionSpec = {
    function_id: v.function_id,
    version: v.version,
    runtime: v.runtime,
    code: v.code,
    handler: v.handler,
    env,
    timeout_ms: v.timeout_ms,
    memory_mb: v.memory_mb,
    max_output_bytes: v.max_output_bytes,
  };
  if (v.deps_dir) spec.deps_dir = v.deps_dir;
  return spec;
}
