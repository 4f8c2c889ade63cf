/** Queue of algorithm and function jobs. */
export const JOBS_QUEUE = 'jobs';
/** The pool a job runs in when it names none; workers without a `pool` label serve it (issue 4). */
export const DEFAULT_POOL = 'default';

/** A pool name: 1-63 lowercase letters, digits, `_ -`, starting with a letter or digit (a worker label value). */
export const POOL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The BullMQ queue of a pool (issue 4, routing by label): `jobs` for the default pool, `jobs-<pool>`
 * for another. One queue per pool because BullMQ workers take whatever their queue holds; only
 * workers whose `pool` label names the pool consume its queue.
 */
export function jobsQueueName(pool: string = DEFAULT_POOL): string {
  return pool === DEFAULT_POOL ? JOBS_QUEUE : `${JOBS_QUEUE}-${pool}`;
}

/** Queue of webhook deliveries (seed 002: its own retries, so a worker crash loses no delivery). */
export const WEBHOOKS_QUEUE = 'webhooks';

/**
 * Queue of function dependency builds (issue 3): one job per function version with dependencies,
 * jobId `<function_id>-v<version>`; a worker installs them (worker/functions/dependencies.ts) and
 * sets the version's status to `active` or `failed`.
 */
export const BUILDS_QUEUE = 'builds';

/** The jobId of a version's build in {@link BUILDS_QUEUE}: one build per version, however often it is asked for. */
export function buildJobId(functionId: string, version: number | string): string {
  return `${functionId}-v${version}`;
}

/**
 * BullMQ's key prefix for QUEUE_PREFIX: wrapped in `{}` (a Redis Cluster hash tag) so every key of
 * every queue and record lands in one slot and multi-key scripts work on a cluster.
 */
export function bullPrefix(queuePrefix: string): string {
  return `{${queuePrefix}}`;
}

/** Redis keys and channels of fnqueue's own data, all under the same hash tag as the queues. */
export function keysFor(queuePrefix: string) {
  const p = bullPrefix(queuePrefix);
  return {
    /** Hash: one job record. */
    job: (jobId: string) => `${p}:job:${jobId}`,
    /** Pub/sub channel: job record changes (`JobEvent` JSON). */
    jobEvents: `${p}:job-events`,
    /** String: one process's metrics snapshot (prom-client JSON). */
    metricsSnapshot: (processId: string) => `${p}:metrics:${processId}`,
    /** Sorted set: process ids with a metrics snapshot, scored by last push (ms). */
    metricsIndex: `${p}:metrics-index`,
    /** String: one worker's registry entry (`StoredWorker` JSON), expiring WORKER_FORGET_AFTER_MS after its last heartbeat (issue 4). */
    worker: (workerId: string) => `${p}:worker:${workerId}`,
    /** Sorted set: worker ids, scored by last heartbeat (ms); pruned when read (issue 4). */
    workers: `${p}:workers`,
    /** Hash: one job's attempts (seed 004's task instances), field = attempt number, value = `AttemptRecord` JSON; expires with the record (issue 4). */
    jobAttempts: (jobId: string) => `${p}:job:${jobId}:attempts`,
    /** Sorted set: job ids by created_at (ms), one per listing filter value (issue 4): `all`, `status:<s>`, `algorithm:<a>`, `function:<id>`, `schedule:<id>`. */
    jobIndex: (name: string) => `${p}:job-index:${name}`,
    /** String: `<job_id> <body sha256>` for one Idempotency-Key (per caller), 24 h (issue 4). */
    idempotency: (scopedKey: string) => `${p}:idempotency:${scopedKey}`,
    /** Pub/sub channel: job ids to cancel; the worker running one kills its child (issue 4). */
    jobCancel: `${p}:job-cancel`,
    /** Set: pools jobs were ever submitted to, so the API knows every jobs queue (issue 4). */
    pools: `${p}:pools`,
    /** Hash: one schedule (issue 4). */
    schedule: (scheduleId: string) => `${p}:schedule:${scheduleId}`,
    /** Sorted set: schedule ids by creation time (ms) (issue 4). */
    schedules: `${p}:schedules`,
    /** Hash: schedule name → schedule id, so names stay unique across API processes (HSETNX in a script; issue 4). */
    scheduleNames: `${p}:schedule-names`,
    /** Hash: one API key, `{id, name, scopes, secret_sha256, created_at, revoked_at?}`; never the secret (issue 5). */
    apiKey: (keyId: string) => `${p}:api-key:${keyId}`,
    /** Set: every API key id, for `npm run keys -- list` (issue 5). */
    apiKeyIndex: `${p}:api-keys`,
    /** Prefix of the rate limiter's counters: `<rateLimit>:<caller>` strings with the window as TTL (issue 5). */
    rateLimit: `${p}:rate-limit`,
    // Functions (issue 3, seed 003): shared/functions/function-store.ts.
    /** Hash: one function's current record (its newest version's fields, status, build_log, name, project, timestamps). */
    fn: (functionId: string) => `${p}:function:${functionId}`,
    /** Hash: one version of a function, immutable once written (runtime, code, handler, env, dependencies, limits) but for its status and build_log; expires after the function is deleted or the version replaced. */
    fnVersion: (functionId: string, version: number) => `${p}:function:${functionId}:v${version}`,
    /** Sorted set: every function id, scored by creation time (ms). */
    functions: `${p}:functions`,
    /** Hash: function name → function id, so names stay unique across API processes (HSETNX in a script). */
    functionNames: `${p}:function-names`,
    /** Sorted set: the function ids of one project, scored by creation time (ms) (seed 000). */
    projectFunctions: (project: string) => `${p}:project-functions:${project}`,
    /** Hash: measured totals of one function's runs (FunctionStats counters), updated by workers at each run's end. */
    fnStats: (functionId: string) => `${p}:function:${functionId}:stats`,
    /** List: the most recent run durations of one function (ms, newest first, capped), for p95. */
    fnDurations: (functionId: string) => `${p}:function:${functionId}:durations`,
    /** Hash: the system env every function gets first (seed 000 system env, set from FUNCTION_SYSTEM_ENV; layered under project and function env). */
    systemEnv: `${p}:env:system`,
    /** Hash: one project's env (seed 000), layered between the system env and the function's own. */
    projectEnv: (project: string) => `${p}:env:project:${project}`,
    /** List: one job's captured stdout/stderr lines (`{ts, stream, line, attempt}` JSON), expiring with the record (issue 3). */
    jobLogs: (jobId: string) => `${p}:job:${jobId}:logs`,
    /** String `1`: the job's captured output was cut at its max_output_bytes; expires with the record. */
    jobLogsTruncated: (jobId: string) => `${p}:job:${jobId}:logs-truncated`,
    // Projects (issue 3, seed 000): api/project-service.ts.
    /** Hash: one project's record `{name, status: running|stopped, dependencies (JSON), created_at, updated_at, started_at?, stopped_at?}`. */
    project: (name: string) => `${p}:project:${name}`,
    /** Sorted set: project names, scored by creation time (ms). */
    projects: `${p}:projects`,
  };
}

export type Keys = ReturnType<typeof keysFor>;
