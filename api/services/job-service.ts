import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import { publish } from '../../shared/store/channels.js';
import { idempotencyClaimStaleMs, IDEMPOTENCY_TTL_SECONDS, IdempotencyStore } from '../../shared/store/idempotency-store.js';
import type { ZodError } from 'zod';
import type { AlgorithmRegistry } from '../../shared/algorithms/registry.js';
import { algorithmNotFound, AppError, idempotencyKeyInProgress, idempotencyKeyReused, isRedisUnavailable, jobAlreadyEnded, jobNotFound, toAppError, validationError } from '../../shared/errors/index.js';
import { algorithmLabel, cancelCounters, type Metrics } from '../../shared/metrics.js';
import type { JobQueues } from '../../shared/queue/job-queues.js';
import type { JobData, WebhookJobData } from '../../shared/queue/job-data.js';
import { isoNow, newJobId, TERMINAL_STATUSES, type JobListFilter, type JobStore } from '../../shared/store/job-store.js';
import { MAX_PRIORITY, type JobOptions, type NewJob, type StoredJob } from '../../shared/schemas/job-record.js';
import { DEFAULT_POOL } from '../../shared/queue/names.js';
import { shardOf, type Keys } from '../../shared/store/keys.js';
import { checkDependencies, submitJob, submitJobs, type JobSubmission, type SubmitDeps } from '../../shared/jobs/submit.js';
import { checkCommandAllowed, checkJobOptionLimits, checkWebhookHost, optionError } from '../../shared/jobs/submission-checks.js';
import type { JobDependencies } from '../../shared/jobs/dependencies.js';
import { COMMAND_ALGORITHM, type CommandSpec } from '../../shared/schemas/command.js';
import { JOB_LOGS_MAX_BYTES_DEFAULT } from '../../shared/store/job-log-store.js';
import type { CommandRequest } from '../schemas/jobs.js';
import { webhookPayloadOf } from '../../shared/jobs/webhook-payload.js';
import { bullJobOptions, DEFAULT_RETRY_INTERVAL_MS } from '../../shared/queue/job-options.js';
import type { WebhooksQueue } from '../../shared/queue/webhooks-queue.js';
import type { JobWaiter, WaitOutcome } from './job-waiter.js';



/**
 * A job to submit, shaped by the route's schema: an algorithm with its params, or a command (then
 * `algorithm` is COMMAND_ALGORITHM and `params` `{}`: use {@link commandSubmission}).
 */
export interface Submission {
  algorithm: string;
  params: Record<string, unknown>;
  /** A command job (docs/commands.md), as the request gave it (defaults applied by its schema). */
  command?: CommandRequest;
  /** A command job's project (env layering). */
  project?: string;
  /** Jobs this one waits for (docs/api.md#job-dependencies). */
  depends_on?: string[];
  /** The job's namespace (docs/security.md#namespaces) and the hetuflow-compatible job definition it runs (docs/compat-hetuflow.md). */
  namespace?: string;
  definition_id?: string;
  /** Whether the caller may see a job it names in depends_on (e.g. its namespace); absent: any existing job. A job it may not see is refused as missing. */
  dependencyVisible?: (jobId: string) => boolean | Promise<boolean>;
  webhook?: string;
  requestId: string;
  /** Where params sit in the request body, for error fields (`['params']` for /jobs, `[]` for /invoke's default form). */
  paramsPath: readonly string[];
  /** The job options (POST /jobs). */
  options?: JobOptions;
  /** `Idempotency-Key` header, and who sent it (keys are per caller). */
  idempotency?: { key: string; caller: string; body: unknown };
}

/** Server maxima of job options (configuration). */
export interface JobLimits {
  /** JOB_TIMEOUT_MAX_MS: a larger timeout_ms is capped to it. */
  timeoutMaxMs: number;
  /** The smaller of JOB_DELAY_MAX_MS and RESULT_TTL_SECONDS (in ms). */
  delayMaxMs: number;
  /** JOB_MAX_RETRIES. */
  maxRetries: number;
}

