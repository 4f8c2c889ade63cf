/**
 * `npm start`: the whole local stack in the foreground.
 * - REDIS_URL unset: starts its own `redis-server` on a free port with AOF in DATA_DIR (./.data);
 * - the API on PORT (8000) and WORKERS (2) worker processes, each worker on WORKER_PORT + i;
 * - a worker or API that dies unexpectedly is restarted after a second;
 * - WEBHOOK_ALLOW_PRIVATE defaults to true (receivers on localhost), and says so;
 * - Ctrl-C / SIGTERM stops the API and workers (they drain), then Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { freePort } from '../shared/net/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REDIS_MISSING = `redis-server was not found on PATH, and REDIS_URL is not set.
Fix one of:
  - install Redis:     sudo apt-get install -y redis-server   (macOS: brew install redis)
  - use a Redis you run: REDIS_URL=redis://host:6379 npm start
  - run everything in containers: docker compose up`;

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`${(err as ConfigError).message}\n`);
  process.exit(2);
}
const logger = createLogger('start', config.LOG_LEVEL);


/** Starts redis-server with AOF in DATA_DIR; resolves with its URL once it answers PING. */
async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const dir = path.resolve(config.DATA_DIR);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'];
  // Its own process group: a terminal's Ctrl-C reaches the api and workers, which drain before Redis stops.
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  await new Promise<void>((resolve, reject) => {
    proc.once('spawn', () => resolve());
    proc.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(REDIS_MISSING) : err));
  });
  proc.stdout?.on('data', (d: Buffer) => logger.debug(d.toString().trim(), { source: 'redis-server' }));
  proc.stderr?.on('data', (d: Buffer) => logger.warn(d.toString().trim(), { source: 'redis-server' }));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      logger.info('redis-server started', { url, data_dir: dir, pid: proc.pid });
      return { url, proc };
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('redis-server did not answer within 10 s');
}

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

async function main(): Promise<void> {
  let redis: { url: string; proc?: ChildProcess };
  if (config.REDIS_URL) {
    redis = { url: config.REDIS_URL };
  } else {
    try {
      redis = await startRedis();
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    }
  }

  // A laptop's stack listens on loopback only unless HOST says otherwise (containers set HOST=0.0.0.0).
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redis.url, HOST: process.env.HOST || '127.0.0.1' };
  // Local receivers live on localhost, which the SSRF guard refuses: off for a laptop's stack unless set
  // (compose and any other deployment keep the default, false).
  if (!process.env.WEBHOOK_ALLOW_PRIVATE) {
    baseEnv.WEBHOOK_ALLOW_PRIVATE = 'true';
    logger.info('WEBHOOK_ALLOW_PRIVATE=true for local use: webhooks may reach localhost and private addresses (set WEBHOOK_ALLOW_PRIVATE=false to refuse them)');
  }
  managed.push({ name: 'api', entry: 'api/main.ts', env: baseEnv });
  for (let i = 0; i < config.WORKERS; i++) {
    const workerPort = config.WORKER_PORT === 0 ? 0 : config.WORKER_PORT + i;
    managed.push({ name: `worker-${i + 1}`, entry: 'worker/main.ts', env: { ...baseEnv, WORKER_PORT: String(workerPort) } });
  }
  managed.forEach(launch);
  logger.info('fnqueue is starting', { api: `http://127.0.0.1:${config.PORT}`, docs: `http://127.0.0.1:${config.PORT}/docs`, workers: config.WORKERS, redis: redis.url });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    for (const m of managed) m.proc?.kill('SIGTERM');
    await Promise.all(managed.map((m) => waitExit(m.proc, config.SHUTDOWN_GRACE_MS + 5000)));
    if (redis.proc) {
      redis.proc.kill('SIGTERM');
      await waitExit(redis.proc, 10_000);
    }
    logger.info('stopped');
    process.exit(0);
  };
  // `on`: a second Ctrl-C must not kill this supervisor while its children drain (stop is idempotent).
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  redis.proc?.on('exit', (code) => {
    if (!stopping) {
      logger.error('redis-server exited; stopping', { exit_code: code });
      void stop('redis-exit');
    }
  });
}

void main();
