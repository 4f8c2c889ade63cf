/**
 * The worker's side of command jobs (docs/commands.md): layers a job's env (base → system →
 * project → the job's own; never the worker's), runs it in the {@link CommandRunner}, and after each
 * run stores its captured output as the job's logs. Used by the jobs-queue processor
 * (worker/processor.ts) for jobs with a `command`.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../../shared/errors/index.js';
import { BASE_ENV } from '../../shared/functions/executables.js';
import type { Logger } from '../../shared/logger.js';
import type { CommandJob } from '../../shared/queue/job-data.js';
import type { CommandResult } from '../../shared/schemas/command.js';
import type { JobLogLine } from '../../shared/schemas/job-log.js';
import { JOB_LOGS_MAX_BYTES_DEFAULT, JOB_LOGS_MAX_LINES_DEFAULT, JobLogStore, type JobLogLimits } from '../../shared/store/job-log-store.js';
import type { Keys } from '../../shared/store/keys.js';
import { EnvStore } from '../../shared/store/project-store.js';
import type { CommandReport, CommandRunner } from './command-runner.js';

/** What {@link CommandJobs} needs. */
export interface CommandJobsDeps {
  runner: CommandRunner;
  /** Command connection: env layers and logs. */
  redis: Redis;
  keys: Keys;
  /** RESULT_TTL_SECONDS: logs expire with the job record. */
  ttlSeconds: number;
  /** JOB_LOGS_MAX_BYTES and JOB_LOGS_MAX_LINES: what a job's logs may store, all attempts together. */
  logLimits?: JobLogLimits;
  /** FUNCTION_SYSTEM_ENV: the first env layer after the base. */
  systemEnv: Record<string, string>;
  /** A job's timeout when it gives none: ALGORITHM_TIMEOUT_MS. */
  defaultTimeoutMs: number;
  logger: Logger;
  /** This worker's id (`<host>:<pid>`), written on each log line. */
  workerId?: string;
}

/** Runs command jobs on a worker; see the module comment. */
export class CommandJobs {
  private readonly logs: JobLogStore;
  private readonly env: EnvStore;

  constructor(private readonly deps: CommandJobsDeps) {
    this.logs = new JobLogStore(deps.redis, deps.keys, deps.ttlSeconds, deps.logLimits ?? { maxBytes: JOB_LOGS_MAX_BYTES_DEFAULT, maxLines: JOB_LOGS_MAX_LINES_DEFAULT });
    this.env = new EnvStore(deps.redis, deps.keys);
  }

  /**
   * The env a job's command gets: PATH, HOME and LANG ({@link BASE_ENV}; HOME becomes the work
   * dir), then FUNCTION_SYSTEM_ENV and the stored system env, then its project's env, then its own.
   * @throws AppError SERVICE_UNAVAILABLE when Redis does not answer.
   */
  async envOf(data: CommandJob): Promise<Record<string, string>> {
    // A Redis failure is no verdict on the job: SERVICE_UNAVAILABLE leaves it to BullMQ's retries.
    const layers = await this.env.layers(data.project ?? '').catch((err: unknown) => {
      throw new AppError('SERVICE_UNAVAILABLE', `could not read the env layers: ${String(err)}`);
    });
    const { HOME: _home, ...base } = BASE_ENV;
    return { ...base, ...this.deps.systemEnv, ...layers.system, ...(data.project ? layers.project : {}), ...data.command.env };
  }

  /**
   * Runs the job's command with the job id as run id (so {@link cancel} reaches it), its timeout_ms
   * or ALGORITHM_TIMEOUT_MS.
   * @throws CommandRunError (see CommandRunner.run); an Error from Redis while reading the env layers.
   */
  run(data: CommandJob, jobId: string, env: Record<string, string>): Promise<{ result: CommandResult; report: CommandReport }> {
    return this.deps.runner.run(data.command, env, jobId, data.timeout_ms ?? this.deps.defaultTimeoutMs);
  }

  /** Stops the run of a job. @returns false when this worker runs no such job. */
  cancel(jobId: string): boolean {
    return this.deps.runner.cancel(jobId);
  }

  /**
   * After a run (finished or failed, not cancelled): appends its captured lines to the job's logs
   * (the store keeps JOB_LOGS_MAX_BYTES and JOB_LOGS_MAX_LINES over all attempts and marks the cut).
   * Errors are logged, never thrown: the job's outcome stands.
   */
  async afterRun(jobId: string, report: CommandReport | undefined, attempt: number): Promise<void> {
    if (!report || (report.logs.length === 0 && !report.truncated)) return;
    const { workerId, logger } = this.deps;
    const lines = report.logs.map((l): JobLogLine => ({ ts: l.ts, stream: l.stream, line: l.line, attempt, ...(workerId ? { worker_id: workerId } : {}), job_id: jobId }));
    await this.logs.append(jobId, lines, report.truncated).catch((err: unknown) => {
      logger.warn('could not store the command run logs', { error: String(err) });
    });
  }
}
