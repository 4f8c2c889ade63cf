/**
 * Finding and running the helper executables that api and worker both use for functions (node,
 * python3, prlimit, bwrap, npm): a PATH lookup and a child whose output is collected.
 * The search PATH is passed in; its default is the service's own PATH as read by shared/config.ts.
 */
import { execFile, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { inheritableEnv } from '../config.js';

/** PATH inside a function's process, and the fallback search path. */
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Variables every function process (and every helper child) gets unless its own env sets them (docs/security.md: only its own env). */
export const BASE_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: SANDBOX_PATH, HOME: '/tmp', LANG: 'C.UTF-8' });

/** The PATH executables are looked up on by default: the service's PATH, else {@link SANDBOX_PATH}. */
export function defaultSearchPath(): string {
  return inheritableEnv().PATH ?? SANDBOX_PATH;
}

/**
 * The absolute path of `name` on `searchPath` (colon-separated, then the standard system folders).
 * @returns undefined when it is nowhere.
 */
export function findExecutable(name: string, searchPath: string = defaultSearchPath()): string | undefined {
  for (const dir of searchPath.split(':').concat(['/usr/bin', '/bin', '/usr/sbin', '/sbin'])) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** What a collected child printed and how it ended. */
export interface CollectedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when it was killed at its time limit. */
  timedOut: boolean;
}

/**
 * Runs `command` with {@link BASE_ENV} and collects its output (1 MiB of each stream at most),
 * killing it with SIGKILL after `timeoutMs`. `input` goes to its stdin.
 * @throws Error when it cannot be started.
 */
export function runCollect(command: string, args: string[], input: string | undefined, timeoutMs: number): Promise<CollectedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...BASE_ENV }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const cap = 1024 * 1024;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < cap) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < cap) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/**
 * Runs `cmd` with {@link BASE_ENV} (execFile, SIGKILL after `timeoutMs`); never rejects: a failure
 * to start is exit code 1 with the error's message as stderr.
 */
export function runQuick(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env: { ...BASE_ENV }, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && !stderr ? err.message : '')) });
    });
  });
}
