// Over 500 lines: the scheduler is one state machine (queue, hosts, runs) whose transitions must be read together.
/**
 * The warm pool of user-function host processes (docs/functions.md, "Warm processes"): scheduling
 * invocations onto processes, one host per function version, with a timeout, a memory cap, an
 * output cap and only the function's own env. The API, storage and queue integration build on
 * {@link FunctionPool}.
 *
 * Its parts: ./host-process.ts starts a host (through ./sandbox.ts, running
 * ./runtimes/node-host.mjs or ./runtimes/python-host.py); the pool and the host speak the tagged
 * messages of ./host-protocol.ts over fd 3; fds 1 and 2 are the user's stdout and stderr, captured
 * by ./output-capture.ts as the invocation's logs; ./settle.ts turns an end into a result or an
 * error. The function can write to fd 3 too: only messages that fit the host's state are taken
 * (see onMessage), else the run fails and the process is retired.
 *
 * After each invocation, a host that left any process running (background, daemonized), or a
 * thread, timer or other event-loop resource in its own process (`stray_threads`), is retired
 * right after its result: its process tree and cgroup are killed (see ./sandbox.ts, "Limits").
 * Those counts are the host's own; an idle host is also audited from here (./idle-audit.ts): one
 * whose tree starts threads or uses CPU after its result is retired too.
 * A host that failed, timed out or broke the protocol is killed, never handed back to the pool.
 *
 * All hosts together stay within a memory budget counted by their functions' memory_mb
 * (./memory-budget.ts gives its default; see makeRoom and waitForMemory).
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resolveRuntime, type FunctionRuntime, type RuntimeInfo } from '../../shared/functions/runtimes.js';
import { AppError, type ErrorCode } from '../../shared/errors/index.js';
import { removeWorkerCgroups, sweepCgroups } from './cgroups.js';
import { emptyReport, type FunctionFailure, type FunctionPoolOptions, type FunctionRunResult, type FunctionSpec, type RunOptions } from './function-run.js';
import { FunctionRunError } from './function-run-error.js';
import { sameConfig, validateSpec, type HostConfig } from './function-spec.js';
import { MALFORMED, ParentCommand, encodeInvoke, type ParentMessage } from './host-protocol.js';
import { cleanupHost, launchHost, newHost, removeOrphanDirs, type HostEvents } from './host-process.js';
import { OutputCapture } from './output-capture.js';
import type { Group, Host, Run } from './pool-state.js';
import { defaultHostsMemoryBudgetMb, treesRssBytes } from './memory-budget.js';
import { killProcessTree } from './process-tree.js';
import { withoutLogContext } from '../../shared/logger.js';
import { AFTER_RESULT_AUDIT_MS, baselineUsage, HostStatFiles, IDLE_AUDIT_INTERVAL_MS, idleViolation, threadsAtResult, treeUsage, type TreeUsage } from './idle-audit.js';
import { sandboxStatus, unsandboxedRefusal, type SandboxStatus } from './sandbox.js';
import { cgroupOomFailure, completedReport, exitFailure, failedReport, handlerFailure, ISOLATED_BASE_PROCESSES, keepStderrTail, leftovers, loadFailure, type Failure } from './settle.js';


/** How long the end-of-output markers may trail a result before the process is distrusted, in ms. */
const MARKER_GRACE_MS = 2000;

type ResolvedOptions = Required<Omit<FunctionPoolOptions, 'logger' | 'python' | 'node' | 'searchPath'>> & Pick<FunctionPoolOptions, 'logger' | 'python' | 'node' | 'searchPath'>;

/** The pool's warm hosts against its memory budget (the heartbeat's `function_hosts`, docs/operations.md). */
export interface HostsMemoryUsage {
  /** {@link FunctionPoolOptions.memoryBudgetMb}, MiB. */
  budget_mb: number;
  /** Sum of the declared memory_mb of the live hosts (starting, busy, idle or still exiting), MiB; never above budget_mb. */
  reserved_mb: number;
  /** Measured summed VmRSS of the hosts' process trees, MiB rounded up; null without /proc. */
  rss_mb: number | null;
  /** Live host processes. */
  hosts: number;
  /** Of those, idle ones. */
  idle_hosts: number;
}

