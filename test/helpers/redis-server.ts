import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { track, untrack } from './resources.js';

/** A real redis-server started by the test run on a free port, in its own temp dir. */
export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`); data stays in `dir` (AOF when enabled). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and dir. */
  start(): Promise<void>;
  /** Stops it and removes its dir. */
  destroy(): Promise<void>;
}

/**
 * Starts redis-server on a free port (never the machine's 6379).
 * @param opts.appendonly AOF persistence (for restart tests). Default false.
 */
export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-redis-'));
  let proc: ChildProcess | undefined;

  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--maxmemory-policy', 'noeviction'];
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    await waitForPing(`redis://127.0.0.1:${port}`, proc);
  };
  const stop = async (hard = false) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  await start();
  const server: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    destroy: async () => {
      await stop(true);
      rmSync(dir, { recursive: true, force: true });
      untrack(server);
    },
  };
  return track(`redis-server :${port}`, server, server.destroy);
}

async function waitForPing(url: string, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
  throw new Error(`redis-server at ${url} did not answer`);
}
