/**
 * The one submit path (docs/architecture.md#how-the-pieces-fit): an algorithm job (POST /jobs,
 * POST /invoke), a function invocation (sync or async) and a schedule's run are all described by a
 * {@link JobSubmission}, and get their job data, record and BullMQ options from the builders here.
 * The API submits with {@link submitJob} (record and enqueue); a schedule's job scheduler takes
 * {@link scheduledRunTemplate}, and the worker writes each run's record with {@link recordScheduledRun}.
 */
import { AppError, isRedisUnavailable, toAppError } from '../errors/index.js';
import { commandView, type CommandSpec } from '../schemas/command.js';
import type { JobDependencies, DeferredJob } from './dependencies.js';
import { isCommandJob, type JobData } from '../queue/job-data.js';
import { bullJobOptions, priorityOfBullPriority } from '../queue/job-options.js';
import type { JobQueues } from '../queue/job-queues.js';
import type { Queue } from 'bullmq';
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
  /** The namespace the job belongs to (docs/security.md#namespaces); absent: `default`. */
  namespace?: string;
  /** The hetuflow scheduler API's job definition this job runs (docs/compat-hetuflow.md). */
  definition_id?: string;
  /** A command job (docs/commands.md): `algorithm` is then COMMAND_ALGORITHM and `params` `{}`. */
  command?: CommandSpec;
  /** A command job's project, whose env is layered between the system env and the command's own. */
  project?: string;
  /** Jobs this one waits for (docs/api.md#job-dependencies), already checked to exist (see {@link checkDependencies}). */
  depends_on?: string[];
}

/** The job data of a submission (`created_at` '' in a schedule's template). */
export function jobDataOf(sub: JobSubmission, createdAt: string): JobData {
  const base: JobData = { algorithm: sub.algorithm, params: sub.params, mode: sub.mode, created_at: createdAt };
  const data: JobData = sub.function
    ? { ...base, function_id: sub.function.function_id, ...(sub.function.version !== undefined ? { function_version: sub.function.version } : {}) }
    : sub.command
      ? { ...base, command: sub.command, ...(sub.project ? { project: sub.project } : {}) }
      : base;
  if (sub.request_id) data.request_id = sub.request_id;
  if (sub.schedule_id) data.schedule_id = sub.schedule_id;
  if (sub.namespace) data.namespace = sub.namespace;
  if (sub.definition_id) data.definition_id = sub.definition_id;
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
  if (sub.namespace) record.namespace = sub.namespace;
  if (sub.definition_id) record.definition_id = sub.definition_id;
  if (sub.command) record.command = commandView(sub.command);
  if (sub.project) record.project = sub.project;
  if (sub.depends_on?.length) record.depends_on = sub.depends_on;
  if (sub.mode === 'sync') record.watched = true;
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
  /** Registers a job with depends_on on the jobs it waits for; required for such a job. */
  dependencies?: JobDependencies;
  /** REDIS_WAIT_REPLICAS > 0: the writes are confirmed by that many replicas before the job counts as accepted. */
  replicaAcks?: ReplicaAcks;
}

/**
 * Writes the pending record (with MAX_QUEUED_BYTES, its script also counts the payload) and
 * enqueues the BullMQ job under the same id, so that a worker never takes a job whose record is not
 * written yet and a refused job is never queued.
 *
 * Both go over one connection in one round trip when the count cannot refuse the job, or almost
 * surely will not (no bound, or this process's last reading of the pool in the job's shard left
 * half the bound free: JobStore.claimQueuedRoom): the record's script is sent first, then the add,
 * and Redis runs them in that order. A count sent so that refuses after all (other API processes
 * filled the pool since the reading) leaves a placeholder at the BullMQ job's key, so the add
 * behind it queues nothing (QueuedCount.aheadOf). Otherwise the add waits for the record's answer.
 * Two cases do not keep that order, and then the record lands one round trip after the job is
 * queued (a worker that ended the job within that round trip leaves the record pending until it
 * expires, and a refused job may run): ioredis sends a script again after a NOSCRIPT answer, so
 * when Redis' script cache lost the record's script but not BullMQ's add (SCRIPT FLUSH, then
 * another client's add; or, from Redis 7.4, an eviction of scripts loaded by EVAL); and in a Redis
 * Cluster while the shard's slot migrates, when one command is redirected (ASK) and the other
 * retried later (TRYAGAIN).
 *
 * When a write fails, what it may have written is undone on the same connection, so Redis runs the
 * undo after it even when it timed out unanswered (REDIS_COMMAND_TIMEOUT_MS) and lands only once
 * Redis answers again: a 503 leaves no record, no job and no count, but for a job a worker took
 * between an add that landed late and its removal (BullMQ does not remove a locked job): that one
 * runs. The undo is awaited only when Redis answers; after a timeout it would wait the bound a
 * second time.
 * @returns the job's id, creation time and record.
 * With `replicaAcks` (REDIS_WAIT_REPLICAS), returns only once that many replicas acknowledged the writes.
 * @throws AppError PAYLOAD_TOO_LARGE (nothing written) when the job's data alone is more than its
 *   pool may hold waiting (MAX_QUEUED_BYTES, its shard's share); (toAppError): SERVICE_UNAVAILABLE when Redis is unreachable, when the pool's
 *   queued payloads are at MAX_QUEUED_BYTES (details.pool, queued_bytes, max_queued_bytes,
 *   retry_after_seconds; nothing of the job left), or when fewer replicas acknowledged the job in
 *   time (details.job_id: it was written and may run; docs/deployment.md#redis-topologies).
 */
