import { performance } from 'node:perf_hooks';
import { UnrecoverableError, type Job } from 'bullmq';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { algorithmNotFound, AppError } from '../shared/errors/index.js';
import { withLogContext, type Logger } from '../shared/logger.js';
import { algorithmLabel, runEndCounters, type Metrics } from '../shared/metrics.js';
import { isCommandJob, type JobData } from '../shared/queue/job-data.js';
import type { JobDependencies } from '../shared/jobs/dependencies.js';
import type { WebhooksQueue } from '../shared/queue/webhooks-queue.js';
import { recordScheduledRun } from '../shared/jobs/submit.js';
import { webhookPayloadOf } from '../shared/jobs/webhook-payload.js';
import { isoNow, type UpdateOutcome, type AttemptEnd, type JobStore } from '../shared/store/job-store.js';
import { type JobProgress, type StoredJob } from '../shared/schemas/job-record.js';
import type { WorkerActivity } from './heartbeat.js';
import type { ChildPool } from './algorithms/child-pool.js';
import { DEFAULT_POOL } from '../shared/queue/names.js';
import type { QueuedBytesStore } from '../shared/store/queued-bytes-store.js';
import type { FunctionJobs } from './functions/function-jobs.js';
import { inSpan, SpanKind } from '../shared/tracing.js';
import { FunctionRunError } from './functions/function-run-error.js';
import { type FunctionRunReport } from './functions/function-run.js';
import type { CommandJobs } from './commands/command-jobs.js';
import { CommandRunError, type CommandReport } from './commands/command-runner.js';

/** `metadata.version` of a command job's result: the version of the CommandResult format (docs/commands.md). */
export const COMMAND_RESULT_VERSION = '1';

/** A job still running after this long is marked `running` on its record (ms). */
export const RUNNING_MARK_DELAY_MS = 50;

/** What {@link createAlgorithmProcessor} needs. */
export interface ProcessorDeps {
  pool: ChildPool;
  store: JobStore;
  registry: AlgorithmRegistry;
  metrics: Metrics;
  webhooks: Pick<WebhooksQueue, 'enqueue'>;
  logger: Logger;
  /** This worker's id (WORKER_ID or its default), written on each attempt. */
  workerId: string;
  /** Job ids cancelled recently (heard on the cancel channel): a run not yet started is skipped. */
  cancelled: RecentIds;
  /** Runs jobs with a function_id; absent: such jobs fail with INTERNAL_ERROR. */
  functions?: FunctionJobs;
  /** MAX_QUEUED_BYTES accounting: a started job's payload stops counting against its pool. */
  queued?: QueuedBytesStore;
  /** JOB_RESULT_MAX_BYTES: largest result stored, bytes of JSON; a larger one fails the attempt. Default 1 MiB. */
  maxResultBytes?: number;
  /** Runs jobs with a command; absent: such jobs fail with INTERNAL_ERROR. */
  commands?: CommandJobs;
  /** Goes on with the jobs waiting for a job that ended (depends_on); absent: they are not told. */
  dependencies?: JobDependencies;
}

/**
 * The failure of a result whose JSON passes `maxBytes` (JOB_RESULT_MAX_BYTES), or undefined when it fits.
 * @param result the run's result, as it would be stored.
 * @param maxBytes the bound, in bytes of UTF-8 JSON.
 */
export function resultTooLarge(result: unknown, maxBytes: number): AppError | undefined {
  const json = JSON.stringify(result ?? null);
  // UTF-8 bytes are at most 3 per UTF-16 unit: skip the count for what surely fits.
  if (json.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return undefined;
  return new AppError('ALGORITHM_ERROR', `the result is ${bytes} bytes of JSON, over JOB_RESULT_MAX_BYTES (${maxBytes}); it was not stored`, {
    reason: 'result_too_large',
    result_bytes: bytes,
    max_result_bytes: maxBytes,
  });
}

/** Progress is written to the record at most this often per job (ms); the latest value always lands. */
export const PROGRESS_WRITE_INTERVAL_MS = 100;

/** Error codes no retry can fix: the same input fails the same way. */
const NOT_RETRIED: ReadonlySet<string> = new Set(['VALIDATION_ERROR', 'ALGORITHM_NOT_FOUND', 'FUNCTION_NOT_FOUND', 'CANCELLED', 'FORBIDDEN']);

/**
 * Ids seen recently, each forgotten after `ttlMs` (at most `max` kept): cancel messages that may
 * arrive before the job's run starts on this worker.
 */
export class RecentIds {
  private readonly ids = new Map<string, number>();

  constructor(
    private readonly ttlMs = 10 * 60_000,
    private readonly max = 10_000,
  ) {}

  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, Date.now() + this.ttlMs);
    // Maps keep insertion order: the first entries are the oldest.
    for (const [old, expires] of this.ids) {
      if (this.ids.size <= this.max && expires > Date.now()) break;
      this.ids.delete(old);
    }
  }

  has(id: string): boolean {
    const expires = this.ids.get(id);
    return expires !== undefined && expires > Date.now();
  }
}

