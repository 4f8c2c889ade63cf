/**
 * Phase B's setup: the real API (api/main.ts) and BENCH_WORKERS worker processes (worker/main.ts),
 * compiled as the image runs them (`node dist/api/main.js`; processes.ts), on the bench's redis-server, with a fresh QUEUE_PREFIX, warmed up; and the measuring of one
 * autocannon load against them (CPU per role, profile window).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { freePort } from '../../shared/net/free-port.js';
import { keysFor } from '../../shared/store/keys.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import type { BenchContext } from './context.js';
import { childrenOf, type Roles } from './cpu.js';
import { log, sleep } from './measure.js';
import { stopProc, type Managed } from './processes.js';
import { profileArgs } from './profile.js';
import { finishedSince, measuredLoad, waitOk, type ServiceStack } from './stack.js';

/** Node flags of fnqueue's API and workers, as the image's NODE_OPTIONS sets them (Dockerfile). */
export const SERVICE_NODE_ARGS = ['--max-semi-space-size=8', '--max-old-space-size=1024'];
/**
 * The flags a worker's command adds (compose.yaml, deploy/kubernetes/base/worker-deployment.yaml), over
 * NODE_OPTIONS: a young generation of 2 × 32 MB. With the API's 2 × 8 MB, scavenges took 7 to 13 % of a
 * worker's CPU (about 2 to 5 % with this), and a worker's peak RSS stays well under its bound (bounds.ts RSS_BOUNDS_MB).
 */
export const WORKER_NODE_ARGS = ['--max-semi-space-size=32'];
/** The environment the image sets for the API and workers besides their configuration (Dockerfile ENV). */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** A running fnqueue (API + workers) under load from the bench. */
export interface FnqueueStack extends ServiceStack {
  queuePrefix: string;
}

/** Where {@link startFnqueue} points the services: by default the bench's redis-server. */
export interface StackTarget {
  /** The Redis variables instead of REDIS_URL (e.g. REDIS_CLUSTER_NODES), plus any other setting (QUEUE_SHARDS). */
  env?: NodeJS.ProcessEnv;
  /** The pids of the redis-server processes, for the `redis` CPU role. */
  redisPids?: number[];
  /** The service's column in the peak memory table; default `fnqueue`, or `fnqueue (sharded)` with `redisPids`. */
  rssLabel?: string;
  /** false: no CPU profile of these processes even with BENCH_PROFILE (their windows are not the phases'). */
  profile?: boolean;
}

/** How long the API and each worker have to answer 200 on their probes. */
const READY_LIMIT_MS = 40_000;

/**
 * Starts the API and the workers and waits until the API's /readyz and each worker's /healthz
 * answer 200, then 20 warm-up /invoke calls each of PrimeChecker and Echo succeed.
 * @throws Error when a process exits or is not ready within 40 s, or a warm-up call fails.
 */