export async function submitJob(deps: SubmitDeps, sub: JobSubmission, jobId = newJobId()): Promise<{ job_id: string; created_at: string; record: NewJob }> {
  const created_at = isoNow();
  const data = jobDataOf(sub, created_at);
  const record = newJobRecord(sub, jobId, created_at);
  const pool = sub.options.pool ?? DEFAULT_POOL;
  // The BullMQ job goes to its record's shard (QUEUE_SHARDS; the job id picks it).
  const queue = deps.queues.forJob(sub.options.pool, jobId);
  const opts = bullJobOptions(deps.ttlSeconds, sub.options, jobId);
  if (sub.depends_on?.length) {
    await submitDependent(deps, sub, record, { name: sub.algorithm, data, opts }, pool);
    if (deps.replicaAcks) await confirmReplicas(deps, jobId);
    return { job_id: jobId, created_at, record };
  }
  const count = queuedCountOf(deps, pool, data);
  if (count) checkFitsPool(deps, count);
  const counted = count !== undefined;
  if (!counted || deps.store.claimQueuedRoom(jobId, count)) {
    // In this order: createCounted sends its script before it returns, the add goes after it.
    const ahead = count && { ...count, aheadOf: queue.toKey(jobId) };
    const [created, added] = await Promise.allSettled([deps.store.createCounted(record, ahead), queue.add(sub.algorithm, data, opts)]);
    if (created.status === 'rejected') return undoSubmit(deps, created.reason, jobId, sub.algorithm, pool, counted, queue);
    if (typeof created.value === 'object') return undoSubmit(deps, queuedBytesRefusal(pool, created.value.refused, deps.queued!.maxBytes), jobId, sub.algorithm, pool, false, queue);
    if (added.status === 'rejected') return undoSubmit(deps, added.reason, jobId, sub.algorithm, pool, counted, queue);
  } else {
    let created: Awaited<ReturnType<JobStore['createCounted']>>;
    try {
      created = await deps.store.createCounted(record, count);
    } catch (err) {
      return undoSubmit(deps, err, jobId, sub.algorithm, pool, counted);
    }
    if (typeof created === 'object') throw queuedBytesRefusal(pool, created.refused, deps.queued!.maxBytes);
    try {
      await queue.add(sub.algorithm, data, opts);
    } catch (err) {
      return undoSubmit(deps, err, jobId, sub.algorithm, pool, counted, queue);
    }
  }
  if (deps.replicaAcks) await confirmReplicas(deps, jobId);
  return { job_id: jobId, created_at, record };
}

/**
 * {@link submitJob}'s undo after a failed write `err`: the record, the payload's count (`counted`)
 * and, when its add was sent (`queue`), the job. On the writes' connection, so Redis runs it after
 * them; awaited only when Redis answers.
 * @throws always: `err` as an AppError (toAppError).
 */
async function undoSubmit(deps: SubmitDeps, err: unknown, jobId: string, algorithm: string, pool: string, counted: boolean, queue?: Queue<JobData>): Promise<never> {
  const undone = Promise.allSettled([deps.store.remove(jobId, algorithm), ...(queue ? [queue.remove(jobId)] : []), ...(counted ? [deps.queued!.store.release(pool, [jobId])] : [])]);
  if (!isRedisUnavailable(err)) await undone;
  throw toAppError(err);
}

