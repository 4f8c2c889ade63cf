/**
 * Every process the bench starts is managed here and stopped on success, error and Ctrl-C: services
 * first (they drain), then redis-server (scripts/lib/redis-server.ts), then its temp dir is removed.
 * The services run compiled, as the image runs fnqueue: {@link ProcessGroup.build} compiles once
 * (scripts/build.ts with tsconfig.bench.json) and {@link ProcessGroup.node} starts the JavaScript.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { log, sleep } from './measure.js';

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
  /** The compiled build the services run from ({@link build}). */
  private buildDir?: string;

  /** @param verbose echo the processes' output lines on stderr */
  constructor(private readonly verbose: boolean) {
    // Last resort (e.g. an uncaught error between awaits): nothing outlives the bench.
    process.on('exit', () => {
      for (const m of this.managed) if (alive(m.proc)) m.proc.kill('SIGKILL');
      if (this.redis && alive(this.redis.child)) this.redis.child.kill('SIGKILL');
      if (this.buildDir) rmSync(this.buildDir, { recursive: true, force: true });
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

  /**
   * Compiles fnqueue and the bench's baseline services once, into `dist/.bench-<pid>` (ignored by
   * git, removed by {@link cleanup}): `scripts/build.ts --project tsconfig.bench.json`, the
   * production build (`npm run build`, tsconfig.build.json, its runtime files copied) plus the
   * hand-written service, the floor servers and the plain BullMQ worker, with the same tsc settings.
   * Inside the repository, so the compiled modules resolve node_modules as the image's dist/ does.
   * @throws Error when the build fails (its output in the message).
   */
  async build(): Promise<void> {
    const dir = path.join(ROOT, 'dist', `.bench-${process.pid}`);
    const t0 = performance.now();
    log(`building fnqueue and the baseline services (scripts/build.ts, tsconfig.bench.json) into ${path.relative(ROOT, dir)}`);
    this.buildDir = dir;
    const m = this.manage('build', spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out-dir', dir, '--project', 'tsconfig.bench.json'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] }));
    await m.exited;
    if (m.proc.exitCode !== 0) throw new Error(`the build failed (exit ${m.proc.exitCode ?? m.proc.signalCode}):\n${m.tail.join('\n')}`);
    log(`built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }

  /**
   * Starts the compiled `source` (a repository-relative .ts path, e.g. `api/main.ts`) from the
   * {@link build}: `node [nodeArgs] dist/.bench-<pid>/<source>.js [args]` in the repository root
   * with exactly `env`, no tsx.
   * @throws Error when {@link build} has not run.
   */
  node(name: string, source: string, env: NodeJS.ProcessEnv, opts: { nodeArgs?: string[]; args?: string[]; ipc?: boolean } = {}): Managed {
    if (!this.buildDir) throw new Error('ProcessGroup.node before build()');
    const entry = path.join(this.buildDir, source.replace(/\.ts$/, '.js'));
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry, ...(opts.args ?? [])], {
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

  /** Stops everything (services, then redis-server) and removes the temp dir and the build; idempotent. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await Promise.all(this.managed.map((m) => stopProc(m, 12_000)));
      if (this.redis) {
        await Promise.race([this.redis.stop(), sleep(5_000)]);
        await this.redis.destroy();
      }
      if (this.buildDir) rmSync(this.buildDir, { recursive: true, force: true });
    })();
    return this.cleaning;
  }
}