/**
 * The BullMQ processor of the jobs queues: starts an attempt on the record (attempts
 * history), marks it running, runs the algorithm in a warm child (with the job's timeout_ms),
 * writes the record's terminal state (which also wakes /invoke), counts the FunctionalScaffold API reference's metrics and
 * enqueues the webhook delivery.
 *
 * Failures: with retries left (max_retries) the record goes back to pending and the error
 * is thrown as is, so BullMQ retries after the job's backoff; otherwise the BullMQ job fails without
 * retry (UnrecoverableError; the FunctionalScaffold API reference: an algorithm failure is final by default). A Redis failure
 * or the pool closing throws as is, so the job is retried or recovered as stalled. A job cancelled
 * meanwhile keeps its `cancelled` record; its result is dropped and no webhook is sent here (the API
 * sent the cancelled one).
 * @returns the job record's result.
 */
export function createAlgorithmProcessor(deps: ProcessorDeps) {
  const { pool, store, registry, metrics, webhooks, logger, workerId, cancelled, functions, queued, commands, dependencies } = deps;
  const maxResultBytes = deps.maxResultBytes ?? 1024 * 1024;

  return async function processAlgorithmJob(job: Job<JobData>): Promise<unknown> {
    const queueJobId = job.id!;
    const jobId = store.recordIdOf(queueJobId);
    const data = job.data;
    const logContext = { worker_id: workerId, job_id: jobId, algorithm: data.algorithm, attempt: job.attemptsMade + 1, request_id: data.request_id };
    return withLogContext(logContext, async () => {
      // MAX_QUEUED_BYTES: the payload stops counting in the script that starts the attempt (a run
      // past RUNNING_MARK_DELAY_MS) or ends it, whichever comes first (idempotent: one HGET after).
      const releasePool = queued ? (data.pool ?? DEFAULT_POOL) : undefined;
      if (cancelled.has(jobId)) throw withCode(new UnrecoverableError('CANCELLED: cancelled by request'), 'CANCELLED');
      const createdAt = data.schedule_id ? await scheduledRecord(store, job, jobId, metrics) : data.created_at;
      const startedAt = isoNow();
      const t0 = performance.now();
      // Only a run that lasts starts its attempt on the record and is marked running (one script):
      // for the many that end within RUNNING_MARK_DELAY_MS the writes would cost ~15 % of a job's CPU
      // and no poller could see them; their attempt is written by the finish script instead.
      // (started_at is exact either way.) Not awaited: the finish below goes over the same
      // connection, after it, in order. A job that had already ended (cancelled) is stopped as soon
      // as the answer says so.
      let attemptStart: Promise<number | UpdateOutcome> | undefined;
      const markRunning = () => {
        if (attemptStart) return;
        clearTimeout(markTimer);
        attemptStart = store.startAttempt(jobId, { worker_id: workerId, started_at: startedAt }, true, releasePool).catch((err: unknown) => {
          logger.warn('could not mark the job running', { error: String(err) });
          return 0;
        });
        void attemptStart.then((r) => {
          if (typeof r === 'object' && r.kind === 'ended') {
            pool.cancel(jobId);
            functions?.cancel(jobId);
            commands?.cancel(jobId);
          }
        });
      };
      const markTimer = setTimeout(markRunning, RUNNING_MARK_DELAY_MS);
      const progress = progressWriter(jobId, store, job, logger, markRunning);

      let result: unknown = null;
      let failure: AppError | undefined;
      let elapsedMs = 0;
      // A function run's logs and measurements, finished or failed.
      let report: FunctionRunReport | undefined;
      // A command run's logs and exit code, finished or failed.
      let commandReport: CommandReport | undefined;
      try {
        if (isCommandJob(data)) {
          if (!commands) throw new AppError('INTERNAL_ERROR', 'this worker does not run commands');
          const out = await commands.run(data, jobId, await commands.envOf(data));
          commandReport = out.report;
          result = out.result;
          elapsedMs = out.report.duration_ms;
        } else if (data.function_id) {
          if (!functions) throw new AppError('INTERNAL_ERROR', 'this worker does not run functions');
          await functions.resolveVersion(data);
          const out = await inSpan('run function', SpanKind.INTERNAL, { 'fnqueue.job_id': jobId, 'fnqueue.function_id': data.function_id, 'fnqueue.attempt': job.attemptsMade + 1 }, () =>
            functions.run(data, jobId, progress.report),
          );
          report = out;
          result = out.result;
          elapsedMs = out.duration_ms;
        } else {
          // The API validated against its own registry; this worker may serve fewer algorithms.
          if (!registry.get(data.algorithm)) {
            throw algorithmNotFound(data.algorithm, registry.names(), `algorithm '${data.algorithm}' is not served by this worker`);
          }
          const out = await inSpan(`run ${data.algorithm}`, SpanKind.INTERNAL, { 'fnqueue.job_id': jobId, 'fnqueue.algorithm': data.algorithm, 'fnqueue.attempt': job.attemptsMade + 1 }, () =>
            pool.run(data.algorithm, data.params, { logContext, key: jobId, timeoutMs: data.timeout_ms, onProgress: progress.report }),
          );
          result = out.result;
          elapsedMs = out.elapsedMs;
        }
      } catch (err) {
        if (err instanceof FunctionRunError) report = err.report;
        if (err instanceof CommandRunError) commandReport = err.report;
        // The pool closing (worker shutdown past its grace period) is no verdict on the job: leave it
        // unfinished, so BullMQ retries it or stalled-job recovery hands it to another worker.
        if (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') {
          clearTimeout(markTimer);
          progress.stop();
          throw err;
        }
        failure = err instanceof AppError ? err : new AppError('ALGORITHM_ERROR', String(err));
        elapsedMs = Number((failure.details as { elapsed_ms?: number }).elapsed_ms ?? report?.duration_ms ?? performance.now() - t0);
      }
      // Checked once here for algorithms and functions alike, before anything is written.
      if (!failure) {
        failure = resultTooLarge(result, maxResultBytes);
        if (failure) result = null;
      }
      clearTimeout(markTimer);
      await progress.flush();
      // 0: the attempt was never started on the record (a short run); the finish script numbers it.
      const attemptNo = attemptStart ? await attemptStart : 0;
      const finishedAt = isoNow();
      const attemptEnd: AttemptEnd | undefined =
        typeof attemptNo === 'number'
          ? {
              attempt: attemptNo,
              worker_id: workerId,
              status: !failure ? 'completed' : failure.code === 'TIMEOUT' ? 'timeout' : failure.code === 'CANCELLED' ? 'cancelled' : 'failed',
              started_at: startedAt,
              finished_at: finishedAt,
              duration_ms: round3(performance.now() - t0),
              error: failure?.message ?? null,
              error_code: failure?.code ?? null,
              exit_code: typeof failure?.details.exit_code === 'number' ? failure.details.exit_code : !failure && commandReport ? commandReport.exit_code : null,
            }
          : undefined;
      // The record already ended while this run went on: cancelled (drop the run), or finished by an
      // earlier run of the same job (a duplicate after a lost lock: its end stands).
      const dropEnded = async (endedAs: string): Promise<null> => {
        if (endedAs !== 'cancelled') {
          if (attemptEnd) await store.endAttempt(jobId, { ...attemptEnd, status: 'lost', error: `the job had already ended (${endedAs}) elsewhere; this run was dropped` });
          logger.warn('job had already ended; this run is dropped', { status: endedAs });
          return null;
        }
        if (attemptEnd) await store.endAttempt(jobId, { ...attemptEnd, status: 'cancelled', error: 'cancelled by request', error_code: 'CANCELLED' });
        logger.info('job was cancelled; its run is dropped');
        throw withCode(new UnrecoverableError('CANCELLED: cancelled by request'), 'CANCELLED');
      };
      if (failure?.code === 'CANCELLED') return dropEnded('cancelled');
      if (typeof attemptNo === 'object' && attemptNo.kind === 'ended') return dropEnded(attemptNo.status);
      // Before the record's end, so a caller woken by it finds the run's logs.
      if (data.function_id && functions) await functions.afterRun(jobId, data, report, !failure, typeof attemptNo === 'number' && attemptNo > 0 ? attemptNo : job.attemptsMade + 1, elapsedMs);
      if (commandReport && commands) await commands.afterRun(jobId, commandReport, typeof attemptNo === 'number' && attemptNo > 0 ? attemptNo : job.attemptsMade + 1);

      const algorithm = registry.get(data.algorithm);
      const label = algorithmLabel(data);
      if (label) {
        metrics.algorithmExecutionsTotal.inc({ algorithm: label, status: failure ? 'error' : 'success' });
        metrics.algorithmExecutionDuration.observe({ algorithm: label }, elapsedMs / 1000);
      } else {
        metrics.functionInvocationsTotal.inc({ status: failure ? 'error' : 'success' });
        metrics.functionExecutionDuration.observe(elapsedMs / 1000);
      }

      // Retries count the algorithm's own failures only (kept in the job's data): a Redis error that
      // made BullMQ retry the job does not use up the caller's max_retries.
      const failures = data.algorithm_failures ?? 0;
      const retriesLeft = (data.max_retries ?? 0) - failures;
      if (failure && retriesLeft > 0 && !NOT_RETRIED.has(failure.code) && failure.details.retry !== false) {
        // BullMQ retries after the job's backoff (retry_backoff, retry_interval_ms); the record waits as pending.
        const backoff = job.opts.backoff;
        const interval = typeof backoff === 'object' ? (backoff.delay ?? 0) : (backoff ?? 0);
        const waitMs = typeof backoff === 'object' && backoff.type === 'exponential' ? interval * 2 ** job.attemptsMade : interval;
        if (attemptEnd) {
          const outcome = await store.retryLater(jobId, attemptEnd, waitMs, runEndCounters(data, true, undefined), releasePool);
          if (outcome.kind === 'ended') return dropEnded(outcome.status);
        }
        await job.updateData({ ...data, algorithm_failures: failures + 1 });
        logger.info('attempt failed; retrying', { error: failure.message, error_code: failure.code, retries_left: retriesLeft, wait_ms: waitMs });
        throw withCode(new Error(`${failure.code}: ${failure.message}`), failure.code);
      }

      const status = failure ? 'failed' : 'completed';
      const record: StoredJob = {
        job_id: jobId,
        status,
        algorithm: data.algorithm,
        created_at: createdAt,
        started_at: startedAt,
        completed_at: finishedAt,
        result: failure ? null : result,
        error: failure ? failure.message : null,
        error_code: failure ? failure.code : null,
        metadata: failure ? null : { algorithm: data.algorithm, version: data.function_id ? String(data.function_version ?? 1) : isCommandJob(data) ? COMMAND_RESULT_VERSION : (algorithm?.version ?? 'unknown'), elapsed_time: round6(elapsedMs / 1000) },
        params: data.params,
      };
      if (data.webhook) record.webhook = { url: data.webhook, status: 'pending', attempts: 0, last_error: null, delivered_at: null };
      if (progress.latest) record.progress = progress.latest;
      if (data.function_id) record.function_id = data.function_id;
      // A sync job's caller waits (its record is watched from creation); an async job's event is built only when watched.
      const outcome = await store.finish(record, attemptEnd, runEndCounters(data, Boolean(failure), status), releasePool, data.mode === 'sync');
      if (outcome.kind === 'ended') return dropEnded(outcome.status);
      if (outcome.kind === 'gone') logger.info('job record is gone (expired or removed); result dropped');

      if (data.mode === 'async' && label) {
        metrics.jobsCompletedTotal.inc({ algorithm: label, status });
        metrics.jobExecutionDuration.observe({ algorithm: label }, (performance.now() - t0) / 1000);
      }
      if (failure) logger.info('job failed', { error: failure.message, error_code: failure.code });
      else if (logger.isDebugEnabled()) logger.debug('job completed', { elapsed_ms: elapsedMs });

      if (data.webhook && outcome.kind === 'updated') await webhooks.enqueue(jobId, data.webhook, webhookPayloadOf({ ...record, status }));
      // The jobs waiting for this one go on or fail (never throws); the finish script says whether any registered.
      if (outcome.kind === 'updated' && outcome.dependents) await dependencies?.jobEnded(jobId, status);
      if (failure) throw withCode(new UnrecoverableError(`${failure.code}: ${failure.message}`), failure.code);
      return result;
    });
  };
}

