/**
 * The public shapes of a function invocation (docs/functions.md): what
 * FunctionPool.run (./function-pool.ts) takes (a spec, options) and what it answers (a result with its logs and
 * measurements), and the pool's options.
 */
import type { FunctionRuntime } from '../../shared/functions/runtimes.js';
import type { Logger } from '../../shared/logger.js';
import type { SandboxMode, SandboxStatus } from './sandbox.js';

/** What to run: one version of one function. Fields marked (host) are fixed for a warm process. */
export interface FunctionSpec {
  /** The function's id: processes are never shared between two ids (nor two versions of one). */
  function_id: string;
  /** Any change of code, handler, env, memory or deps must come with a new version; a same-version change still retires the old processes. */
  version: string | number;
  /** (host) */
  runtime: FunctionRuntime;
  /** (host) The source, verbatim. */
  code: string;
  /** (host) Name of the handler. Default `handler`. */
  handler?: string;
  /** (host) The function's env, already layered (system → project → function). Values are strings. */
  env: Record<string, string>;
  /** Longest one invocation may run, in ms; then its process tree is killed (TIMEOUT). */
  timeout_ms: number;
  /**
   * (host) Memory cap in MB (MiB): per process by rlimit, and with cgroups the total of the host and
   * its children is capped at memory_mb + tmpMb (the private /tmp is RAM). Minimum {@link MIN_MEMORY_MB}.
   */
  memory_mb: number;
  /** Captured stdout+stderr per invocation, in bytes; beyond it output is dropped behind a marker line. */
  max_output_bytes: number;
  /**
   * (host) Installed dependencies of this version: for nodejs the folder holding `node_modules/`
   * (npm --prefix) or that node_modules folder itself; for python a `pip install --target` folder.
   */
  deps_dir?: string;
}

/** Per-call options of {@link FunctionPool.run}. */
export interface RunOptions {
  /** Id for {@link FunctionPool.cancel} and the handler's context (e.g. the job id). Default `<pool prefix>-<n>`. Unique among runs in flight. */
  run_id?: string;
  /**
   * Progress the function reports (docs/operations.md, "Progress and live events"): `context.progress(percent, message)` in Node,
   * `fnqueue.progress(percent, message)` in Python. percent is clamped to 0-100, message cut to 1000 characters.
   */
  onProgress?: (percent: number, message?: string) => void;
}

