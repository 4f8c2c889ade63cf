/**
 * The functions API's core (the function API reference): deploys (validated, compiled for syntax, versioned),
 * reads, updates and deletes functions, invokes them through the same jobs queues and job records
 * as algorithms (no second job model), and reads their jobs, metrics and job logs.
 */
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import type { ZodError } from 'zod';
import { AppError, fieldError, functionBusy, functionNameTaken, functionNotActive, functionNotFound, jobNotFound, toAppError, validationError } from '../../shared/errors/index.js';
import {
  DEFAULT_HANDLER,
  DEFAULT_PROJECT,
  type FunctionRecord,
  type FunctionSpecFields,
  type FunctionStore,
  type FunctionUpdate,
} from '../../shared/store/function-store.js';
import type { FunctionMetrics } from '../../shared/schemas/function-metrics.js';
import type { Metrics } from '../../shared/metrics.js';
import type { JobData } from '../../shared/queue/job-data.js';
import type { JobQueues } from '../../shared/queue/job-queues.js';
import { isJobId, isoNow, newJobId, type JobStore } from '../../shared/store/job-store.js';
import { type JobOptions, type NewJob, type StoredJob } from '../../shared/schemas/job-record.js';
import { DEFAULT_POOL } from '../../shared/queue/names.js';
import { type Keys } from '../../shared/store/keys.js';
import { MIN_MEMORY_MB } from '../../shared/functions/limits.js';
import { checkSyntax } from '../../shared/functions/syntax-check.js';
import type { JobLogLine } from '../../shared/schemas/job-log.js';
import { JobLogStore } from '../../shared/store/job-log-store.js';
import {
  FunctionCreateSchema,
  FunctionUpdateSchema,
  type FunctionCreate,
  type FunctionInvokeQuery,
} from '../schemas/functions.js';
import type { JobService } from './job-service.js';
import { submitJob, type SubmitDeps } from '../../shared/jobs/submit.js';
import { checkJobOptionLimits, checkWebhookHost } from '../../shared/jobs/submission-checks.js';
import type { JobWaiter, WaitOutcome } from './job-waiter.js';
import { parseBody } from '../middleware/validate.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';

/** Configuration the service applies (shared/config.ts). */
export interface FunctionLimits {
  /** FUNCTION_CODE_MAX_BYTES. */
  codeMaxBytes: number;
  /** FUNCTION_TIMEOUT_MS: timeout_ms when none is given. */
  timeoutDefaultMs: number;
  /** JOB_TIMEOUT_MAX_MS: the largest timeout_ms accepted. */
  timeoutMaxMs: number;
  /** FUNCTION_MEMORY_MB. */
  memoryDefaultMb: number;
  /** FUNCTION_MEMORY_MAX_MB. */
  memoryMaxMb: number;
  /** FUNCTION_MAX_OUTPUT_BYTES. */
  outputDefaultBytes: number;
  /** min(JOB_DELAY_MAX_MS, RESULT_TTL_SECONDS in ms): the largest delay_ms of an invocation. */
  delayMaxMs: number;
  /** JOB_MAX_RETRIES. */
  maxRetries: number;
}

/** What {@link FunctionService} needs. */
export interface FunctionServiceDeps {
  functions: FunctionStore;
  /** The job service: effective job options and listings. */
  jobs: JobService;
  jobStore: JobStore;
  queues: JobQueues;
  waiter: JobWaiter;
  /** Command connection (job logs). */
  redis: Redis;
  keys: Keys;
  metrics: Metrics;
  limits: FunctionLimits;
  /** INVOKE_TIMEOUT_MS: how long a sync invocation waits. */
  invokeTimeoutMs: number;
  /** RESULT_TTL_SECONDS. */
  ttlSeconds: number;
  /** MAX_QUEUED_BYTES per pool, counted at submit (shared/jobs/submit.ts); absent: not counted. */
  queued?: SubmitDeps['queued'];
  /** REDIS_WAIT_REPLICAS > 0: replicas confirm each job before it counts as accepted (shared/store/replica-acks.ts). */
  replicaAcks?: SubmitDeps['replicaAcks'];
  /** WEBHOOK_ALLOW_PRIVATE (see JobServiceDeps). */
  allowPrivateWebhooks?: boolean;
  /** Backpressure of a pool's queue (MAX_QUEUE_DEPTH), as for jobs. */
  admission?: (pool: string) => { check(): Promise<void> };
  /** Python interpreter for syntax checks (default `python3`). */
  python?: string;
  /** FUNCTION_LOCAL_PACKAGES_DIR: where local package paths in `dependencies` may point (worker/functions/dependencies.ts). */
  localPackagesDir?: string;
  /**
   * Called after a create or update wrote a new version whose status is `building` (it has
   * dependencies): e.g. enqueue its build (shared/queue/builds-queue.ts enqueueBuild).
   */
  onBuildNeeded?: (fn: FunctionRecord) => Promise<void>;
  /** Called before an invocation is accepted; throws to refuse it (e.g. 409 when the function's project is stopped). */
  beforeInvoke?: (fn: FunctionRecord) => Promise<void>;
}

