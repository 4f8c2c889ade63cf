/**
 * Runs one command job's process (docs/commands.md) in the function sandbox: the command line comes
 * from worker/functions/sandbox.ts (bubblewrap, prlimit, setpriv, the cgroup wrapper), the cgroup
 * from worker/functions/cgroups.ts, the kill of the whole tree from worker/functions/process-tree.ts
 * and the line capture with its byte and line caps from worker/functions/output-capture.ts: the same
 * parts function hosts use. Unlike a function host, a command's process is never warm: each run
 * gets a fresh sandbox, work dir and cgroup, removed when it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { AppError } from '../../shared/errors/index.js';
import { commandAllowed } from '../../shared/jobs/submission-checks.js';
import type { Logger } from '../../shared/logger.js';
import { COMMAND_TAIL_BYTES, type CommandResult, type CommandSpec } from '../../shared/schemas/command.js';
import { HostCgroup, probeCgroups } from '../functions/cgroups.js';
import type { FunctionLogLine } from '../functions/function-run.js';
import { newStreamState, OutputCapture } from '../functions/output-capture.js';
import { killProcessTree } from '../functions/process-tree.js';
import { buildSandboxCommand, sandboxStatus, SANDBOX_UID, setenvArgs, type SandboxMode, type SandboxStatus } from '../functions/sandbox.js';

/** The command's work dir inside the sandbox: its cwd and HOME, writable, empty at start. */
export const COMMAND_WORK_DIR = '/work';

/** How long after the process exits its last output may still arrive, ms (then the pipes are left). */
const EXIT_DRAIN_MS = 250;

/** Options of a {@link CommandRunner}. */
export interface CommandRunnerOptions {
  /** FUNCTION_SANDBOX: `auto` and `bwrap` refuse commands where bubblewrap cannot isolate; `off` runs them unisolated. */
  sandbox: SandboxMode;
  /** COMMAND_MEMORY_MB: RLIMIT_DATA per process and, with cgroups, the tree's total (plus /tmp). */
  memoryMb: number;
  /** FUNCTION_MAX_PROCESSES: pids.max of the run's cgroup. */
  maxProcesses: number;
  /** COMMAND_ALLOWLIST as this worker has it; undefined: any command. */
  allowlist?: readonly string[];
  /** JOB_LOGS_MAX_LINES: lines kept per run at most (plus the marker). */
  maxLogLines: number;
  /** Size of the private /tmp, MB (unisolated: the largest file it may write). Default 64. */
  tmpMb?: number;
  /** Parent of the runs' folders. Default the OS temp folder. */
  workDir?: string;
  /** Where bwrap, prlimit and setpriv are looked up. Default the service's PATH. */
  searchPath?: string;
  logger?: Logger;
}

/** What is known about a run, finished or failed: its logs (when captured) and measurements. */
export interface CommandReport {
  /** stdout and stderr lines in arrival order (empty without capture_output), within max_output_size and maxLogLines. */
  logs: FunctionLogLine[];
  /** True when output was dropped (a `[output truncated at N ...]` line marks the spot). */
  truncated: boolean;
  /** Wall time from spawn to exit, ms. */
  duration_ms: number;
  /** The exit code (128 + the signal for a process killed by one); null when it never started. */
  exit_code: number | null;
  /** The last {@link COMMAND_TAIL_BYTES} of each stream (UTF-8); null without capture_output. */
  stdout_tail: string | null;
  stderr_tail: string | null;
}

/** A failed run: an AppError (TIMEOUT, CANCELLED, ALGORITHM_ERROR, FORBIDDEN) with what is known of the run. */
export class CommandRunError extends AppError {
  constructor(
    code: ConstructorParameters<typeof AppError>[0],
    message: string,
    readonly report: CommandReport,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

const emptyReport = (): CommandReport => ({ logs: [], truncated: false, duration_ms: 0, exit_code: null, stdout_tail: null, stderr_tail: null });

/** A running command, for cancel and close. */
interface Running {
  proc: ChildProcess;
  isolated: boolean;
  cgroup?: HostCgroup;
  stop(why: 'cancelled' | 'closed'): void;
}

/** The last `max` bytes of a stream. */
class Tail {
  private buf = Buffer.alloc(0);
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length + chunk.length <= this.max ? Buffer.concat([this.buf, chunk]) : Buffer.concat([this.buf, chunk]).subarray(-this.max);
  }
  text(): string {
    // A tail cut inside a UTF-8 sequence starts with continuation bytes: drop them.
    let start = 0;
    while (start < this.buf.length && start < 3 && (this.buf[start]! & 0xc0) === 0x80) start++;
    return this.buf.subarray(start).toString('utf8');
  }
}

/** Runs command jobs on a worker; see the module comment. */
export class CommandRunner {
  private status: SandboxStatus | undefined;
  private readonly running = new Map<string, Running>();
  private readonly cgroupPrefix = `cmd-${randomBytes(3).toString('hex')}`;
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: CommandRunnerOptions) {}