/**
 * Warm, isolated processes for user functions. Each function version gets its own processes
 * (never shared across functions or versions), each running one invocation at a time and reused
 * for the next one of the same version; a process is replaced after
 * `maxInvocationsPerProcess` invocations and after any crash, timeout, out-of-memory or uncaught
 * exception, and stopped when idle for `idleTimeoutMs`. Invocations beyond
 * `maxProcessesPerFunction` busy processes wait in FIFO order. All processes together stay within
 * `memoryBudgetMb`, counted by their declared memory_mb: idle ones are stopped (least recently
 * used first) to make room, and an invocation that busy ones leave no room for waits, at most its
 * timeout_ms (see {@link FunctionPoolOptions.memoryBudgetMb}).
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
  /** Idle hosts with their tree's CPU and threads right after their last result (./idle-audit.ts). */
  private readonly idleBaselines = new Map<Host, TreeUsage>();
  private auditor?: NodeJS.Timeout;
  private status?: SandboxStatus;
  private init?: Promise<SandboxStatus>;
  private readonly runtimes = new Map<FunctionRuntime, RuntimeInfo | Error>();
  /** Prefix of this pool's default run ids and output markers (random once: no entropy per call). */
  private readonly idPrefix = randomBytes(6).toString('hex');
  private readonly opts: ResolvedOptions;
  private readonly events: HostEvents = {
    onProto: (host, chunk) => this.onProto(host, chunk),
    onOutput: (host, idx, chunk) => this.onOutput(host, idx, chunk),
    onStreamEnd: (host, idx) => this.onStreamEnd(host, idx),
    onExit: (host) => this.onHostExit(host),
  };

  constructor(opts: FunctionPoolOptions = {}) {
    this.opts = {
      maxInvocationsPerProcess: 100,
      idleTimeoutMs: 60_000,
      maxProcessesPerFunction: 4,
      maxProcesses: 32,
      sandbox: 'auto',
      startTimeoutMs: 10_000,
      maxResultBytes: 1024 * 1024,
      tmpMb: 64,
      workDir: tmpdir(),
      maxProcessesPerHost: 64,
      maxLogLines: 10_000,
      cgroups: true,
      ...opts,
      memoryBudgetMb: opts.memoryBudgetMb ?? defaultHostsMemoryBudgetMb(),
    };
  }

  /**
   * Detects isolation (see {@link sandboxStatus}) and logs a warning when functions will run
   * without it. Called by the first {@link run}; call it at start-up to log early.
   */
  start(): Promise<SandboxStatus> {
    this.init ??= sandboxStatus(this.opts.sandbox, this.opts.searchPath).then(async (status) => {
      await removeOrphanDirs(this.opts.workDir);
      sweepCgroups();
      if (!this.opts.cgroups && status.cgroups) status = { ...status, cgroups: false, cgroupsReason: 'cgroups turned off for this pool (cgroups: false)' };
      this.status = status;
      const refusal = unsandboxedRefusal(status);
      if (refusal) this.opts.logger?.error(refusal, { reason: status.reason, sandbox: status.mode });
      else if (!status.isolated) this.opts.logger?.warn('functions run without isolation (FUNCTION_SANDBOX=off)', { reason: status.reason, sandbox: status.mode });
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
        this.runtimes.set(runtime, await resolveRuntime(runtime, runtime === 'python' ? this.opts.python : this.opts.node, this.opts.searchPath));
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
    const refusal = unsandboxedRefusal(this.status!);
    if (refusal) throw new FunctionRunError('SERVICE_UNAVAILABLE', refusal, 'closed', emptyReport(opts.run_id ?? ''), { sandbox: this.status!.mode, sandbox_reason: this.status!.reason });
    const runtime = this.runtimes.get(config.runtime)!;
    if (runtime instanceof Error) {
      throw new FunctionRunError('SERVICE_UNAVAILABLE', `the ${config.runtime} runtime is not available: ${runtime.message}`, 'crashed', emptyReport(opts.run_id ?? ''));
    }
    if (config.memory_mb > this.opts.memoryBudgetMb) {
      throw new FunctionRunError(
        'ALGORITHM_ERROR',
        `the function's memory_mb (${config.memory_mb} MB) is above this worker's memory budget for function processes (FUNCTION_HOSTS_MEMORY_BUDGET_MB=${this.opts.memoryBudgetMb})`,
        'memory_budget',
        emptyReport(opts.run_id ?? ''),
        { memory_mb: config.memory_mb, budget_mb: this.opts.memoryBudgetMb },
      );
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
        output: new OutputCapture(nonce, spec.max_output_bytes, this.opts.maxLogLines),
        nonce,
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
    // A queued run may have held back the ones behind it (see pump).
    else this.pump();
    return true;
  }

  /** Kills every process and fails queued and running invocations with SERVICE_UNAVAILABLE; waits for the processes to exit. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.auditor) clearInterval(this.auditor);
    for (const run of [...this.runs.values()]) {
      const host = run.host;
      this.failRun(run, 'SERVICE_UNAVAILABLE', 'the function pool is shutting down', 'closed');
      if (host) this.retire(host, 'closed');
    }
    for (const group of this.groups.values()) for (const host of [...group.hosts]) this.retire(host, 'closed');
    await Promise.all([...this.live].map((h) => h.exited));
    removeWorkerCgroups();
  }

  /** The live processes, for monitoring and tests (memory_mb: the function's, counted against the budget). */
  processes(): Array<{ function_id: string; version: string; pid: number | null; state: Host['state']; invocations: number; memory_mb: number }> {
    const out = [];
    for (const g of this.groups.values()) {
      for (const h of g.hosts) out.push({ function_id: g.function_id, version: g.version, pid: h.pid, state: h.state, invocations: h.invocations, memory_mb: h.config.memory_mb });
    }
    return out;
  }

  /** The hosts' memory against the budget now (reads /proc for the measured part: call it per heartbeat, not per run). */
  memoryUsage(): HostsMemoryUsage {
    let idle = 0;
    const pids: number[] = [];
    for (const h of this.live) {
      if (h.state === 'idle') idle++;
      if (h.pid && !h.exitInfo) pids.push(h.pid);
    }
    const rss = treesRssBytes(pids);
    return {
      budget_mb: this.opts.memoryBudgetMb,
      reserved_mb: this.reservedMb(),
      rss_mb: rss === null ? null : Math.ceil(rss / (1024 * 1024)),
      hosts: this.live.size,
      idle_hosts: idle,
    };
  }

  /** Declared memory_mb of every host whose process has not exited yet, MiB. */
  private reservedMb(): number {
    let mb = 0;
    for (const h of this.live) mb += h.config.memory_mb;
    return mb;
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
        // Once one run waits for memory, later ones start no new host in this pass (FIFO: a big
        // function is not starved by smaller ones); they still take idle hosts of their own.
        let waitingForMemory = false;
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
            if (waitingForMemory) {
              this.waitForMemory(run);
              i++;
              continue;
            }
            if (this.hostCount >= this.opts.maxProcesses) this.evictIdle();
            if (this.hostCount < this.opts.maxProcesses) {
              if (this.makeRoom(group.config.memory_mb)) {
                this.queue.splice(i, 1);
                this.spawnHost(group, run);
                continue;
              }
              waitingForMemory = true;
              this.waitForMemory(run);
              i++;
              continue;
            }
          }
          // Waiting for a process of its own function (or a pool slot), not for memory: unbounded, as before.
          this.stopWaitingForMemory(run);
          i++;
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private evictIdle(): void {
    const oldest = this.oldestIdle();
    if (oldest) this.retire(oldest, 'evicted');
  }

  /** The least recently used idle host of the pool. */
  private oldestIdle(): Host | undefined {
    let oldest: Host | undefined;
    for (const g of this.groups.values()) {
      const h = g.idle[0];
      if (h && (!oldest || h.lastUsed < oldest.lastUsed)) oldest = h;
    }
    return oldest;
  }

  /**
   * Whether a new host of `mb` MiB fits the memory budget now. When it does not, stops idle hosts
   * (least recently used first) until it will once they and the hosts already stopping have
   * exited (each exit pumps again); false meanwhile, and while busy hosts hold the rest.
   */
  private makeRoom(mb: number): boolean {
    const budget = this.opts.memoryBudgetMb;
    let held = 0;
    let leaving = 0;
    for (const h of this.live) {
      held += h.config.memory_mb;
      if (h.state === 'dead') leaving += h.config.memory_mb;
    }
    if (held + mb <= budget) return true;
    let after = held - leaving;
    while (after + mb > budget) {
      const oldest = this.oldestIdle();
      if (!oldest) break;
      after -= oldest.config.memory_mb;
      this.opts.logger?.debug('stopping an idle function process for the memory budget', { function_id: oldest.group.function_id, version: oldest.group.version, memory_mb: oldest.config.memory_mb, budget_mb: budget });
      this.retire(oldest, 'memory budget');
    }
    return false;
  }

  /**
   * Bounds a queued run's wait for memory by its timeout_ms (the timer is cleared when it leaves
   * the queue): past it, it fails with TIMEOUT naming the budget.
   */
  private waitForMemory(run: Run): void {
    if (run.timer) return;
    const since = performance.now();
    run.timer = setTimeout(() => {
      if (run.state !== 'queued') return;
      const budget = this.opts.memoryBudgetMb;
      this.failRun(
        run,
        'TIMEOUT',
        `the function waited ${run.spec.timeout_ms} ms for memory: this worker's function processes hold ${this.reservedMb()} of its ${budget} MB budget (FUNCTION_HOSTS_MEMORY_BUDGET_MB) in running invocations`,
        'timeout',
        { timeout_ms: run.spec.timeout_ms, waited_ms: Math.round(performance.now() - since), budget_mb: budget },
      );
      // Runs queued behind it may start now.
      this.pump();
    }, run.spec.timeout_ms);
  }

  private sweep(): void {
    const now = performance.now();
    for (const g of this.groups.values()) {
      for (const h of [...g.idle]) if (now - h.lastUsed >= this.opts.idleTimeoutMs) this.retire(h, 'idle');
    }
  }

  /**
   * The idle-host audit, from outside the host (./idle-audit.ts): an idle host whose process tree
   * started threads or uses CPU since its last result is retired. Hosts not idle leave the audit.
   */
  private auditIdle(only?: Host): void {
    for (const [h, base] of this.idleBaselines) {
      if (only && h !== only) continue;
      if (h.state !== 'idle' || !h.pid || h.exitInfo) {
        this.idleBaselines.delete(h);
        continue;
      }
      const now = treeUsage(h.pid, h.cgroup, h.statFiles, performance.now());
      if (!now) continue;
      const why = idleViolation(base, now);
      if (why) {
        this.idleBaselines.delete(h);
        this.opts.logger?.warn('idle function process kept working after its result; retiring it', { function_id: h.group.function_id, version: h.group.version, pid: h.pid, reason: why });
        this.retire(h, 'busy while idle');
      } else base.threads = Math.min(base.threads, now.threads);
    }
    if (this.idleBaselines.size === 0 && this.auditor) {
      clearInterval(this.auditor);
      this.auditor = undefined;
    }
  }

  /**
   * Puts a host just released into the idle audit: its threads now (a pread or a few), then its
   * baseline two check phases later, once the worker's reply to the result has been written (the
   * Redis connections write a turn's commands in its check phase; a timer instead would wake the
   * event loop once more per invocation, about 20 µs), one check shortly after, then the pool's
   * periodic one (./idle-audit.ts baselineUsage). A host taken by another run before then is not
   * audited.
   */
  private startIdleAudit(host: Host): void {
    if (!host.pid || this.closing) return;
    const invocations = host.invocations;
    const atResult = threadsAtResult(host.cgroup, host.statFiles);
    const stillIdle = () => host.state === 'idle' && host.invocations === invocations && !this.closing;
    // Outside the log context of the job that released the host: the audit's lines are not that job's.
    withoutLogContext(() => setImmediate(() => {
      if (!stillIdle()) return;
      setImmediate(() => {
        if (!stillIdle() || !host.pid) return;
        const base = baselineUsage(host.pid, host.cgroup, host.statFiles, atResult, performance.now());
        if (!base) return;
        this.idleBaselines.set(host, base);
        setTimeout(() => this.auditIdle(host), AFTER_RESULT_AUDIT_MS).unref();
        if (!this.auditor) {
          this.auditor = setInterval(() => this.auditIdle(), IDLE_AUDIT_INTERVAL_MS);
          this.auditor.unref();
        }
      });
    }));
  }

  private ensureSweeper(): void {
    if (this.sweeper || this.closing) return;
    this.sweeper = withoutLogContext(() => setInterval(() => this.sweep(), Math.max(50, Math.min(this.opts.idleTimeoutMs / 2, 5000))));
    this.sweeper.unref();
  }

  /** Clears the bound of {@link waitForMemory} (the run leaves the queue, or waits for something else). */
  private stopWaitingForMemory(run: Run): void {
    clearTimeout(run.timer);
    run.timer = undefined;
  }

  private assign(host: Host, run: Run): void {
    this.stopWaitingForMemory(run);
    this.idleBaselines.delete(host);
    host.state = 'busy';
    host.run = run;
    run.host = host;
    for (const s of host.streams) {
      s.partial = null;
      s.carry = null;
    }
    this.sendInvoke(host, run);
  }

  private sendInvoke(host: Host, run: Run): void {
    run.state = 'running';
    for (const [i, s] of host.streams.entries()) if (s.ended) run.output.waitingMarks &= ~(i + 1);
    const timeout = run.spec.timeout_ms;
    run.sentAt = performance.now();
    run.timer = setTimeout(() => this.onTimeout(run), timeout);
    host.proto!.write(encodeInvoke({ id: run.seq, nonce: run.nonce, run_id: run.id, deadline_ms: Date.now() + timeout, eventJson: run.eventJson }));
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
    this.stopWaitingForMemory(run);
    const host = newHost(this.nextHostId++, group, this.status!.isolated, this.opts.maxResultBytes * 2 + 1024 * 1024);
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
    const settings = {
      runtime: this.runtimes.get(host.config.runtime) as RuntimeInfo,
      workDir: this.opts.workDir,
      tmpMb: this.opts.tmpMb,
      maxProcessesPerHost: this.opts.maxProcessesPerHost,
      maxResultBytes: this.opts.maxResultBytes,
      cgroups: this.status!.cgroups,
      cgroupPrefix: this.idPrefix,
      searchPath: this.opts.searchPath,
    };
    launchHost(host, settings, this.events)
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
            // Its memory reservation is free now.
            if (!this.closing) this.pump();
          });
        }
      });
  }

  private onHostExit(host: Host): void {
    if (!this.live.has(host)) return;
    this.live.delete(host);
    const run = host.run;
    if (host.state !== 'dead') {
      // It died on its own: crash, out of memory, exit() in user code, or the load failed.
      if (run && run.state !== 'done') this.fail(run, exitFailure(host, run.state, this.opts.tmpMb));
      this.retire(host, 'exited');
    }
    host.proc?.stdout?.destroy();
    host.proc?.stderr?.destroy();
    host.proto?.destroy();
    void cleanupHost(host).then(() => host.markExited());
    // Its memory reservation is free now (a host retired for the budget frees it here, not at retire).
    if (!this.closing) this.pump();
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

  private release(host: Host): void {
    if (host.state === 'dead') return;
    host.state = 'idle';
    host.lastUsed = performance.now();
    host.group.idle.push(host);
    this.pump();
    // Audited only when no queued run took it (a host busy again is its next run's).
    if (host.state === 'idle') this.startIdleAudit(host);
  }

  // ---- protocol ----------------------------------------------------------------------------------

  private onProto(host: Host, chunk: string): void {
    if (!host.reader.push(chunk)) {
      const run = host.run;
      if (run) this.failRun(run, 'ALGORITHM_ERROR', "the function's process sent an oversized message", 'crashed');
      this.retire(host, 'protocol violation');
      return;
    }
    for (let msg = host.reader.next(); msg !== undefined; msg = host.reader.next()) {
      if (msg === MALFORMED) {
        const run = host.run;
        if (run) this.failRun(run, 'ALGORITHM_ERROR', "the function's process broke the host protocol", 'crashed');
        this.retire(host, 'protocol violation');
        return;
      }
      this.onMessage(host, msg);
      if (host.state === 'dead') return;
    }
  }

  /** Fails the run in flight (if any) for a message that does not fit, and retires the process. */
  private protocolViolation(host: Host, what: string): void {
    const run = host.run;
    if (run && run.state !== 'done') this.failRun(run, 'ALGORITHM_ERROR', `the function's process broke the host protocol (${what}); the function must not write to fd 3`, 'crashed');
    this.retire(host, 'protocol violation');
  }

  /**
   * The function can write to fd 3 too, so a message is taken only when it fits the host's state:
   * while loading, `ready` or `load_error`; while a run is in flight and has no result yet, that
   * run's `result` or `progress` (its id and nonce). Anything else is a protocol violation.
   */
  private onMessage(host: Host, msg: ParentMessage): void {
    const run = host.run;
    switch (msg.type) {
      case ParentCommand.Ready:
      case ParentCommand.LoadError:
        if (host.state !== 'starting' || (run && run.state !== 'starting')) return this.protocolViolation(host, `unexpected '${msg.type}' message`);
        break;
      case ParentCommand.Result:
      case ParentCommand.Progress:
        if (host.state !== 'busy' || !run || run.state !== 'running' || run.result || msg.id !== run.seq || msg.nonce !== run.nonce) {
          return this.protocolViolation(host, `a '${msg.type}' message that is not the one of the invocation in flight`);
        }
        break;
      default:
        return this.protocolViolation(host, `unexpected '${msg.tag.slice(0, 40)}' message`);
    }
    switch (msg.type) {
      case ParentCommand.Ready:
        clearTimeout(host.loadTimer);
        host.cgroup?.watchHost(host.isolated ? ISOLATED_BASE_PROCESSES - 1 : 0);
        if (host.pid) host.statFiles ??= new HostStatFiles(host.pid, host.cgroup);
        host.state = 'busy';
        if (run && run.state === 'starting') {
          run.startupMs = performance.now() - host.spawnedAt;
          this.sendInvoke(host, run);
        } else this.release(host);
        return;
      case ParentCommand.LoadError:
        if (run && run.state !== 'done') this.fail(run, loadFailure(msg.error, host.config.memory_mb));
        this.retire(host, 'load error');
        return;
      case ParentCommand.Progress:
        run!.onProgress?.(msg.percent, msg.message);
        return;
      case ParentCommand.Result: {
        const r = run!;
        r.result = msg;
        r.output.waitingMarks &= msg.marks;
        if (r.output.waitingMarks) {
          r.markerTimer = setTimeout(() => {
            // Its output streams no longer end where they should: finish the run, distrust the process.
            host.retireAfterRun = true;
            r.output.waitingMarks = 0;
            this.tryComplete(r);
          }, MARKER_GRACE_MS);
        }
        this.tryComplete(r);
      }
    }
  }

  // ---- settling ----------------------------------------------------------------------------------

  /** Settles a run once its result and both end markers are in; then retires or releases its host. */
  private tryComplete(run: Run): void {
    if (run.state !== 'running' || !run.result || run.output.waitingMarks) return;
    const host = run.host!;
    const res = run.result;
    clearTimeout(run.timer);
    clearTimeout(run.markerTimer);
    run.state = 'done';
    this.runs.delete(run.id);
    host.run = undefined;
    host.invocations++;
    const report = completedReport(run, host, res, performance.now());
    const { stray, strayThreads, oomKilled } = leftovers(host, res);
    if (stray > 0 || strayThreads > 0 || oomKilled > 0) {
      this.opts.logger?.debug('function left processes or threads behind or was OOM-killed; retiring its process', { function_id: run.spec.function_id, run_id: run.id, stray_processes: stray, stray_threads: strayThreads, oom_kills: oomKilled });
      this.retire(host, stray > 0 ? 'stray processes' : strayThreads > 0 ? 'stray threads' : 'out of memory');
    } else if (res.recycle || host.retireAfterRun || host.invocations >= this.opts.maxInvocationsPerProcess) this.retire(host, res.recycle ? 'error' : 'recycle');
    else this.release(host);
    let failure: Failure | undefined;
    if (oomKilled > 0) failure = cgroupOomFailure(run.spec, oomKilled, this.opts.tmpMb);
    else if (!res.ok) failure = handlerFailure(res.error!, run.spec);
    if (!failure) return run.resolve({ ...report, result: res.result ?? null });
    run.reject(new FunctionRunError(failure.code, failure.message, failure.reason, report, failure.details));
  }

  private fail(run: Run, f: Failure): void {
    this.failRun(run, f.code, f.message, f.reason, f.details);
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
      run.output.flush(host.streams);
      if (host.run === run) host.run = undefined;
    }
    const report = failedReport(run, performance.now());
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
      run.output.waitingMarks &= ~(idx + 1);
      this.tryComplete(run);
    }
  }

  /** Output of a process goes to the run in flight (./output-capture.ts); with none in flight (a background task after its run ended) it is dropped. */
  private onOutput(host: Host, idx: 0 | 1, chunk: Buffer): void {
    if (idx === 1) keepStderrTail(host, chunk);
    const run = host.run;
    if (!run || run.state === 'done' || !(run.output.waitingMarks & (idx + 1))) return;
    if (run.output.take(host.streams[idx], idx, chunk)) this.tryComplete(run);
  }
}

