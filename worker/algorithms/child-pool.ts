/** The worker's warm pool of algorithm child processes (docs/architecture.md, "How the pieces fit"). */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, type ErrorCode } from '../../shared/errors/index.js';
import { withLogContext, type LogContext, type Logger } from '../../shared/logger.js';
import { inheritableEnv } from '../../shared/config.js';
import { ChildCommand, ParentCommand, type ChildMessage, type ParentMessage } from './protocol.js';

/**
 * Default entry of runner children: the algorithm runner, beside this module with this module's
 * extension (`.ts` from the sources under tsx, `.js` from the compiled build in dist/).
 */
export const ALGORITHM_CHILD_ENTRY = fileURLToPath(new URL(`./algorithm-child${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Options of a {@link ChildPool}. */
export interface ChildPoolOptions {
  /** Warm children kept; also the most runs at once. */
  size: number;
  /** Longest one run may take, in ms (ALGORITHM_TIMEOUT_MS); then the child is killed. */
  timeoutMs: number;
  logger: Logger;
  /** Script each child runs. Default {@link ALGORITHM_CHILD_ENTRY}. */
  entry?: string;
  /** Environment of the children. Default {@link childEnv}: never the worker's own (REDIS_URL and the like). */
  env?: NodeJS.ProcessEnv;
  /** Longest wait for a new child's `ready`, in ms. Default 20000. */
  startTimeoutMs?: number;
}

/** What one run returns. */
export interface RunOutput {
  result: unknown;
  /** Time the algorithm itself took inside the child, in ms. */
  elapsedMs: number;
}

/** One run's callbacks and log context. */
export interface RunContext {
  logContext?: LogContext;
  onProgress?: (percent: number, message?: string) => void;
  /** This run's time limit, ms (a job's `timeout_ms`); default the pool's `timeoutMs`. */
  timeoutMs?: number;
  /** A name {@link ChildPool.cancel} finds the run by (the job id). */
  key?: string;
}

interface Task {
  id: number;
  message: ChildMessage;
  ctx: RunContext;
  resolve(out: RunOutput): void;
  reject(err: AppError): void;
  timer?: NodeJS.Timeout;
}

interface Child {
  proc: ChildProcess;
  task?: Task;
  /** Log context of the latest run: a child's output can arrive just after its result message. */
  lastLogContext?: LogContext;
  /** Set once the child is killed or exited; it is never handed out again. */
  dead: boolean;
}

/**
 * A warm pool of runner child processes, one run per child at a time.
 *
 * Our own rather than BullMQ's sandboxed processors: we need per-run timeouts that kill and replace
 * the child, a crash that fails only its own run, child output through the parent's logger with
 * the job's context, and progress messages. A child that crashed or timed out is killed and
 * replaced, never reused (BullMQ's rule).
 */
export class ChildPool {
  private readonly children = new Set<Child>();
  private readonly idle: Child[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closing = false;
  private readonly entry: string;

  constructor(private readonly opts: ChildPoolOptions) {
    this.entry = opts.entry ?? ALGORITHM_CHILD_ENTRY;
  }

  /** Spawns the warm children and waits until each is ready. @throws when a child cannot start. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.size }, () => this.spawn()));
  }

  /** Runs `algorithm` with `params` in a free child (waiting for one if all are busy).
   * @throws AppError TIMEOUT when the run passes timeoutMs; ALGORITHM_ERROR when it throws or the child dies;
   *   VALIDATION_ERROR when params fail the schema; SERVICE_UNAVAILABLE when the pool is closing. */
  run(algorithm: string, params: unknown, ctx: RunContext = {}): Promise<RunOutput> {
    if (this.closing) return Promise.reject(new AppError('SERVICE_UNAVAILABLE', 'runner pool is shutting down'));
    return new Promise<RunOutput>((resolve, reject) => {
      const id = this.nextId++;
      this.queue.push({ id, message: { cmd: ChildCommand.Run, id, algorithm, params }, ctx, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Stops the run named `key` (docs/operations.md, "Cancellation"): a queued run is dropped; a running one's child
   * is killed and replaced. The run fails with CANCELLED.
   * @returns true when a run was found.
   */
  cancel(key: string): boolean {
    const err = new AppError('CANCELLED', 'cancelled by request');
    const queued = this.queue.findIndex((t) => t.ctx.key === key);
    if (queued >= 0) {
      this.queue.splice(queued, 1)[0]!.reject(err);
      return true;
    }
    for (const child of this.children) {
      if (!child.dead && child.task?.ctx.key === key) {
        this.opts.logger.info('run cancelled; killing its runner process', { ...child.task.ctx.logContext, runner_pid: child.proc.pid });
        this.retire(child, err);
        return true;
      }
    }
    return false;
  }

  /** Children alive now. */
  get aliveCount(): number {
    return [...this.children].filter((c) => !c.dead).length;
  }

  /** Process ids of the live children. */
  pids(): number[] {
    return [...this.children].filter((c) => !c.dead && c.proc.pid).map((c) => c.proc.pid!);
  }

  /** Kills every child; runs still queued fail with SERVICE_UNAVAILABLE. */
  async close(): Promise<void> {
    this.closing = true;
    for (const task of this.queue.splice(0)) task.reject(new AppError('SERVICE_UNAVAILABLE', 'runner pool is shutting down'));
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.dead = true;
          if (child.task) {
            clearTimeout(child.task.timer);
            child.task.reject(new AppError('SERVICE_UNAVAILABLE', 'runner pool is shutting down'));
            child.task = undefined;
          }
          if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve();
          child.proc.once('exit', () => resolve());
          child.proc.kill('SIGKILL');
        }),
    );
    await Promise.all(exits);
  }

  private dispatch(): void {
    while (this.queue.length && this.idle.length) {
      const child = this.idle.pop()!;
      if (child.dead) continue;
      const task = this.queue.shift()!;
      this.assign(child, task);
    }
  }

  private assign(child: Child, task: Task): void {
    child.task = task;
    child.lastLogContext = task.ctx.logContext;
    const timeoutMs = task.ctx.timeoutMs ?? this.opts.timeoutMs;
    task.timer = setTimeout(() => {
      this.opts.logger.warn('algorithm run timed out; killing its runner process', { ...task.ctx.logContext, runner_pid: child.proc.pid, timeout_ms: timeoutMs });
      this.retire(child, new AppError('TIMEOUT', `algorithm timed out after ${timeoutMs} ms`, { timeout_ms: timeoutMs }));
    }, timeoutMs);
    child.proc.send(task.message, (err) => {
      if (err) this.retire(child, new AppError('ALGORITHM_ERROR', `could not reach the runner process: ${err.message}`));
    });
  }

  /** Takes a child out of service for good: fails its run with `err`, kills it, spawns a replacement. */
  private retire(child: Child, err: AppError): void {
    if (child.dead) return;
    child.dead = true;
    const task = child.task;
    child.task = undefined;
    if (task) {
      clearTimeout(task.timer);
      task.reject(err);
    }
    const i = this.idle.indexOf(child);
    if (i >= 0) this.idle.splice(i, 1);
    child.proc.kill('SIGKILL');
    if (!this.closing) {
      this.spawn().catch((e: unknown) => this.opts.logger.error('could not replace a runner process', { error: String(e) }));
    }
  }

  private spawn(): Promise<void> {
    const proc = fork(this.entry, [], { env: this.opts.env ?? childEnv(), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    const child: Child = { proc, dead: false };
    this.children.add(child);
    this.forwardOutput(child, 'stdout');
    this.forwardOutput(child, 'stderr');

    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const startTimer = setTimeout(() => {
        if (!ready) {
          reject(new Error(`runner process did not start within ${this.opts.startTimeoutMs ?? 20_000} ms`));
          this.retire(child, new AppError('ALGORITHM_ERROR', 'runner process did not start'));
        }
      }, this.opts.startTimeoutMs ?? 20_000);

      proc.on('message', (msg: ParentMessage) => {
        if (msg.cmd === ParentCommand.Ready) {
          ready = true;
          clearTimeout(startTimer);
          resolve();
          this.release(child);
          return;
        }
        const task = child.task;
        if (!task || msg.id !== task.id) return;
        switch (msg.cmd) {
          case ParentCommand.Progress:
            task.ctx.onProgress?.(msg.percent, msg.message);
            return;
          case ParentCommand.Completed:
            clearTimeout(task.timer);
            child.task = undefined;
            task.resolve({ result: msg.result, elapsedMs: msg.elapsed_ms });
            break;
          case ParentCommand.Failed:
            clearTimeout(task.timer);
            child.task = undefined;
            task.reject(new AppError(toCode(msg.error.code), msg.error.message, { elapsed_ms: msg.elapsed_ms }));
            break;
          default:
            return;
        }
        // The child wrote this run's output (synchronous pipe writes) before this message, so that
        // output is read in this same poll phase at the latest: hand the child out again only after
        // it (setImmediate), or its lines would be logged with the next run's context.
        setImmediate(() => this.release(child));
      });

      proc.on('error', (err) => {
        this.opts.logger.error('runner process error', { error: err.message, runner_pid: proc.pid });
      });

      proc.on('exit', (code, signal) => {
        this.children.delete(child);
        clearTimeout(startTimer);
        if (!ready) reject(new Error(`runner process exited during start (code ${code}, signal ${signal})`));
        if (!child.dead) {
          const task = child.task;
          this.opts.logger.warn('runner process exited', { ...task?.ctx.logContext, runner_pid: proc.pid, exit_code: code, signal });
          this.retire(child, new AppError('ALGORITHM_ERROR', `runner process exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})`, { exit_code: code, signal }));
        }
      });
    });
  }

  private release(child: Child): void {
    if (child.dead || this.closing) return;
    this.idle.push(child);
    this.dispatch();
  }

  private forwardOutput(child: Child, stream: 'stdout' | 'stderr'): void {
    const source = child.proc[stream];
    if (!source) return;
    const lines = createInterface({ input: source, crlfDelay: Infinity });
    lines.on('line', (line) => {
      const ctx = child.task?.ctx.logContext ?? child.lastLogContext ?? {};
      withLogContext(ctx, () => this.opts.logger.log(stream === 'stderr' ? 'warn' : 'info', line, { source: `runner.${stream}`, runner_pid: child.proc.pid }));
    });
  }
}

/** The few variables a runner child needs from the worker's environment; secrets such as REDIS_URL stay behind. */
export function childEnv(source: Record<string, string | undefined> = inheritableEnv()): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'NODE_ENV', 'TMPDIR']) if (source[key] !== undefined) env[key] = source[key];
  return env;
}

const KNOWN_CODES = new Set<ErrorCode>(['TIMEOUT', 'ALGORITHM_ERROR', 'VALIDATION_ERROR', 'ALGORITHM_NOT_FOUND']);

function toCode(code: string): ErrorCode {
  return KNOWN_CODES.has(code as ErrorCode) ? (code as ErrorCode) : 'ALGORITHM_ERROR';
}