/** What the routes need. */
export interface JobServiceDeps {
  registry: AlgorithmRegistry;
  store: JobStore;
  queues: JobQueues;
  /** The webhooks queue: a cancelled job's webhook is enqueued by the API. */
  webhooks: WebhooksQueue;
  /** Command connection: Idempotency-Keys and cancel messages. */
  redis: Redis;
  /** REDIS_COMMAND_TIMEOUT_MS: how old a claim of an Idempotency-Key whose job was never written must be to be taken over (idempotencyClaimStaleMs). */
  commandTimeoutMs?: number;
  keys: Keys;
  limits: JobLimits;
  waiter: JobWaiter;
  metrics: Metrics;
  invokeTimeoutMs: number;
  /** RESULT_TTL_SECONDS. */
  ttlSeconds: number;
  /** MAX_QUEUED_BYTES per pool, counted at submit (shared/jobs/submit.ts); absent: not counted. */
  queued?: SubmitDeps['queued'];
  /** REDIS_WAIT_REPLICAS > 0: replicas confirm each job before it counts as accepted (shared/store/replica-acks.ts). */
  replicaAcks?: SubmitDeps['replicaAcks'];
  /**
   * WEBHOOK_ALLOW_PRIVATE. Unless true, a webhook whose host is a literal IP the SSRF guard refuses
   * (loopback, private, link-local, metadata...) or a cloud metadata name is refused at submission.
   */
  allowPrivateWebhooks?: boolean;
  /** Backpressure (MAX_QUEUE_DEPTH) of a pool's queue: `check` throws SERVICE_UNAVAILABLE when no job may be added. */
  admission?: (pool: string) => { check(): Promise<void>; room?(wanted: number): Promise<number>; fullError?(): AppError };
  /** Command jobs: COMMAND_ALLOWLIST (unset: any command) and JOB_LOGS_MAX_BYTES (the default and cap of max_output_size). */
  commands?: { allowlist?: readonly string[]; maxOutputBytes: number };
  /** Job dependencies: registers jobs with depends_on, and goes on with them when a job is cancelled. */
  dependencies?: JobDependencies;
}

/** The Submission of a command (docs/commands.md): `algorithm` COMMAND_ALGORITHM, `params` `{}`. */
export function commandSubmission(command: CommandRequest, rest: Omit<Submission, 'algorithm' | 'params' | 'command' | 'paramsPath'>): Submission {
  return { ...rest, algorithm: COMMAND_ALGORITHM, params: {}, command, paramsPath: ['command'] };
}

/**
 * The core of POST /jobs and POST /invoke: validate against the algorithm's schema, write the
 * pending record, enqueue the BullMQ job under the same id, and (for /invoke) wait for it.
 */
export class JobService {
  private readonly idempotency: IdempotencyStore;
  /** What {@link submitJob} writes to: the same for every job, built once. */
  private readonly submitDeps: SubmitDeps;
  /** Settles when the writes of the last batch {@link submitBatch} started have ended (see there). */
  private batchWrites: Promise<void> = Promise.resolve();

  constructor(private readonly deps: JobServiceDeps) {
    this.idempotency = new IdempotencyStore(deps.redis, deps.keys);
    this.submitDeps = { store: deps.store, queues: deps.queues, ttlSeconds: deps.ttlSeconds, queued: deps.queued, dependencies: deps.dependencies, replicaAcks: deps.replicaAcks };
  }

  /**
   * Validates a submission (nothing is written when it is invalid). Whether its depends_on jobs
   * exist is checked by {@link submit} (it reads Redis).
   * @returns the algorithm's params as parsed (`{}` for a command).
   * @throws AppError ALGORITHM_NOT_FOUND (details.available_algorithms), VALIDATION_ERROR (details.field),
   *   or FORBIDDEN for a command COMMAND_ALLOWLIST does not name (details.reason command_not_allowed).
   */
  validate(sub: Submission): unknown {
    if (sub.webhook !== undefined && !this.deps.allowPrivateWebhooks) checkWebhookHost(sub.webhook);
    let params: unknown = {};
    if (sub.command) {
      checkCommandAllowed(sub.command.cmd, this.deps.commands?.allowlist);
    } else {
      const algorithm = this.deps.registry.get(sub.algorithm);
      if (!algorithm) {
        throw algorithmNotFound(sub.algorithm, this.deps.registry.names());
      }
      const parsed = algorithm.params.safeParse(sub.params);
      if (!parsed.success) throw validationError(parsed.error as ZodError, sub.params, sub.paramsPath);
      params = parsed.data;
    }
    if (sub.options) this.checkOptions(sub.options);
    if (sub.depends_on?.length && sub.options?.delay_ms) throw optionError('delay_ms', 'cannot be given with depends_on (the job starts when the jobs it waits for completed)', sub.options.delay_ms);
    return params;
  }

