/**
 * The execution core of user functions (issue 3): warm, sandboxed host processes that run a
 * function version's handler once per invocation, with a timeout, a memory cap, an output cap and
 * only the function's own env. The API, storage and queue integration build on {@link FunctionPool}.
 *
 * One host process per function version (runtime, code, handler, env, memory and deps fixed at
 * spawn), started by ./sandbox.ts and running ./runtimes/node-host.mjs or ./runtimes/python-host.py.
 * Parent and host speak JSON lines over fd 3 (see node-host.mjs for the messages); fds 1 and 2 are
 * the user's stdout and stderr, captured here as the invocation's logs. The function can write to
 * fd 3 too: only messages that fit the host's state are taken (see onMessage), else the run fails
 * and the process is retired.
 *
 * After each invocation, a host that left any process running (background, daemonized) is retired
 * right after its result: its process tree and cgroup are killed (see ./sandbox.ts, "Limits").
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import vm from 'node:vm';
import { AppError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import {
  BASE_ENV,
  buildHostLaunch,
  killProcessTree,
  nodeModulesOf,
  resolveRuntime,
  runCollect,
  sandboxStatus,
  sandboxTools,
  type FunctionRuntime,
  type RuntimeInfo,
  type SandboxMode,
  type SandboxStatus,
} from './sandbox.js';
import { HostCgroup, probeCgroups, removeWorkerCgroups, sweepCgroups } from './cgroups.js';

export type { FunctionRuntime, SandboxMode, SandboxStatus } from './sandbox.js';
export { sandboxStatus } from './sandbox.js';

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
   * Progress the function reports (issue 4): `context.progress(percent, message)` in Node,
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
  | 'closed';

/**
 * A failed invocation: an AppError (code TIMEOUT for timeouts, SERVICE_UNAVAILABLE when the pool
 * closed or isolation is required but missing, ALGORITHM_ERROR otherwise) whose details carry the
 * `reason`, plus the invocation's logs and measurements in `report` (kept out of details, which go
 * to clients as they are).
 */
export class FunctionRunError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly reason: FunctionFailure,
    readonly report: FunctionRunReport,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { reason, ...details });
  }
}

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
  /** Isolation (see {@link SandboxMode}). Default `auto`. */
  sandbox?: SandboxMode;
  /** Time allowed for a process to boot, in ms, on top of the function's timeout_ms for its top-level code. Default 10000. */
  startTimeoutMs?: number;
  /** Largest result, in bytes of JSON. Default 6 MiB. */
  maxResultBytes?: number;
  /** Size of the private /tmp of an isolated process, in MB; without isolation, the largest file it may write. Default 64. */
  tmpMb?: number;
  /** Folder for the processes' code copies. Default the OS temp folder. */
  workDir?: string;
  /** Python interpreter (command or path). Default `python3` on PATH. */
  python?: string;
  /** Node executable. Default this process's. */
  node?: string;
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

/**
 * Smallest memory_mb a host reliably starts in, in MB, for the API to refuse lower values at deploy.
 * Measured under these caps (bwrap, RLIMIT_DATA = memory_mb for Node, whose thread stacks and heap
 * reservations count against it; RLIMIT_AS for Python) with an echo handler: the Node host aborts
 * (SIGABRT, no message) at 72 MB and below and starts at 80 MB, so 96 leaves room for a small
 * function's own modules; Python starts at 24 MB.
 */
export const MIN_MEMORY_MB: Readonly<Record<FunctionRuntime, number>> = Object.freeze({ nodejs: 96, python: 32 });

/** How long the end-of-output markers may trail a result before the process is distrusted, in ms. */
const MARKER_GRACE_MS = 2000;
/** stderr kept per process to classify a crash (out of memory or not), in bytes. */
const STDERR_TAIL_BYTES = 8192;
/** How long after a process exits its last output may still arrive, in ms. */
const EXIT_DRAIN_MS = 250;
const STDOUT = 1;
const STDERR = 2;
const NODE_IDENT = /^[A-Za-z_$][\w$]*$/;
const PY_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words that cannot name a JS binding (the host's capture line names the handler). */
const JS_RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await arguments eval'.split(' '),
);
/** Processes in an isolated host's cgroup when nothing else runs: the outer bwrap, bwrap's init (pid 1) and the host. */
const ISOLATED_BASE_PROCESSES = 3;
const OOM_TEXT = /JavaScript heap out of memory|Reached heap limit|Fatal process out of memory|Fatal JavaScript invalid size|\bMemoryError\b|Cannot allocate memory|std::bad_alloc|\bout of memory\b/i;

interface HostConfig {
  runtime: FunctionRuntime;
  code: string;
  handler: string;
  env: Record<string, string>;
  memory_mb: number;
  deps_dir?: string;
}

interface Group {
  key: string;
  function_id: string;
  version: string;
  config: HostConfig;
  hosts: Set<Host>;
  /** Idle processes, least recently used first. */
  idle: Host[];
}

interface StreamState {
  /** Bytes of a line not yet ended (bounded by the output budget). */
  partial: Buffer | null;
  /** Tail kept while discarding output, so a marker split across reads is still found. */
  carry: Buffer | null;
  ended: boolean;
}

interface ResultMessage {
  type: 'result';
  id: number;
  nonce: string;
  /** Processes in the sandbox besides the host (and bwrap's init), counted by the host; only without cgroups. */
  stray_processes?: number;
  ok: boolean;
  result?: unknown;
  error?: HostError;
  recycle?: boolean;
  handler_ms: number;
  cpu_ms: number;
  peak_rss_bytes: number | null;
  marks: number;
}

interface HostError {
  kind: string;
  name: string;
  message: string;
  stack: string[];
}

interface Host {
  id: number;
  group: Group;
  config: HostConfig;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  isolated: boolean;
  proc?: ChildProcess;
  proto?: Socket;
  pid: number | null;
  dir?: string;
  run?: Run;
  invocations: number;
  retireAfterRun: boolean;
  lastUsed: number;
  spawnedAt: number;
  loadTimer?: NodeJS.Timeout;
  protoBuf: string;
  stderrTail: Buffer;
  streams: [StreamState, StreamState];
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  exited: Promise<void>;
  markExited: () => void;
  killedFor?: string;
  /** True while its folder is being written and its process started. */
  launching: boolean;
  /** Its own pids+memory cgroup, when cgroups are available. */
  cgroup?: HostCgroup;
  /** OOM kills seen in its cgroup so far. */
  oomKills: number;
}

