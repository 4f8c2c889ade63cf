/**
 * A function spec's host part (docs/functions.md, "The function sandbox"): its checks, the comparison that tells
 * whether a warm process can serve a spec, and the code files a host loads.
 */
import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIN_MEMORY_MB } from '../../shared/functions/limits.js';
import { AppError } from '../../shared/errors/index.js';
import type { FunctionRuntime } from '../../shared/functions/runtimes.js';
import type { FunctionSpec } from './function-run.js';

const NODE_IDENT = /^[A-Za-z_$][\w$]*$/;
const PY_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words that cannot name a JS binding (the host's capture line names the handler). */
const JS_RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await arguments eval'.split(' '),
);
/** What is fixed for a warm process: a spec without its per-invocation fields. */
export interface HostConfig {
  runtime: FunctionRuntime;
  code: string;
  handler: string;
  env: Record<string, string>;
  memory_mb: number;
  deps_dir?: string;
}

/** Whether a process started for `a` can serve `b`. */
export function sameConfig(a: HostConfig, b: HostConfig): boolean {
  if (a.runtime !== b.runtime || a.handler !== b.handler || a.memory_mb !== b.memory_mb || a.deps_dir !== b.deps_dir || a.code !== b.code) return false;
  const ak = Object.keys(a.env);
  const bk = Object.keys(b.env);
  return ak.length === bk.length && ak.every((k) => a.env[k] === b.env[k]);
}

const invalid = (field: string, message: string) => new AppError('VALIDATION_ERROR', `${field} ${message}`, { field });

/** Checks a spec's fields and returns its host part. @throws AppError VALIDATION_ERROR naming the field. */
export function validateSpec(spec: FunctionSpec): HostConfig {
  if (!spec || typeof spec !== 'object') throw invalid('spec', 'must be an object');
  if (typeof spec.function_id !== 'string' || !spec.function_id) throw invalid('function_id', 'must be a non-empty string');
  if (!['string', 'number'].includes(typeof spec.version) || String(spec.version) === '') throw invalid('version', 'must be a non-empty string or a number');
  if (spec.runtime !== 'nodejs' && spec.runtime !== 'python') throw invalid('runtime', "must be 'nodejs' or 'python'");
  if (typeof spec.code !== 'string') throw invalid('code', 'must be a string');
  const handler = spec.handler ?? 'handler';
  if (typeof handler !== 'string' || !(spec.runtime === 'nodejs' ? NODE_IDENT : PY_IDENT).test(handler) || (spec.runtime === 'nodejs' && JS_RESERVED.has(handler))) {
    throw invalid('handler', 'must be an identifier');
  }
  if (!spec.env || typeof spec.env !== 'object' || Array.isArray(spec.env)) throw invalid('env', 'must be an object of strings');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.env)) {
    if (!k || k.includes('=') || k.includes('\0')) throw invalid('env', `has an invalid name: ${JSON.stringify(k)}`);
    if (v === null || typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol' || v === undefined) throw invalid(`env.${k}`, 'must be a string');
    const s = String(v);
    if (s.includes('\0')) throw invalid(`env.${k}`, 'must not contain NUL');
    env[k] = s;
  }
  if (!Number.isFinite(spec.timeout_ms) || spec.timeout_ms <= 0) throw invalid('timeout_ms', 'must be a positive number of ms');
  if (!Number.isInteger(spec.memory_mb) || spec.memory_mb < MIN_MEMORY_MB[spec.runtime]) throw invalid('memory_mb', `must be an integer of at least ${MIN_MEMORY_MB[spec.runtime]} (MB) for ${spec.runtime}`);
  if (!Number.isInteger(spec.max_output_bytes) || spec.max_output_bytes < 0) throw invalid('max_output_bytes', 'must be a non-negative integer');
  if (spec.deps_dir !== undefined) {
    if (typeof spec.deps_dir !== 'string' || !path.isAbsolute(spec.deps_dir)) throw invalid('deps_dir', 'must be an absolute path');
    let isDir = false;
    try {
      isDir = statSync(spec.deps_dir).isDirectory();
    } catch {
      /* missing */
    }
    if (!isDir) throw invalid('deps_dir', `is not a folder: ${spec.deps_dir}`);
  }
  return { runtime: spec.runtime, code: spec.code, handler, env, memory_mb: spec.memory_mb, deps_dir: spec.deps_dir };
}

/**
 * The code files a host loads (see node-host.mjs): for nodejs the code with a line appended that
 * hands the top-level `handler` binding to the host (CommonJS), the same as an ES module with
 * `export { handler as __fnq_handler__ }`, and the ES module verbatim; for python, function.py.
 * Appending keeps the user's line numbers.
 */
export async function writeCodeFiles(codeDir: string, config: HostConfig): Promise<void> {
  const opts = { mode: 0o644 } as const;
  if (config.runtime === 'python') {
    await writeFile(path.join(codeDir, 'function.py'), config.code, opts);
    return;
  }
  const h = config.handler;
  await Promise.all([
    writeFile(path.join(codeDir, 'function.cjs'), `${config.code}\n;globalThis[Symbol.for('fnqueue.capture')]?.(typeof ${h} === 'undefined' ? undefined : ${h});\n`, opts),
    writeFile(path.join(codeDir, 'function.mjs'), `${config.code}\n;export { ${h} as __fnq_handler__ };\n`, opts),
    writeFile(path.join(codeDir, 'function.orig.mjs'), config.code, opts),
  ]);
}
