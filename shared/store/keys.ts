/**
 * Every Redis key and channel name of fnqueue, built in one place. Each key sits under one hash
 * tag, the queues' BullMQ keys included, so multi-key scripts work on Redis Cluster
 * (docs/architecture.md#key-layout). With QUEUE_SHARDS = 1 that is `{QUEUE_PREFIX}` for everything;
 * with more, the jobs queues, job records and what goes with them are spread over one tag per shard
 * ({@link shardTags}). Stores (shared/store/*) take a {@link Keys} and build nothing else.
 */
import calculateSlot from 'cluster-key-slot';

/** Statuses that have a listing index (`job-index:status:<s>`), in the order scripts receive them. */
export const INDEXED_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;

/**
 * BullMQ's key prefix for QUEUE_PREFIX: wrapped in `{}` (a Redis Cluster hash tag) so every key of
 * every queue and record lands in one slot and multi-key scripts work on a cluster.
 */
export function bullPrefix(queuePrefix: string): string {
  return `{${queuePrefix}}`;
}

/** Slots of a Redis Cluster (the Redis Cluster specification: CRC16 of the hash tag mod 16384). */
export const CLUSTER_SLOTS = 16_384;

/** Most QUEUE_SHARDS (shared/config.ts). */
export const MAX_QUEUE_SHARDS = 64;

/**
 * The shard (0 ≤ shard < `shards`) of a job id or of any other hex id (an Idempotency-Key's
 * SHA-256): its first 8 hex digits (32 bits) mod `shards`. A string that does not start with 8 hex
 * digits (a pattern such as `*`) is shard 0. Always 0 with one shard.
 */
export function shardOf(id: string, shards: number): number {
  if (shards <= 1) return 0;
  const head = Number.parseInt(id.slice(0, 8), 16);
  return /^[0-9a-f]{8}/.test(id) && Number.isFinite(head) ? head % shards : 0;
}

/**
 * The BullMQ prefix (hash tag, `{}` included) of each of `shards` shards. Shard 0 is always
 * `{QUEUE_PREFIX}`, the tag of everything unsharded, so with one shard no key changes. With more,
 * the slot space is cut into `shards` equal ranges (exactly as `redis-cli --cluster create` cuts it
 * among as many masters); shard 0 takes the range its slot falls in, and each further shard n, in order, the
 * next range still free: its tag is `{QUEUE_PREFIX-s<n>}`, or `{QUEUE_PREFIX-s<n>-<k>}` for the
 * smallest k ≥ 1 whose slot falls in that range. So 3 shards land on the 3 masters of a 3-master
 * cluster (and `QUEUE_SHARDS` = a multiple of the masters spreads evenly). Deterministic: every
 * process of a deployment computes the same tags.
 * @throws RangeError when `shards` is outside 1..{@link MAX_QUEUE_SHARDS}.
 */
export function shardTags(queuePrefix: string, shards: number): string[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_QUEUE_SHARDS) throw new RangeError(`shards must be 1..${MAX_QUEUE_SHARDS}, got ${shards}`);
  const first = bullPrefix(queuePrefix);
  if (shards === 1) return [first];
  // Range i ends at slot round((i + 1) * 16384 / shards - 1), as redis-cli's cluster create ends its masters' ranges.
  const lasts = Array.from({ length: shards }, (_, i) => (i === shards - 1 ? CLUSTER_SLOTS - 1 : Math.round(((i + 1) * CLUSTER_SLOTS) / shards - 1)));
  const rangeOf = (tag: string) => {
    const slot = calculateSlot(tag);
    return lasts.findIndex((last) => slot <= last);
  };
  const free = Array.from({ length: shards }, (_, r) => r).filter((r) => r !== rangeOf(first));
  const tags = [first];
  for (let n = 1; n < shards; n++) {
    const range = free[n - 1]!;
    for (let k = 0; ; k++) {
      const tag = `{${queuePrefix}-s${n}${k === 0 ? '' : `-${k}`}}`;
      if (rangeOf(tag) === range) {
        tags.push(tag);
        break;
      }
    }
  }
  return tags;
}

