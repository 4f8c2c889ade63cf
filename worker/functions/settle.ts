/**
 * How an invocation's end becomes its answer (docs/functions.md, "The function sandbox"): the report of
 * measurements, and the error code, reason and message of each way it can fail (the handler threw,
 * its result is not JSON or too large, out of memory, its process crashed or did not load).
 */
import { MIN_MEMORY_MB } from '../../shared/functions/limits.js';
import type { ErrorCode } from '../../shared/errors/index.js';
import type { FunctionFailure, FunctionRunReport, FunctionSpec } from './function-run.js';
import { errorDetails, errorHead, HostErrorCode, type HostError, type ResultMessage } from './host-protocol.js';
import type { Host, Run } from './pool-state.js';

/** A failure, before it becomes a {@link FunctionRunError} with the run's report. */
export interface Failure {
  code: ErrorCode;
  message: string;
  reason: FunctionFailure;
  details?: Record<string, unknown>;
}

/** Processes in an isolated host's cgroup when nothing else runs: the outer bwrap, bwrap's init (pid 1) and the host. */
export const ISOLATED_BASE_PROCESSES = 3;

/**
 * What an invocation left behind: processes still running besides the host (a background or
 * daemonized process), counted in its cgroup by the parent (one pread) or else by the host itself;
 * threads, timers and event-loop resources left in the host's own process (`stray_threads`, counted
 * by the host: the function's code could falsify it, like the host's process count); and the kernel's OOM kills in its cgroup since the last look (which this records).
 */
export function leftovers(host: Host, res: ResultMessage): { stray: number; strayThreads: number; oomKilled: number } {
  const strayThreads = typeof res.stray_threads === 'number' && res.stray_threads > 0 ? res.stray_threads : 0;
  let stray = 0;
  let oomKilled = 0;
  if (host.cgroup) {
    const n = host.cgroup.maybeStray() ? host.cgroup.processCount() : 0;
    stray = n < 0 ? 0 : Math.max(0, n - (host.isolated ? ISOLATED_BASE_PROCESSES : 1));
    const kills = host.cgroup.oomKills();
    if (kills > host.oomKills) {
      oomKilled = kills - host.oomKills;
      host.oomKills = kills;
    }
  } else if (typeof res.stray_processes === 'number' && res.stray_processes > 0) stray = res.stray_processes;
  return { stray, strayThreads, oomKilled };
}

/** stderr kept per process to classify a crash (out of memory or not), in bytes. */
const STDERR_TAIL_BYTES = 8192;
const OOM_TEXT = /JavaScript heap out of memory|Reached heap limit|Fatal process out of memory|Fatal JavaScript invalid size|\bMemoryError\b|Cannot allocate memory|std::bad_alloc|\bout of memory\b/i;

/** Keeps the last {@link STDERR_TAIL_BYTES} of a host's stderr (read when it dies). */
export function keepStderrTail(host: Host, chunk: Buffer): void {
  const recent = chunk.length >= STDERR_TAIL_BYTES ? chunk.subarray(chunk.length - STDERR_TAIL_BYTES) : chunk;
  const tail = Buffer.concat([host.stderrTail, recent]);
  host.stderrTail = tail.length > STDERR_TAIL_BYTES ? Buffer.from(tail.subarray(tail.length - STDERR_TAIL_BYTES)) : tail;
}

/** The report of a finished invocation, with the host's measurements. */
export function completedReport(run: Run, host: Host, res: ResultMessage, now: number): FunctionRunReport {
  return {
    run_id: run.id,
    logs: run.output.logs,
    truncated: run.output.truncated,
    duration_ms: now - run.sentAt,
    handler_ms: res.handler_ms,
    cpu_ms: res.cpu_ms,
    peak_rss_bytes: res.peak_rss_bytes,
    cold_start: run.cold,
    startup_ms: run.startupMs,
    host_pid: host.pid,
  };
}

/** The report of a failed invocation: what was captured so far, no host measurements. */
export function failedReport(run: Run, now: number): FunctionRunReport {
  return {
    run_id: run.id,
    logs: run.output.logs,
    truncated: run.output.truncated,
    duration_ms: now - (run.sentAt || run.createdAt),
    handler_ms: null,
    cpu_ms: null,
    peak_rss_bytes: null,
    cold_start: run.cold,
    startup_ms: run.startupMs,
    host_pid: run.host?.pid ?? null,
  };
}