  /** Probes the sandbox (cached per mode) and logs when commands cannot run isolated here. */
  async start(): Promise<SandboxStatus> {
    this.status = await sandboxStatus(this.opts.sandbox, this.opts.searchPath);
    const refusal = this.refusal();
    if (refusal) this.opts.logger?.error(refusal, { reason: this.status.reason, sandbox: this.status.mode });
    else if (!this.status.isolated) this.opts.logger?.warn('command jobs run WITHOUT isolation (FUNCTION_SANDBOX=off): as the service user, with its filesystem and network');
    return this.status;
  }

  /** Why commands are refused here (no isolation, and the mode is not `off`), or undefined. */
  private refusal(): string | undefined {
    const s = this.status;
    if (!s || s.isolated || s.mode === 'off') return undefined;
    return `command jobs do not run here: the sandbox cannot isolate them (${s.reason ?? 'unknown reason'}); fix that (docs/deployment.md) or set FUNCTION_SANDBOX=off to run them unisolated`;
  }

  /**
   * Runs `spec` with `env` (already layered: base → system → project → the job's) as run `runId`,
   * killing its whole process tree past `timeoutMs`.
   * @returns the result (exit code 0) and the report.
   * @throws CommandRunError FORBIDDEN (details.reason `command_not_allowed` or `sandbox_unavailable`,
   *   details.retry false), TIMEOUT, CANCELLED, ALGORITHM_ERROR (details.reason `exit_code` with
   *   details.exit_code, or `spawn_failed`), SERVICE_UNAVAILABLE when the runner is closing.
   */
  async run(spec: CommandSpec, env: Record<string, string>, runId: string, timeoutMs: number): Promise<{ result: CommandResult; report: CommandReport }> {
    if (this.closed) throw new CommandRunError('SERVICE_UNAVAILABLE', 'the worker is shutting down', emptyReport());
    if (!commandAllowed(spec.cmd, this.opts.allowlist)) {
      throw new CommandRunError('FORBIDDEN', `command '${spec.cmd.slice(0, 200)}' is not in this worker's COMMAND_ALLOWLIST`, emptyReport(), { reason: 'command_not_allowed', retry: false });
    }
    this.status ??= await sandboxStatus(this.opts.sandbox, this.opts.searchPath);
    const refusal = this.refusal();
    if (refusal) throw new CommandRunError('FORBIDDEN', refusal, emptyReport(), { reason: 'sandbox_unavailable', sandbox: this.status.mode, sandbox_reason: this.status.reason, retry: false });
    const isolated = this.status.isolated;
    const tmpMb = this.opts.tmpMb ?? 64;
    const dir = await mkdtemp(path.join(this.opts.workDir ?? tmpdir(), `fnqueue-cmd-${process.pid}-`));
    const work = path.join(dir, 'work');
    let cgroup: HostCgroup | undefined;
    try {
      await mkdir(work);
      // As root the command runs as nobody: its work dir is nobody's (the parent stays 0700).
      if (isolated && process.getuid?.() === 0) await chown(work, SANDBOX_UID, SANDBOX_UID);
      else await chmod(work, 0o700);
      const cg = this.status.cgroups ? probeCgroups() : undefined;
      if (cg?.ok) cgroup = new HostCgroup(cg.roots, `${this.cgroupPrefix}-${++this.seq}`, { maxTasks: this.opts.maxProcesses, memoryBytes: (this.opts.memoryMb + tmpMb) * 1024 * 1024 });
      return await this.spawnAndWait(spec, { ...env, HOME: env.HOME ?? (isolated ? COMMAND_WORK_DIR : work) }, runId, timeoutMs, { isolated, work, tmpMb, cgroup });
    } finally {
      await Promise.all([rm(dir, { recursive: true, force: true }).catch(() => undefined), cgroup?.remove()]);
    }
  }

