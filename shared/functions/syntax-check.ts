/**
 * The deploy-time syntax check of a function's code (docs/functions.md): the API
 * refuses code that does not compile with the compiler's message, without running any of it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { AppError } from '../errors/index.js';
import { findExecutable, runCollect } from './executables.js';
import { resolveRuntime, type FunctionRuntime } from './runtimes.js';

/** What only an ES module may contain: the CommonJS parse fails with one of these (Node's detect-module rule). */
const ESM_ONLY_ERRORS = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  'await is only valid in async functions and the top level bodies of modules',
];

/** Longest a syntax check child may take, in ms. */
const CHECK_TIMEOUT_MS = 10_000;

const PYTHON_CHECK = [
  'import sys, json',
  'src = sys.stdin.buffer.read()',
  'try:',
  '    compile(src, "function.py", "exec", dont_inherit=True)',
  '    print("null")',
  'except SyntaxError as e:',
  '    print(json.dumps("%s: %s (line %s, column %s)" % (type(e).__name__, e.msg, e.lineno, e.offset)))',
  'except (ValueError, MemoryError, RecursionError, OverflowError) as e:',
  '    print(json.dumps("%s: %s" % (type(e).__name__, e)))',
].join('\n');

/** Options of {@link checkSyntax}. */
export interface SyntaxCheckOptions {
  /** Python interpreter (command or path). Default `python3` on the search path. */
  python?: string;
  /** Node executable. Default this process's. */
  node?: string;
  /** Where bare commands (python3, prlimit) are looked up, colon-separated. Default the service's PATH. */
  searchPath?: string;
}

/**
 * Checks code for syntax errors at deploy, without running any of it: Node compiles it as a
 * CommonJS function body in this process (vm.compileFunction, no execution), and when only an ES
 * module explains the error, runs `node --check` on it as a .mjs file in a child; Python compiles
 * it with `compile()` in a child python3 (capped at 1 GB of address space and 10 s).
 * @returns null when it compiles, else the compiler's message with the line, e.g.
 *   `SyntaxError: Unexpected token '}' (line 3)` or `SyntaxError: invalid syntax (line 1, column 8)`.
 * @throws AppError VALIDATION_ERROR for an unknown runtime; Error when the runtime cannot be started.
 */
export async function checkSyntax(runtime: FunctionRuntime, code: string, opts: SyntaxCheckOptions = {}): Promise<string | null> {
  if (runtime === 'nodejs') {
    try {
      vm.compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: 'function.js' });
      return null;
    } catch (err) {
      const e = err as Error;
      if (e?.name !== 'SyntaxError') return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
      if (!ESM_ONLY_ERRORS.some((m) => e.message.includes(m))) return formatV8SyntaxError(e.message, String(e.stack ?? ''));
      return checkNodeModule(code, opts.node);
    }
  }
  if (runtime === 'python') {
    const py = await resolveRuntime('python', opts.python, opts.searchPath);
    const prlimit = findExecutable('prlimit', opts.searchPath);
    const cmd = prlimit ? [prlimit, '--core=0', `--as=${1024 * 1024 * 1024}`, '--', py.executable] : [py.executable];
    const out = await runCollect(cmd[0]!, [...cmd.slice(1), '-I', '-B', '-c', PYTHON_CHECK], code, CHECK_TIMEOUT_MS);
    if (out.timedOut) return `the code could not be compiled within ${CHECK_TIMEOUT_MS} ms`;
    if (out.code === 0) return JSON.parse(out.stdout.trim() || 'null') as string | null;
    const last = out.stderr.trim().split('\n').slice(-1)[0] ?? '';
    return `the code could not be compiled: ${last || `compiler exited with ${out.signal ?? out.code}`}`;
  }
  throw new AppError('VALIDATION_ERROR', "runtime must be 'nodejs' or 'python'", { field: 'runtime' });
}

/** `SyntaxError: <message> (line N)` from V8's stack (its first line is `file:N`). */
function formatV8SyntaxError(message: string, stack: string): string {
  const m = /^[^\n]*:(\d+)\n/.exec(stack);
  return `SyntaxError: ${message}${m ? ` (line ${m[1]})` : ''}`;
}

async function checkNodeModule(code: string, node?: string): Promise<string | null> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fnqueue-check-'));
  try {
    const file = path.join(dir, 'function.mjs');
    await writeFile(file, code);
    const exe = node ?? process.execPath;
    const out = await runCollect(exe, ['--check', file], undefined, CHECK_TIMEOUT_MS);
    if (out.timedOut) return `the code could not be checked within ${CHECK_TIMEOUT_MS} ms`;
    if (out.code === 0) return null;
    const line = new RegExp(`${escapeRegExp(file)}:(\\d+)`).exec(out.stderr)?.[1];
    const msg = /^(\w*Error): (.*)$/m.exec(out.stderr);
    if (!msg) return out.stderr.trim().split('\n').slice(-1)[0] ?? 'the code does not compile';
    return `${msg[1]}: ${msg[2]}${line ? ` (line ${line})` : ''}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
