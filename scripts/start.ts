/**
 * `npm start`: the whole local stack in the foreground.
 * - no Redis configured (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES unset): starts its own
 *   `redis-server` on a free port with AOF in DATA_DIR (./.data); a configured one is used as it is;
 * - the API on PORT (8000) and WORKERS (2) worker processes, each worker on WORKER_PORT + i;
 * - a worker or API that dies unexpectedly is restarted after a second;
 * - WEBHOOK_ALLOW_PRIVATE defaults to true (receivers on localhost), and says so;
 * - Ctrl-C / SIGTERM stops the API and workers (they drain), then Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, redisTopology, type Config } from '../shared/config.js';
import { describeTopology, redactUrl } from '../shared/queue/redis.js';
import { createLogger } from '../shared/logger.js';
import { RedisServerNotFoundError, startRedisServer, type RedisServer } from './lib/redis-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REDIS_MISSING = `redis-server was not found on PATH, and REDIS_URL is not set.
Fix one of:
  - install Redis:     sudo apt-get install -y redis-server   (macOS: brew install redis)
  - use a Redis you run: REDIS_URL=redis://host:6379 npm start
  - run everything in containers: docker compose up`;

/**
 * The local stack's defaults for its children, under what the environment sets: a laptop's stack
 * listens on loopback only (containers set HOST=0.0.0.0), and local webhook receivers live on
 * localhost, which the SSRF guard refuses (compose and any other deployment keep its default, false);
 * no load balancer routes to a laptop's API, so it stops at once on Ctrl-C (SHUTDOWN_DELAY_MS 0).
 * See docs/configuration.md.
 */
const LOCAL_DEFAULTS = { HOST: '127.0.0.1', WEBHOOK_ALLOW_PRIVATE: 'true', SHUTDOWN_DELAY_MS: '0' } as const;

/** The environment, read once here and handed to the config and to the children. */
const ENV: NodeJS.ProcessEnv = process.env;

let config: Config;
try {
  config = loadConfig(ENV);
} catch (err) {
  process.stderr.write(`${(err as ConfigError).message}\n`);
  process.exit(2);
}
const logger = createLogger('start', config.LOG_LEVEL);

interface Managed {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  proc?: ChildProcess;
}

let stopping = false;
const managed: Managed[] = [];

function launch(m: Managed): void {
  const proc = spawn(process.execPath, [...process.execArgv, path.join(ROOT, m.entry)], { env: m.env, stdio: 'inherit' });
  m.proc = proc;
  proc.on('exit', (code, signal) => {
    if (stopping) return;
    logger.warn('process exited; restarting in 1 s', { process: m.name, exit_code: code, signal });
    setTimeout(() => {
      if (!stopping) launch(m);
    }, 1000);
  });
}

function waitExit(proc: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** REDIS_MAXMEMORY_MB, default a quarter of the machine's RAM and at least 256 MiB (docs/configuration.md). */
function redisMaxmemoryMb(cfg: Config): number {
  return cfg.REDIS_MAXMEMORY_MB ?? Math.max(256, Math.floor(totalmem() / 4 / 1024 / 1024));
}

/** Starts redis-server with AOF in DATA_DIR (scripts/lib/redis-server.ts), its output in this log. */
async function startRedis(): Promise<RedisServer> {
  const server = await startRedisServer({
    dir: config.DATA_DIR,
    appendonly: true,
    maxmemoryMb: redisMaxmemoryMb(config),
    // Its own process group: a terminal's Ctrl-C reaches the api and workers, which drain before Redis stops.
    detached: true,
    onOutput: (line, stream) => (stream === 'stdout' ? logger.debug(line, { source: 'redis-server' }) : logger.warn(line, { source: 'redis-server' })),
  });
  logger.info('redis-server started', { url: server.url, data_dir: server.dir, pid: server.child.pid, maxmemory_mb: redisMaxmemoryMb(config) });
  return server;
}

async function main(): Promise<void> {
  let redis: { url?: string; server?: RedisServer };
  if (config.REDIS_URL || config.REDIS_SENTINELS || config.REDIS_CLUSTER_NODES) {
    // The children read the same variables: the topology passes through unchanged.
    redis = config.REDIS_URL ? { url: config.REDIS_URL } : {};
  } else {
    try {
      const server = await startRedis();
      redis = { url: server.url, server };
    } catch (err) {
      process.stderr.write(`${err instanceof RedisServerNotFoundError ? REDIS_MISSING : (err as Error).message}\n`);
      process.exit(1);
    }
  }

  const baseEnv: NodeJS.ProcessEnv = { ...ENV, ...(redis.url ? { REDIS_URL: redis.url } : {}) };
  const defaulted = Object.entries(LOCAL_DEFAULTS).filter(([name]) => !baseEnv[name]);
  for (const [name, value] of defaulted) baseEnv[name] = value;
  if (defaulted.some(([name]) => name === 'WEBHOOK_ALLOW_PRIVATE')) {
    logger.info('WEBHOOK_ALLOW_PRIVATE=true for local use: webhooks may reach localhost and private addresses (set WEBHOOK_ALLOW_PRIVATE=false to refuse them)');
  }
  managed.push({ name: 'api', entry: 'api/main.ts', env: baseEnv });
  for (let i = 0; i < config.WORKERS; i++) {
    const workerPort = config.WORKER_PORT === 0 ? 0 : config.WORKER_PORT + i;
    managed.push({ name: `worker-${i + 1}`, entry: 'worker/main.ts', env: { ...baseEnv, WORKER_PORT: String(workerPort) } });
  }
  managed.forEach(launch);
  logger.info('fnqueue is starting', { api: `http://127.0.0.1:${config.PORT}`, docs: `http://127.0.0.1:${config.PORT}/docs`, workers: config.WORKERS, redis: redis.url ? redactUrl(redis.url) : describeTopology(redisTopology(config)) });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    for (const m of managed) m.proc?.kill('SIGTERM');
    await Promise.all(managed.map((m) => waitExit(m.proc, (ENV.SHUTDOWN_DELAY_MS ? config.SHUTDOWN_DELAY_MS : 0) + config.SHUTDOWN_GRACE_MS + 5000)));
    if (redis.server) {
      const proc = redis.server.child;
      proc.kill('SIGTERM');
      await waitExit(proc, 10_000);
    }
    logger.info('stopped');
    process.exit(0);
  };
  // `on`: a second Ctrl-C must not kill this supervisor while its children drain (stop is idempotent).
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  redis.server?.child.on('exit', (code) => {
    if (!stopping) {
      logger.error('redis-server exited; stopping', { exit_code: code });
      void stop('redis-exit');
    }
  });
}

void main();