  private spawnAndWait(
    spec: CommandSpec,
    env: Record<string, string>,
    runId: string,
    timeoutMs: number,
    at: { isolated: boolean; work: string; tmpMb: number; cgroup?: HostCgroup },
  ): Promise<{ result: CommandResult; report: CommandReport }> {
    const { isolated, work, tmpMb, cgroup } = at;
    const memBytes = this.opts.memoryMb * 1024 * 1024;
    const rlimits = ['--core=0', `--data=${memBytes}`];
    if (!isolated) rlimits.push(`--fsize=${tmpMb * 1024 * 1024}`);
    const argv = buildSandboxCommand({
      isolated,
      argv: [spec.cmd, ...spec.args],
      rlimits,
      cgroupProcs: cgroup?.procsFiles(),
      searchPath: this.opts.searchPath,
      layout: { rwBinds: [[work, COMMAND_WORK_DIR]], cwd: COMMAND_WORK_DIR, tmpBytes: tmpMb * 1024 * 1024, hostname: 'fnqueue-command' },
      // The env is secret: it reaches bwrap over a pipe, never its command line.
      argsFd: 3,
    });
    const oomBefore = cgroup ? Math.max(0, cgroup.oomKills()) : 0;
    const t0 = performance.now();
    const proc = spawn(argv[0]!, argv.slice(1), {
      // Unisolated the env is the process's own; isolated bwrap clears it and sets it from fd 3.
      env: isolated ? {} : env,
      cwd: isolated ? undefined : work,
      stdio: ['ignore', 'pipe', 'pipe', isolated ? 'pipe' : 'ignore'],
      detached: true,
    });
    if (isolated) {
      const fd3 = proc.stdio[3] as Writable;
      fd3.on('error', () => undefined);
      fd3.end(setenvArgs(env));
    }
    const capture = new OutputCapture(randomBytes(8).toString('hex'), spec.max_output_size, this.opts.maxLogLines);
    const streams = [newStreamState(), newStreamState()];
    const tails = [new Tail(COMMAND_TAIL_BYTES), new Tail(COMMAND_TAIL_BYTES)];
    const onData = (idx: 0 | 1) => (chunk: Buffer) => {
      if (!spec.capture_output) return;
      tails[idx]!.push(chunk);
      capture.take(streams[idx]!, idx, chunk);
    };
    proc.stdout!.on('data', onData(0));
    proc.stderr!.on('data', onData(1));

    return new Promise((resolve, reject) => {
      let stopped: 'timeout' | 'cancelled' | 'closed' | undefined;
      let spawnError: Error | undefined;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let done = false;
      const killTree = () => {
        if (proc.pid) killProcessTree(proc.pid, isolated);
        cgroup?.killAll();
      };
      const stop = (why: 'timeout' | 'cancelled' | 'closed') => {
        stopped ??= why;
        killTree();
      };
      const timer = setTimeout(() => stop('timeout'), timeoutMs);
      this.running.set(runId, { proc, isolated, cgroup, stop });

      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.running.delete(runId);
        // Whatever the command left (a background child keeping a pipe open) goes with it. Isolated,
        // bwrap's exit already ended its pid namespace; unisolated, its process group is killed.
        if (!exit) killTree();
        else if (!isolated && proc.pid) {
          try {
            process.kill(-proc.pid, 'SIGKILL');
          } catch {
            /* the group is gone */
          }
        }
        cgroup?.killAll();
        proc.stdout?.destroy();
        proc.stderr?.destroy();
        capture.flush(streams);
        const duration_ms = Math.round((performance.now() - t0) * 1000) / 1000;
        const exitCode = exit ? (exit.code ?? (exit.signal ? 128 + (constants.signals[exit.signal] ?? 0) : null)) : null;
        const report: CommandReport = {
          logs: capture.logs,
          truncated: capture.truncated,
          duration_ms,
          exit_code: exitCode,
          stdout_tail: spec.capture_output ? tails[0]!.text() : null,
          stderr_tail: spec.capture_output ? tails[1]!.text() : null,
        };
        const details = { elapsed_ms: duration_ms };
        if (stopped === 'timeout') return reject(new CommandRunError('TIMEOUT', `command timed out after ${timeoutMs} ms; its process tree was killed`, report, { ...details, timeout_ms: timeoutMs }));
        if (stopped === 'cancelled') return reject(new CommandRunError('CANCELLED', 'cancelled by request', report, details));
        if (stopped === 'closed') return reject(new CommandRunError('SERVICE_UNAVAILABLE', 'the worker is shutting down', report, details));
        if (spawnError) return reject(new CommandRunError('ALGORITHM_ERROR', `command could not be started: ${spawnError.message}`, report, { ...details, reason: 'spawn_failed' }));
        if (exitCode === 0) {
          return resolve({ result: { exit_code: 0, stdout_tail: report.stdout_tail, stderr_tail: report.stderr_tail, output_truncated: report.truncated, duration_ms }, report });
        }
        const oom = cgroup ? Math.max(0, cgroup.oomKills()) - oomBefore > 0 : false;
        const tail = report.stderr_tail?.trim().slice(-COMMAND_TAIL_BYTES);
        const message = `command exited with code ${exitCode}${oom ? ` (a process was killed: out of memory, COMMAND_MEMORY_MB ${this.opts.memoryMb})` : ''}${tail ? `; stderr ends: ${tail}` : ''}`;
        reject(new CommandRunError('ALGORITHM_ERROR', message, report, { ...details, reason: oom ? 'out_of_memory' : 'exit_code', exit_code: exitCode }));
      };

      let ended = 0;
      const onEnd = () => {
        if (++ended === 2 && exit) finish();
      };
      proc.stdout!.on('end', onEnd);
      proc.stderr!.on('end', onEnd);
      proc.on('error', (err) => {
        spawnError = err;
        finish();
      });
      proc.on('exit', (code, signal) => {
        exit = { code, signal };
        if (ended === 2) finish();
        else setTimeout(finish, EXIT_DRAIN_MS).unref();
      });
    });
  }

  /** Stops the run of a job (its whole process tree). @returns false when this worker runs no such job. */
  cancel(runId: string): boolean {
    const run = this.running.get(runId);
    if (!run) return false;
    run.stop('cancelled');
    return true;
  }

  /** Refuses new runs and kills the running ones (they fail with SERVICE_UNAVAILABLE, left to BullMQ). */
  close(): void {
    this.closed = true;
    for (const run of this.running.values()) run.stop('closed');
  }
}
