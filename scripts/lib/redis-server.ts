/**
 * The one redis-server launcher: `npm start` (scripts/start.ts), the benchmarks (scripts/bench/) and
 * the tests (test/helpers/redis-server.ts) all start their Redis here. It listens on 127.0.0.1 on a
 * free port (never 6379, the machine's own Redis), answers PING before the promise resolves, and is
 * stopped and its temp dir removed by {@link RedisServer.destroy}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { freePort } from '../../shared/net/free-port.js';

/** How long a new redis-server has to answer PING. */
export const REDIS_START_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 50;
/** The port of the machine's own Redis, which nothing here may use. */
const MACHINE_REDIS_PORT = 6379;

/** redis-server is not on PATH (the spawn failed with ENOENT). `code` is `REDIS_SERVER_NOT_FOUND`. */
export class RedisServerNotFoundError extends Error {
  readonly code = 'REDIS_SERVER_NOT_FOUND';
  constructor(options?: ErrorOptions) {
    super('redis-server was not found on PATH', options);
    this.name = 'RedisServerNotFoundError';
  }
}

/** How to start the server. */
export interface RedisServerOptions {
  /**
   * Its `--dir` (AOF and dump files). Created when missing and kept by {@link RedisServer.destroy}.
   * Default: a new temp dir (`<tmpdir>/<tempPrefix>XXXXXX`), removed by {@link RedisServer.destroy}.
   */
  dir?: string;
  /** Prefix of the temp dir's name when `dir` is not given. Default `fnqueue-redis-`. */
  tempPrefix?: string;
  /** AOF persistence, fsynced every second. Default false (no persistence at all). */
  appendonly?: boolean;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches the services (which drain) while Redis
   * stays up until they are gone; the caller must then stop it. Default false.
   */
  detached?: boolean;
  /**
   * Its `maxmemory`, MiB: past it writes are refused with an OOM error (`noeviction`: nothing
   * accepted is evicted) and the API answers 503 (docs/operations.md). Default: no maxmemory.
   */
  maxmemoryMb?: number;
  /** Each line redis-server writes (stdout and stderr). Default: its output is discarded. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * The address it binds to and is reached at (a network namespace's, in tests), with protected mode
   * off when it is not 127.0.0.1 (the server has no password). Default 127.0.0.1.
   */
  host?: string;
  /** A command that runs redis-server, e.g. `['ip', 'netns', 'exec', 'ns1']`. Default: none, it is spawned directly. */
  wrap?: string[];
}

/** A running redis-server started by {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Its data dir. */
  readonly dir: string;
  /** The current redis-server process (a new one after {@link RedisServer.start}). */
  readonly child: ChildProcess;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`) and waits for its exit; data stays in `dir`. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and dir; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL) and removes its dir when that was a temp dir. */
  destroy(): Promise<void>;
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/**
 * Starts redis-server on a free port of 127.0.0.1 (or `opts.host`) with `--save ''` and `noeviction` (and `maxmemory` when given); resolves once it
 * answers PING. Its `--dir` (opts.dir, or a fresh temp dir) is mode 0700: readable by the service's
 * user only, never by `nobody`, the user function code runs as.
 * @throws RedisServerNotFoundError when redis-server is not on PATH; Error when it exits or does not
 *   answer within {@link REDIS_START_TIMEOUT_MS} (its last output lines in the message).
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  if (port === MACHINE_REDIS_PORT) throw new Error(`refusing port ${MACHINE_REDIS_PORT} (the machine's own Redis)`);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ? path.resolve(opts.dir) : mkdtempSync(path.join(tmpdir(), opts.tempPrefix ?? 'fnqueue-redis-'));
  if (!ownDir) {
    // The AOF holds every function's env (secrets): Redis writes it 0644, so its folder is the
    // service's alone, made 0700 and an existing one chmodded (docs/functions.md, "The function sandbox").
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  const host = opts.host ?? '127.0.0.1';
  const url = `redis://${host}:${port}`;
  const args = ['--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction'];
  // Protected mode refuses other hosts of a Redis without a password: a non-loopback `host` is a test's own private address.
  if (host !== '127.0.0.1') args.push('--protected-mode', 'no');
  if (opts.maxmemoryMb !== undefined) args.push('--maxmemory', `${opts.maxmemoryMb}mb`);
  args.push(...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']));
  let child!: ChildProcess;
  const tail: string[] = [];

  const start = async () => {
    const [command, ...prefix] = [...(opts.wrap ?? []), 'redis-server'];
    const proc = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new RedisServerNotFoundError({ cause: err }) : err));
    });
    for (const [stream, name] of [[proc.stdout, 'stdout'], [proc.stderr, 'stderr']] as const) {
      createInterface({ input: stream!, crlfDelay: Infinity }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onOutput?.(line, name);
      });
    }
    await waitForPing(url, proc, tail);
  };
  const stop = async (hard = false) => {
    const p = child;
    if (!alive(p)) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  try {
    await start();
  } catch (err) {
    if (child && alive(child)) child.kill('SIGKILL');
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    dir,
    get child() {
      return child;
    },
    stop,
    start,
    destroy: async () => {
      await stop(true);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(url: string, proc: ChildProcess, tail: string[]): Promise<void> {
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(proc)) throw new Error(`redis-server exited with code ${proc.exitCode}: ${tail.join('\n')}`);
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, PING_INTERVAL_MS));
    } finally {
      client.disconnect();
    }
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server at ${url} did not answer within ${REDIS_START_TIMEOUT_MS / 1000} s: ${tail.join('\n')}`);
}
