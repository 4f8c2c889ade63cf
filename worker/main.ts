import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { ConfigError, functionRetainSeconds, functionsDir, runnerPoolSize, workerForgetAfterMs, workerOfflineAfterMs, type Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { runService } from '../shared/run-service.js';
import { metricsTokenCheck } from '../shared/auth/metrics-token.js';
import { addProcessMetrics, createMetrics, failedOutsideRunCounters, MetricsPublisher } from '../shared/metrics.js';
import type { JobData, WebhookJobData } from '../shared/queue/job-data.js';
import { JobStore, recordIdOf } from '../shared/store/job-store.js';
import { QueuedBytesStore } from '../shared/store/queued-bytes-store.js';
import { BUILDS_QUEUE, DEFAULT_POOL, jobsQueueName, POOL_PATTERN, WEBHOOKS_QUEUE } from '../shared/queue/names.js';
import { bullPrefix, keysFor } from '../shared/store/keys.js';
import { FunctionStore } from '../shared/store/function-store.js';
import { FunctionBuilder } from './functions/builds.js';
import type { BuildJobData } from '../shared/queue/builds-queue.js';
import { closeRedis, createRedis } from '../shared/queue/redis.js';
import { ping, subscribe } from '../shared/store/channels.js';
import { WorkerRegistry } from '../shared/store/worker-registry.js';
import { WorkerActivity, WorkerHeartbeat } from './heartbeat.js';
import { createAlgorithmProcessor, RecentIds, trackActivity } from './processor.js';
import { ChildPool } from './algorithms/child-pool.js';
import { FunctionJobs } from './functions/function-jobs.js';
import { FunctionPool } from './functions/function-pool.js';
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
 * How long each Redis-bound step of a close after the grace period (BullMQ's forced close, the last
 * metrics and heartbeat) may wait on a Redis that does not answer, so SIGTERM always ends the process.
 */
const REDIS_CLOSE_BOUND_MS = 3000;

/** How long the readiness PING may take before Redis counts as unreachable. */
const READINESS_PING_TIMEOUT_MS = 1000;

/** Newest failed jobs looked at by each sweep for jobs BullMQ failed as stalled too often. */
const FAILED_SWEEP_COUNT = 100;

/** A running worker process's parts. */
export interface RunningWorker {
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
 * @throws ConfigError when REDIS_URL is unset; an Error when the runner pool cannot start.
 */
export async function startWorker(config: Config, serviceLogger: Logger): Promise<RunningWorker> {
  if (!config.REDIS_URL) throw new ConfigError('REDIS_URL is required to run a worker (npm start sets it for you)');
  const keys = keysFor(config.QUEUE_PREFIX);
  const prefix = bullPrefix(config.QUEUE_PREFIX);
  const registry = new AlgorithmRegistry({ diagnostic: config.DIAGNOSTIC_ALGORITHMS });

  const workerName = `${hostname()}:${process.pid}`;
  // Every line this worker logs names it (graphile-worker's practice: {workerId, jobId, ...}).
  const logger = serviceLogger.child({ worker_id: workerName });
  const redis = createRedis(config.REDIS_URL, 'blocking', 'worker');
  redis.on('error', (err) => logger.debug('redis connection error', { error: err.message }));
  const store = new JobStore(redis, keys, config.RESULT_TTL_SECONDS);
  const metrics = createMetrics();
  const processRegistry = new Registry();
  addProcessMetrics(processRegistry);
  const publisher = new MetricsPublisher(redis, keys, metrics.registry);

  const pool = new ChildPool({ size: runnerPoolSize(config), timeoutMs: config.ALGORITHM_TIMEOUT_MS, logger });
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
  webhooks.queue.on('error', (err) => logger.debug('webhooks queue error', { error: err.message }));

  // Routing by label: the `pool` label names the one pool this worker serves (its queue).
  const servedPool = config.WORKER_LABELS.pool ?? DEFAULT_POOL;
  if (!POOL_PATTERN.test(servedPool)) throw new Error(`WORKER_LABELS: pool "${servedPool}" must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit`);
  // Cancellation: every worker hears every cancel; the one running the job kills its child.
  const cancelled = new RecentIds();
  const cancelSubscriber = createRedis(config.REDIS_URL, 'blocking', 'worker-cancel');
  cancelSubscriber.on('error', (err) => logger.debug('redis connection error', { error: err.message }));
  await subscribe(cancelSubscriber, keys.jobCancel, (jobId) => {
    cancelled.add(jobId);
    if (pool.cancel(jobId) || functionJobs.cancel(jobId)) logger.info('cancelled a running job', { job_id: jobId });
  });
  // Workers registry: running jobs are tracked in memory and written with each heartbeat.
  const activity = new WorkerActivity();
  const jobsWorker = new Worker<JobData>(
    jobsQueueName(servedPool),
    trackActivity(activity, createAlgorithmProcessor({ pool, store, registry, metrics, webhooks, logger, workerId: workerName, cancelled, functions: functionJobs, queued: new QueuedBytesStore(redis, keys), maxResultBytes: config.JOB_RESULT_MAX_BYTES })),
    {
      connection: redis,
      prefix,
      name: workerName,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
      maxStalledCount: MAX_STALLED_COUNT,
      autorun: false,
      telemetry: bullmqTelemetry(),
    },
  );
  // Signed deliveries (Standard Webhooks) and the SSRF guard on the address each delivery connects to.
  const signer = config.WEBHOOK_SECRET ? new WebhookSigner(config.WEBHOOK_SECRET) : undefined;
  if (!signer) logger.warn('WEBHOOK_SECRET is not set: webhook deliveries are unsigned');
  if (config.WEBHOOK_ALLOW_PRIVATE) logger.warn('WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach loopback, private and cloud metadata addresses');
  const webhookAgent = createWebhookAgent({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, connectTimeoutMs: config.WEBHOOK_TIMEOUT_MS });
  const webhookWorker = new Worker<WebhookJobData>(
    WEBHOOKS_QUEUE,
    createWebhookProcessor({ store, metrics, logger, timeoutMs: config.WEBHOOK_TIMEOUT_MS, signer, dispatcher: webhookAgent, slots: new WebhookSlotStore(redis, keys, config.WEBHOOK_HOST_CONCURRENCY, webhookSlotLeaseMs(config.WEBHOOK_TIMEOUT_MS)) }),
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
  for (const w of [jobsWorker, webhookWorker, buildsWorker]) {
    w.on('error', (err) => logger.warn('worker error', { queue: w.name, error: err.message }));
    w.on('stalled', (jobId) => logger.warn('stalled job moved back to wait', { queue: w.name, job_id: jobId }));
  }

  // A job BullMQ fails outside our processor would leave its record `running` until it expires:
  // finish it as failed. Attempts used up by Redis errors show in this worker's own `failed` event;
  // jobs failed by BullMQ's stall check (maxStalledCount) in no event of ours, so the newest failed
  // jobs are swept every STALLED_INTERVAL_MS. (A QueueEvents per worker would read every event of
  // the queue for these rare cases: it cost ~20 % CPU per job in the benchmark.)
  const jobsQueue = new Queue(jobsQueueName(servedPool), { connection: redis, prefix, telemetry: bullmqTelemetry() });
  jobsQueue.on('error', (err) => logger.debug('jobs queue error', { error: err.message }));
  const finishFailed = (jobId: string, reason: string, data?: JobData) =>
    store
      .failIfUnfinished(jobId, `job failed: ${reason}`, (record) => failedOutsideRunCounters({ ...record, mode: data?.mode }))
      .then((changed) => changed && logger.warn('job failed outside its run', { job_id: jobId, reason }))
      .catch((err: unknown) => logger.warn('could not finish a failed job record', { job_id: jobId, error: String(err) }));
  jobsWorker.on('failed', (job, err) => {
    if (job?.id && job.attemptsMade >= (job.opts.attempts ?? 1)) void finishFailed(recordIdOf(job.id), err.message, job.data);
  });
  const sweepFailed = async () => {
    for (const job of await jobsQueue.getFailed(0, FAILED_SWEEP_COUNT - 1)) {
      // BullMQ's own stall counter (the job hash's `stc`), not its message: past the limit, BullMQ failed it.
      if (job?.id && job.stalledCounter > MAX_STALLED_COUNT) await finishFailed(recordIdOf(job.id), job.failedReason, job.data);
    }
  };
  const sweepTimer = setInterval(() => void sweepFailed().catch(() => undefined), config.STALLED_INTERVAL_MS);
  sweepTimer.unref();

  let closing = false;
  const metricsAllowed = metricsTokenCheck(config.METRICS_TOKEN);
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/readyz') {
        // Readiness, apart from liveness: false while draining or while Redis does not answer a PING.
        const redisOk = await Promise.race([ping(redis), new Promise<boolean>((resolve) => setTimeout(resolve, READINESS_PING_TIMEOUT_MS, false).unref())]);
        const checks = { redis: redisOk, accepting: !closing };
        const ready = checks.redis && checks.accepting;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', timestamp: Date.now() / 1000, checks }));
      } else if (req.url === '/healthz') {
        res.writeHead(closing ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: closing ? 'stopping' : 'healthy', timestamp: Date.now() / 1000, runners: pool.aliveCount }));
      } else if (req.url === '/metrics' && !metricsAllowed(req.headers.authorization)) {
        // METRICS_TOKEN gates every /metrics, the worker's own included.
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="fnqueue-metrics"' });
        res.end(JSON.stringify({ error: 'UNAUTHORIZED', message: 'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>', details: {}, request_id: randomUUID() }));
      } else if (req.url === '/metrics') {
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

  void jobsWorker.run().catch((err: unknown) => logger.error('jobs worker stopped', { error: String(err) }));
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
    concurrency: config.WORKER_CONCURRENCY,
    runners: runnerPoolSize(config),
    runnerPids: () => pool.pids(),
    functionHosts: () => functionPool.memoryUsage(),
    intervalMs: config.WORKER_HEARTBEAT_MS,
    offlineAfterMs: workerOfflineAfterMs(config),
  });
  heartbeat.start();
  logger.info('worker started', { worker: workerName, pool: servedPool, port, concurrency: config.WORKER_CONCURRENCY, runners: runnerPoolSize(config), algorithms: registry.names() });

  // Closing twice (a second signal: a terminal's Ctrl-C reaches the whole process group and
  // `npm start` also sends SIGTERM) waits for the first drain; it used to resolve at once and exit mid-drain.
  let closed: Promise<void> | undefined;
  return {
    port,
    close(graceMs = config.SHUTDOWN_GRACE_MS) {
      closed ??= (async () => {
        closing = true;
        logger.info('worker draining', { grace_ms: graceMs });
        await heartbeat.draining();
        const graceful = Promise.all([jobsWorker.close(), webhookWorker.close(), buildsWorker.close()]);
        const timedOut = await Promise.race([
          graceful.then(() => false),
          new Promise<boolean>((resolve) => setTimeout(resolve, graceMs, true).unref()),
        ]);
        if (timedOut) {
          logger.warn('grace period over; leaving active jobs to stalled-job recovery');
          const forced = Promise.all([jobsWorker.close(true), webhookWorker.close(true), buildsWorker.close(true)]);
          if (!(await settlesWithin(forced, REDIS_CLOSE_BOUND_MS))) logger.warn('BullMQ workers did not close: Redis is not answering; leaving their connections to the exit');
        }
        await Promise.all([pool.close(), functionPool.close()]);
        clearInterval(sweepTimer);
        stopWebhookWatch();
        // A frozen Redis answers none of these: the worker exits anyway, its connections closed below.
        const closedQueues = (async () => {
          await jobsQueue.close();
          await publisher.stop();
          await heartbeat.stop();
          await webhooks.close();
        })();
        if (!(await settlesWithin(closedQueues, REDIS_CLOSE_BOUND_MS))) logger.warn('Redis is not answering; closing without the last metrics and heartbeat');
        await webhookAgent.destroy().catch(() => undefined);
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closeRedis(redis), closeRedis(cancelSubscriber)]);
        logger.info('worker stopped');
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
