/**
 * Every Redis key and channel name of fnqueue, built in one place. Everything sits under one hash
 * tag (`{QUEUE_PREFIX}`), the queues' BullMQ keys included, so multi-key scripts work on Redis
 * Cluster (docs/architecture.md). Stores (shared/store/*) take a {@link Keys} and build nothing else.
 */

/** Statuses that have a listing index (`job-index:status:<s>`), in the order scripts receive them. */
export const INDEXED_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;

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
  const jobIndex = (name: string) => `${p}:job-index:${name}`;
  return {
    /** Hash: one job record. */
    job: (jobId: string) => `${p}:job:${jobId}`,
    /** Pub/sub channel: job record changes (`JobEvent` JSON). */
    jobEvents: `${p}:job-events`,
    /** String: one process's metrics snapshot (prom-client JSON). */
    metricsSnapshot: (processId: string) => `${p}:metrics:${processId}`,
    /** Hash: the deployment's counters of finished runs, counted by the scripts that end them (run-counter-store.ts): field → count. */
    runCounters: `${p}:metrics:run-counters`,
    /** Sorted set: process ids with a metrics snapshot, scored by last push (ms). */
    metricsIndex: `${p}:metrics-index`,
    /** String: one worker's registry entry (`StoredWorker` JSON), expiring WORKER_FORGET_AFTER_MS after its last heartbeat. */
    worker: (workerId: string) => `${p}:worker:${workerId}`,
    /** Sorted set: worker ids, scored by last heartbeat (ms); pruned when read. */
    workers: `${p}:workers`,
    /** Hash: one job's attempts, field = attempt number, value = `AttemptRecord` JSON; expires with the record. */
    jobAttempts: (jobId: string) => `${p}:job:${jobId}:attempts`,
    /** Sorted set: job ids by created_at (ms), one per listing filter value: `all`, `status:<s>`, `algorithm:<a>`, `function:<id>`, `schedule:<id>`, `namespace:<ns>` (every job; `default` when it names none), `definition:<id>`, `definitions` (every job that runs a definition). */
    jobIndex,
    /** The status index of every status in {@link INDEXED_STATUSES} order: what job scripts receive as KEYS. */
    statusIndexes: INDEXED_STATUSES.map((s) => jobIndex(`status:${s}`)),
    /** String: `<job_id> <body sha256>` for one Idempotency-Key (per caller), 24 h. */
    idempotency: (scopedKey: string) => `${p}:idempotency:${scopedKey}`,
    /** Pub/sub channel: job ids to cancel; the worker running one kills its child. */
    jobCancel: `${p}:job-cancel`,
    /** Set: pools jobs were ever submitted to, so the API knows every jobs queue. */
    pools: `${p}:pools`,
    /** Sorted set: the holders of one webhook receiver's (`host:port`) delivery slots, scored by lease end (ms); expires with the last lease. */
    webhookSlots: (hostPort: string) => `${p}:webhook-slots:${hostPort}`,
    /** Hash: one schedule. */
    schedule: (scheduleId: string) => `${p}:schedule:${scheduleId}`,
    /** Sorted set: schedule ids by creation time (ms). */
    schedules: `${p}:schedules`,
    /** Hash: schedule name → schedule id, so names stay unique across API processes (HSETNX in a script). */
    scheduleNames: `${p}:schedule-names`,
    /** Hash: one API key, `{id, name, scopes, secret_sha256, created_at, revoked_at?}`; never the secret. */
    apiKey: (keyId: string) => `${p}:api-key:${keyId}`,
    /** Set: every API key id, for `npm run keys -- list`. */
    apiKeyIndex: `${p}:api-keys`,
    /** Prefix of the rate limiter's counters: `<rateLimit>:<caller>` strings with the window as TTL. */
    rateLimit: `${p}:rate-limit`,
    /** Hash: one function's current record (its newest version's fields, status, build_log, name, project, timestamps). */
    fn: (functionId: string) => `${p}:function:${functionId}`,
    /** Hash: one version of a function, immutable once written (runtime, code, handler, env, dependencies, limits) but for its status and build_log; expires after the function is deleted or the version replaced. */
    fnVersion: (functionId: string, version: number) => `${p}:function:${functionId}:v${version}`,
    /** Sorted set: every function id, scored by creation time (ms). */
    functions: `${p}:functions`,
    /** Hash: function name → function id, so names stay unique across API processes (HSETNX in a script). */
    functionNames: `${p}:function-names`,
    /** Sorted set: the function ids of one project, scored by creation time (ms). */
    projectFunctions: (project: string) => `${p}:project-functions:${project}`,
    /** Hash: measured totals of one function's runs (FunctionStats counters), updated by workers at each run's end. */
    fnStats: (functionId: string) => `${p}:function:${functionId}:stats`,
    /** List: the most recent run durations of one function (ms, newest first, capped), for p95. */
    fnDurations: (functionId: string) => `${p}:function:${functionId}:durations`,
    /** Hash: the system env every function gets first (set from FUNCTION_SYSTEM_ENV; layered under project and function env). */
    systemEnv: `${p}:env:system`,
    /** Hash: one project's env, layered between the system env and the function's own. */
    projectEnv: (project: string) => `${p}:env:project:${project}`,
    /** List: one job's captured stdout/stderr lines (`JobLogLine` JSON), expiring with the record. */
    jobLogs: (jobId: string) => `${p}:job:${jobId}:logs`,
    /** String `1`: the job's captured output was cut at its max_output_bytes; expires with the record. */
    jobLogsTruncated: (jobId: string) => `${p}:job:${jobId}:logs-truncated`,
    /** String: bytes of the job's stored log lines, all attempts (JOB_LOGS_MAX_BYTES); expires with the record. */
    jobLogsBytes: (jobId: string) => `${p}:job:${jobId}:logs-bytes`,
    /** Sorted set: job ids waiting in one pool's queue, scored by their record's expiry (ms): MAX_QUEUED_BYTES. */
    queued: (pool: string) => `${p}:queued:${pool}`,
    /** Hash: job id → payload bytes of each entry of {@link queued}. */
    queuedSizes: (pool: string) => `${p}:queued:${pool}:sizes`,
    /** String: the sum of {@link queuedSizes}, changed only in the same script as it. */
    queuedTotal: (pool: string) => `${p}:queued:${pool}:total`,
    /** Set: the ids of jobs waiting for this one (depends_on), read when it ends; outlives the record by RESULT_TTL_SECONDS. */
    jobDependents: (jobId: string) => `${p}:job:${jobId}:dependents`,
    /** Sorted set: jobs with depends_on that may still wait, scored by created ms; the dependencies sweep reads it and drops the others. */
    jobsWaiting: `${p}:jobs-waiting`,
    /** Hash: one project's record `{name, status: running|stopped, dependencies (JSON), created_at, updated_at, started_at?, stopped_at?}`. */
    project: (name: string) => `${p}:project:${name}`,
    /** Sorted set: project names, scored by creation time (ms). */
    projects: `${p}:projects`,
    /** Hash: one job definition of the hetuflow scheduler API, `{id, doc}` (doc: `StoredJobDefinition` JSON); no TTL. */
    jobDefinition: (id: string) => `${p}:job-definition:${id}`,
    /** Sorted set: job definition ids by creation time (ms). */
    jobDefinitions: `${p}:job-definitions`,
    /** Set: the ids of the schedules (shared/store/schedule-store.ts) that run one job definition. */
    jobDefinitionSchedules: (id: string) => `${p}:job-definition:${id}:schedules`,
    /** Hash: schedule id → `{job_id, description}` JSON: the job definition it runs (the hetuflow scheduler API's schedules). */
    scheduleDefinitions: `${p}:schedule-definitions`,
  };
}

/** The key builders of one QUEUE_PREFIX. */
export type Keys = ReturnType<typeof keysFor>;