/** Writes a schedule's run's record (the submit path's builder), counting it when new. @returns its created_at. */
async function scheduledRecord(store: JobStore, job: Job<JobData>, jobId: string, metrics: Metrics): Promise<string> {
  const { created, created_at } = await recordScheduledRun(store, { id: job.id!, data: job.data, timestamp: job.timestamp, opts: job.opts }, jobId);
  const label = algorithmLabel(job.data);
  if (created && label) metrics.jobsCreatedTotal.inc({ algorithm: label });
  return created_at;
}

/**
 * Progress reports of one run, written to the record (and BullMQ's job, for the dashboard) at most
 * every {@link PROGRESS_WRITE_INTERVAL_MS}; the latest report always lands. The first report marks
 * the job running at once.
 */
function progressWriter(jobId: string, store: JobStore, job: Job, logger: Logger, markRunning: () => void) {
  let lastWrite = -Infinity;
  let pending: JobProgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<unknown> = Promise.resolve();
  let latest: JobProgress | undefined;
  const write = () => {
    timer = undefined;
    if (!pending) return;
    const p = pending;
    pending = undefined;
    lastWrite = performance.now();
    writing = Promise.all([store.setProgress(jobId, p), job.updateProgress({ percent: p.percent, message: p.message })]).catch((err: unknown) =>
      logger.debug('could not write progress', { error: String(err) }),
    );
  };
  return {
    report(percent: number, message?: string): void {
      markRunning();
      const clamped = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
      pending = { percent: clamped, message: message === undefined ? null : String(message).slice(0, 1000), updated_at: isoNow() };
      latest = pending;
      const wait = PROGRESS_WRITE_INTERVAL_MS - (performance.now() - lastWrite);
      if (wait <= 0) write();
      else timer ??= setTimeout(write, wait);
    },
    /** Writes a pending report now and waits for the writes. */
    async flush(): Promise<void> {
      clearTimeout(timer);
      write();
      await writing;
    },
    stop(): void {
      clearTimeout(timer);
      pending = undefined;
    },
    /** The latest report, for the finished record's event (what a waiting caller gets). */
    get latest(): JobProgress | undefined {
      return latest;
    },
  };
}