interface Run {
  id: string;
  seq: number;
  spec: FunctionSpec;
  key: string;
  eventJson: string;
  resolve: (r: FunctionRunResult) => void;
  reject: (e: FunctionRunError) => void;
  state: 'queued' | 'starting' | 'running' | 'done';
  onProgress?: (percent: number, message?: string) => void;
  host?: Host;
  logs: FunctionLogLine[];
  outBytes: number;
  truncated: boolean;
  nonce: string;
  marker: Buffer;
  waitingMarks: number;
  result?: ResultMessage;
  createdAt: number;
  sentAt: number;
  cold: boolean;
  startupMs: number | null;
  timer?: NodeJS.Timeout;
  markerTimer?: NodeJS.Timeout;
}

/**
 * Warm, isolated processes for user functions. Each function version gets its own processes
 * (never shared across functions or versions), each running one invocation at a time and reused
 * for the next one of the same version; a process is replaced after
 * `maxInvocationsPerProcess` invocations and after any crash, timeout, out-of-memory or uncaught
 * exception, and stopped when idle for `idleTimeoutMs`. Invocations beyond
 * `maxProcessesPerFunction` busy processes wait in FIFO order.
 *
 * Each invocation: the event (JSON) goes to a free process of that version (or a new one: a cold
 * start, whose load time is not part of timeout_ms but gets its own allowance); the handler's JSON
 * result, the lines it printed and its measured time, CPU and peak memory come back. Failures
 * reject with {@link FunctionRunError}.
 */
export class FunctionPool {
  private readonly groups = new Map<string, Group>();
  private readonly queue: Run[] = [];
  private readonly runs = new Map<string, Run>();
  /** Every host whose process has not exited yet (including retired ones being killed). */
  private readonly live = new Set<Host>();
  private hostCount = 0;
  private nextHostId = 1;
  private nextSeq = 1;
  private closing = false;
  private pumping = false;
  private pumpAgain = false;
  private sweeper?: NodeJS.Timeout;
  private status?: SandboxStatus;
  private init?: Promise<SandboxStatus>;
  private readonly runtimes = new Map<FunctionRuntime, RuntimeInfo | Error>();
  /** Prefix of this pool's default run ids and output markers (random once: no entropy per call). */
  private readonly idPrefix = randomBytes(6).toString('hex');
  private readonly opts: Required<Omit<FunctionPoolOptions, 'logger' | 'python' | 'node'>> & Pick<FunctionPoolOptions, 'logger' | 'python' | 'node'>;

  constructor(opts: FunctionPoolOptions = {}) {
    this.opts = {
      maxInvocationsPerProcess: 100,
      idleTimeoutMs: 60_000,
      maxProcessesPerFunction: 4,
      maxProcesses: 32,
      sandbox: 'auto',
      startTimeoutMs: 10_000,
      maxResultBytes: 6 * 1024 * 1024,
      tmpMb: 64,
      workDir: tmpdir(),
      maxProcessesPerHost: 64,
      maxLogLines: 10_000,
      cgroups: true,
      ...opts,
    };
  }

  /**
   * Detects isolation (see {@link sandboxStatus}) and logs a warning when functions will run
   * without it. Called by the first {@link run}; call it at start-up to log early.
   */
  start(): Promise<SandboxStatus> {
    this.init ??= sandboxStatus(this.opts.sandbox).then(async (status) => {
      await removeOrphanDirs(this.opts.workDir);
      sweepCgroups();
      if (!this.opts.cgroups && status.cgroups) status = { ...status, cgroups: false, cgroupsReason: 'cgroups turned off for this pool (cgroups: false)' };
      this.status = status;
      if (!status.isolated) this.opts.logger?.warn('functions run without isolation', { reason: status.reason, sandbox: status.mode });
      else this.opts.logger?.info('functions run isolated by bubblewrap', { bwrap: status.bwrapVersion, user: status.user, cgroups: status.cgroups });
      if (!status.cgroups) {
        this.opts.logger?.warn('function memory and process totals are not capped (no cgroups): only per-process rlimits apply, so a function can multiply its memory by forking and fork without limit', { reason: status.cgroupsReason });
      }
      return status;
    });
    return this.init;
  }

  /** The isolation in use, once {@link start} has run. */
  sandboxStatus(): SandboxStatus | undefined {
    return this.status;
  }

