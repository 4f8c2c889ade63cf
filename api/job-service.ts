import type { Queue } from 'bullmq';
import type { ZodError } from 'zod';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { AppError, toAppError, validationError } from '../shared/errors.js';
import type { Metrics } from '../shared/metrics.js';
import { literalHostRefusal } from '../shared/net/address-policy.js';
import type { AlgorithmJobData } from '../shared/queue/job-data.js';
import { isoNow, newJobId, type JobStore, type StoredJob } from '../shared/queue/job-record.js';
import type { JobWaiter, WaitOutcome } from './job-waiter.js';

/** BullMQ options of every algorithm job; failed BullMQ jobs are kept as long as records (`ttlSeconds`). */
function jobOptions(ttlSeconds: number) {
  return {
    // Algorithm failures are final (UnrecoverableError); these attempts cover infrastructure hiccups only.
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    // The job record is the source of truth and has its own TTL; BullMQ's copy of a success goes at once.
    removeOnComplete: true,
    removeOnFail: { age: ttlSeconds, count: 10_000 },
  } as const;
}

/** A job to submit: algorithm and params already shaped by the route's schema. */
export interface Submission {
  algorithm: string;
  params: Record<string, unknown>;
  webhook?: string;
  requestId: string;
  /** Where params sit in the request body, for error fields (`['params']` for /jobs, `[]` for /invoke's default form). */
  paramsPath: readonly string[];
}

/** What the routes need. */
export interface JobServiceDeps {
  registry: AlgorithmRegistry;
  store: JobStore;
  queue: Queue<AlgorithmJobData>;
  waiter: JobWaiter;
  metrics: Metrics;
  invokeTimeoutMs: number;
  /** RESULT_TTL_SECONDS. */
  ttlSeconds: number;
  /**
   * WEBHOOK_ALLOW_PRIVATE. Unless true, a webhook whose host is a literal IP the SSRF guard refuses
   * (loopback, private, link-local, metadata...) or a cloud metadata name is refused at submission.
   */
  allowPrivateWebhooks?: boolean;
  /** Backpressure (MAX_QUEUE_DEPTH): throws SERVICE_UNAVAILABLE when no job may be added. */
  admission?: { check(): Promise<void> };
}

/**
 * The core of POST /jobs and POST /invoke: validate against the algorithm's schema, write the
 * pending record, enqueue the BullMQ job under the same id, and (for /invoke) wait for it.
 */
export class JobService {
  private readonly jobOptions: ReturnType<typeof jobOptions>;

  constructor(private readonly deps: JobServiceDeps) {
    this.jobOptions = jobOptions(deps.ttlSeconds);
  }

  /**
   * Validates a submission (nothing is written when it is invalid).
   * @throws AppError ALGORITHM_NOT_FOUND (details.available_algorithms) or VALIDATION_ERROR (details.field).
   */
  validate(sub: Submission): unknown {
    if (sub.webhook !== undefined && !this.deps.allowPrivateWebhooks) checkWebhookHost(sub.webhook);
    const algorithm = this.deps.registry.get(sub.algorithm);
    if (!algorithm) {
      throw new AppError('ALGORITHM_NOT_FOUND', `algorithm '${sub.algorithm}' not found`, {
        algorithm: sub.algorithm,
        available_algorithms: this.deps.registry.names(),
      });
    }
    const parsed = algorithm.params.safeParse(sub.params);
    if (!parsed.success) throw validationError(parsed.error as ZodError, sub.params, sub.paramsPath);
    return parsed.data;
  }

  /**
   * POST /jobs: validates, then records and enqueues an async job.
   * @returns the job's id and creation time.
   * @throws AppError as {@link validate}; SERVICE_UNAVAILABLE when Redis is unreachable or the queue is full.
   */
  async submit(sub: Submission): Promise<{ job_id: string; created_at: string }> {
    const params = this.validate(sub);
    await this.deps.admission?.check();
    const job = await this.enqueue(sub, params, 'async');
    this.deps.metrics.jobsCreatedTotal.inc({ algorithm: sub.algorithm });
    return job;
  }

  /**
   * POST /invoke: validates, enqueues a sync job, and waits for it up to INVOKE_TIMEOUT_MS.
   * @throws AppError as {@link validate}; SERVICE_UNAVAILABLE when Redis is unreachable or the queue is full.
   */
  async invoke(sub: Submission): Promise<{ job_id: string; outcome: WaitOutcome }> {
    const params = this.validate(sub);
    await this.deps.admission?.check();
    const jobId = newJobId();
    // Registered before the job exists, so its completion cannot be missed.
    const wait = this.deps.waiter.register(jobId, this.deps.invokeTimeoutMs);
    try {
      await this.enqueue(sub, params, 'sync', jobId);
    } catch (err) {
      wait.cancel();
      throw err;
    }
    return { job_id: jobId, outcome: await wait.promise };
  }

  /** GET /jobs/{job_id}. @throws AppError JOB_NOT_FOUND when unknown or expired. */
  async get(jobId: string): Promise<StoredJob> {
    const job = await this.deps.store.get(jobId);
    if (!job) throw jobNotFound(jobId);
    return job;
  }

  private async enqueue(sub: Submission, params: unknown, mode: 'sync' | 'async', jobId = newJobId()): Promise<{ job_id: string; created_at: string }> {
    const created_at = isoNow();
    const data: AlgorithmJobData = { algorithm: sub.algorithm, params, mode, created_at, request_id: sub.requestId };
    if (sub.webhook) data.webhook = sub.webhook;
    // Record and enqueue in parallel: one round trip of latency instead of two. The record's
    // write cannot lose to the worker's: a worker only writes through updateIfExists.
    const results = await Promise.allSettled([
      this.deps.store.create({ job_id: jobId, algorithm: sub.algorithm, params, created_at, webhook: sub.webhook }),
      this.deps.queue.add(sub.algorithm, data, { ...this.jobOptions, jobId }),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled([this.deps.store.remove(jobId), this.deps.queue.remove(jobId)]);
      throw toAppError(failed.reason);
    }
    return { job_id: jobId, created_at };
  }
}

/**
 * The SSRF guard at submission (issue 5), without DNS: names are checked again on the address each
 * delivery connects to.
 * @throws AppError VALIDATION_ERROR (details.field `webhook`) for a literal IP or metadata host the guard refuses.
 */
function checkWebhookHost(webhook: string): void {
  const refusal = literalHostRefusal(new URL(webhook).hostname);
  if (!refusal) return;
  const message = `${refusal} (webhooks to loopback, private, link-local and cloud metadata addresses are refused)`;
  throw new AppError('VALIDATION_ERROR', `webhook ${message}`, { field: 'webhook', issues: [{ field: 'webhook', message }], value: webhook });
}

/** Seed 002: `任务 'xxx' 不存在或已过期` (does not exist or has expired). */
export function jobNotFound(jobId: string): AppError {
  return new AppError('JOB_NOT_FOUND', `job '${jobId}' does not exist or has expired`, { job_id: jobId });
}