/**
 * With REDIS_WAIT_REPLICAS (`deps.replicaAcks`): resolves once that many replicas acknowledged the
 * writes on the node that holds each of `jobIds` (one WAIT per shard they are in).
 * @throws AppError SERVICE_UNAVAILABLE (ReplicaAcks.confirm; toAppError for Redis errors).
 */
async function confirmReplicas(deps: SubmitDeps, ...jobIds: string[]): Promise<void> {
  if (!deps.replicaAcks) return;
  const acks = deps.replicaAcks;
  await Promise.all(jobIds.map((id) => acks.confirm(id))).catch((err: unknown) => Promise.reject(toAppError(err)));
}

/** One job of a batch for {@link submitJobs}: its submission and the id it takes. */
export interface BatchEntry {
  sub: JobSubmission;
  jobId: string;
}

/**
 * The batch form of {@link submitJob} (POST /jobs/batch): the same records, job data and BullMQ
 * options, written in two steps for the whole batch: the records (one job-create-many script call
 * per shard, which also counts each payload against its pool's MAX_QUEUED_BYTES), then, once they
 * landed, one BullMQ `addBulk` per queue (pool and shard: the job id picks the shard) of the jobs it
 * wrote. Jobs with depends_on are kept on their records and registered on the jobs they wait for
 * once every write succeeded. When any write fails, every record, queued job and byte
 * count of the batch is undone, as {@link submitJob} undoes one job.
 * @returns per entry, in order, its id and creation time, or the AppError SERVICE_UNAVAILABLE of
 *   MAX_QUEUED_BYTES (details.pool, queued_bytes, max_queued_bytes, retry_after_seconds) for a job
 *   refused because its pool's queued payloads are at the bound, or PAYLOAD_TOO_LARGE for one whose
 *   data alone is more than the bound (nothing of either written).
 * @throws AppError (toAppError): SERVICE_UNAVAILABLE when Redis is unreachable (nothing of the batch
 *   is left); INTERNAL_ERROR for depends_on without deps.dependencies.
 */