  /**
   * Runs one invocation of `spec` with `event`.
   * @returns the handler's result with the invocation's logs and measurements.
   * @throws FunctionRunError: TIMEOUT (timeout_ms passed, or loading passed startTimeoutMs + timeout_ms;
   *   the process tree is killed); ALGORITHM_ERROR with reason handler_error (message: the error's
   *   `Name: message` and its stack frames in the user's code), invalid_result (not JSON),
   *   result_too_large, out_of_memory (memory_mb reached), crashed, load_error (bad code, no handler),
   *   cancelled; SERVICE_UNAVAILABLE when closing or isolation is required and missing.
   * @throws AppError VALIDATION_ERROR for a malformed spec or an event that is not JSON.
   */
  run(spec: FunctionSpec, event: unknown, opts: RunOptions = {}): Promise<FunctionRunResult> {
    // Everything below is synchronous once isolation and the runtime are known (no extra await per call).
    const runtime = spec?.runtime;
    if (!this.closing && (!this.status || ((runtime === 'nodejs' || runtime === 'python') && !this.runtimes.has(runtime)))) {
      return this.prepare(runtime).then(() => this.run(spec, event, opts));
    }
    try {
      return this.enqueue(spec, event, opts);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Detects isolation and resolves `runtime`'s executable once (a failure is kept and reported by each run). */
  private async prepare(runtime: FunctionRuntime | undefined): Promise<void> {
    if (!this.status) await this.start();
    if ((runtime === 'nodejs' || runtime === 'python') && !this.runtimes.has(runtime)) {
      try {
        this.runtimes.set(runtime, await resolveRuntime(runtime, runtime === 'python' ? this.opts.python : this.opts.node));
      } catch (err) {
        this.runtimes.set(runtime, err as Error);
      }
    }
  }

  private enqueue(spec: FunctionSpec, event: unknown, opts: RunOptions): Promise<FunctionRunResult> {
    if (this.closing) throw this.closedError(opts.run_id ?? '');
    const config = validateSpec(spec);
    let eventJson: string | undefined;
    try {
      eventJson = JSON.stringify(event ?? null);
    } catch (err) {
      throw new AppError('VALIDATION_ERROR', `event is not JSON: ${(err as Error).message}`, { field: 'event' });
    }
    if (eventJson === undefined) throw new AppError('VALIDATION_ERROR', 'event is not JSON', { field: 'event' });
    if (this.opts.sandbox === 'bwrap' && !this.status!.isolated) {
      throw new FunctionRunError('SERVICE_UNAVAILABLE', `function isolation is required but unavailable: ${this.status!.reason}`, 'closed', emptyReport(opts.run_id ?? ''));
    }
    const runtime = this.runtimes.get(config.runtime)!;
    if (runtime instanceof Error) {
      throw new FunctionRunError('SERVICE_UNAVAILABLE', `the ${config.runtime} runtime is not available: ${runtime.message}`, 'crashed', emptyReport(opts.run_id ?? ''));
    }
    const seq = this.nextSeq++;
    const id = opts.run_id ?? `${this.idPrefix}-${seq}`;
    if (this.runs.has(id)) throw new AppError('VALIDATION_ERROR', `run_id ${id} is already in use by a running invocation`, { field: 'run_id' });

    const key = `${spec.function_id}\u0000${String(spec.version)}`;
    this.groupFor(key, spec, config);
    // Unique per invocation (the handler can read it: it only guards against mix-ups, not forgery).
    const nonce = `${this.idPrefix}${seq.toString(16)}`;
    return new Promise<FunctionRunResult>((resolve, reject) => {
      const run: Run = {
        id,
        seq,
        spec,
        key,
        eventJson: eventJson!,
        resolve,
        reject,
        onProgress: opts.onProgress,
        state: 'queued',
        logs: [],
        outBytes: 0,
        truncated: false,
        nonce,
        marker: Buffer.from(`\x1eFNQ-END:${nonce}`, 'latin1'),
        waitingMarks: STDOUT | STDERR,
        createdAt: performance.now(),
        sentAt: 0,
        cold: false,
        startupMs: null,
      };
      this.runs.set(id, run);
      this.queue.push(run);
      this.pump();
    });
  }

  /**
   * Stops an invocation: a queued one is dropped, a running one has its process tree killed.
   * Either fails with reason `cancelled`.
   * @returns false when no invocation with that id is queued or running.
   */
  cancel(runId: string): boolean {
    const run = this.runs.get(runId);
    if (!run || run.state === 'done') return false;
    const host = run.host;
    this.failRun(run, 'ALGORITHM_ERROR', 'the invocation was cancelled', 'cancelled');
    if (host) this.retire(host, 'cancelled');
    return true;
  }

  /** Kills every process and fails queued and running invocations with SERVICE_UNAVAILABLE; waits for the processes to exit. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const run of [...this.runs.values()]) {
      const host = run.host;
      this.failRun(run, 'SERVICE_UNAVAILABLE', 'the function pool is shutting down', 'closed');
      if (host) this.retire(host, 'closed');
    }
    for (const group of this.groups.values()) for (const host of [...group.hosts]) this.retire(host, 'closed');
    await Promise.all([...this.live].map((h) => h.exited));
    removeWorkerCgroups();
  }

  /** The live processes, for monitoring and tests. */
  processes(): Array<{ function_id: string; version: string; pid: number | null; state: Host['state']; invocations: number }> {
    const out = [];
    for (const g of this.groups.values()) {
      for (const h of g.hosts) out.push({ function_id: g.function_id, version: g.version, pid: h.pid, state: h.state, invocations: h.invocations });
    }
    return out;
  }

  // ---- scheduling -------------------------------------------------------------------------------

  private groupFor(key: string, spec: FunctionSpec, config: HostConfig): Group {
    let group = this.groups.get(key);
    if (!group) {
      group = { key, function_id: spec.function_id, version: String(spec.version), config, hosts: new Set(), idle: [] };
      this.groups.set(key, group);
    } else if (!sameConfig(group.config, config)) {
      // Same version, different code/env/limits: old processes serve no new invocation.
      group.config = config;
      for (const host of [...group.hosts]) {
        if (host.state === 'idle') this.retire(host, 'stale');
        else host.retireAfterRun = true;
      }
    }
    return group;
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (let i = 0; i < this.queue.length && !this.closing; ) {
          const run = this.queue[i]!;
          const group = this.groups.get(run.key) ?? this.groupFor(run.key, run.spec, validateSpec(run.spec));
          const idle = group.idle.pop();
          if (idle) {
            this.queue.splice(i, 1);
            this.assign(idle, run);
            continue;
          }
          if (group.hosts.size < this.opts.maxProcessesPerFunction) {
            if (this.hostCount >= this.opts.maxProcesses) this.evictIdle();
            if (this.hostCount < this.opts.maxProcesses) {
              this.queue.splice(i, 1);
              this.spawnHost(group, run);
              continue;
            }
          }
          i++;
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private evictIdle(): void {
    let oldest: Host | undefined;
    for (const g of this.groups.values()) {
      const h = g.idle[0];
      if (h && (!oldest || h.lastUsed < oldest.lastUsed)) oldest = h;
    }
    if (oldest) this.retire(oldest, 'evicted');
  }

  private sweep(): void {
    const now = performance.now();
    for (const g of this.groups.values()) {
      for (const h of [...g.idle]) if (now - h.lastUsed >= this.opts.idleTimeoutMs) this.retire(h, 'idle');
    }
  }

  private ensureSweeper(): void {
    if (this.sweeper || this.closing) return;
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(this.opts.idleTimeoutMs / 2, 5000)));
    this.sweeper.unref();
  }

  private assign(host: Host, run: Run): void {
    host.state = 'busy';
    host.run = run;
    run.host = host;
    this.resetStreams(host);
    this.sendInvoke(host, run);
  }

  private resetStreams(host: Host): void {
    for (const s of host.streams) {
      s.partial = null;
      s.carry = null;
    }
  }

  private sendInvoke(host: Host, run: Run): void {
    run.state = 'running';
    for (const [i, s] of host.streams.entries()) if (s.ended) run.waitingMarks &= ~(i + 1);
    const timeout = run.spec.timeout_ms;
    const deadline = Date.now() + timeout;
    run.sentAt = performance.now();
    run.timer = setTimeout(() => this.onTimeout(run), timeout);
    host.proto!.write(
      `{"type":"invoke","id":${run.seq},"nonce":"${run.nonce}","run_id":${JSON.stringify(run.id)},"deadline_ms":${deadline},"event":${run.eventJson}}\n`,
    );
  }

  private onTimeout(run: Run): void {
    if (run.state === 'done') return;
    const host = run.host;
    this.opts.logger?.warn('function timed out; killing its process tree', { function_id: run.spec.function_id, version: String(run.spec.version), run_id: run.id, timeout_ms: run.spec.timeout_ms });
    this.failRun(run, 'TIMEOUT', `the function timed out after ${run.spec.timeout_ms} ms`, 'timeout', { timeout_ms: run.spec.timeout_ms });
    if (host) this.retire(host, 'timeout');
  }

  // ---- processes ---------------------------------------------------------------------------------

  private spawnHost(group: Group, run: Run): void {
    let markExited!: () => void;
    const exited = new Promise<void>((r) => (markExited = r));
    const host: Host = {
      id: this.nextHostId++,
      group,
      config: group.config,
      state: 'starting',
      isolated: this.status!.isolated,
      pid: null,
      invocations: 0,
      retireAfterRun: false,
      lastUsed: performance.now(),
      spawnedAt: performance.now(),
      protoBuf: '',
      stderrTail: Buffer.alloc(0),
      streams: [
        { partial: null, carry: null, ended: false },
        { partial: null, carry: null, ended: false },
      ],
      exited,
      markExited,
      launching: true,
      oomKills: 0,
    };
    group.hosts.add(host);
    this.live.add(host);
    this.hostCount++;
    host.run = run;
    run.host = host;
    run.state = 'starting';
    run.cold = true;
    this.ensureSweeper();
    // Loading runs the function's top-level code: its timeout_ms, plus the runtime's boot allowance.
    host.loadTimer = setTimeout(() => {
      if (host.state !== 'starting') return;
      const r = host.run;
      const limit = this.opts.startTimeoutMs + run.spec.timeout_ms;
      if (r) this.failRun(r, 'TIMEOUT', `the function did not finish loading within ${limit} ms`, 'timeout', { timeout_ms: limit });
      this.retire(host, 'load timeout');
    }, this.opts.startTimeoutMs + run.spec.timeout_ms);
    this.launch(host)
      .catch((err: unknown) => {
        const r = host.run;
        if (r) this.failRun(r, 'ALGORITHM_ERROR', `could not start the function's process: ${(err as Error).message}`, 'crashed');
        this.retire(host, 'spawn failed');
      })
      .finally(() => {
        host.launching = false;
        if (!host.proc && host.state === 'dead') {
          // Stopped (or failed) before its process existed: nothing will exit, clean up here.
          void cleanupHost(host).then(() => {
            this.live.delete(host);
            host.markExited();
          });
        }
      });
  }

  private async launch(host: Host): Promise<void> {
    const config = host.config;
    const runtime = this.runtimes.get(config.runtime) as RuntimeInfo;
    const dir = await mkdtemp(path.join(this.opts.workDir, `${DIR_PREFIX}${process.pid}-`));
    host.dir = dir;
    if (host.state === 'dead') return;
    const codeDir = path.join(dir, 'code');
    const workDir = path.join(dir, 'work');
    await mkdir(codeDir);
    await mkdir(workDir);
    await writeCodeFiles(codeDir, config);
    if (config.deps_dir && config.runtime === 'nodejs' && !host.isolated) {
      await symlink(nodeModulesOf(config.deps_dir), path.join(codeDir, 'node_modules'));
    }
    // Under bwrap as root the code runs as nobody: it must be able to read its own files (the
    // parent folder stays 0700, so nobody else on the machine can).
    await chmod(codeDir, 0o755);
    if (isDead(host)) return;
    const cg = this.status!.cgroups ? probeCgroups() : undefined;
    if (cg?.ok) {
      // Total memory of the tree: memory_mb plus the private /tmp (tmpfs pages are charged to it).
      host.cgroup = new HostCgroup(cg.roots, `${this.idPrefix}-${host.id}`, {
        maxTasks: this.opts.maxProcessesPerHost,
        memoryBytes: (config.memory_mb + this.opts.tmpMb) * 1024 * 1024,
      });
      host.oomKills = Math.max(0, host.cgroup.oomKills());
    }
    const launch = buildHostLaunch({
      runtime,
      isolated: host.isolated,
      codeDir,
      workDir,
      depsDir: config.deps_dir,
      memoryMb: config.memory_mb,
      tmpBytes: this.opts.tmpMb * 1024 * 1024,
      cgroupProcs: host.cgroup?.procsFiles(),
    });
    const proc = spawn(launch.command, launch.args, { env: launch.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    host.proc = proc;
    host.pid = proc.pid ?? null;
    const proto = proc.stdio[3] as Socket;
    host.proto = proto;
    proto.setEncoding('utf8');
    proto.on('data', (chunk: string) => this.onProto(host, chunk));
    proto.on('error', () => undefined);
    proc.stdout!.on('data', (c: Buffer) => this.onOutput(host, 0, c));
    proc.stderr!.on('data', (c: Buffer) => this.onOutput(host, 1, c));
    proc.stdout!.on('end', () => this.onStreamEnd(host, 0));
    proc.stderr!.on('end', () => this.onStreamEnd(host, 1));
    proc.on('error', (err) => {
      if (!host.exitInfo) {
        host.exitInfo = { code: null, signal: null, error: err };
        this.onHostExit(host);
      }
    });
    proc.on('exit', (code, signal) => {
      host.exitInfo = { code, signal };
      this.drainThenExit(host);
    });
    // The function's env, plus PATH, HOME=/tmp and LANG unless it sets them: sent over fd 3, not
    // on bwrap's command line (`--setenv`), which any local user could read in /proc/<pid>/cmdline.
    const env = { ...BASE_ENV, ...config.env };
    proto.write(
      JSON.stringify({
        type: 'init',
        env,
        handler: config.handler,
        code_dir: launch.hostCodeDir,
        deps: launch.hostDeps,
        cwd: launch.hostCwd,
        function_id: host.group.function_id,
        version: host.group.version,
        max_result_bytes: this.opts.maxResultBytes,
        memory_mb: config.memory_mb,
        // Without cgroups the host counts the processes it left behind itself (see node-host.mjs).
        count_processes: host.cgroup ? null : host.isolated ? 'proc' : 'children',
      }) + '\n',
    );
  }

  private drainThenExit(host: Host): void {
    const [out, err] = host.streams;
    if (out.ended && err.ended) return this.onHostExit(host);
    const timer = setTimeout(() => this.onHostExit(host), EXIT_DRAIN_MS);
    const check = () => {
      if (out.ended && err.ended) {
        clearTimeout(timer);
        this.onHostExit(host);
      }
    };
    host.proc?.stdout?.once('end', check);
    host.proc?.stderr?.once('end', check);
  }

  private onHostExit(host: Host): void {
    if (!this.live.has(host)) return;
    this.live.delete(host);
    const run = host.run;
    if (host.state !== 'dead') {
      // It died on its own: crash, out of memory, exit() in user code, or the load failed.
      if (run && run.state !== 'done') this.failFromExit(host, run);
      this.retire(host, 'exited');
    }
    host.proc?.stdout?.destroy();
    host.proc?.stderr?.destroy();
    host.proto?.destroy();
    void cleanupHost(host).then(() => host.markExited());
  }

  private failFromExit(host: Host, run: Run): void {
    const info = host.exitInfo ?? { code: null, signal: null };
    let signal = info.signal;
    // bwrap reports a signalled child as exit code 128 + signal.
    if (!signal && host.isolated && info.code !== null && info.code > 128) signal = signalName(info.code - 128);
    const tail = host.stderrTail.toString('utf8');
    const how = info.error ? `could not be started (${info.error.message})` : signal ? `was killed by ${signal}` : `exited with code ${info.code}`;
    const cgroupOom = host.cgroup ? host.cgroup.oomKills() > host.oomKills : false;
    if (cgroupOom || OOM_TEXT.test(tail)) {
      const when = run.state === 'starting' ? ' while loading' : '';
      const by = cgroupOom ? `; the kernel killed it at the ${host.config.memory_mb + this.opts.tmpMb} MB total of its cgroup (memory_mb + /tmp)` : '';
      this.failRun(run, 'ALGORITHM_ERROR', `the function ran out of memory at its ${host.config.memory_mb} MB limit${when} (its process ${how}${by})`, 'out_of_memory', { memory_mb: host.config.memory_mb });
      return;
    }
    if (run.state === 'starting' && signal === 'SIGABRT' && host.config.runtime === 'nodejs' && !tail.trim()) {
      // V8 or libuv failing an allocation (a thread stack, a heap reservation) at start aborts silently.
      this.failRun(run, 'ALGORITHM_ERROR', `the function ran out of memory at its ${host.config.memory_mb} MB limit while loading (its process ${how}; Node needs at least ${MIN_MEMORY_MB.nodejs} MB)`, 'out_of_memory', { memory_mb: host.config.memory_mb });
      return;
    }
    if (run.state === 'starting') {
      const lastLines = tail.trim().split('\n').slice(-5).join('\n');
      this.failRun(run, 'ALGORITHM_ERROR', `the function's process ${how} while loading${lastLines ? `:\n${lastLines}` : ''}`, 'load_error');
      return;
    }
    const hint = signal === 'SIGKILL' ? ' (possibly the system ran out of memory)' : '';
    this.failRun(run, 'ALGORITHM_ERROR', `the function's process ${how}${hint}`, 'crashed', { exit_code: info.code, signal });
  }

  /** Takes a process out of service for good and kills its tree; a run still on it must already be settled. */
  private retire(host: Host, why: string): void {
    if (host.state === 'dead') return;
    host.state = 'dead';
    host.killedFor = why;
    clearTimeout(host.loadTimer);
    const g = host.group;
    g.hosts.delete(host);
    const i = g.idle.indexOf(host);
    if (i >= 0) g.idle.splice(i, 1);
    this.hostCount--;
    const run = host.run;
    if (run && run.state !== 'done') this.failRun(run, 'ALGORITHM_ERROR', `the function's process was stopped (${why})`, 'crashed');
    host.run = undefined;
    // A host still launching is cleaned up when its launch sees it dead.
    if (host.proc?.pid && !host.exitInfo) killProcessTree(host.proc.pid, host.isolated);
    host.cgroup?.killAll();
    if (g.hosts.size === 0 && !this.queue.some((r) => r.key === g.key)) this.groups.delete(g.key);
    if (!this.closing) this.pump();
  }

  // ---- protocol ----------------------------------------------------------------------------------

  private onProto(host: Host, chunk: string): void {
    host.protoBuf += chunk;
    if (host.protoBuf.length > this.opts.maxResultBytes * 2 + 1024 * 1024) {
      const run = host.run;
      if (run) this.failRun(run, 'ALGORITHM_ERROR', "the function's process sent an oversized message", 'crashed');
      this.retire(host, 'protocol violation');
      return;
    }
    let nl: number;
    while ((nl = host.protoBuf.indexOf('\n')) >= 0) {
      const line = host.protoBuf.slice(0, nl);
      host.protoBuf = host.protoBuf.slice(nl + 1);
      if (!line) continue;
      let msg: { type: string } & Record<string, unknown>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        const run = host.run;
        if (run) this.failRun(run, 'ALGORITHM_ERROR', "the function's process broke the host protocol", 'crashed');
        this.retire(host, 'protocol violation');
        return;
      }
      this.onMessage(host, msg);
      if (host.state === 'dead') return;
    }
  }

  /**
   * The function can write to fd 3 too, so a message is taken only when it fits the host's state:
   * while loading, `ready` or `load_error`; while a run is in flight and has no result yet, that
   * run's `result` (its id and nonce). Anything else fails the run in flight (if any) and retires the
   * process.
   */
  private protocolViolation(host: Host, what: string): void {
    const run = host.run;
    if (run && run.state !== 'done') this.failRun(run, 'ALGORITHM_ERROR', `the function's process broke the host protocol (${what}); the function must not write to fd 3`, 'crashed');
    this.retire(host, 'protocol violation');
  }

  private onMessage(host: Host, msg: { type: string } & Record<string, unknown>): void {
    const run = host.run;
    const type = typeof msg?.type === 'string' ? msg.type : typeof msg;
    if (type === 'ready' || type === 'load_error') {
      if (host.state !== 'starting' || (run && run.state !== 'starting')) return this.protocolViolation(host, `unexpected '${type}' message`);
    } else if (type === 'result' || type === 'progress') {
      if (host.state !== 'busy' || !run || run.state !== 'running' || run.result || msg.id !== run.seq || msg.nonce !== run.nonce) {
        return this.protocolViolation(host, `a '${type}' message that is not the one of the invocation in flight`);
      }
      if (type === 'progress') {
        const percent = typeof msg.percent === 'number' && Number.isFinite(msg.percent) ? Math.min(100, Math.max(0, msg.percent)) : 0;
        run.onProgress?.(percent, typeof msg.message === 'string' ? msg.message.slice(0, 1000) : undefined);
        return;
      }
    } else return this.protocolViolation(host, `unexpected '${String(type).slice(0, 40)}' message`);
    if (msg.type === 'ready') {
      clearTimeout(host.loadTimer);
      host.cgroup?.watchHost(host.isolated ? ISOLATED_BASE_PROCESSES - 1 : 0);
      host.state = 'busy';
      if (run && run.state === 'starting') {
        run.startupMs = performance.now() - host.spawnedAt;
        this.sendInvoke(host, run);
      } else this.release(host);
      return;
    }
    if (msg.type === 'load_error') {
      const e = sanitizeError(msg.error);
      if (run && run.state !== 'done') {
        if (e.kind === 'out_of_memory') {
          this.failRun(run, 'ALGORITHM_ERROR', `the function ran out of memory at its ${host.config.memory_mb} MB limit while loading (${errorHead(e)})`, 'out_of_memory', { memory_mb: host.config.memory_mb });
        } else {
          this.failRun(run, 'ALGORITHM_ERROR', `could not load the function: ${[`${e.name}: ${e.message}`, ...e.stack].join('\n')}`, 'load_error', errorDetails(e));
        }
      }
      this.retire(host, 'load error');
      return;
    }
    if (msg.type === 'result') {
      const res = msg as unknown as ResultMessage;
      if (!run) return;
      if (!res.ok) res.error = sanitizeError(res.error);
      run.result = res;
      run.waitingMarks &= res.marks;
      if (run.waitingMarks) {
        run.markerTimer = setTimeout(() => {
          // Its output streams no longer end where they should: finish the run, distrust the process.
          host.retireAfterRun = true;
          run.waitingMarks = 0;
          this.tryComplete(run);
        }, MARKER_GRACE_MS);
      }
      this.tryComplete(run);
    }
  }

  private tryComplete(run: Run): void {
    if (run.state !== 'running' || !run.result || run.waitingMarks) return;
    const host = run.host!;
    const res = run.result;
    clearTimeout(run.timer);
    clearTimeout(run.markerTimer);
    run.state = 'done';
    this.runs.delete(run.id);
    host.run = undefined;
    host.invocations++;
    const report: FunctionRunReport = {
      run_id: run.id,
      logs: run.logs,
      truncated: run.truncated,
      duration_ms: performance.now() - run.sentAt,
      handler_ms: res.handler_ms,
      cpu_ms: res.cpu_ms,
      peak_rss_bytes: res.peak_rss_bytes,
      cold_start: run.cold,
      startup_ms: run.startupMs,
      host_pid: host.pid,
    };
    // Anything the invocation left running (a background or daemonized process) ends with the
    // process: counted in its cgroup by the parent (one pread), else by the host itself.
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
    if (stray > 0 || oomKilled > 0) {
      this.opts.logger?.debug('function left processes behind or was OOM-killed; retiring its process', { function_id: run.spec.function_id, run_id: run.id, stray_processes: stray, oom_kills: oomKilled });
      this.retire(host, stray > 0 ? 'stray processes' : 'out of memory');
    } else if (res.recycle || host.retireAfterRun || host.invocations >= this.opts.maxInvocationsPerProcess) this.retire(host, res.recycle ? 'error' : 'recycle');
    else this.release(host);
    const spec = run.spec;
    if (oomKilled > 0) {
      run.reject(
        new FunctionRunError(
          'ALGORITHM_ERROR',
          `the function ran out of memory at its ${spec.memory_mb} MB limit (the kernel killed ${oomKilled} of its processes at the ${spec.memory_mb + this.opts.tmpMb} MB total of its cgroup, memory_mb + /tmp)`,
          'out_of_memory',
          report,
          { memory_mb: spec.memory_mb },
        ),
      );
      return;
    }
    if (res.ok) {
      run.resolve({ ...report, result: res.result ?? null });
      return;
    }
    const e = res.error!;
    let err: FunctionRunError;
    if (e.kind === 'out_of_memory') {
      err = new FunctionRunError('ALGORITHM_ERROR', `the function ran out of memory at its ${spec.memory_mb} MB limit (${errorHead(e)})`, 'out_of_memory', report, { memory_mb: spec.memory_mb });
    } else if (e.kind === 'invalid_result' || e.kind === 'result_too_large') {
      err = new FunctionRunError('ALGORITHM_ERROR', e.message, e.kind, report);
    } else {
      err = new FunctionRunError('ALGORITHM_ERROR', [`${e.name}: ${e.message}`, ...e.stack].join('\n'), 'handler_error', report, errorDetails(e));
    }
    run.reject(err);
  }

  private release(host: Host): void {
    if (host.state === 'dead') return;
    host.state = 'idle';
    host.lastUsed = performance.now();
    host.group.idle.push(host);
    this.pump();
  }

  /** Settles a run as failed (once), with what was captured so far. The caller deals with its process. */
  private failRun(run: Run, code: ErrorCode, message: string, reason: FunctionFailure, details: Record<string, unknown> = {}): void {
    if (run.state === 'done') return;
    const wasQueued = run.state === 'queued';
    run.state = 'done';
    clearTimeout(run.timer);
    clearTimeout(run.markerTimer);
    this.runs.delete(run.id);
    if (wasQueued) {
      const i = this.queue.indexOf(run);
      if (i >= 0) this.queue.splice(i, 1);
    }
    const host = run.host;
    if (host) {
      // A line cut short by the end keeps what was printed.
      for (const [i, s] of host.streams.entries()) {
        if (s.partial?.length && !run.truncated) this.emit(run, i === 0 ? 'stdout' : 'stderr', s.partial, new Date().toISOString());
        s.partial = null;
      }
      if (host.run === run) host.run = undefined;
    }
    const report: FunctionRunReport = {
      run_id: run.id,
      logs: run.logs,
      truncated: run.truncated,
      duration_ms: performance.now() - (run.sentAt || run.createdAt),
      handler_ms: null,
      cpu_ms: null,
      peak_rss_bytes: null,
      cold_start: run.cold,
      startup_ms: run.startupMs,
      host_pid: host?.pid ?? null,
    };
    if (reason !== 'closed' && reason !== 'cancelled') {
      this.opts.logger?.debug('function invocation failed', { function_id: run.spec.function_id, version: String(run.spec.version), run_id: run.id, reason });
    }
    run.reject(new FunctionRunError(code, message, reason, report, details));
  }

  private closedError(runId: string): FunctionRunError {
    return new FunctionRunError('SERVICE_UNAVAILABLE', 'the function pool is shutting down', 'closed', emptyReport(runId));
  }

  // ---- output ------------------------------------------------------------------------------------

  private onStreamEnd(host: Host, idx: 0 | 1): void {
    host.streams[idx].ended = true;
    const run = host.run;
    if (run && run.state === 'running') {
      run.waitingMarks &= ~(idx + 1);
      this.tryComplete(run);
    }
  }

  /**
   * Output of a process: lines go to the current run's logs until max_output_bytes (stdout and
   * stderr together, each line costing its bytes + {@link LOG_LINE_OVERHEAD_BYTES}) or maxLogLines,
   * then one `[output truncated at N bytes]` (or `… N lines]`) line and the rest is read and
   * dropped, only searched for the run's end marker (so 100 MB printed costs a scan, not memory).
   * Output with no run in flight (a background task after its run ended) is dropped.
   */
  private onOutput(host: Host, idx: 0 | 1, chunk: Buffer): void {
    if (idx === 1) {
      const recent = chunk.length >= STDERR_TAIL_BYTES ? chunk.subarray(chunk.length - STDERR_TAIL_BYTES) : chunk;
      const tail = Buffer.concat([host.stderrTail, recent]);
      host.stderrTail = tail.length > STDERR_TAIL_BYTES ? Buffer.from(tail.subarray(tail.length - STDERR_TAIL_BYTES)) : tail;
    }
    const run = host.run;
    const bit = idx + 1;
    if (!run || run.state === 'done' || !(run.waitingMarks & bit)) return;
    const st = host.streams[idx];
    const stream = idx === 0 ? 'stdout' : 'stderr';
    if (run.truncated) return this.discard(run, st, bit, chunk);
    const ts = new Date().toISOString();
    const data = st.partial ? Buffer.concat([st.partial, chunk]) : chunk;
    st.partial = null;
    const marker = run.marker;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const line = data.subarray(start, nl);
      start = nl + 1;
      if (line.length >= marker.length && line[line.length - marker.length] === 0x1e && line.subarray(line.length - marker.length).equals(marker)) {
        const before = line.subarray(0, line.length - marker.length);
        if (before.length) this.emit(run, stream, before, ts);
        this.markerSeen(run, bit);
        return;
      }
      this.emit(run, stream, line, ts);
      if (run.truncated) return this.discard(run, st, bit, data.subarray(start));
    }
    const rest = data.subarray(start);
    if (!rest.length) return;
    const room = run.spec.max_output_bytes - run.outBytes;
    if (rest.length > room + marker.length) {
      // This line will pass the cap whatever follows: keep what fits, then drop. A marker can only
      // sit in the last marker.length bytes of an unended line, so none is cut here.
      this.emit(run, stream, rest.subarray(0, Math.max(0, room)), ts);
      this.truncate(run, stream, ts, 'bytes');
      return this.discard(run, st, bit, rest.subarray(Math.max(0, room)));
    }
    st.partial = Buffer.from(rest);
  }

  /**
   * Adds one line within the budget: it costs its bytes plus {@link LOG_LINE_OVERHEAD_BYTES}, and at
   * most maxLogLines are kept (cutting the last one at the cap and marking truncation when it does not fit).
   */
  private emit(run: Run, stream: 'stdout' | 'stderr', line: Buffer, ts: string): void {
    if (run.logs.length >= this.opts.maxLogLines) return this.truncate(run, stream, ts, 'lines');
    const cap = run.spec.max_output_bytes;
    const cost = line.length + LOG_LINE_OVERHEAD_BYTES;
    if (run.outBytes + cost <= cap) {
      run.outBytes += cost;
      run.logs.push({ ts, stream, line: line.toString('utf8') });
      return;
    }
    // The cut line keeps what fits with its own overhead counted, like every line.
    const room = cap - run.outBytes - LOG_LINE_OVERHEAD_BYTES;
    if (room > 0) run.logs.push({ ts, stream, line: line.subarray(0, room).toString('utf8') });
    run.outBytes = cap;
    this.truncate(run, stream, ts, 'bytes');
  }

  private truncate(run: Run, stream: 'stdout' | 'stderr', ts: string, why: 'bytes' | 'lines'): void {
    if (run.truncated) return;
    run.truncated = true;
    const at = why === 'lines' ? `${this.opts.maxLogLines} lines` : `${run.spec.max_output_bytes} bytes`;
    run.logs.push({ ts, stream, line: `[output truncated at ${at}]` });
  }

  /** Reads past output without keeping it, looking only for the run's end marker (also across two reads). */
  private discard(run: Run, st: StreamState, bit: number, data: Buffer): void {
    if (!(run.waitingMarks & bit)) return;
    const marker = run.marker;
    if (st.carry) {
      const joined = Buffer.concat([st.carry, data.subarray(0, marker.length)]);
      if (joined.indexOf(marker) >= 0) return this.markerSeen(run, bit);
    }
    if (data.indexOf(marker) >= 0) return this.markerSeen(run, bit);
    const keep = marker.length - 1;
    if (data.length >= keep) st.carry = Buffer.from(data.subarray(data.length - keep));
    else st.carry = Buffer.concat([st.carry ?? Buffer.alloc(0), data]).subarray(-keep);
  }

  private markerSeen(run: Run, bit: number): void {
    const host = run.host;
    if (host) {
      const st = host.streams[bit - 1]!;
      st.partial = null;
      st.carry = null;
    }
    run.waitingMarks &= ~bit;
    this.tryComplete(run);
  }
}

/** Code folders are `<workDir>/fnqueue-fn-<worker pid>-<random>`. */
const DIR_PREFIX = 'fnqueue-fn-';

/** Removes code folders left by workers that died without closing their pool (their pid is gone). */
async function removeOrphanDirs(workDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (name) => {
      const pid = Number(/^fnqueue-fn-(\d+)-/.exec(name)?.[1]);
      if (!pid || pid === process.pid) return;
      try {
        process.kill(pid, 0);
        return; // its worker still runs (or the pid was reused: leave it)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return;
      }
      await rm(path.join(workDir, name), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

/** Removes a host's code folder and cgroup once its process is gone (or never started). */
async function cleanupHost(host: Host): Promise<void> {
  const dir = host.dir;
  await Promise.all([dir ? rm(dir, { recursive: true, force: true }).catch(() => undefined) : undefined, host.cgroup?.remove()]);
}

/** Whether a host was retired (a function, so TypeScript does not narrow the state across awaits). */
function isDead(host: Host): boolean {
  return host.state === 'dead';
}

function emptyReport(runId: string): FunctionRunReport {
  return { run_id: runId, logs: [], truncated: false, duration_ms: 0, handler_ms: null, cpu_ms: null, peak_rss_bytes: null, cold_start: false, startup_ms: null, host_pid: null };
}

/** `Name: message`, or just the name when the message is empty (Python's bare MemoryError). */
function errorHead(e: HostError): string {
  return e.message ? `${e.name}: ${e.message}` : e.name;
}

/** A host's error object as strings, whatever the process sent (it may be forged). */
function sanitizeError(e: unknown): HostError {
  const o = (e && typeof e === 'object' ? e : {}) as Record<string, unknown>;
  const str = (v: unknown, d: string) => (typeof v === 'string' ? v : d);
  return {
    kind: str(o.kind, 'handler_error'),
    name: str(o.name, 'Error'),
    message: str(o.message, ''),
    stack: Array.isArray(o.stack) ? o.stack.filter((x): x is string => typeof x === 'string') : [],
  };
}

function errorDetails(e: HostError): Record<string, unknown> {
  return { error_type: e.name, error_message: e.message, stack: e.stack };
}

function signalName(n: number): NodeJS.Signals | null {
  const names: Record<number, NodeJS.Signals> = { 1: 'SIGHUP', 2: 'SIGINT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };
  return names[n] ?? null;
}

function sameConfig(a: HostConfig, b: HostConfig): boolean {
  if (a.runtime !== b.runtime || a.handler !== b.handler || a.memory_mb !== b.memory_mb || a.deps_dir !== b.deps_dir || a.code !== b.code) return false;
  const ak = Object.keys(a.env);
  const bk = Object.keys(b.env);
  return ak.length === bk.length && ak.every((k) => a.env[k] === b.env[k]);
}

const invalid = (field: string, message: string) => new AppError('VALIDATION_ERROR', `${field} ${message}`, { field });

/** Checks a spec's fields and returns its host part. @throws AppError VALIDATION_ERROR naming the field. */
function validateSpec(spec: FunctionSpec): HostConfig {
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
async function writeCodeFiles(codeDir: string, config: HostConfig): Promise<void> {
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

// ---- syntax check at deploy -------------------------------------------------------------------------

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

/**
 * Checks code for syntax errors at deploy, without running any of it: Node compiles it as a
 * CommonJS function body in this process (vm.compileFunction, no execution), and when only an ES
 * module explains the error, runs `node --check` on it as a .mjs file in a child; Python compiles
 * it with `compile()` in a child python3 (capped at 1 GB of address space and 10 s).
 * @returns null when it compiles, else the compiler's message with the line, e.g.
 *   `SyntaxError: Unexpected token '}' (line 3)` or `SyntaxError: invalid syntax (line 1, column 8)`.
 * @throws AppError VALIDATION_ERROR for an unknown runtime; Error when the runtime cannot be started.
 */
export async function checkSyntax(runtime: FunctionRuntime, code: string, opts: { python?: string; node?: string } = {}): Promise<string | null> {
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
    const py = await resolveRuntime('python', opts.python);
    const prlimit = sandboxTools().prlimit;
    const cmd = prlimit ? [prlimit, '--core=0', `--as=${1024 * 1024 * 1024}`, '--', py.executable] : [py.executable];
    const out = await runCollect(cmd[0]!, [...cmd.slice(1), '-I', '-B', '-c', PYTHON_CHECK], code, CHECK_TIMEOUT_MS);
    if (out.timedOut) return `the code could not be compiled within ${CHECK_TIMEOUT_MS} ms`;
    if (out.code === 0) {
      const parsed = JSON.parse(out.stdout.trim() || 'null') as string | null;
      return parsed;
    }
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
