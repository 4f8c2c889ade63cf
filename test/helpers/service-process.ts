import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { track, untrack } from './resources.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A real api or worker process started from its entry point. */
export interface ServiceProcess {
  proc: ChildProcess;
  pid: number;
  /** The API's PORT or the worker's WORKER_PORT, read from its start log line. */
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** A worker's id (its start line's `worker`: WORKER_ID or its default); undefined for the API. */
  id: string | undefined;
  /** Every log line so far, parsed when JSON. */
  logs: Array<Record<string, unknown>>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once it exits. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the process exits. */
  exited: Promise<number | null>;
}

const ENTRIES = { api: 'api/main.ts', worker: 'worker/main.ts' } as const;
const START_LINES = { api: 'api listening', worker: 'worker started' } as const;

/** Where a service process runs: a command that runs it (e.g. `ip netns exec <ns>`) and the address it listens on. */
export interface ServicePlace {
  /** Prefix of the command line; default none. */
  wrap?: string[];
  /** Its HOST, and the host of {@link ServiceProcess.url}. Default 127.0.0.1. */
  host?: string;
  /** The compiled build to run (`node <distDir>/api/main.js`) instead of the TypeScript sources under tsx. */
  distDir?: string;
}

/**
 * Starts `node --import tsx api/main.ts` (or worker) with `env` (PORT / WORKER_PORT default 0,
 * a free port) and resolves once it logs that it listens.
 * @param place where it runs: a command-line prefix (a network namespace), its HOST, or a compiled
 *   build (`distDir`, scripts/build.ts's output: `node <distDir>/api/main.js`, without tsx).
 */
export async function startService(kind: 'api' | 'worker', env: Record<string, string>, timeoutMs = 20_000, place: ServicePlace = {}): Promise<ServiceProcess> {
  const host = place.host ?? '127.0.0.1';
  const entry = place.distDir ? [path.join(place.distDir, ENTRIES[kind].replace(/\.ts$/, '.js'))] : ['--import', 'tsx', path.join(ROOT, ENTRIES[kind])];
  const [command, ...args] = [...(place.wrap ?? []), process.execPath, ...entry];
  const proc = spawn(command!, args, {
    cwd: ROOT,
    // SHUTDOWN_DELAY_MS 0: tests stop processes at once unless they test the delay.
    env: { PATH: process.env.PATH ?? '', HOST: host, PORT: '0', WORKER_PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const read = (stream: NodeJS.ReadableStream) =>
    createInterface({ input: stream }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
      if (process.env.FNQUEUE_TEST_LOGS) process.stderr.write(`[${kind} ${proc.pid}] ${line}\n`);
    });
  read(proc.stdout!);
  read(proc.stderr!);

  let id: string | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start within ${timeoutMs} ms: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
    const poll = setInterval(() => {
      const line = logs.find((l) => l.message === START_LINES[kind]);
      if (line) {
        clearInterval(poll);
        clearTimeout(timer);
        if (typeof line.worker === 'string') id = line.worker;
        resolve(Number(line.port));
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${kind} exited with code ${code} before starting: ${JSON.stringify(logs.slice(-5))}`));
    });
  }).catch(async (err: unknown) => {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  });

  const service: ServiceProcess = {
    proc,
    pid: proc.pid!,
    id,
    port,
    url: `http://${host}:${port}`,
    logs,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await exited;
      untrack(service);
      return code;
    },
  };
  exited.then(() => untrack(service), () => undefined);
  return track(`${kind} process ${proc.pid}`, service, async () => {
    proc.kill('SIGKILL');
    await exited;
  });
}