/**
 * Wraps a jobs-queue processor so `activity` (the worker registry's in-memory view) knows
 * the jobs running now and counts the finished ones: resolved is completed; UnrecoverableError (the
 * algorithm failed, timed out or is not served) is failed; any other error leaves the job
 * unfinished (BullMQ retries it or stalled-job recovery hands it on) and is not counted.
 * @param recordIdOf the record id of a BullMQ job id (JobStore.recordIdOf).
 */
export function trackActivity<T>(activity: WorkerActivity, processor: (job: Job<T>) => Promise<unknown>, recordIdOf: (queueJobId: string) => string) {
  return async function trackedProcessor(job: Job<T>): Promise<unknown> {
    const jobId = recordIdOf(job.id!);
    activity.start(jobId);
    try {
      const result = await processor(job);
      activity.finish(jobId, 'completed');
      return result;
    } catch (err) {
      activity.finish(jobId, err instanceof UnrecoverableError ? 'failed' : undefined);
      throw err;
    }
  };
}

/**
 * `err` with the failure's code as a field (BullMQ keeps only the message as failedReason; the code
 * travels on the record's error_code, and on the error for whoever catches it, never parsed back).
 */
function withCode<E extends Error>(err: E, code: string): E & { code: string } {
  return Object.assign(err, { code });
}

function round3(x: number): number {
  return Math.round(x * 1e3) / 1e3;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
