/**
 * The one submit path (docs/architecture.md#how-the-pieces-fit): an algorithm job (POST /jobs,
 * POST /invoke), a function invocation (sync or async) and a schedule's run are all described by a
 * {@link JobSubmission}, and get their job data, record and BullMQ options from the builders here.
 * The API submits with {@link submitJob} (record and enqueue); a schedule's job scheduler takes
 * {@link scheduledRunTemplate}, and the worker writes each run's record with {@link recordScheduledRun}.
 */
import { AppError, isRedisUnavailable, toAppError } from '../errors/index.js';
import type { JobData } from '../queue/job-data.js';
import { bullJobOptions, priorityOfBullPriority } from '../queue/job-options.js';
import type { JobQueues } from '../queue/job-queues.js';
import { DEFAULT_POOL } from '../queue/names.js';
import { isoNow, newJobId, type JobStore } from '../store/job-store.js';
import { type JobOptions, type NewJob } from '../schemas/job-record.js';
import type { QueuedBytesStore } from '../store/queued-bytes-store.js';
import type { ReplicaAcks } from '../store/replica-acks.js';

/** Seconds a caller refused because its pool's queued payloads are at MAX_QUEUED_BYTES is told to wait (Retry-After). */
export const QUEUED_BYTES_RETRY_AFTER_SECONDS = 5;

/** One job to run, however it was submitted. */
export interface JobSubmission {
  /** The algorithm's name; for a function job, the function's name. */
  algorithm: string;
  /** The algorithm's params (validated); for a function job, the event. */
  params: unknown;
  /** `sync` when a caller waits for the outcome. */
  mode: 'sync' | 'async';
  /** The job options as the job runs with them (server caps applied). */
  options: JobOptions;
  /** http(s) URL to POST the outcome to. */
  webhook?: string;
  /** The request that submitted it, for log correlation. */
  request_id?: string;
  /** A function job: the function, and the version fixed at invocation (absent: the current one when the run starts). */
  function?: { function_id: string; version?: number };
  /** The schedule whose run this is. */
  schedule_id?: string;
}

/** The job data of a submission (`created_at` '' in a schedule's template). */
export function jobDataOf(sub: JobSubmission, createdAt: string): JobData {
  const base = { algorithm: sub.algorithm, params: sub.params, mode: sub.mode, created_at: createdAt };
  const data: JobData = sub.function
    ? { ...base, function_id: sub.function.function_id, ...(sub.function.version !== undefined ? { function_version: sub.function.version } : {}) }
    : { ...base };
  if (sub.request_id) data.request_id = sub.request_id;
  if (sub.schedule_id) data.schedule_id = sub.schedule_id;
  if (sub.webhook !== undefined) data.webhook = sub.webhook;
  if (sub.options.pool) data.pool = sub.options.pool;
  if (sub.options.max_retries) data.max_retries = sub.options.max_retries;
  if (sub.options.timeout_ms !== undefined) data.timeout_ms = sub.options.timeout_ms;
  // A schedule's runs get their record from this data (recordScheduledRun): it carries the retry
  // options a submitted job's record takes from the request.
  if (sub.schedule_id !== undefined) {
    if (sub.options.retry_backoff) data.retry_backoff = sub.options.retry_backoff;
    if (sub.options.retry_interval_ms !== undefined) data.retry_interval_ms = sub.options.retry_interval_ms;
  }
  return data;
}

/** The pending record of a submission; a delayed job shows `run_at`. */
export function newJobRecord(sub: JobSubmission, jobId: string, createdAt: string, queueJobId?: string): NewJob {
  const record: NewJob = { job_id: jobId, algorithm: sub.algorithm, params: sub.params, created_at: createdAt, webhook: sub.webhook, ...sub.options };
  if (sub.function) record.function_id = sub.function.function_id;
  if (sub.schedule_id) record.schedule_id = sub.schedule_id;
  if (queueJobId !== undefined) record.queue_job_id = queueJobId;
  if (sub.options.delay_ms) record.run_at = isoNow(new Date(Date.parse(createdAt.replace('+00:00', 'Z')) + sub.options.delay_ms));
  return record;
}

/** What {@link submitJob} writes to. */
export interface SubmitDeps {
  store: JobStore;
  queues: JobQueues;
  /** RESULT_TTL_SECONDS: how long BullMQ keeps a failed job. */
  ttlSeconds: number;
  /** MAX_QUEUED_BYTES per pool, counted in the store; absent: not counted. */
  queued?: { store: QueuedBytesStore; maxBytes: number };
  /** REDIS_WAIT_REPLICAS > 0: the writes are confirmed by that many replicas before the job counts as accepted. */
  replicaAcks?: ReplicaAcks;
}

/**
 * Writes the pending record and enqueues the BullMQ job under the same id, in parallel (one round
 * trip of latency instead of two; the record's write cannot lose to the worker's, which only writes
 * through the live-update script). When either fails, both are undone, also when Redis did not answer
 * within REDIS_COMMAND_TIMEOUT_MS (the undo runs right after the writes once it does).
 * @returns the job's id, creation time and record.
 * With `replicaAcks` (REDIS_WAIT_REPLICAS), returns only once that many replicas acknowledged the writes.
 * @throws AppError (toAppError): SERVICE_UNAVAILABLE when Redis is unreachable, or when fewer replicas
 *   acknowledged the job in time (details.job_id: it was written and may run; docs/deployment.md#redis-topologies).
 */
