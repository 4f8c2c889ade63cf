import { JobDependencies } from '../shared/jobs/dependencies.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import { ApiKeyStore } from '../shared/store/api-key-store.js';
import { JwtVerifier } from '../shared/auth/jwt-verifier.js';
import { functionRetainSeconds, jobDelayMaxMs, redisTopology, workerForgetAfterMs, type Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { addProcessMetrics, aggregateDeploymentMetrics, createMetrics, createScrapeGauges, mergeExpositions, MetricsPublisher, sumSameSeries } from '../shared/metrics.js';
import { ensureShardCount } from '../shared/store/shard-count-store.js';
import { JobStore } from '../shared/store/job-store.js';
import { bullPrefix, keysFor } from '../shared/store/keys.js';
import { FunctionStore } from '../shared/store/function-store.js';
import { enqueueBuild, openBuildsQueue } from '../shared/queue/builds-queue.js';
import { WebhooksQueue } from '../shared/queue/webhooks-queue.js';
import { ProjectService } from './services/project-service.js';
import { projectStoppedError } from '../shared/errors/index.js';
import { FunctionService } from './services/function-service.js';
import { closeRedis, createRedis, describeTopology, waitReady } from '../shared/queue/redis.js';
import { WorkerRegistry } from '../shared/store/worker-registry.js';
import { JobQueues } from '../shared/queue/job-queues.js';
import { lazyDashboard } from './routes/dashboard-lazy.js';
import { createApp } from './app.js';
import { RedisStallWatch } from './middleware/redis-stall-guard.js';
import { onCheckExpectation, onClientError, onConnect, requiringHost } from './middleware/client-error.js';
import { createRateLimiter } from './middleware/rate-limit.js';
import { QueueDepthGuard } from './services/queue-depth-guard.js';
import { JobService } from './services/job-service.js';
import { ScheduleService } from './services/schedule-service.js';
import { JobWaiter } from './services/job-waiter.js';
import { QueuedBytesStore } from '../shared/store/queued-bytes-store.js';
import { sweepExpiredQueued } from '../shared/jobs/queued-sweep.js';
import { packageVersion } from '../shared/package-version.js';
import { writeProbeAll } from '../shared/store/channels.js';
import { ReplicaAcks } from '../shared/store/replica-acks.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { definitionRun, HetuflowService } from './services/hetuflow-service.js';
import { HetuflowScheduleService } from './services/hetuflow-schedules.js';
import { JobDefinitionStore } from '../shared/store/job-definition-store.js';
import { JobLogStore } from '../shared/store/job-log-store.js';
import { RunCounterStore } from '../shared/store/run-counter-store.js';
import { nodeHttp } from '../shared/net/node-http.js';

const VERSION = packageVersion();

/** How long a readiness PING may take before Redis counts as down. */
const READINESS_PING_TIMEOUT_MS = 1000;

/** A listening API process. */
export interface RunningApi {
  port: number;
  /** Readiness goes false (/readyz 503, responses carry `Connection: close`) while requests are still served. */
  markUnready(): void;
  /**
   * Graceful stop: readiness goes false, the listener closes, in-flight requests (waiting
   * /invoke calls included) get up to `graceMs` to finish, then connections are cut and Redis closed.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the API on PORT: Redis connections (one for commands, one subscriber), the jobs queue,
 * the job waiter, metrics snapshots, and the Express app.
 * @throws ConfigError when no Redis topology is configured (shared/config.ts `redisTopology`); an Error when the port cannot be bound.
 */
export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const topology = redisTopology(config);
  const keys = keysFor(config.QUEUE_PREFIX, config.QUEUE_SHARDS);
  const prefix = bullPrefix(config.QUEUE_PREFIX);
  const registry = new AlgorithmRegistry({ diagnostic: config.DIAGNOSTIC_ALGORITHMS });

  // One line per kind of Redis error per interval, with a count (a failover makes one per command).
  const redisErrors = new ThrottledLog(logger, 'warn');
  const onRedisError = (err: Error) => redisErrors.note('redis connection error', err);
  const redis = createRedis(topology, 'request', 'api', { onError: onRedisError, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  const subscriber = createRedis(topology, 'blocking', 'api-subscriber', { onError: onRedisError });

  // BullMQ's queue checks the Redis version once, at creation, and the request connection has no
  // offline queue (so requests fail fast with 503 while Redis is down): create it once Redis answers.
  logger.info('waiting for redis', { redis: describeTopology(topology) });
  await waitReady(redis);
  // A process with another QUEUE_SHARDS than the deployment's would hide its jobs: refuse to start.
  await ensureShardCount(redis, keys, config.RESULT_TTL_SECONDS).catch(async (err: unknown) => {
    await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
    throw err;
  });
  const store = new JobStore(redis, keys, config.RESULT_TTL_SECONDS, config.LIST_PAGE_MAX_BYTES);
  const workerRegistry = new WorkerRegistry(redis, keys, workerForgetAfterMs(config));
  // Every pool's jobs queue (routing by label); GET /status counts them, the dashboard shows them.
  // Pools come from the workers' `pool` labels: a job to a pool no worker serves is refused (docs/operations.md#pools).
  // One connection for the records and the queues (the submit's undo runs behind its writes).
  const jobQueues = new JobQueues(redis, keys, config.QUEUE_PREFIX, (name, err) => redisErrors.note('queue error', err, { queue: name }), () => workerRegistry.servedPools());
  const webhooks = new WebhooksQueue(redis, prefix, config.WEBHOOK_RETRY_DELAYS_MS);
  // MAX_QUEUED_BYTES per pool; the sweep removes queued jobs whose record expired (docs/security.md#limits-and-hostile-input).
  const queuedBytes = new QueuedBytesStore(redis, keys);
  const queued = config.MAX_QUEUED_BYTES > 0 ? { store: queuedBytes, maxBytes: config.MAX_QUEUED_BYTES } : undefined;
  // REDIS_WAIT_REPLICAS: WAIT on the request connection, the one the submit path writes on.
  const replicaAcks = config.REDIS_WAIT_REPLICAS > 0 ? new ReplicaAcks(redis, keys.job, config.REDIS_WAIT_REPLICAS, config.REDIS_WAIT_TIMEOUT_MS) : undefined;
  const queueSweep = setInterval(() => {
    sweepExpiredQueued(jobQueues, queuedBytes).catch((err: unknown) => logger.debug('queued jobs sweep failed', { error: String(err) }));
  }, config.QUEUE_SWEEP_INTERVAL_MS);
  queueSweep.unref();
  const webhooksQueue = webhooks.queue;
  webhooksQueue.on('error', (err) => redisErrors.note('queue error', err, { queue: webhooksQueue.name }));

  // Functions: one store for the functions API and projects; dependency builds go to the builds
  // queue (shared/queue/builds-queue.ts), served by every worker.
  const functionStore = new FunctionStore(redis, keys, { retainSeconds: functionRetainSeconds(config) });
  const buildsQueue = openBuildsQueue(redis, prefix);
  buildsQueue.on('error', (err) => redisErrors.note('queue error', err, { queue: buildsQueue.name }));
  const projects = new ProjectService({ redis, keys, functions: functionStore, localPackagesDir: config.FUNCTION_LOCAL_PACKAGES_DIR, systemEnv: config.FUNCTION_SYSTEM_ENV });

  const waiter = new JobWaiter(subscriber, store, keys.jobEvents, logger);
  await waiter.start();

  const metrics = createMetrics();
  const processRegistry = new Registry();
  addProcessMetrics(processRegistry);
  const publisher = new MetricsPublisher(redis, keys, metrics.registry);
  publisher.start();

  // Readiness and the stall guard write a short-lived key under fnqueue's hash tag: the node that
  // holds fnqueue's keys must accept writes (a replica left behind by a failover answers PING too).
  const stallWatch = new RedisStallWatch(redis, config.REDIS_COMMAND_TIMEOUT_MS, Date.now, (r) => writeProbeAll(r, keys.allShards.map((s) => s.readinessProbe)));
  stallWatch.start();

  let accepting = true;
  const readiness = async () => {
    const redisOk = await Promise.race([
      stallWatch.check(),
      new Promise<boolean>((resolve) => setTimeout(resolve, READINESS_PING_TIMEOUT_MS, false).unref()),
    ]);
    return { algorithm: registry.names().length > 0, redis: redisOk, accepting };
  };

  const scrapeGauges = createScrapeGauges();
  const metricsText = async () => {
    const contentType = metrics.registry.contentType;
    try {
      const deployment = await aggregateDeploymentMetrics(redis, keys, metrics.registry, publisher.processId);
      // Queue depth by state; BullMQ's completed/failed counters need its per-minute metrics, which we do not keep.
      // The default pool's queue of every shard (QUEUE_SHARDS): same-named series are summed.
      const texts = await Promise.all([...jobQueues.shardsOf().map((q) => q.exportPrometheusMetrics()), webhooksQueue.exportPrometheusMetrics()]);
      const depth = sumSameSeries(mergeExpositions(texts, (name) => name === 'bullmq_job_count'));
      scrapeGauges.set((await workerRegistry.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 })).items);
      return { contentType, body: `${deployment}\n${depth}\n${await scrapeGauges.registry.metrics()}${await processRegistry.metrics()}` };
    } catch (err) {
      logger.warn('deployment metrics unavailable; serving this process only', { error: String(err) });
      scrapeGauges.set(undefined);
      return { contentType, body: (await metrics.registry.metrics()) + (await scrapeGauges.registry.metrics()) + (await processRegistry.metrics()) };
    }
  };

  // Limits: backpressure on the queue, per-caller rate limit on the request connection.
  // One guard per pool's queue: each pool fills up on its own.
  const guards = new Map<string, QueueDepthGuard>();
  const admission = (pool: string) => {
    let guard = guards.get(pool);
    if (!guard) guards.set(pool, (guard = new QueueDepthGuard(jobQueues.shardsOf(pool), config.MAX_QUEUE_DEPTH)));
    return guard;
  };
  const rateLimiter = await createRateLimiter({ redis, keyPrefix: keys.rateLimit, perSecond: config.RATE_LIMIT_PER_SECOND, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS });
  const jobs = new JobService({
    registry,
    store,
    queues: jobQueues,
    webhooks,
    redis,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    keys,
    limits: { timeoutMaxMs: config.JOB_TIMEOUT_MAX_MS, delayMaxMs: jobDelayMaxMs(config), maxRetries: config.JOB_MAX_RETRIES },
    waiter,
    metrics,
    invokeTimeoutMs: config.INVOKE_TIMEOUT_MS,
    ttlSeconds: config.RESULT_TTL_SECONDS,
    queued,
    replicaAcks,
    admission,
    allowPrivateWebhooks: config.WEBHOOK_ALLOW_PRIVATE,
    commands: { allowlist: config.COMMAND_ALLOWLIST, maxOutputBytes: config.JOB_LOGS_MAX_BYTES },
    dependencies: new JobDependencies({ store, queue: (pool, jobId) => jobQueues.forJob(pool, jobId), webhooks, logger }),
  });
  // Functions API (the function API reference): invocations are ordinary jobs on the same queues and records.
  const functions = new FunctionService({
    functions: functionStore,
    jobs,
    jobStore: store,
    queues: jobQueues,
    waiter,
    redis,
    keys,
    metrics,
    limits: {
      codeMaxBytes: config.FUNCTION_CODE_MAX_BYTES,
      timeoutDefaultMs: config.FUNCTION_TIMEOUT_MS,
      timeoutMaxMs: config.JOB_TIMEOUT_MAX_MS,
      memoryDefaultMb: config.FUNCTION_MEMORY_MB,
      memoryMaxMb: config.FUNCTION_MEMORY_MAX_MB,
      outputDefaultBytes: config.FUNCTION_MAX_OUTPUT_BYTES,
      delayMaxMs: jobDelayMaxMs(config),
      maxRetries: config.JOB_MAX_RETRIES,
    },
    invokeTimeoutMs: config.INVOKE_TIMEOUT_MS,
    ttlSeconds: config.RESULT_TTL_SECONDS,
    queued,
    replicaAcks,
    allowPrivateWebhooks: config.WEBHOOK_ALLOW_PRIVATE,
    admission,
    // A new version with dependencies is built by a worker.
    onBuildNeeded: (fn) => enqueueBuild(buildsQueue, fn.function_id, fn.version),
    localPackagesDir: config.FUNCTION_LOCAL_PACKAGES_DIR,
    // A stopped project's functions refuse invocations: 409 CONFLICT naming the project.
    beforeInvoke: async (fn) => {
      if (!(await projects.isRunning(fn.project))) throw projectStoppedError(fn.project, fn.function_id);
    },
  });
  const schedules = new ScheduleService({ redis, keys, queues: jobQueues, jobs, runs: jobs, ttlSeconds: config.RESULT_TTL_SECONDS, logger, functions: functionStore, maxSchedules: config.MAX_SCHEDULES });
  // The hetuflow-compatible scheduler API (docs/compat-hetuflow.md): adapters over the same stores; its
  // schedules are native schedules whose target is the definition's command.
  const definitions = new JobDefinitionStore(redis, keys);
  const hetuflow = new HetuflowService({
    definitions,
    workers: workerRegistry,
    jobStore: store,
    logs: new JobLogStore(redis, keys, config.RESULT_TTL_SECONDS),
    runCounters: new RunCounterStore(redis, keys),
    redis,
    version: VERSION,
    startedAtMs: Date.now(),
    maxDefinitions: config.MAX_JOB_DEFINITIONS,
    maxRetries: config.JOB_MAX_RETRIES,
    submit: (sub) => jobs.submit(sub),
    schedules,
  });
  const hetuflowSchedules = new HetuflowScheduleService({
    schedules,
    definitions,
    hetuflow,
    runOf: (def) => {
      const { command, options } = definitionRun(def);
      return { target: { command }, options };
    },
  });
  const app = createApp({
    jobs,
    hetuflow,
    waiter,
    registry,
    metrics,
    logger,
    readiness,
    metricsText,
    bodyLimit: config.BODY_LIMIT,
    rateLimiter,
    // Authentication: API keys live in Redis beside the queues; JWTs need no state.
    auth: {
      enabled: config.AUTH_ENABLED,
      apiKeys: new ApiKeyStore(redis, keys),
      jwt: new JwtVerifier({ secret: config.JWT_SECRET, jwksUrl: config.JWT_JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
      metricsToken: config.METRICS_TOKEN,
    },
    invokeTimeoutMs: config.INVOKE_TIMEOUT_MS,
    version: VERSION,
    redisStall: stallWatch,
    // Workers registry: read from the request connection, so Redis down answers 503.
    workers: workerRegistry,
    // Schedules: records on the request connection, BullMQ job schedulers on every pool's queue.
    schedules,
    hetuflowSchedules,
    // Status and dashboard: every pool's jobs queue and the webhooks queue, read when asked.
    status: { jobQueues, otherQueues: [webhooksQueue], redis, projects },
    dashboard: lazyDashboard({ jobQueues, otherQueues: [webhooksQueue], logger }),
    // Projects (the project FaaS API reference); the multipart deploy creates functions as POST /functions does.
    projects,
    createFunction: (body) => functions.create(body),
    functions,
  });

  // Node's own check of the Host header off: requiringHost answers it in the error shape.
  const server: Server = nodeHttp.createServer({ requireHostHeader: false }, requiringHost(app));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', onClientError);
  server.on('connect', onConnect);
  server.on('checkExpectation', onCheckExpectation);
  // Responses not yet sent when draining starts, and requests arriving on kept-alive connections
  // while draining, go out with `Connection: close`: Node closes only the connections idle at
  // server.close(), so a kept-alive one would otherwise hold the drain until the grace period.
  const inFlight = new Set<ServerResponse>();
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (!accepting) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info(config.AUTH_ENABLED ? 'authentication on' : 'authentication off: every route is open (AUTH_ENABLED=false)', {
    // Field names avoid the logger's secret-looking words (key, token), which it would mask.
    keys_accepted: config.AUTH_ENABLED,
    jwt_hs256: config.AUTH_ENABLED && config.JWT_SECRET !== undefined,
    jwt_jwks: config.AUTH_ENABLED && config.JWT_JWKS_URL !== undefined,
    metrics_gated: config.METRICS_TOKEN !== undefined,
  });
  logger.info('api listening', { port, host: config.HOST, algorithms: registry.names(), version: VERSION });

  let closing: Promise<void> | undefined;
  return {
    port,
    markUnready() {
      if (!accepting) return;
      accepting = false;
      logger.info('api not ready', { shutdown_delay_ms: config.SHUTDOWN_DELAY_MS });
    },
    close(graceMs = config.SHUTDOWN_GRACE_MS) {
      closing ??= (async () => {
        accepting = false;
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        waiter.stopWatchers();
        logger.info('api draining', { grace_ms: graceMs });
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => {
          logger.warn('grace period over; closing remaining connections');
          server.closeAllConnections();
        }, graceMs);
        await drained;
        clearTimeout(timer);
        waiter.close();
        clearInterval(queueSweep);
        stallWatch.stop();
        await publisher.stop();
        await Promise.allSettled([webhooksQueue.close(), jobQueues.close(), buildsQueue.close()]);
        await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
        logger.info('api stopped');
      })();
      return closing;
    },
  };
}