export async function startFnqueue(ctx: BenchContext, on: StackTarget = {}): Promise<FnqueueStack> {
  const cfg = ctx.opts;
  const queuePrefix = `bench${Date.now().toString(36)}`;
  const port = await freePort();
  const base: NodeJS.ProcessEnv = {
    ...cfg.childEnv,
    ...SERVICE_ENV,
    ...(on.env ?? { REDIS_URL: ctx.redis.url }),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DIAGNOSTIC_ALGORITHMS: 'true',
    QUEUE_PREFIX: queuePrefix,
    WORKER_CONCURRENCY: String(cfg.concurrency),
    SHUTDOWN_GRACE_MS: '5000',
    SHUTDOWN_DELAY_MS: '0',
    // The rate limit and the queue-depth guard off (docs/configuration.md): the bench measures
    // throughput, not their refusals.
    RATE_LIMIT_PER_SECOND: '0',
    MAX_QUEUE_DEPTH: '0',
  };
  // As the image runs them (Dockerfile NODE_OPTIONS: a young generation of 2 × 8 MB, not Node 24's 2 × 64 MB,
  // a worker's command 2 × 32 MB (WORKER_NODE_ARGS);
  // an old generation V8 grows to at most about 2.5× its live size between mark-compacts, not 4×).
  const nodeArgs = (role: 'api' | 'worker', who: string) => [...SERVICE_NODE_ARGS, ...(role === 'worker' ? WORKER_NODE_ARGS : []), ...(ctx.profileDir && cfg.profile.has(role) && on.profile !== false ? profileArgs(ctx.profileDir, who) : [])];
  log(`fnqueue: starting the API and ${cfg.workers} workers (WORKER_CONCURRENCY=${cfg.concurrency}, QUEUE_PREFIX=${queuePrefix}${base.QUEUE_SHARDS ? `, QUEUE_SHARDS=${base.QUEUE_SHARDS}` : ''})`);
  const api = ctx.procs.node('api', 'api/main.ts', { ...base, PORT: String(port) }, { nodeArgs: nodeArgs('api', 'api') });
  const workerPorts: number[] = [];
  const workers: Managed[] = [];
  for (let i = 0; i < cfg.workers; i++) {
    const wp = await freePort();
    workerPorts.push(wp);
    const who = `worker-${i + 1}`;
    workers.push(ctx.procs.node(who, 'worker/main.ts', { ...base, WORKER_PORT: String(wp) }, { nodeArgs: nodeArgs('worker', who) }));
  }
  const baseUrl = `http://127.0.0.1:${port}`;

  await waitOk(`${baseUrl}/readyz`, api, READY_LIMIT_MS);
  await Promise.all(workers.map((w, i) => waitOk(`http://127.0.0.1:${workerPorts[i]}/healthz`, w, READY_LIMIT_MS)));
  for (const body of [{ number: 17 }, { algorithm: 'Echo', params: {} }]) {
    // A 503 while the first calls load the scripts on a loaded machine (past REDIS_COMMAND_TIMEOUT_MS) is retried, a few times.
    for (let i = 0, retries = 0; i < 20; i++) {
      const r = await fetch(`${baseUrl}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await r.text();
      if (r.status === 503 && retries++ < 60) {
        await sleep(500);
        continue;
      }
      if (r.status !== 200) throw new Error(`warm-up /invoke ${JSON.stringify(body)} → ${r.status} ${text}`);
    }
  }
  log('fnqueue: ready');

  const roles = (): Roles => {
    const workerPids = workers.map((w) => w.proc.pid!);
    return {
      bench: [process.pid],
      api: [api.proc.pid!],
      workers: workerPids,
      runners: childrenOf(new Set(workerPids)),
      redis: on.redisPids ?? [ctx.redis.pid],
    };
  };

  const measured = measuredLoad(ctx, 'fnqueue', roles);
  const stopRss = ctx.rss.watch(on.rssLabel ?? (on.redisPids ? 'fnqueue (sharded)' : 'fnqueue'), roles);

  const stop = async () => {
    stopRss();
    log('fnqueue: stopping the API and workers');
    await Promise.all([api, ...workers].map((m) => stopProc(m, 12_000)));
    const noisy = [api, ...workers].filter((m) => m.warnings > 0);
    for (const m of noisy) log(`${m.name} logged ${m.warnings} warn/error lines; last: ${m.tail.slice(-3).join(' | ')}`);
  };

  // Finished jobs, from the sizes of the completed and failed status indexes of each shard (one
  // pipeline of ZCARDs per look, not a command per job). No job event: only watched jobs publish one.
  const watchFinished = async () => {
    const conn = new Redis(ctx.redis.url);
    conn.on('error', () => undefined);
    const shards = keysFor(queuePrefix, Number(base.QUEUE_SHARDS ?? 1)).allShards;
    const read = async () => {
      const pipeline = conn.pipeline();
      for (const shard of shards) pipeline.zcard(shard.jobIndex('status:completed')).zcard(shard.jobIndex('status:failed'));
      const sizes = ((await pipeline.exec()) ?? []).map(([err, n]) => (err ? 0 : Number(n)));
      const out = { completed: 0, failed: 0 };
      sizes.forEach((n, i) => (i % 2 === 0 ? (out.completed += n) : (out.failed += n)));
      return out;
    };
    return finishedSince(read, async () => conn.disconnect());
  };

  // BullMQ's pause of the default pool's queue: the workers take no job until it is resumed (on the
  // bench's own redis-server; the sharded phase does not pause).
  const pauseWorkers = async () => {
    const queue = new Queue(jobsQueueName(), { connection: { host: '127.0.0.1', port: ctx.redis.port }, prefix: keysFor(queuePrefix).shard(0).bullPrefix });
    await queue.pause();
    return async () => {
      await queue.resume();
      await queue.close();
    };
  };

  return { name: 'fnqueue', baseUrl, queuePrefix, roles, measured, pauseWorkers: on.env ? undefined : pauseWorkers, watchFinished, stop };
}