/** How an invocation went: a sync one waited (outcome), an async one was accepted (pending record). */
export type InvokeResult = { kind: 'sync'; job_id: string; outcome: WaitOutcome } | { kind: 'async'; job: StoredJob };


/** The functions API's operations; see the module comment. */
export class FunctionService {
  private readonly logStore: JobLogStore;

  constructor(private readonly deps: FunctionServiceDeps) {
    this.logStore = new JobLogStore(deps.redis, deps.keys, deps.ttlSeconds);
  }

  /**
   * POST /functions: validates, compiles for syntax, and stores version 1 (`active`, or `building`
   * when it has dependencies).
   * @throws AppError VALIDATION_ERROR (details.field; for a syntax error field `code` and the
   *   compiler's message in the message and details.compiler_message); CONFLICT (details.name) when the name is taken.
   */
  async create(body: unknown): Promise<FunctionRecord> {
    const input = parseBody(FunctionCreateSchema, body);
    const spec = this.completeSpec(input);
    await this.checkSpec(spec);
    const now = isoNow();
    const out = await this.deps.functions.create({
      ...spec,
      function_id: newJobId(),
      name: input.name,
      execution_type: input.execution_type,
      project: input.project ?? DEFAULT_PROJECT,
      status: spec.dependencies.length > 0 ? 'building' : 'active',
      ...(input.pool && input.pool !== DEFAULT_POOL ? { pool: input.pool } : {}),
      created_at: now,
    });
    if ('name_taken' in out) throw functionNameTaken(input.name, out.name_taken);
    if (out.status === 'building') await this.deps.onBuildNeeded?.(out);
    return out;
  }

  /** GET /functions: newest first. */
  list(page: { limit: number; offset: number; project?: string }): Promise<{ functions: FunctionRecord[]; total: number }> {
    return this.deps.functions.list(page);
  }

  /** GET /functions/{function_id}. @throws AppError FUNCTION_NOT_FOUND. */
  async get(functionId: string): Promise<FunctionRecord> {
    const fn = isJobId(functionId) ? await this.deps.functions.get(functionId) : null;
    if (!fn) throw functionNotFound(functionId);
    return fn;
  }

  /**
   * The function named `name` (names are unique among functions; the store keeps the name → id
   * index), or null when there is none. For APIs that address functions by name.
   */
  async findByName(name: string): Promise<FunctionRecord | null> {
    const id = await this.deps.functions.idByName(name);
    return id ? this.deps.functions.get(id) : null;
  }

  /**
   * PUT /functions/{function_id}: merges the given fields onto the function and validates the
   * result as POST does. A change of runtime, code, handler, env, dependencies or a limit makes a
   * new version (jobs already queued or running keep theirs).
   * @throws AppError FUNCTION_NOT_FOUND, VALIDATION_ERROR, CONFLICT (name taken).
   */
  async update(functionId: string, body: unknown): Promise<FunctionRecord> {
    const patch = parseBody(FunctionUpdateSchema, body);
    for (let i = 0; i < 10; i++) {
      const current = await this.get(functionId);
      const merged: FunctionCreate = {
        name: patch.name ?? current.name,
        runtime: patch.runtime ?? current.runtime,
        code: patch.code ?? current.code,
        execution_type: patch.execution_type ?? current.execution_type,
        handler: patch.handler ?? current.handler,
        timeout_ms: patch.timeout_ms ?? current.timeout_ms,
        memory_mb: patch.memory_mb ?? current.memory_mb,
        max_output_bytes: patch.max_output_bytes ?? current.max_output_bytes,
        env: patch.env ?? current.env,
        dependencies: patch.dependencies ?? current.dependencies,
        project: patch.project ?? current.project,
        pool: patch.pool === null ? undefined : (patch.pool ?? current.pool),
      };
      const spec = this.completeSpec(merged);
      if (spec.code !== current.code || spec.runtime !== current.runtime) await this.checkSpec(spec);
      else this.checkLimits(spec);
      const next: FunctionUpdate = {
        ...spec,
        name: merged.name,
        execution_type: merged.execution_type,
        project: merged.project ?? DEFAULT_PROJECT,
        status: spec.dependencies.length > 0 ? 'building' : 'active',
        ...(merged.pool && merged.pool !== DEFAULT_POOL ? { pool: merged.pool } : {}),
        updated_at: isoNow(),
      };
      const out = await this.deps.functions.update(functionId, current.version, current, next);
      if (out === null) continue;
      if (out.kind === 'gone') throw functionNotFound(functionId);
      if (out.kind === 'name_taken') throw functionNameTaken(merged.name, out.holder);
      if (out.new_version && out.record.status === 'building') await this.deps.onBuildNeeded?.(out.record);
      return out.record;
    }
    throw functionBusy(functionId);
  }

