/**
 * Every process the bench starts is managed here and stopped on success, error and Ctrl-C: services
 * first (they drain), then redis-server (scripts/lib/redis-server.ts), then its temp dir is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { sleep } from './measure.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A process the bench started. */
export interface Managed {
  name: string;
  proc: ChildProcess;
  /** Last lines of its output, for errors. */
  tail: string[];
  warnings: number;
  exited: Promise<void>;
}

/** Neither exited nor killed by a signal. */
export const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once it exited. */
export async function stopProc(m: Managed, timeoutMs: number): Promise<void> {
  if (!alive(m.proc)) return;
  m.proc.kill('SIGTERM');
  const timer = setTimeout(() => alive(m.proc) && m.proc.kill('SIGKILL'), timeoutMs);
  await m.exited;
  clearTimeout(timer);
}

/** The bench's processes and its redis-server. */
export class ProcessGroup {
  private readonly managed: Managed[] = [];
  private redis?: RedisServer;
  private cleaning?: Promise<void>;

  /** @param verbose echo the processes' output lines on stderr */
  constructor(private readonly verbose: boolean) {
    // Last resort (e.g. an uncaught error between awaits): nothing outlives the bench.
    process.on('exit', () => {
      for (const m of this.managed) if (alive(m.proc)) m.proc.kill('SIGKILL');
      if (this.redis && alive(this.redis.child)) this.redis.child.kill('SIGKILL');
    });
  }

  /** Tracks `proc` (its output kept for errors) until {@link cleanup}. */
  manage(name: string, proc: ChildProcess): Managed {
    const m: Managed = {
      name,
      proc,
      tail: [],
      warnings: 0,
      exited: new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else proc.once('exit', () => resolve());
      }),
    };
    const read = (stream: NodeJS.ReadableStream | null) => {
      if (!stream) return;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        m.tail.push(line);
        if (m.tail.length > 20) m.tail.shift();
        if (/"level":"(warn|error)"/.test(line) || /\bWarning\b|Error/.test(line)) m.warnings++;
        if (this.verbose) process.stderr.write(`[${name}] ${line}\n`);
      });
    };
    read(proc.stdout);
    read(proc.stderr);
    this.managed.push(m);
    return m;
  }

  /** `node --import tsx [extraNodeArgs] entry [args]` in the repository root with exactly `env`. */
  node(name: string, entry: string, env: NodeJS.ProcessEnv, opts: { nodeArgs?: string[]; args?: string[]; ipc?: boolean } = {}): Managed {
    const proc = spawn(process.execPath, ['--import', 'tsx', ...(opts.nodeArgs ?? []), entry, ...(opts.args ?? [])], {
      cwd: ROOT,
      env,
      stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    return this.manage(name, proc);
  }

  /** Starts the bench's redis-server: a free port, no persistence, a temp dir, its own process group. */
  async startRedis(): Promise<{ url: string; port: number; pid: number }> {
    // Own process group: a terminal's Ctrl-C reaches the services (they drain) but Redis stays until they are gone.
    this.redis = await startRedisServer({
      tempPrefix: 'fnqueue-bench-redis-',
      detached: true,
      onOutput: this.verbose ? (line) => process.stderr.write(`[redis-server] ${line}\n`) : undefined,
    });
    return { url: this.redis.url, port: this.redis.port, pid: this.redis.child.pid! };
  }

  /** Stops everything (services, then redis-server) and removes the temp dir; idempotent. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await Promise.all(this.managed.map((m) => stopProc(m, 12_000)));
      if (this.redis) {
        await Promise.race([this.redis.stop(), sleep(5_000)]);
        await this.redis.destroy();
      }
    })();
    return this.cleaning;
  }
}