/** One line the function printed. */
export interface FunctionLogLine {
  /** When the parent read it (ISO 8601). */
  ts: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** What is known about an invocation, finished or failed. */
export interface FunctionRunReport {
  /** {@link RunOptions.run_id}, or the id given to the run. */
  run_id: string;
  /**
   * stdout and stderr lines in arrival order: each costs its bytes plus {@link LOG_LINE_OVERHEAD_BYTES}
   * against max_output_bytes, and at most maxLogLines of them (default 10000) are kept, plus the marker line.
   */
  logs: FunctionLogLine[];
  /** True when output was dropped (a `[output truncated at N bytes]` or `[output truncated at N lines]` line marks the spot). */
  truncated: boolean;
  /** Wall time in ms from handing the event to the process until its result and output were in (parent clock). */
  duration_ms: number;
  /** Time the handler call itself took in ms, measured in the host; null when the host did not report. */
  handler_ms: number | null;
  /** CPU time (user + system) in ms the host process spent on this invocation (process.cpuUsage / getrusage deltas). */
  cpu_ms: number | null;
  /**
   * Peak resident memory of the host process during this invocation, in bytes: the kernel's VmHWM,
   * reset (clear_refs) just before the call, so it includes the runtime's own resident memory
   * (about 40 MB for Node, 20 MB for Python).
   */
  peak_rss_bytes: number | null;
  /** True when this invocation started its process (cold start). */
  cold_start: boolean;
  /** On a cold start, ms from spawning the process until it had loaded the code; else null. */
  startup_ms: number | null;
  /** Pid of the host process (the bwrap process when isolated), the same across warm invocations. */
  host_pid: number | null;
}

/** A finished invocation. */
export interface FunctionRunResult extends FunctionRunReport {
  /** The handler's return value, as JSON (a Node handler returning undefined gives null). */
  result: unknown;
}

/** Why an invocation failed (details.reason of the error). */
export type FunctionFailure =
  | 'handler_error'
  | 'invalid_result'
  | 'result_too_large'
  | 'out_of_memory'
  | 'timeout'
  | 'crashed'
  | 'load_error'
  | 'cancelled'
  | 'closed'
  /** memory_mb is larger than the worker's whole warm-host budget (FunctionPoolOptions.memoryBudgetMb). */
  | 'memory_budget';

/** Options of a {@link FunctionPool}. */
export interface FunctionPoolOptions {
  /** Warnings (running without isolation, timeouts) and debug lines go here; none when absent. */
  logger?: Logger;
  /** Invocations a process serves before it is replaced (fresh memory, no state kept forever). Default 100. */
  maxInvocationsPerProcess?: number;
  /** An idle process is stopped after this many ms without an invocation. Default 60000. */
  idleTimeoutMs?: number;
  /**
   * Processes one function version may have at once, each running one invocation at a time; more
   * invocations wait in a FIFO queue. Default 4.
   */
  maxProcessesPerFunction?: number;
  /** Processes in the whole pool; at the limit the least recently used idle one is stopped for a new one. Default 32. */
  maxProcesses?: number;
  /**
   * Memory budget of all warm hosts together, MiB (FUNCTION_HOSTS_MEMORY_BUDGET_MB): each host
   * counts its function's declared memory_mb from spawn until its process has exited. A new host
   * that would pass it first stops idle hosts, least recently used first; when busy hosts still
   * hold too much, the invocation waits (FIFO) for one to end, at most its timeout_ms, then fails
   * with TIMEOUT. A function whose memory_mb alone is above the budget fails at once
   * (ALGORITHM_ERROR, reason `memory_budget`). Default: half of the machine's memory or of the
   * worker's cgroup limit when lower (./memory-budget.ts).
   */
  memoryBudgetMb?: number;
  /** Isolation (see {@link SandboxMode}): `auto` and `bwrap` refuse runs where bubblewrap cannot isolate; `off` never isolates. Default `auto`. */
  sandbox?: SandboxMode;
  /** Time allowed for a process to boot, in ms, on top of the function's timeout_ms for its top-level code. Default 10000. */
  startTimeoutMs?: number;
  /** Largest result, in bytes of JSON (JOB_RESULT_MAX_BYTES); the host refuses a larger one. Default 1 MiB. */
  maxResultBytes?: number;
  /** Size of the private /tmp of an isolated process, in MB; without isolation, the largest file it may write. Default 64. */
  tmpMb?: number;
  /** Folder for the processes' code copies. Default the OS temp folder. */
  workDir?: string;
  /** Python interpreter (command or path). Default `python3` on PATH. */
  python?: string;
  /** Node executable. Default this process's. */
  node?: string;
  /** Where bwrap, prlimit, setpriv and a bare `python` command are looked up, colon-separated. Default the service's PATH. */
  searchPath?: string;
  /**
   * Tasks (processes and threads: a Node host alone has about 11, bwrap 2) one host process and
   * everything it starts may have at once: `pids.max` of the host's cgroup, so a fork bomb stops
   * there. Only when cgroups are available ({@link SandboxStatus.cgroups}). Default 64.
   * (Not {@link maxProcesses}, which counts host processes in the pool.)
   */
  maxProcessesPerHost?: number;
  /** Use a cgroup per host process when the machine allows it ({@link SandboxStatus.cgroups}). Default true; false only for tests of the fallback. */
  cgroups?: boolean;
  /** Lines of output kept per invocation; past it a `[output truncated at N lines]` line and the rest is dropped. Default 10000. */
  maxLogLines?: number;
}

/**
 * What one captured line costs against max_output_bytes besides its bytes, in bytes (its newline,
 * time stamp and stream as stored): 1 MB of empty lines is 32768 lines, not a million.
 */
export const LOG_LINE_OVERHEAD_BYTES = 32;

export type { FunctionRuntime, SandboxMode, SandboxStatus };

/** A report with nothing in it yet (a run refused before it reached a process). */
export function emptyReport(runId: string): FunctionRunReport {
  return { run_id: runId, logs: [], truncated: false, duration_ms: 0, handler_ms: null, cpu_ms: null, peak_rss_bytes: null, cold_start: false, startup_ms: null, host_pid: null };
}