  /**
   * Applies the server's maxima to job options: timeout_ms is capped; a delay or retry
   * count past its maximum is refused.
   * @returns the options as the job will run with them.
   * @throws AppError VALIDATION_ERROR (details.field) for delay_ms or max_retries over the maximum.
   */
  effectiveOptions(options: JobOptions = {}): JobOptions {
    const out: JobOptions = { ...options };
    if (out.timeout_ms !== undefined) out.timeout_ms = Math.min(out.timeout_ms, this.deps.limits.timeoutMaxMs);
    if (out.pool === DEFAULT_POOL) delete out.pool;
    if (out.max_retries) {
      out.retry_backoff ??= 'fixed';
      out.retry_interval_ms ??= DEFAULT_RETRY_INTERVAL_MS;
    }
    return out;
  }

  private checkOptions(options: JobOptions): void {
    checkJobOptionLimits(options, this.deps.limits);
    if (!options.max_retries && (options.retry_backoff !== undefined || options.retry_interval_ms !== undefined)) {
      throw optionError(options.retry_backoff !== undefined ? 'retry_backoff' : 'retry_interval_ms', 'needs max_retries of at least 1', options.retry_backoff ?? options.retry_interval_ms);
    }
  }

  /**
   * POST /jobs: validates, then records and enqueues an async job. With an Idempotency-Key already
   * seen (24 h, per caller): the same body returns the existing job (`existing`), another body is 409.
   * @returns the job's id and creation time, and `existing` when it is a resubmission.
   * @throws AppError as {@link validate}; VALIDATION_ERROR (details.field `depends_on`, details.job_id) for a
   *   depends_on job that does not exist or is not visible; CONFLICT for a reused Idempotency-Key with another body;
   *   SERVICE_UNAVAILABLE when Redis is unreachable or the queue is full.
   */
  async submit(sub: Submission): Promise<{ job_id: string; created_at: string; existing?: StoredJob }> {
    const params = this.validate(sub);
    if (sub.depends_on?.length) await checkDependencies(this.deps.store, sub.depends_on, sub.dependencyVisible);
    let jobId = newJobId();
    let claim: { idemKey: string; value: string } | undefined;
    if (sub.idempotency) {
      const { key, caller, body } = sub.idempotency;
      const idemKey = sha256(`${caller}\n${key}`);
      // The key and its job share a shard (QUEUE_SHARDS): a replay reads both on one Redis node.
      const shard = shardOf(idemKey, this.deps.keys.shards);
      jobId = newJobId((id) => shardOf(id, this.deps.keys.shards) === shard);
      const value = `${jobId} ${sha256(canonicalJson(body))}`;
      let existing: StoredJob | null;
      try {
        existing = await this.claimIdempotencyKey(idemKey, value, key);
      } catch (err) {
        // A claim that timed out unanswered may still land: free it behind it. (Any other error
        // came after an answer that the key was held by another request: nothing of ours to free.)
        if (isRedisUnavailable(err)) void this.idempotency.release(idemKey, value).catch(() => undefined);
        throw err;
      }
      if (existing) return { job_id: existing.job_id, created_at: existing.created_at, existing };
      claim = { idemKey, value };
    }
    try {
      await this.admit(sub.options?.pool);
      const job = await this.enqueue(sub, params, 'async', jobId);
      this.deps.metrics.jobsCreatedTotal.inc({ algorithm: sub.algorithm });
      return job;
    } catch (err) {
      // The key names no job: a retry of the request may claim it again. Freed on the claim's
      // connection, so Redis runs it after the claim even when that timed out unanswered and lands
      // later (a claim another request made since stays); as the submit path's undo, awaited only
      // when Redis answers: after a timeout it would wait the bound a second time.
      if (claim) {
        const released = this.idempotency.release(claim.idemKey, claim.value).catch(() => undefined);
        if (!isRedisUnavailable(err)) await released;
      }
      throw err;
    }
  }