export async function submitJob(deps: SubmitDeps, sub: JobSubmission, jobId = newJobId()): Promise<{ job_id: string; created_at: string; record: NewJob }> {
  const created_at = isoNow();
  const data = jobDataOf(sub, created_at);
  const record = newJobRecord(sub, jobId, created_at);
  const pool = sub.options.pool ?? DEFAULT_POOL;
  if (deps.queued) await reserveQueuedBytes(deps.queued, pool, jobId, data, deps.ttlSeconds);
  const queue = deps.queues.get(sub.options.pool);
  const results = await Promise.allSettled([deps.store.create(record), queue.add(sub.algorithm, data, bullJobOptions(deps.ttlSeconds, sub.options, jobId))]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // The undo goes on the same connection as the writes, so Redis runs it after them even when they
    // timed out unanswered and land only once Redis answers again: a 503 leaves no record and no job.
    // It is awaited only when Redis answers; after a timeout it would wait the bound a second time.
    const undo = Promise.allSettled([deps.store.remove(jobId, sub.algorithm), queue.remove(jobId), deps.queued?.store.release(pool, [jobId])]);
    if (!isRedisUnavailable(failed.reason)) await undo;
    throw toAppError(failed.reason);
  }
  if (deps.replicaAcks) await deps.replicaAcks.confirm(jobId).catch((err: unknown) => Promise.reject(toAppError(err)));
  return { job_id: jobId, created_at, record };
}

/**
 * Counts the job's data (JSON bytes) against its pool's MAX_QUEUED_BYTES until a worker starts it
 * or its record expires (RESULT_TTL_SECONDS from now).
 * @throws AppError SERVICE_UNAVAILABLE (details.pool, queued_bytes, max_queued_bytes, retry_after_seconds)
 *   past the bound; SERVICE_UNAVAILABLE (toAppError) when Redis is unreachable or out of memory.
 */
async function reserveQueuedBytes(queued: NonNullable<SubmitDeps['queued']>, pool: string, jobId: string, data: JobData, ttlSeconds: number): Promise<void> {
  const bytes = Buffer.byteLength(JSON.stringify(data));
  const { ok, total } = await queued.store.reserve(pool, jobId, bytes, Date.now() + ttlSeconds * 1000, queued.maxBytes).catch((err: unknown) => {
    throw toAppError(err);
  });
  if (ok) return;
  throw new AppError('SERVICE_UNAVAILABLE', `pool '${pool}' has ${total} bytes of payloads waiting (MAX_QUEUED_BYTES ${queued.maxBytes}); retry later`, {
    pool,
    queued_bytes: total,
    max_queued_bytes: queued.maxBytes,
    retry_after_seconds: QUEUED_BYTES_RETRY_AFTER_SECONDS,
  });
}

/**
 * The template of a schedule's runs for BullMQ's upsertJobScheduler: the job data (created_at left
 * for the worker to fill when the run starts) and the same BullMQ options as a submitted job but
 * the job id, which BullMQ gives each run.
 */
export function scheduledRunTemplate(sub: JobSubmission, ttlSeconds: number) {
  const { jobId: _jobId, ...opts } = bullJobOptions(ttlSeconds, sub.options, '');
  return { name: sub.algorithm, data: jobDataOf(sub, ''), opts };
}

/** The parts of a BullMQ job {@link recordScheduledRun} reads. */
export interface ScheduledRun {
  id: string;
  data: JobData;
  /** When BullMQ added the run (ms). */
  timestamp: number;
  opts: { delay?: number; priority?: number };
}

/**
 * A schedule's run has no record yet: the job scheduler added it to the queue. Writes one (unless a
 * stalled re-run finds it), with the scheduled time as created_at.
 * @returns whether it was written, and the record's created_at.
 */
export async function recordScheduledRun(store: JobStore, run: ScheduledRun, jobId: string): Promise<{ created: boolean; created_at: string }> {
  const data = run.data;
  const createdAt = isoNow(new Date(run.timestamp + (run.opts.delay ?? 0)));
  const sub: JobSubmission = {
    algorithm: data.algorithm,
    params: data.params,
    mode: data.mode,
    webhook: data.webhook,
    schedule_id: data.schedule_id,
    ...(data.function_id ? { function: { function_id: data.function_id } } : {}),
    // Shown only when the schedule gave them (priority 0, the default, maps to MAX_PRIORITY + 1).
    options: {
      pool: data.pool,
      max_retries: data.max_retries,
      retry_backoff: data.retry_backoff,
      retry_interval_ms: data.retry_interval_ms,
      timeout_ms: data.timeout_ms,
      priority: priorityOfBullPriority(run.opts.priority),
    },
  };
  const created = await store.create(newJobRecord(sub, jobId, createdAt, jobId === run.id ? undefined : run.id));
  if (created) return { created, created_at: createdAt };
  return { created, created_at: (await store.get(jobId))?.created_at ?? createdAt };
}