/** A handler's error as the host reported it (the result had ok: false). */
export function handlerFailure(e: HostError, spec: FunctionSpec): Failure {
  if (e.code === HostErrorCode.OutOfMemory) {
    return { code: 'ALGORITHM_ERROR', message: `the function ran out of memory at its ${spec.memory_mb} MB limit (${errorHead(e)})`, reason: 'out_of_memory', details: { memory_mb: spec.memory_mb } };
  }
  if (e.code === HostErrorCode.InvalidResult || e.code === HostErrorCode.ResultTooLarge) {
    if (e.code === HostErrorCode.InvalidResult) return { code: 'ALGORITHM_ERROR', message: e.message, reason: 'invalid_result' };
    return { code: 'ALGORITHM_ERROR', message: `${e.message} (JOB_RESULT_MAX_BYTES); it was not stored`, reason: 'result_too_large' };
  }
  return { code: 'ALGORITHM_ERROR', message: [`${e.name}: ${e.message}`, ...e.stack].join('\n'), reason: 'handler_error', details: errorDetails(e) };
}

/** The kernel OOM-killed processes of the host's cgroup during an invocation that still answered. */
export function cgroupOomFailure(spec: FunctionSpec, oomKilled: number, tmpMb: number): Failure {
  return {
    code: 'ALGORITHM_ERROR',
    message: `the function ran out of memory at its ${spec.memory_mb} MB limit (the kernel killed ${oomKilled} of its processes at the ${spec.memory_mb + tmpMb} MB total of its cgroup, memory_mb + /tmp)`,
    reason: 'out_of_memory',
    details: { memory_mb: spec.memory_mb },
  };
}

/** The host could not load the code ({@link ParentCommand.LoadError}). */
export function loadFailure(e: HostError, memoryMb: number): Failure {
  if (e.code === HostErrorCode.OutOfMemory) {
    return { code: 'ALGORITHM_ERROR', message: `the function ran out of memory at its ${memoryMb} MB limit while loading (${errorHead(e)})`, reason: 'out_of_memory', details: { memory_mb: memoryMb } };
  }
  return { code: 'ALGORITHM_ERROR', message: `could not load the function: ${[`${e.name}: ${e.message}`, ...e.stack].join('\n')}`, reason: 'load_error', details: errorDetails(e) };
}

/** Why a host that exited on its own (crash, out of memory, exit() in user code, failed load) failed its run. */
export function exitFailure(host: Host, runState: Run['state'], tmpMb: number): Failure {
  const info = host.exitInfo ?? { code: null, signal: null };
  let signal = info.signal;
  // bwrap reports a signalled child as exit code 128 + signal.
  if (!signal && host.isolated && info.code !== null && info.code > 128) signal = signalName(info.code - 128);
  const tail = host.stderrTail.toString('utf8');
  const how = info.error ? `could not be started (${info.error.message})` : signal ? `was killed by ${signal}` : `exited with code ${info.code}`;
  const memoryMb = host.config.memory_mb;
  const cgroupOom = host.cgroup ? host.cgroup.oomKills() > host.oomKills : false;
  if (cgroupOom || OOM_TEXT.test(tail)) {
    const when = runState === 'starting' ? ' while loading' : '';
    const by = cgroupOom ? `; the kernel killed it at the ${memoryMb + tmpMb} MB total of its cgroup (memory_mb + /tmp)` : '';
    return { code: 'ALGORITHM_ERROR', message: `the function ran out of memory at its ${memoryMb} MB limit${when} (its process ${how}${by})`, reason: 'out_of_memory', details: { memory_mb: memoryMb } };
  }
  if (runState === 'starting' && signal === 'SIGABRT' && host.config.runtime === 'nodejs' && !tail.trim()) {
    // V8 or libuv failing an allocation (a thread stack, a heap reservation) at start aborts silently.
    return {
      code: 'ALGORITHM_ERROR',
      message: `the function ran out of memory at its ${memoryMb} MB limit while loading (its process ${how}; Node needs at least ${MIN_MEMORY_MB.nodejs} MB)`,
      reason: 'out_of_memory',
      details: { memory_mb: memoryMb },
    };
  }
  if (runState === 'starting') {
    const lastLines = tail.trim().split('\n').slice(-5).join('\n');
    return { code: 'ALGORITHM_ERROR', message: `the function's process ${how} while loading${lastLines ? `:\n${lastLines}` : ''}`, reason: 'load_error' };
  }
  const hint = signal === 'SIGKILL' ? ' (possibly the system ran out of memory)' : '';
  return { code: 'ALGORITHM_ERROR', message: `the function's process ${how}${hint}`, reason: 'crashed', details: { exit_code: info.code, signal } };
}

function signalName(n: number): NodeJS.Signals | null {
  const names: Record<number, NodeJS.Signals> = { 1: 'SIGHUP', 2: 'SIGINT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };
  return names[n] ?? null;
}