  /** Refuses a named pool no worker serves (409 CONFLICT) and applies its queue's backpressure. */
  private async admit(pool: string = DEFAULT_POOL): Promise<void> {
    // The default pool is always served (JobQueues.admitJob reads nothing for it).
    if (pool !== DEFAULT_POOL) await this.deps.queues.admitJob(pool);
    if (this.deps.admission) await this.deps.admission(pool).check();
  }

  /**
   * Claims an Idempotency-Key for a new job (SET NX, 24 h), or finds the job it already names.
   * @returns null when claimed (go on and create the job); the existing job when the key names one with the same body.
   * @throws AppError CONFLICT when the key was used with another body, or its first request is still in flight.
   */
  private async claimIdempotencyKey(idemKey: string, value: string, key: string): Promise<StoredJob | null> {
    const bodyHash = value.slice(value.indexOf(' ') + 1);
    const shownKey = key.slice(0, 255);
    // The first request claims the key, then writes its record: a second one arriving meanwhile waits
    // for that record (up to ~3 s); if the first fails, it drops the key and the next loop claims it.
    for (let i = 0; i < 60; i++) {
      if (await this.idempotency.claim(idemKey, value)) return null;
      const current = await this.idempotency.get(idemKey);
      if (current === null) continue;
      const [jobId, hash] = current.split(' ') as [string, string];
      const job = await this.deps.store.get(jobId);
      if (job && hash === bodyHash) return job;
      // A claim whose job was never written (or has expired), made long enough ago that its request
      // has ended (its process died, or its release was lost with the connection), names nothing:
      // this request takes the key, whatever body the claim's request had.
      if (!job && (await this.idempotency.takeOver(idemKey, current, value, idempotencyClaimStaleMs(this.deps.commandTimeoutMs)))) return null;
      if (hash !== bodyHash) throw idempotencyKeyReused(shownKey, jobId);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw idempotencyKeyInProgress(shownKey);
  }

  /**
   * POST /invoke: validates, enqueues a sync job, and waits for it up to INVOKE_TIMEOUT_MS.
   * @throws AppError as {@link validate}; SERVICE_UNAVAILABLE when Redis is unreachable or the queue is full.
   */
  async invoke(sub: Submission): Promise<{ job_id: string; outcome: WaitOutcome }> {
    const params = this.validate(sub);
    if (sub.depends_on?.length) await checkDependencies(this.deps.store, sub.depends_on, sub.dependencyVisible);
    await this.admit(sub.options?.pool);
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

  /**
   * {@link get} for a live event stream: also marks the job watched, so its events are published
   * from now on (JobStore.watch). Listen for the job's events before calling it.
   * @throws AppError JOB_NOT_FOUND when unknown or expired.
   */
  async watch(jobId: string): Promise<StoredJob> {
    const job = await this.deps.store.watch(jobId);
    if (!job) throw jobNotFound(jobId);
    return job;
  }

  /** GET /jobs: one page of records matching every filter, newest first. */
  list(filter: JobListFilter, page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    return this.deps.store.list(filter, page);
  }

  /**
   * POST /jobs/{job_id}/cancel: the record becomes `cancelled` at once; a waiting or delayed
   * job is removed from its queue; a running one is stopped by whichever worker holds it (every
   * worker hears the cancel message; the one running the job kills its runner process). The webhook,
   * if any, is sent with status `cancelled`.
   * @returns the cancelled record.
   * @throws AppError JOB_NOT_FOUND; CONFLICT (details.status) when the job had already ended.
   */
  async cancel(jobId: string): Promise<StoredJob> {
    const job = await this.get(jobId);
    const ended = (status: string) => jobAlreadyEnded(jobId, status);
    if (TERMINAL_STATUSES.has(job.status)) throw ended(job.status);
    const outcome = await this.deps.store.cancel(jobId, 'cancelled by request', cancelCounters(job));
    if (outcome.kind === 'ended') throw ended(outcome.status);
    if (outcome.kind === 'gone') throw jobNotFound(jobId);
    const queueJobId = job.queue_job_id ?? jobId;
    // remove() refuses a job a worker holds (locked): that one is stopped through the message below.
    await this.deps.queues.forJob(job.pool, jobId).remove(queueJobId).catch(() => 0);
    await this.deps.queued?.store.release(job.pool ?? DEFAULT_POOL, [jobId]).catch(() => 0);
    await publish(this.deps.redis, this.deps.keys.jobCancel, jobId);
    const cancelled = (await this.deps.store.get(jobId)) ?? job;
    if (job.webhook) {
      await this.deps.webhooks.enqueue(jobId, job.webhook.url, webhookPayloadOf({ ...cancelled, job_id: jobId, algorithm: job.algorithm, status: 'cancelled', result: null, metadata: null }));
    }
    const label = algorithmLabel(job);
    if (label) this.deps.metrics.jobsCompletedTotal.inc({ algorithm: label, status: 'cancelled' });
    else this.deps.metrics.functionInvocationsTotal.inc({ status: 'cancelled' });
    // The jobs waiting for it fail (DEPENDENCY_FAILED); never throws.
    await this.deps.dependencies?.jobEnded(jobId, 'cancelled');
    return cancelled;
  }

  /** GET /jobs/{job_id}/attempts. @throws AppError JOB_NOT_FOUND. */
  async attempts(jobId: string) {
    await this.get(jobId);
    return this.deps.store.attempts(jobId);
  }

  /** The spec a command job runs with: max_output_size defaulted to and capped at JOB_LOGS_MAX_BYTES. */
  commandSpec(command: CommandRequest): CommandSpec {
    return commandSpecOf(command, this.deps.commands?.maxOutputBytes ?? JOB_LOGS_MAX_BYTES_DEFAULT);
  }

  /**
   * POST /jobs/batch: each job as {@link submit} takes it (no Idempotency-Key), validated and checked
   * on its own; the jobs that pass are written in one round (shared/jobs/submit.ts submitJobs).
   * Per pool, a pool no worker serves refuses its jobs (CONFLICT) and MAX_QUEUE_DEPTH admits the
   * first jobs that fit and refuses the rest with the error POST /jobs gives. A process writes one
   * batch at a time: a batch's writes wait for the previous batch's, at most
   * {@link BATCH_WRITES_WAIT_MAX_MS}.
   * @param items per job, its submission, or the AppError its body's parse gave.
   * @returns per job, in order, its id and creation time, or the AppError refusing it.
   * @throws AppError SERVICE_UNAVAILABLE when Redis is unreachable (then nothing of the batch is written).
   */
  async submitBatch(items: ReadonlyArray<Submission | AppError>): Promise<Array<{ job_id: string; created_at: string } | AppError>> {
    const out = new Array<{ job_id: string; created_at: string } | AppError>(items.length);
    const refuse = (i: number, err: unknown) => {
      // A refusal of this one job; Redis trouble refuses the whole batch.
      if (!(err instanceof AppError) || err.code === 'SERVICE_UNAVAILABLE' || err.code === 'INTERNAL_ERROR') throw err;
      out[i] = err;
    };
    const valid: Array<{ i: number; sub: Submission; params: unknown }> = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item instanceof AppError) {
        out[i] = item;
        continue;
      }
      try {
        valid.push({ i, sub: item, params: this.validate(item) });
      } catch (err) {
        refuse(i, err);
      }
    }
    // Only the jobs with depends_on wait for a check (the others take no promise each).
    const unchecked = new Set<(typeof valid)[number]>();
    await Promise.all(
      valid
        .filter((v) => v.sub.depends_on?.length)
        .map(async (v) => {
          try {
            await checkDependencies(this.deps.store, v.sub.depends_on!);
          } catch (err) {
            unchecked.add(v);
            refuse(v.i, err);
          }
        }),
    );
    const byPool = new Map<string, typeof valid>();
    for (let k = 0; k < valid.length; k++) {
      const v = valid[k]!;
      if (unchecked.has(v)) continue;
      const pool = v.sub.options?.pool ?? DEFAULT_POOL;
      const group = byPool.get(pool);
      if (group) group.push(v);
      else byPool.set(pool, [v]);
    }
    const admitted: typeof valid = [];
    for (const [pool, group] of byPool) {
      try {
        await this.deps.queues.admitJob(pool);
      } catch (err) {
        for (const v of group) refuse(v.i, err);
        continue;
      }
      const guard = this.deps.admission?.(pool);
      const room = guard?.room ? await guard.room(group.length) : group.length;
      for (let n = 0; n < group.length; n++) {
        const v = group[n]!;
        if (n < room) admitted.push(v);
        else out[v.i] = guard?.fullError?.() ?? new AppError('SERVICE_UNAVAILABLE', 'the job queue is full; retry later');
      }
    }
    admitted.sort((a, b) => a.i - b.i);
    // One batch's writes at a time in this process (the next one is parsed and validated meanwhile):
    // a batch allocates some 19 MB while its writes are in flight, and two at once took the API past
    // its memory bound (docs/performance.md, Memory). The wait is bounded, so that a batch behind one
    // that waits on a stalled Redis answers within its own command timeout plus that bound.
    const previous = this.batchWrites;
    let release!: () => void;
    this.batchWrites = new Promise<void>((resolve) => (release = resolve));
    let written: Awaited<ReturnType<typeof submitJobs>>;
    try {
      await waitAtMost(previous, BATCH_WRITES_WAIT_MAX_MS);
      written = await submitJobs(
        { store: this.deps.store, queues: this.deps.queues, ttlSeconds: this.deps.ttlSeconds, queued: this.deps.queued, dependencies: this.deps.dependencies },
        admitted.map((v) => ({ sub: this.jobSubmission(v.sub, v.params, 'async'), jobId: newJobId() })),
      );
    } finally {
      release();
    }
    const counts = new Map<string, number>();
    for (let n = 0; n < admitted.length; n++) {
      const v = admitted[n]!;
      out[v.i] = written[n]!;
      if (!(written[n] instanceof AppError)) counts.set(v.sub.algorithm, (counts.get(v.sub.algorithm) ?? 0) + 1);
    }
    for (const [algorithm, n] of counts) this.deps.metrics.jobsCreatedTotal.inc({ algorithm }, n);
    return out;
  }