  /** DELETE /functions/{function_id}. Its jobs keep their records (TTL). @throws AppError FUNCTION_NOT_FOUND. */
  async delete(functionId: string): Promise<void> {
    if (!isJobId(functionId) || !(await this.deps.functions.delete(functionId))) throw functionNotFound(functionId);
  }

  /**
   * POST /functions/{function_id}/invoke: records and enqueues a job running the function's
   * current version with `event`; a `sync` function's caller waits up to INVOKE_TIMEOUT_MS.
   * @throws AppError FUNCTION_NOT_FOUND; CONFLICT when the function is not `active` (details.status);
   *   VALIDATION_ERROR for job options over the server's maxima or a refused webhook host;
   *   SERVICE_UNAVAILABLE when Redis is unreachable or the queue is full.
   */
  async invoke(functionId: string, event: unknown, query: FunctionInvokeQuery, requestId: string): Promise<InvokeResult> {
    const fn = await this.get(functionId);
    if (fn.status !== 'active') throw functionNotActive(fn);
    await this.deps.beforeInvoke?.(fn);
    const { webhook, ...rawOptions } = query;
    if (webhook !== undefined && !this.deps.allowPrivateWebhooks) checkWebhookHost(webhook);
    this.checkOptions(rawOptions);
    const options: JobOptions = this.deps.jobs.effectiveOptions({ ...rawOptions, ...(fn.pool ? { pool: fn.pool } : {}) });
    const pool = options.pool ?? DEFAULT_POOL;
    await this.deps.queues.admitJob(pool);
    await this.deps.admission?.(pool).check();

    const jobId = newJobId();
    const mode = fn.execution_type;
    const wait = mode === 'sync' ? this.deps.waiter.register(jobId, this.deps.invokeTimeoutMs) : undefined;
    let job: StoredJob;
    try {
      job = await this.enqueue(fn, jobId, event, webhook, options, mode, requestId);
    } catch (err) {
      wait?.cancel();
      throw err;
    }
    // No jobs_created_total here: its `algorithm` label would be the function's user-chosen name
    // (docs/operations.md#metrics); the worker counts the run in function_invocations_total.
    if (!wait) return { kind: 'async', job };
    return { kind: 'sync', job_id: jobId, outcome: await wait.promise };
  }

  /** GET /functions/{function_id}/jobs: newest first. @throws AppError FUNCTION_NOT_FOUND. */
  async jobs(functionId: string, page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const fn = await this.get(functionId);
    return this.deps.jobStore.list({ function_id: fn.function_id }, page);
  }

  /** GET /functions/{function_id}/metrics. @throws AppError FUNCTION_NOT_FOUND. */
  async metrics(functionId: string): Promise<FunctionMetrics> {
    const fn = await this.get(functionId);
    return this.deps.functions.metrics(fn.function_id);
  }

  /**
   * GET /jobs/{job_id}/logs: the captured lines of a job (function jobs; algorithm jobs have none),
   * those within since/until (ms, inclusive), then the last `tail` of them.
   * @throws AppError JOB_NOT_FOUND when the job is unknown or expired.
   */
  async logs(jobId: string, q: { tail?: number; since?: number; until?: number }): Promise<{ job_id: string; logs: JobLogLine[]; total: number; truncated: boolean }> {
    if (!isJobId(jobId) || !(await this.deps.jobStore.get(jobId))) throw jobNotFound(jobId);
    const stored = await this.logStore.read(jobId);
    let lines = stored.lines;
    if (q.since !== undefined || q.until !== undefined) {
      const since = q.since ?? -Infinity;
      const until = q.until ?? Infinity;
      lines = lines.filter((l) => {
        const t = Date.parse(l.ts);
        return t >= since && t <= until;
      });
    }
    const total = lines.length;
    if (q.tail !== undefined) lines = q.tail === 0 ? [] : lines.slice(-q.tail);
    return { job_id: jobId, logs: lines, total, truncated: stored.truncated };
  }