/** The keys of one shard: its jobs queues' BullMQ prefix, the listing indexes, queued-bytes accounting and run counters. */
function shardKeysFor(tag: string, shard: number) {
  const jobIndex = (name: string) => `${tag}:job-index:${name}`;
  return {
    /** This shard's number. */
    shard,
    /** BullMQ prefix of this shard's jobs queues (one per pool). */
    bullPrefix: tag,
    /** Sorted set: job ids by created_at (ms), one per listing filter value: `all`, `status:<s>`, `algorithm:<a>`, `function:<id>`, `schedule:<id>`, `namespace:<ns>` (every job; `default` when it names none), `definition:<id>`, `definitions` (every job that runs a definition). */
    jobIndex,
    /** The status index of every status in {@link INDEXED_STATUSES} order: what job scripts receive as KEYS. */
    statusIndexes: INDEXED_STATUSES.map((s) => jobIndex(`status:${s}`)),
    /** Hash: the counters of finished runs of this shard's jobs, counted by the scripts that end them (run-counter-store.ts): field → count. */
    runCounters: `${tag}:metrics:run-counters`,
    /**
     * Sorted set: job ids waiting in one pool's queue (MAX_QUEUED_BYTES), scored by their record's
     * expiry and their payload bytes (queued-bytes-store.ts: a short entry holds both in its score,
     * a long one the expiry in ms, its bytes in {@link queuedSizes}).
     */
    queued: (pool: string) => `${tag}:queued:${pool}`,
    /** Hash: job id → payload bytes of each long entry of {@link queued} (2 MiB or more, or an older build's). */
    queuedSizes: (pool: string) => `${tag}:queued:${pool}:sizes`,
    /** String: the sum of the bytes of {@link queued}'s entries, changed only in the same script as they. */
    queuedTotal: (pool: string) => `${tag}:queued:${pool}:total`,
    /** String: the readiness probes' write to this shard's node (shard 0's is `keysFor(…).readinessProbe`). */
    readinessProbe: `${tag}:readiness-probe`,
  };
}

/** The keys of one shard (see {@link keysFor}'s `shard`). */
export type ShardKeys = ReturnType<typeof shardKeysFor>;

/**
 * Redis keys and channels of fnqueue's own data. A job's keys (record, attempts, logs) and an
 * Idempotency-Key sit in the shard of their id ({@link shardOf}); indexes, queued bytes and run
 * counters exist once per shard (`shard(n)`, `shardOfJob(id)`); the rest under `{QUEUE_PREFIX}`.
 * @param shards QUEUE_SHARDS (default 1: every key under `{QUEUE_PREFIX}`).
 */
export function keysFor(queuePrefix: string, shards = 1) {
  const p = bullPrefix(queuePrefix);
  const tags = shardTags(queuePrefix, shards);
  const shardKeys = tags.map((tag, n) => shardKeysFor(tag, n));
  const tagOf = (id: string) => tags[shardOf(id, shards)]!;
  return {
    /** QUEUE_SHARDS. */
    shards,
    /** The keys of every shard, shard 0 first. */
    allShards: shardKeys as readonly ShardKeys[],
    /** The keys of shard `n`. @throws RangeError for a shard that does not exist. */
    shard: (n: number): ShardKeys => {
      const keys = shardKeys[n];
      if (!keys) throw new RangeError(`no shard ${n} of ${shards}`);
      return keys;
    },
    /** The keys of the shard that holds job `jobId`. */
    shardOfJob: (jobId: string): ShardKeys => shardKeys[shardOf(jobId, shards)]!,
    /** String: the QUEUE_SHARDS this deployment's keys were written with, set by the first process to start (shard-count.ts). */
    shardCount: `${p}:queue-shards`,
    /** Hash: one job record. */
    job: (jobId: string) => `${tagOf(jobId)}:job:${jobId}`,
    /** Pub/sub channel: job record changes (`JobEvent` JSON). */
    jobEvents: `${p}:job-events`,
    /** String: one process's metrics snapshot (prom-client JSON). */
    metricsSnapshot: (processId: string) => `${p}:metrics:${processId}`,
    /** Sorted set: process ids with a metrics snapshot, scored by last push (ms). */
    metricsIndex: `${p}:metrics-index`,
    /** String: one worker's registry entry (`StoredWorker` JSON), expiring WORKER_FORGET_AFTER_MS after its last heartbeat. */
    worker: (workerId: string) => `${p}:worker:${workerId}`,
    /** Sorted set: worker ids, scored by last heartbeat (ms); pruned when read. */
    workers: `${p}:workers`,
    /** Hash: one job's attempts, field = attempt number, value = `AttemptRecord` JSON; expires with the record. */
    jobAttempts: (jobId: string) => `${tagOf(jobId)}:job:${jobId}:attempts`,
    /** String: `<job_id> <body sha256>` for one Idempotency-Key (per caller; `scopedKey` its SHA-256 hex, which picks the shard), 24 h. */
    idempotency: (scopedKey: string) => `${tagOf(scopedKey)}:idempotency:${scopedKey}`,
    /** String: written by the readiness probes (`SET … PX`) to check that the node holding these keys accepts writes. */
    readinessProbe: `${p}:readiness-probe`,
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
    jobLogs: (jobId: string) => `${tagOf(jobId)}:job:${jobId}:logs`,
    /** String `1`: the job's captured output was cut at its max_output_bytes; expires with the record. */
    jobLogsTruncated: (jobId: string) => `${tagOf(jobId)}:job:${jobId}:logs-truncated`,
    /** String: bytes of the job's stored log lines, all attempts (JOB_LOGS_MAX_BYTES); expires with the record. */
    jobLogsBytes: (jobId: string) => `${tagOf(jobId)}:job:${jobId}:logs-bytes`,
    /** Set: the ids of jobs waiting for this one (depends_on), read when it ends; outlives the record by RESULT_TTL_SECONDS. */
    jobDependents: (jobId: string) => `${tagOf(jobId)}:job:${jobId}:dependents`,
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