export async function submitJobs(deps: SubmitDeps, entries: readonly BatchEntry[]): Promise<Array<{ job_id: string; created_at: string } | AppError>> {
  if (!deps.dependencies && entries.some((e) => e.sub.depends_on?.length)) throw new AppError('INTERNAL_ERROR', 'this process cannot submit jobs with depends_on');
  const created_at = isoNow();
  const out = new Array<{ job_id: string; created_at: string } | AppError>(entries.length);
  const records = new Array<NewJob>(entries.length);
  const jobs = new Array<{ name: string; data: JobData; opts: ReturnType<typeof bullJobOptions> }>(entries.length);
  const bytes: number[] | undefined = deps.queued ? new Array<number>(entries.length) : undefined;
  // The entries whose payload can be counted (all of them without MAX_QUEUED_BYTES): their records are written.
  const fit: number[] = [];
  // Indexed loops: this runs once per batch, too seldom to be optimized, where each for...of step allocates.
  for (let i = 0; i < entries.length; i++) {
    const { sub, jobId } = entries[i]!;
    const data = jobDataOf(sub, created_at);
    const job = { name: sub.algorithm, data, opts: bullJobOptions(deps.ttlSeconds, sub.options, jobId) };
    const record = newJobRecord(sub, jobId, created_at);
    records[i] = sub.depends_on?.length ? { ...record, queue_data: JSON.stringify(job satisfies DeferredJob) } : record;
    jobs[i] = job;
    if (bytes) {
      bytes[i] = Buffer.byteLength(JSON.stringify(data));
      const tooLarge = pastPoolBound(deps, sub.options.pool ?? DEFAULT_POOL, bytes[i]!);
      if (tooLarge) {
        out[i] = tooLarge;
        continue;
      }
    }
    fit.push(i);
  }
  /** The BullMQ jobs of the entries at `positions` that run without waiting, one addBulk per queue. */
  const addBulks = (positions: readonly number[]) => {
    const bulks = new Map<Queue<JobData>, typeof jobs>();
    for (let p = 0; p < positions.length; p++) {
      const i = positions[p]!;
      const { sub, jobId } = entries[i]!;
      if (sub.depends_on?.length) continue;
      const queue = deps.queues.forJob(sub.options.pool, jobId);
      const bulk = bulks.get(queue);
      if (bulk) bulk.push(jobs[i]!);
      else bulks.set(queue, [jobs[i]!]);
    }
    return [...bulks].map(([queue, group]) => queue.addBulk(group));
  };
  // The entries whose records were written, whose jobs are then enqueued (the undo removes those).
  const taken: number[] = [];
  try {
    // The records first, then the adds once they landed: a worker never takes a job before its
    // record, and a job MAX_QUEUED_BYTES refuses is never enqueued.
    const queued = deps.queued;
    const created = await deps.store.createMany(fit.map((i) => records[i]!), queued && { bytes: fit.map((i) => bytes![i]!), expiresAtMs: Date.now() + deps.ttlSeconds * 1000, maxBytes: queued.maxBytes });
    for (let k = 0; k < created.length; k++) {
      const i = fit[k]!;
      const c = created[k]!;
      if (typeof c === 'object') out[i] = queuedBytesRefusal(entries[i]!.sub.options.pool ?? DEFAULT_POOL, c.refused, queued!.maxBytes);
      else taken.push(i);
    }
    await Promise.all(addBulks(taken));
    await Promise.all(taken.filter((i) => entries[i]!.sub.depends_on?.length).map((i) => deps.dependencies!.register(entries[i]!.jobId, entries[i]!.sub.depends_on!)));
  } catch (err) {
    // As submitJob's undo: on the same connection as the writes, so it runs after them even when
    // they timed out unanswered; awaited only when Redis answers. A dependent job a completed job
    // already enqueued is removed from its queue too.
    const byPool = new Map<string, string[]>();
    for (const { sub, jobId } of entries) {
      const pool = sub.options.pool ?? DEFAULT_POOL;
      const ids = byPool.get(pool);
      if (ids) ids.push(jobId);
      else byPool.set(pool, [jobId]);
    }
    const undo = Promise.allSettled([
      deps.store.removeMany(records),
      ...taken.map((i) => deps.queues.forJob(entries[i]!.sub.options.pool, entries[i]!.jobId).remove(entries[i]!.jobId)),
      ...(deps.queued ? [...byPool].map(([pool, ids]) => deps.queued!.store.release(pool, ids)) : []),
    ]);
    if (!isRedisUnavailable(err)) await undo;
    throw toAppError(err);
  }
  // One WAIT per shard the batch wrote to (each its own master on a cluster).
  const perShard = new Map<number, string>();
  for (let t = 0; t < taken.length; t++) perShard.set(deps.store.shardOf(entries[taken[t]!]!.jobId), entries[taken[t]!]!.jobId);
  await confirmReplicas(deps, ...perShard.values());
  for (let t = 0; t < taken.length; t++) out[taken[t]!] = { job_id: entries[taken[t]!]!.jobId, created_at };
  return out;
}

/** The SERVICE_UNAVAILABLE of a job refused because its pool's queued payloads are at MAX_QUEUED_BYTES. */
function queuedBytesRefusal(pool: string, total: number, maxBytes: number): AppError {
  return new AppError('SERVICE_UNAVAILABLE', `pool '${pool}' has ${total} bytes of payloads waiting (MAX_QUEUED_BYTES ${maxBytes}); retry later`, {
    pool,
    queued_bytes: total,
    max_queued_bytes: maxBytes,
    retry_after_seconds: QUEUED_BYTES_RETRY_AFTER_SECONDS,
  });
}

/**
 * A job with depends_on: its record is written with its BullMQ job kept on it (`queue_data`), then it
 * registers on each job it waits for, which enqueues it at once when all of them already completed
 * (shared/jobs/dependencies.ts). When a write fails, the record is removed (a job it registered on
 * then finds it gone).
 * @throws AppError SERVICE_UNAVAILABLE (toAppError) when Redis is unreachable; INTERNAL_ERROR without deps.dependencies.
 */
async function submitDependent(deps: SubmitDeps, sub: JobSubmission, record: NewJob, deferred: DeferredJob, pool: string): Promise<void> {
  if (!deps.dependencies) throw new AppError('INTERNAL_ERROR', 'this process cannot submit jobs with depends_on');
  const count = queuedCountOf(deps, pool, deferred.data);
  if (count) checkFitsPool(deps, count);
  let created: Awaited<ReturnType<JobStore['createCounted']>> | undefined;
  try {
    // With MAX_QUEUED_BYTES the payload is counted in the record's script, as for any job.
    created = await deps.store.createCounted({ ...record, queue_data: JSON.stringify(deferred) }, count);
    if (typeof created !== 'object') await deps.dependencies.register(record.job_id, sub.depends_on!);
  } catch (err) {
    const undo = Promise.allSettled([deps.store.remove(record.job_id, sub.algorithm), deps.queued?.store.release(pool, [record.job_id])]);
    if (!isRedisUnavailable(err)) await undo;
    throw toAppError(err);
  }
  if (typeof created === 'object') throw queuedBytesRefusal(pool, created.refused, deps.queued!.maxBytes);
}