  private async enqueue(fn: FunctionRecord, jobId: string, event: unknown, webhook: string | undefined, options: JobOptions, mode: 'sync' | 'async', requestId: string): Promise<StoredJob> {
    const { created_at, record } = await submitJob(
      { store: this.deps.jobStore, queues: this.deps.queues, ttlSeconds: this.deps.ttlSeconds, queued: this.deps.queued, replicaAcks: this.deps.replicaAcks },
      { algorithm: fn.name, params: event, mode, options, webhook, request_id: requestId, function: { function_id: fn.function_id, version: fn.version } },
      jobId,
    );
    const job: StoredJob = {
      job_id: jobId,
      status: 'pending',
      algorithm: fn.name,
      created_at,
      started_at: null,
      completed_at: null,
      result: null,
      error: null,
      metadata: null,
      error_code: null,
      params: event,
      function_id: fn.function_id,
      ...options,
    };
    if (record.run_at) job.run_at = record.run_at;
    if (webhook) job.webhook = { url: webhook, status: 'pending', attempts: 0, last_error: null, delivered_at: null };
    return job;
  }

  /** Applies the defaults (FUNCTION_TIMEOUT_MS, FUNCTION_MEMORY_MB, FUNCTION_MAX_OUTPUT_BYTES, handler, env, dependencies). */
  private completeSpec(input: FunctionCreate): FunctionSpecFields {
    const { limits } = this.deps;
    return {
      runtime: input.runtime,
      code: input.code,
      handler: input.handler ?? DEFAULT_HANDLER,
      env: input.env ?? {},
      dependencies: input.dependencies ?? [],
      timeout_ms: input.timeout_ms ?? limits.timeoutDefaultMs,
      memory_mb: input.memory_mb ?? Math.max(limits.memoryDefaultMb, MIN_MEMORY_MB[input.runtime]),
      max_output_bytes: input.max_output_bytes ?? limits.outputDefaultBytes,
    };
  }

  /** Checks the configured limits (code size, timeout, memory). @throws AppError VALIDATION_ERROR. */
  private checkLimits(spec: FunctionSpecFields): void {
    const { limits } = this.deps;
    const bytes = Buffer.byteLength(spec.code, 'utf8');
    if (bytes > limits.codeMaxBytes) throw fieldError('code', `is ${bytes} bytes; at most ${limits.codeMaxBytes} are accepted (FUNCTION_CODE_MAX_BYTES)`, { size_bytes: bytes, max_bytes: limits.codeMaxBytes });
    if (spec.timeout_ms > limits.timeoutMaxMs) throw fieldError('timeout_ms', `must be at most ${limits.timeoutMaxMs} (JOB_TIMEOUT_MAX_MS)`, { value: spec.timeout_ms });
    const min = MIN_MEMORY_MB[spec.runtime];
    if (spec.memory_mb < min) throw fieldError('memory_mb', `must be at least ${min} for ${spec.runtime}`, { value: spec.memory_mb });
    if (spec.memory_mb > limits.memoryMaxMb) throw fieldError('memory_mb', `must be at most ${limits.memoryMaxMb} (FUNCTION_MEMORY_MAX_MB)`, { value: spec.memory_mb });
  }

  /** {@link checkLimits}, then compiles the code (nothing of it runs). @throws AppError VALIDATION_ERROR (field `code` with the compiler's message). */
  private async checkSpec(spec: FunctionSpecFields): Promise<void> {
    this.checkLimits(spec);
    // Dependency specs are refused at deploy (400, field dependencies.<i>) rather than failing the build.
    validateDependencies(spec.runtime, spec.dependencies, this.deps.localPackagesDir);
    let message: string | null;
    try {
      message = await checkSyntax(spec.runtime, spec.code, { python: this.deps.python });
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('SERVICE_UNAVAILABLE', `the ${spec.runtime} runtime is not available to check the code: ${(err as Error).message}`, { runtime: spec.runtime }, { cause: err });
    }
    if (message !== null) throw fieldError('code', `does not compile: ${message}`, { compiler_message: message, runtime: spec.runtime });
  }

  /** Job options past the server's maxima are refused (as POST /jobs refuses them). */
  private checkOptions(options: Omit<FunctionInvokeQuery, 'webhook'>): void {
    checkJobOptionLimits(options, this.deps.limits);
  }
}

/** A query's zod error as VALIDATION_ERROR (re-exported for the routes). */
export function queryError(err: ZodError, query: unknown): AppError {
  return validationError(err, query);
}
