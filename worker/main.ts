import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { functionRetainSeconds, redisTopology, functionsDir, resolveWorkerId, runnerPoolSize, shardConcurrency, workerForgetAfterMs, workerOfflineAfterMs, type Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { nodeHttp } from '../shared/net/node-http.js';
import { runService } from '../shared/run-service.js';
import { metricsTokenCheck } from '../shared/auth/metrics-token.js';
import { addProcessMetrics, createMetrics, failedOutsideRunCounters, MetricsPublisher } from '../shared/metrics.js';
import type { JobData, WebhookJobData } from '../shared/queue/job-data.js';
import { JobStore } from '../shared/store/job-store.js';
import { QueuedBytesStore } from '../shared/store/queued-bytes-store.js';
import { BUILDS_QUEUE, DEFAULT_POOL, jobsQueueName, POOL_PATTERN, WEBHOOKS_QUEUE } from '../shared/queue/names.js';
import { bullPrefix, keysFor } from '../shared/store/keys.js';
import { FunctionStore } from '../shared/store/function-store.js';
import { FunctionBuilder } from './functions/builds.js';
import type { BuildJobData } from '../shared/queue/builds-queue.js';
import { closeDuplicates, closeRedis, createRedis } from '../shared/queue/redis.js';
import { subscribe, writeProbeAll } from '../shared/store/channels.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { WorkerRegistry } from '../shared/store/worker-registry.js';
import { ensureShardCount } from '../shared/store/shard-count-store.js';
import { WorkerActivity, WorkerHeartbeat } from './heartbeat.js';
import { createAlgorithmProcessor, RecentIds, trackActivity } from './processor.js';
import { ChildPool } from './algorithms/child-pool.js';
import { FunctionJobs } from './functions/function-jobs.js';
import { FunctionPool } from './functions/function-pool.js';
import { CommandJobs } from './commands/command-jobs.js';
import { CommandRunner } from './commands/command-runner.js';
import { JobDependencies } from '../shared/jobs/dependencies.js';
import { JobQueues } from '../shared/queue/job-queues.js';
import { createWebhookProcessor, webhookSlotLeaseMs } from './webhooks/delivery.js';
import { watchWebhookFailures } from './webhooks/failures.js';
import { WEBHOOK_MAX_STALLED_COUNT, webhookBackoff, WebhooksQueue } from '../shared/queue/webhooks-queue.js';
import { WebhookSlotStore } from '../shared/store/webhook-slot-store.js';
import { WebhookSigner } from './webhooks/signing.js';
import { createWebhookAgent } from './webhooks/webhook-agent.js';
import { bullmqTelemetry } from '../shared/tracing.js';

/** Concurrent webhook deliveries per worker process (they wait on the network, not the CPU). */
const WEBHOOK_CONCURRENCY = 16;

/** Times a job may stall (its worker died or lost the lock) and run again before BullMQ fails it. */
const MAX_STALLED_COUNT = 2;

/**
 * Bounds of the steps of a close after the grace period, ms, so a SIGTERM ends the worker within
 * SHUTDOWN_GRACE_MS + 5 s whatever Redis does (docs/deployment.md, "Stopping on time"): BullMQ's
 * forced close (which never resolves while Redis is unreachable, a known BullMQ limitation), the runner and
 * function processes' exit, the last metrics snapshot and heartbeat, and the QUIT of the connections.
 * Together at most 4 s, inside the 5 s that runService's backstop and the platform allow.
 */
const FORCED_CLOSE_BOUND_MS = 1500;
const CHILDREN_EXIT_BOUND_MS = 1000;
const FINAL_WRITES_BOUND_MS = 1000;
const QUIT_BOUND_MS = 500;

/** How long the readiness PING may take before Redis counts as unreachable. */
const READINESS_PING_TIMEOUT_MS = 1000;

/** Newest failed jobs looked at by each sweep for jobs BullMQ failed as stalled too often. */
const FAILED_SWEEP_COUNT = 100;

/** Paths of the worker's probe server on WORKER_PORT (deploy/kubernetes probes them). */
export const WORKER_PROBE_PATHS = { liveness: '/healthz', readiness: '/readyz', metrics: '/metrics' } as const;

/** A running worker process's parts. */
export interface RunningWorker {
  /** Its worker id (WORKER_ID, or the default of resolveWorkerId): GET /workers, attempts, logs. */
  id: string;
  /** Port of the worker's own probe server: /healthz (liveness), /readyz (readiness), /metrics. */
  port: number;
  /**
   * Stops taking jobs, lets active ones finish within `graceMs` (then leaves them to stalled-job
   * recovery), and closes everything.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a worker: a warm runner pool, BullMQ Workers on the jobs and webhooks queues, metrics
 * snapshots to Redis, and a small HTTP server with /healthz and /metrics on WORKER_PORT.
 * @throws ConfigError when no Redis topology is configured (shared/config.ts `redisTopology`); an Error when the runner pool cannot start.
 */
export async function startWorker(config: Config, serviceLogger: Logger): Promise<RunningWorker> {
  const topology = redisTopology(config);
  const keys = keysFor(config.QUEUE_PREFIX, config.QUEUE_SHARDS);
  const prefix = bullPrefix(config.QUEUE_PREFIX);
  const registry = new AlgorithmRegistry({ diagnostic: config.DIAGNOSTIC_ALGORITHMS });

  const workerName = resolveWorkerId(config);
  // Every line this worker logs names it (graphile-worker's practice: {workerId, jobId, ...}).
  const logger = serviceLogger.child({ worker_id: workerName });
  // A failing Redis makes every connection, queue and BullMQ worker emit an error per command or
  // retry: one line per kind per interval, with a count (shared/throttled-log.ts).
  const redisErrors = new ThrottledLog(logger, 'warn');
  const onRedisError = (err: Error) => redisErrors.note('redis connection error', err);
  // The BullMQ Workers' blocking connections are duplicates of this one: their errors go there too.
  const redis = createRedis(topology, 'blocking', 'worker', { onError: onRedisError });
  // A worker with another QUEUE_SHARDS than the deployment's would never see some queues: refuse to start.
  await ensureShardCount(redis, keys, config.RESULT_TTL_SECONDS).catch(async (err: unknown) => {
    await closeRedis(redis);
    throw err;
  });
  const store = new JobStore(redis, keys, config.RESULT_TTL_SECONDS);
  const metrics = createMetrics();
  const processRegistry = new Registry();
  addProcessMetrics(processRegistry);
  const publisher = new MetricsPublisher(redis, keys, metrics.registry);

  const pool = new ChildPool({ size: runnerPoolSize(config), timeoutMs: config.ALGORITHM_TIMEOUT_MS, startTimeoutMs: config.RUNNER_START_TIMEOUT_MS, logger });
  await pool.start();
  // User functions: one warm sandboxed pool per worker process; start() says now whether they run isolated.
  const functionPool = new FunctionPool({
    logger,
    sandbox: config.FUNCTION_SANDBOX,
    maxProcessesPerHost: config.FUNCTION_MAX_PROCESSES,
    memoryBudgetMb: config.FUNCTION_HOSTS_MEMORY_BUDGET_MB,
    idleTimeoutMs: config.FUNCTION_HOST_IDLE_MS,
    maxResultBytes: config.JOB_RESULT_MAX_BYTES,
  });
  await functionPool.start();
  const hostsBudgetMb = functionPool.memoryUsage().budget_mb;
  logger.info('function processes memory budget', { budget_mb: hostsBudgetMb, configured: config.FUNCTION_HOSTS_MEMORY_BUDGET_MB !== undefined });
  if (hostsBudgetMb < config.FUNCTION_MEMORY_MAX_MB) {
    logger.warn('FUNCTION_HOSTS_MEMORY_BUDGET_MB is below FUNCTION_MEMORY_MAX_MB: functions with a larger memory_mb fail on this worker', { budget_mb: hostsBudgetMb, memory_max_mb: config.FUNCTION_MEMORY_MAX_MB });
  }
  // Function builds: every worker installs dependencies of new versions, one at a
  // time (npm and pip are CPU- and disk-heavy), whatever its pool; the builder also installs lazily before a run on this host.
  const builder = new FunctionBuilder({
    store: new FunctionStore(redis, keys, { retainSeconds: functionRetainSeconds(config) }),
    functionsDir: functionsDir(config),
    timeoutMs: config.FUNCTION_BUILD_TIMEOUT_MS,
    localRoot: config.FUNCTION_LOCAL_PACKAGES_DIR,
    logger,
  });
  const functionJobs = new FunctionJobs({
    pool: functionPool,
    functions: new FunctionStore(redis, keys, { retainSeconds: functionRetainSeconds(config) }),
    redis,
    keys,
    ttlSeconds: config.RESULT_TTL_SECONDS,
    logLimits: { maxBytes: config.JOB_LOGS_MAX_BYTES, maxLines: config.JOB_LOGS_MAX_LINES },
    systemEnv: config.FUNCTION_SYSTEM_ENV,
    logger,
    workerId: workerName,
    // Another host's build does not help here: install on first use of a version on this host (a no-op once done).
    depsDirFor: (v) => builder.ensureInstalled(v),
  });

  const webhooks = new WebhooksQueue(redis, prefix, config.WEBHOOK_RETRY_DELAYS_MS);
  webhooks.queue.on('error', (err) => redisErrors.note('queue error', err, { queue: webhooks.queue.name }));
  // Command jobs: a fresh sandbox per run, the function sandbox's parts (docs/commands.md).
  const commandRunner = new CommandRunner({
    sandbox: config.FUNCTION_SANDBOX,
    memoryMb: config.COMMAND_MEMORY_MB,
    maxProcesses: config.FUNCTION_MAX_PROCESSES,
    allowlist: config.COMMAND_ALLOWLIST,
    maxLogLines: config.JOB_LOGS_MAX_LINES,
    logger,
  });
  await commandRunner.start();
  const commandJobs = new CommandJobs({
    runner: commandRunner,
    redis,
    keys,
    ttlSeconds: config.RESULT_TTL_SECONDS,
    logLimits: { maxBytes: config.JOB_LOGS_MAX_BYTES, maxLines: config.JOB_LOGS_MAX_LINES },
    systemEnv: config.FUNCTION_SYSTEM_ENV,
    defaultTimeoutMs: config.ALGORITHM_TIMEOUT_MS,
    logger,
    workerId: workerName,
  });
  // Job dependencies: a job ending here enqueues or fails the jobs waiting for it, in any pool.
  const dependentQueues = new JobQueues(redis, keys, config.QUEUE_PREFIX, (queue, err) => redisErrors.note('queue error', err, { queue }));
  const dependencies = new JobDependencies({ store, queue: (pool, jobId) => dependentQueues.forJob(pool, jobId), webhooks, logger });

  // Routing by label: the `pool` label names the one pool this worker serves (its queue).
  const servedPool = config.WORKER_LABELS.pool ?? DEFAULT_POOL;
  if (!POOL_PATTERN.test(servedPool)) throw new Error(`WORKER_LABELS: pool "${servedPool}" must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit`);
  // Cancellation: every worker hears every cancel; the one running the job kills its child.
  const cancelled = new RecentIds();
  const cancelSubscriber = createRedis(topology, 'blocking', 'worker-cancel', { onError: onRedisError });
  await subscribe(cancelSubscriber, keys.jobCancel, (jobId) => {
    cancelled.add(jobId);
    if (pool.cancel(jobId) || functionJobs.cancel(jobId) || commandJobs.cancel(jobId)) logger.info('cancelled a running job', { job_id: jobId });
  });
  // Workers registry: running jobs are tracked in memory and written with each heartbeat.
  const activity = new WorkerActivity();
  // One BullMQ Worker per shard's queue of the pool (QUEUE_SHARDS), WORKER_CONCURRENCY split among
  // them (shardConcurrency), all on one processor: the runner pool, function hosts and activity are shared.
  const processor = trackActivity(
    activity,
    createAlgorithmProcessor({ pool, store, registry, metrics, webhooks, logger, workerId: workerName, cancelled, functions: functionJobs, queued: new QueuedBytesStore(redis, keys), maxResultBytes: config.JOB_RESULT_MAX_BYTES, commands: commandJobs, dependencies }),
    (queueJobId) => store.recordIdOf(queueJobId),
  );
  const concurrencies = shardConcurrency(config);
  const jobsWorkers = keys.allShards.map(
    (shard) =>
      new Worker<JobData>(jobsQueueName(servedPool), processor, {
        connection: redis,
        prefix: shard.bullPrefix,
        name: workerName,
        concurrency: concurrencies[shard.shard]!,
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        maxStalledCount: MAX_STALLED_COUNT,
        autorun: false,
        telemetry: bullmqTelemetry(),
      }),
  );
  const concurrency = concurrencies.reduce((a, b) => a + b, 0);
  // Signed deliveries (Standard Webhooks) and the SSRF guard on the address each delivery connects to.
  const signer = config.WEBHOOK_SECRET ? new WebhookSigner(config.WEBHOOK_SECRET) : undefined;
  if (!signer) logger.warn('WEBHOOK_SECRET is not set: webhook deliveries are unsigned');
  if (config.WEBHOOK_ALLOW_PRIVATE) logger.warn('WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach loopback, private and cloud metadata addresses');
  // Made at the first delivery, and with it undici loaded (webhooks/undici.ts).
  let webhookAgent: ReturnType<typeof createWebhookAgent> | undefined;
  const webhookDispatcher = () => (webhookAgent ??= createWebhookAgent({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, connectTimeoutMs: config.WEBHOOK_TIMEOUT_MS }));
  const webhookWorker = new Worker<WebhookJobData>(
    WEBHOOKS_QUEUE,
    createWebhookProcessor({ store, metrics, logger, timeoutMs: config.WEBHOOK_TIMEOUT_MS, signer, dispatcher: webhookDispatcher, slots: new WebhookSlotStore(redis, keys, config.WEBHOOK_HOST_CONCURRENCY, webhookSlotLeaseMs(config.WEBHOOK_TIMEOUT_MS)) }),
    {
      connection: redis,
      prefix,
      name: workerName,
      concurrency: WEBHOOK_CONCURRENCY,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
      maxStalledCount: WEBHOOK_MAX_STALLED_COUNT,
      settings: { backoffStrategy: webhookBackoff(config.WEBHOOK_RETRY_DELAYS_MS) },
      autorun: false,
      telemetry: bullmqTelemetry(),
    },
  );
  const stopWebhookWatch = watchWebhookFailures({ worker: webhookWorker, queue: webhooks.queue, store, metrics, logger, maxStalledCount: WEBHOOK_MAX_STALLED_COUNT, intervalMs: config.STALLED_INTERVAL_MS });
  const buildsWorker = new Worker<BuildJobData>(BUILDS_QUEUE, builder.processor(), {
    connection: redis,
    prefix,
    name: workerName,
    concurrency: 1,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    autorun: false,
    telemetry: bullmqTelemetry(),
  });
  for (const w of [...jobsWorkers, webhookWorker, buildsWorker]) {
    w.on('error', (err) => redisErrors.note('worker error', err, { queue: w.name }));
    w.on('stalled', (jobId) => logger.warn('stalled job moved back to wait', { queue: w.name, job_id: jobId }));
  }

  // A job BullMQ fails outside our processor would leave its record `running` until it expires:
  // finish it as failed. Attempts used up by Redis errors show in this worker's own `failed` event;
  // jobs failed by BullMQ's stall check (maxStalledCount) in no event of ours, so the newest failed
  // jobs are swept every STALLED_INTERVAL_MS. (A QueueEvents per worker would read every event of
  // the queue for these rare cases: it cost ~20 % CPU per job in the benchmark.)
  const jobsQueues = keys.allShards.map((shard) => new Queue(jobsQueueName(servedPool), { connection: redis, prefix: shard.bullPrefix, telemetry: bullmqTelemetry() }));
  for (const q of jobsQueues) q.on('error', (err) => redisErrors.note('queue error', err, { queue: q.name }));
  const finishFailed = (jobId: string, reason: string, data?: JobData) =>
    store
      .failIfUnfinished(jobId, `job failed: ${reason}`, (record) => failedOutsideRunCounters({ ...record, mode: data?.mode }))
      .then(async (changed) => {
        if (!changed) return;
        logger.warn('job failed outside its run', { job_id: jobId, reason });
        await dependencies.jobEnded(jobId, 'failed');
      })
      .catch((err: unknown) => logger.warn('could not finish a failed job record', { job_id: jobId, error: String(err) }));
  for (const w of jobsWorkers) {
    w.on('failed', (job, err) => {
      if (job?.id && job.attemptsMade >= (job.opts.attempts ?? 1)) void finishFailed(store.recordIdOf(job.id), err.message, job.data);
    });
  }
  const sweepFailed = async () => {
    for (const jobsQueue of jobsQueues) {
      for (const job of await jobsQueue.getFailed(0, FAILED_SWEEP_COUNT - 1)) {
        // BullMQ's own stall counter (the job hash's `stc`), not its message: past the limit, BullMQ failed it.
        if (job?.id && job.stalledCounter > MAX_STALLED_COUNT) await finishFailed(store.recordIdOf(job.id), job.failedReason, job.data);
      }
    }
  };
  const sweepTimer = setInterval(() => {
    void sweepFailed().catch(() => undefined);
    // Jobs waiting for others whose end nobody told them (killed process) or whose record expired.
    void dependencies.sweep();
  }, config.STALLED_INTERVAL_MS);
  sweepTimer.unref();

  let closing = false;
  const metricsAllowed = metricsTokenCheck(config.METRICS_TOKEN);
  const server = nodeHttp.createServer((req, res) => {
    void (async () => {
      if (req.url === WORKER_PROBE_PATHS.readiness) {
        // Readiness, apart from liveness: false while draining or while the node holding fnqueue's keys does not take a write.
        const redisOk = await Promise.race([writeProbeAll(redis, keys.allShards.map((s) => s.readinessProbe)), new Promise<boolean>((resolve) => setTimeout(resolve, READINESS_PING_TIMEOUT_MS, false).unref())]);
        const checks = { redis: redisOk, accepting: !closing };
        const ready = checks.redis && checks.accepting;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', timestamp: Date.now() / 1000, checks }));
      } else if (req.url === WORKER_PROBE_PATHS.liveness) {
        res.writeHead(closing ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: closing ? 'stopping' : 'healthy', timestamp: Date.now() / 1000, runners: pool.aliveCount }));
      } else if (req.url === WORKER_PROBE_PATHS.metrics && !metricsAllowed(req.headers.authorization)) {
        // METRICS_TOKEN gates every /metrics, the worker's own included.
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="fnqueue-metrics"' });
        res.end(JSON.stringify({ error: 'UNAUTHORIZED', message: 'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>', details: {}, request_id: randomUUID() }));
      } else if (req.url === WORKER_PROBE_PATHS.metrics) {
        const text = (await metrics.registry.metrics()) + (await processRegistry.metrics());
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url}`, details: {}, request_id: randomUUID() }));
      }
    })().catch(() => {
      res.writeHead(500).end();
    });
  });
  const port = await listen(server, config.WORKER_PORT, config.HOST);

  for (const w of jobsWorkers) void w.run().catch((err: unknown) => logger.error('jobs worker stopped', { error: String(err) }));
  void webhookWorker.run().catch((err: unknown) => logger.error('webhooks worker stopped', { error: String(err) }));
  void buildsWorker.run().catch((err: unknown) => logger.error('builds worker stopped', { error: String(err) }));
  publisher.start();
  const heartbeat = new WorkerHeartbeat({
    registry: new WorkerRegistry(redis, keys, workerForgetAfterMs(config)),
    activity,
    logger,
    id: workerName,
    host: hostname(),
    labels: config.WORKER_LABELS,
    concurrency,
    runners: runnerPoolSize(config),
    runnerPids: () => pool.pids(),
    functionHosts: () => functionPool.memoryUsage(),
    intervalMs: config.WORKER_HEARTBEAT_MS,
    offlineAfterMs: workerOfflineAfterMs(config),
  });
  heartbeat.start();
  logger.info('worker started', { worker: workerName, pool: servedPool, port, concurrency, queue_shards: keys.shards, runners: runnerPoolSize(config), algorithms: registry.names() });

  // Closing twice (a second signal: a terminal's Ctrl-C reaches the whole process group and
  // `npm start` also sends SIGTERM) waits for the first drain; it used to resolve at once and exit mid-drain.
  let closed: Promise<void> | undefined;
  const bullWorkers = [...jobsWorkers, webhookWorker, buildsWorker];
  return {
    id: workerName,
    port,
    close(graceMs = config.SHUTDOWN_GRACE_MS) {
      closed ??= (async () => {
        const graceEnds = Date.now() + graceMs;
        closing = true;
        logger.info('worker draining', { grace_ms: graceMs });
        await heartbeat.draining();
        // pause(), not close(): it stops taking jobs and resolves once the active ones ended, and a
        // close() begun here could not be forced later (BullMQ's close(true) returns a close in progress).
        const drained = await settlesWithin(Promise.all(bullWorkers.map((w) => w.pause())), Math.max(0, graceEnds - Date.now()));
        if (!drained) logger.warn('grace period over; stopping the jobs still running and leaving them to stalled-job recovery', { active_jobs: [...activity.active] });
        // Forced when jobs are still running: BullMQ stops renewing their locks and, its connection
        // closing, writes no outcome for them, so the runs stopped below stay active in Redis until
        // their locks expire (JOB_LOCK_MS) and a live worker's stalled check hands them on.
        const bullClosed = Promise.all(bullWorkers.map((w) => w.close(!drained)));
        if (!(await settlesWithin(bullClosed, FORCED_CLOSE_BOUND_MS))) {
          logger.warn('BullMQ workers did not close in time; disconnecting them');
          // Their connections would otherwise go on waiting for a Redis that does not answer (the blocking ones end just below).
          await settlesWithin(Promise.all(bullWorkers.map((w) => w.disconnect())), QUIT_BOUND_MS);
        }
        // Closed or not, a pause() still waiting for its jobs (stopped below) would reopen their
        // blocking connections when it ends: end those for good now.
        closeDuplicates(redis);
        commandRunner.close();
        if (!(await settlesWithin(Promise.all([pool.close(), functionPool.close()]), CHILDREN_EXIT_BOUND_MS))) logger.warn('runner or function processes had not exited after SIGKILL');
        clearInterval(sweepTimer);
        stopWebhookWatch();
        // A frozen or unreachable Redis answers none of these: the worker exits anyway, its connections closed below.
        const finalWrites = Promise.all([publisher.stop(), heartbeat.stop(), ...jobsQueues.map((q) => q.close()), dependentQueues.close(), webhooks.close()]);
        if (!(await settlesWithin(finalWrites, FINAL_WRITES_BOUND_MS))) logger.warn('Redis is not answering; closing without the last metrics and heartbeat');
        void webhookAgent?.destroy().catch(() => undefined);
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await serverClosed;
        const connections = [redis, cancelSubscriber];
        if (!(await settlesWithin(Promise.all(connections.map((c) => closeRedis(c))), QUIT_BOUND_MS))) for (const c of connections) c.disconnect();
        logger.info('worker stopped', { drained });
      })();
      return closed;
    },
  };
}

/** Resolves true when `promise` settles within `ms`, false when it does not (it is left to settle, or to the exit). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))]);
  } finally {
    clearTimeout(timer);
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** Run as a script: a worker process until SIGTERM / SIGINT, then it drains (SHUTDOWN_GRACE_MS). */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void runService('worker', (config, logger) => startWorker(config, logger));
