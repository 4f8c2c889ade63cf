import { performance } from 'node:perf_hooks';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { AppError } from '../shared/errors.js';
import { withLogContext, type Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { AlgorithmJobData, WebhookJobData } from '../shared/queue/job-data.js';
import { isoNow, type JobStore, type StoredJob } from '../shared/queue/job-record.js';
import type { WorkerActivity } from './heartbeat.js';
import type { ChildPool } from './runner/child-pool.js';

/** A job still running after this long is marked `running` on its record (ms). */
export const RUNNING_MARK_DELAY_MS = 50;

/** What {@link createAlgorithmProcessor} needs. */
export interface ProcessorDeps {
  pool: ChildPool;
  store: JobStore;
  registry: AlgorithmRegistry;
  metrics: Metrics;
  webhooks: Queue<WebhookJobData>;
  logger: Logger;
}

/**
 * The BullMQ processor of the jobs queue: marks the record running, runs the algorithm in a warm
 * child, writes the record's terminal state (which also wakes /invoke), counts the seed's metrics
 * and enqueues the webhook delivery. An algorithm's failure fails the BullMQ job without retry
 * (UnrecoverableError: the same input fails the same way); a Redis failure throws as is, so the job
 * is retried or recovered as stalled.
 * @returns the job record's result.
 */
export function createAlgorithmProcessor(deps: ProcessorDeps) {
  const { pool, store, registry, metrics, webhooks, logger } = deps;

  return async function processAlgorithmJob(job: Job<AlgorithmJobData>): Promise<unknown> {
    const jobId = job.id!;
    const data = job.data;
    const logContext = { job_id: jobId, algorithm: data.algorithm, attempt: job.attemptsMade + 1, request_id: data.request_id };
    return withLogContext(logContext, async () => {
      const startedAt = isoNow();
      const t0 = performance.now();
      // Only a run that lasts is marked running: for the many that end within RUNNING_MARK_DELAY_MS
      // the write would cost ~15 % of a job's CPU and no poller could see it. (started_at is exact
      // either way.) Not awaited: the finish below goes over the same connection, after it, in order.
      const markTimer = setTimeout(() => {
        void store.markRunning(jobId, startedAt).catch((err: unknown) => logger.warn('could not mark the job running', { error: String(err) }));
      }, RUNNING_MARK_DELAY_MS);

      let result: unknown = null;
      let failure: AppError | undefined;
      let elapsedMs = 0;
      try {
        // The API validated against its own registry; this worker may serve fewer algorithms.
        if (!registry.get(data.algorithm)) {
          throw new AppError('ALGORITHM_NOT_FOUND', `algorithm '${data.algorithm}' is not served by this worker`, { available_algorithms: registry.names() });
        }
        const out = await pool.run(data.algorithm, data.params, {
          logContext,
          onProgress: (percent, message) => void job.updateProgress({ percent, message }).catch(() => undefined),
        });
        clearTimeout(markTimer);
        result = out.result;
        elapsedMs = out.elapsedMs;
      } catch (err) {
        clearTimeout(markTimer);
        // The pool closing (worker shutdown past its grace period) is no verdict on the job: leave it
        // unfinished, so BullMQ retries it or stalled-job recovery hands it to another worker.
        if (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') throw err;
        failure = err instanceof AppError ? err : new AppError('ALGORITHM_ERROR', String(err));
        elapsedMs = Number((failure.details as { elapsed_ms?: number }).elapsed_ms ?? performance.now() - t0);
      }
      const algorithm = registry.get(data.algorithm);
      const status = failure ? 'failed' : 'completed';
      const record: StoredJob = {
        job_id: jobId,
        status,
        algorithm: data.algorithm,
        created_at: data.created_at,
        started_at: startedAt,
        completed_at: isoNow(),
        result: failure ? null : result,
        error: failure ? failure.message : null,
        error_code: failure ? failure.code : null,
        metadata: failure ? null : { algorithm: data.algorithm, version: algorithm?.version ?? 'unknown', elapsed_time: round6(elapsedMs / 1000) },
        params: data.params,
      };
      if (data.webhook) record.webhook = { url: data.webhook, status: 'pending', attempts: 0, last_error: null, delivered_at: null };
      if (!(await store.finish(record))) logger.info('job record is gone (expired or removed); result dropped');

      metrics.algorithmExecutionsTotal.inc({ algorithm: data.algorithm, status: failure ? 'error' : 'success' });
      metrics.algorithmExecutionDuration.observe({ algorithm: data.algorithm }, elapsedMs / 1000);
      if (data.mode === 'async') {
        metrics.jobsCompletedTotal.inc({ algorithm: data.algorithm, status });
        metrics.jobExecutionDuration.observe({ algorithm: data.algorithm }, (performance.now() - t0) / 1000);
      }
      if (failure) logger.info('job failed', { error: failure.message, error_code: failure.code });
      else if (logger.isDebugEnabled()) logger.debug('job completed', { elapsed_ms: elapsedMs });

      if (data.webhook) {
        const payload = {
          job_id: jobId,
          status,
          algorithm: data.algorithm,
          result: record.result,
          error: record.error,
          metadata: record.metadata,
          completed_at: record.completed_at,
        } as const;
        // The delivery's id is the job's, so a re-run of this job (stalled recovery) adds no second delivery.
        await webhooks.add('delivery', { url: data.webhook, payload }, { jobId });
      }
      if (failure) throw new UnrecoverableError(`${failure.code}: ${failure.message}`);
      return result;
    });
  };
}

/**
 * Wraps a jobs-queue processor so `activity` (the worker registry's in-memory view, issue 4) knows
 * the jobs running now and counts the finished ones: resolved is completed; UnrecoverableError (the
 * algorithm failed, timed out or is not served) is failed; any other error leaves the job
 * unfinished (BullMQ retries it or stalled-job recovery hands it on) and is not counted.
 */
export function trackActivity<T>(activity: WorkerActivity, processor: (job: Job<T>) => Promise<unknown>) {
  return async function trackedProcessor(job: Job<T>): Promise<unknown> {
    const jobId = job.id!;
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

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