/**
 * The PAYLOAD_TOO_LARGE of a job whose payload alone is more than its pool may hold waiting
 * (MAX_QUEUED_BYTES, or its shard's share of it with QUEUE_SHARDS): no wait would let it in, so
 * it is a client error, not the 503 of a full pool. Undefined when it fits or nothing is counted.
 */
function pastPoolBound(deps: SubmitDeps, pool: string, bytes: number): AppError | undefined {
  const maxBytes = deps.queued?.maxBytes ?? 0;
  const bound = deps.store.queuedShardBound(maxBytes);
  if (bound <= 0 || bytes <= bound) return undefined;
  return new AppError('PAYLOAD_TOO_LARGE', `the job's data is ${bytes} bytes as JSON, more than pool '${pool}' can hold waiting (${bound} bytes: MAX_QUEUED_BYTES ${maxBytes}${bound < maxBytes ? ', its share of one shard' : ''})`, {
    pool,
    payload_bytes: bytes,
    max_payload_bytes: bound,
    max_queued_bytes: maxBytes,
  });
}

/** @throws AppError PAYLOAD_TOO_LARGE ({@link pastPoolBound}) when `count`'s payload can never be queued. */
function checkFitsPool(deps: SubmitDeps, count: { pool: string; bytes: number }): void {
  const tooLarge = pastPoolBound(deps, count.pool, count.bytes);
  if (tooLarge) throw tooLarge;
}

/** What the record's script counts against `pool`'s MAX_QUEUED_BYTES for a job of `data` (none without deps.queued). */
function queuedCountOf(deps: SubmitDeps, pool: string, data: JobData) {
  if (!deps.queued) return undefined;
  return { pool, bytes: Buffer.byteLength(JSON.stringify(data)), expiresAtMs: Date.now() + deps.ttlSeconds * 1000, maxBytes: deps.queued.maxBytes };
}

/**
 * Refuses a depends_on naming a job that does not exist (or has expired), or that `visible` says the
 * caller may not see (docs/api.md#job-dependencies); ids already checked for form and duplicates by the schema.
 * @throws AppError VALIDATION_ERROR (details `{field: 'depends_on', job_id, issues}`); SERVICE_UNAVAILABLE (toAppError) when Redis is unreachable.
 */
export async function checkDependencies(store: JobStore, dependsOn: readonly string[], visible: (jobId: string) => boolean | Promise<boolean> = () => true): Promise<void> {
  const statuses = await store.statuses(dependsOn).catch((err: unknown) => {
    throw toAppError(err);
  });
  for (const [i, jobId] of dependsOn.entries()) {
    if (statuses[i] !== null && (await visible(jobId))) continue;
    const message = `names job '${jobId}', which does not exist or has expired`;
    throw new AppError('VALIDATION_ERROR', `depends_on ${message}`, { field: 'depends_on', job_id: jobId, issues: [{ field: `depends_on.${i}`, message }] });
  }
}

/**
 * The template of a schedule's runs for BullMQ's upsertJobScheduler: the job data (created_at left
 * for the worker to fill when the run starts) and the same BullMQ options as a submitted job but
 * the job id, which BullMQ gives each run. With tracing on, each run starts a trace of its own
 * (`omitContext`), rather than all of them joining the trace of the request that made the schedule.
 */
export function scheduledRunTemplate(sub: JobSubmission, ttlSeconds: number) {
  const { jobId: _jobId, ...opts } = bullJobOptions(ttlSeconds, sub.options, '');
  return { name: sub.algorithm, data: jobDataOf(sub, ''), opts: { ...opts, telemetry: { omitContext: true } } };
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
    namespace: data.namespace,
    definition_id: data.definition_id,
    ...(isCommandJob(data) ? { command: data.command, ...(data.project ? { project: data.project } : {}) } : {}),
    ...(data.function_id ? { function: { function_id: data.function_id } } : {}),
    ...(isCommandJob(data) ? { command: data.command, ...(data.project ? { project: data.project } : {}) } : {}),
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