  /** The {@link JobSubmission} of a validated submission (server caps applied to its options). */
  private jobSubmission(sub: Submission, params: unknown, mode: 'sync' | 'async'): JobSubmission {
    const submission: JobSubmission = { algorithm: sub.algorithm, params, mode, options: this.effectiveOptions(sub.options), webhook: sub.webhook, request_id: sub.requestId };
    if (sub.command) submission.command = this.commandSpec(sub.command);
    if (sub.project) submission.project = sub.project;
    if (sub.depends_on?.length) submission.depends_on = sub.depends_on;
    if (sub.namespace) submission.namespace = sub.namespace;
    if (sub.definition_id) submission.definition_id = sub.definition_id;
    return submission;
  }

  private async enqueue(sub: Submission, params: unknown, mode: 'sync' | 'async', jobId: string): Promise<{ job_id: string; created_at: string }> {
    const submission = this.jobSubmission(sub, params, mode);
    const { job_id, created_at } = await submitJob(this.submitDeps, submission, jobId);
    return { job_id, created_at };
  }
}

/** How long a batch's writes wait for the batch before them (JobService.submitBatch), ms; those of 1,000 jobs take tens of ms. */
const BATCH_WRITES_WAIT_MAX_MS = 1000;

/** Resolves when `p` settles or after `ms`, whichever comes first (never rejects). */
function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/**
 * The spec a command job runs with (shared/schemas/command.ts): max_output_size defaults to, and is
 * capped at, JOB_LOGS_MAX_BYTES.
 */
export function commandSpecOf(command: CommandRequest, maxOutputBytes: number): CommandSpec {
  return {
    cmd: command.cmd,
    args: command.args,
    env: command.env,
    capture_output: command.capture_output,
    max_output_size: Math.min(command.max_output_size ?? maxOutputBytes, maxOutputBytes),
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, so two bodies that differ only in key order hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

