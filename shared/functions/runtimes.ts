/**
 * The runtimes a function can use and how their executables are found (docs/functions.md,
 * "Runtimes"): the API probes them at deploy (syntax check, project dependency checks), the
 * worker starts hosts with them (worker/functions/sandbox.ts).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { findExecutable, runQuick } from './executables.js';

/** The runtimes a function can use (the function API reference). */
export type FunctionRuntime = 'nodejs' | 'python';

/** A runtime's executable and the folders it needs visible inside the sandbox. */
export interface RuntimeInfo {
  runtime: FunctionRuntime;
  /** Absolute path of `node` or `python3` (pyenv shims resolved to the real interpreter). */
  executable: string;
  /** Install folders outside /usr to bind read-only at the same path (a pyenv or nvm install). */
  binds: string[];
  /** `node --version` / `sys.version`, for logs. */
  version: string;
  /**
   * MiB of private writable memory a fresh process of this runtime maps before running any code,
   * which RLIMIT_DATA counts although none of it is used yet: V8's JIT code range, which Node 22
   * and later map read-write-execute (about 512 MiB on x64; Node 20 mapped it inaccessible). The
   * sandbox adds it to a Node host's RLIMIT_DATA so the cap left for the function stays memory_mb
   * (worker/functions/sandbox.ts). 0 for Python.
   */
  reservedDataMb: number;
}

/**
 * Prints `[process.version, MiB of rwx private mappings]` from a fresh Node: what RLIMIT_DATA
 * counts at start beyond the heap (the JIT code range). 0 where /proc is not readable.
 */
const NODE_PROBE =
  'JSON.stringify([process.version,(()=>{try{let b=0;for(const l of require("fs").readFileSync("/proc/self/maps","utf8").split("\\n")){' +
  'const m=/^([0-9a-f]+)-([0-9a-f]+) rwxp /.exec(l);if(m)b+=parseInt(m[2],16)-parseInt(m[1],16)}return Math.ceil(b/1048576)}catch{return 0}})()])';

const runtimeCache = new Map<string, Promise<RuntimeInfo>>();

/** Install prefixes of an executable outside /usr that must be visible in the sandbox. */
function prefixesOf(...paths: string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    if (!p || !path.isAbsolute(p)) continue;
    if (/^\/(usr|bin|lib|lib64|sbin)(\/|$)/.test(p)) continue;
    out.add(p);
  }
  // Drop a folder already covered by another bound one.
  return [...out].filter((p) => ![...out].some((q) => q !== p && p.startsWith(q + '/')));
}

/**
 * The executable of `runtime`: Node is this process's own `process.execPath` unless `command` says
 * otherwise; Python is `command` (default `python3` on PATH) resolved by asking it for
 * `sys.executable`, since PATH may hold a pyenv shim (a shell script) that would not work, or be
 * slow, inside the sandbox. Cached per command.
 * @param searchPath where a bare command is looked up (colon-separated). Default the service's PATH.
 * @throws Error when the runtime cannot be found or started.
 */
export function resolveRuntime(runtime: FunctionRuntime, command?: string, searchPath?: string): Promise<RuntimeInfo> {
  const key = `${runtime}\0${command ?? ''}\0${searchPath ?? ''}`;
  let cached = runtimeCache.get(key);
  if (!cached) {
    cached = runtime === 'nodejs' ? resolveNode(command, searchPath) : resolvePython(command ?? 'python3', searchPath);
    runtimeCache.set(key, cached);
    cached.catch(() => runtimeCache.delete(key));
  }
  return cached;
}

async function resolveNode(command: string | undefined, searchPath: string | undefined): Promise<RuntimeInfo> {
  const exe = realpathSync(command ? (path.isAbsolute(command) ? command : findExecutable(command, searchPath) ?? command) : process.execPath);
  const out = await runQuick(exe, ['-p', NODE_PROBE], 10_000);
  if (out.code !== 0) throw new Error(`node runtime ${exe} does not start: ${out.stderr.trim()}`);
  const [version, reservedDataMb] = JSON.parse(out.stdout.trim()) as [string, number];
  return { runtime: 'nodejs', executable: exe, binds: prefixesOf(path.dirname(path.dirname(exe))), version, reservedDataMb };
}

async function resolvePython(command: string, searchPath: string | undefined): Promise<RuntimeInfo> {
  const found = path.isAbsolute(command) ? command : findExecutable(command, searchPath);
  if (!found) throw new Error(`python runtime '${command}' not found on PATH`);
  const probe = 'import sys,json;print(json.dumps([sys.executable,sys.prefix,sys.base_prefix,sys.exec_prefix,sys.base_exec_prefix,sys.version.split()[0]]))';
  const out = await runQuick(found, ['-I', '-c', probe], 15_000);
  if (out.code !== 0) throw new Error(`python runtime ${found} does not start: ${out.stderr.trim()}`);
  const [executable, ...rest] = JSON.parse(out.stdout.trim()) as string[];
  const version = rest.pop()!;
  const real = realpathSync(executable!);
  return { runtime: 'python', executable: executable!, binds: prefixesOf(...rest, path.dirname(path.dirname(real))), version, reservedDataMb: 0 };
}
