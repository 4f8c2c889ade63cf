import { readFile, readlink, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Logger } from '../shared/logger.js';
import { isoNow } from '../shared/store/job-store.js';
import type { FunctionHostsUsage, StoredWorker, WorkerDisk, WorkerNetwork, WorkerState } from '../shared/schemas/worker.js';
import type { WorkerRegistry } from '../shared/store/worker-registry.js';
import type { Labels } from '../shared/schemas/labels.js';

/**
 * What a worker is doing, kept in memory by the processor (no Redis write per job) and written
 * with each heartbeat: the ids of its running jobs and how many it finished.
 */
export class WorkerActivity {
  readonly active = new Set<string>();
  completed = 0;
  failed = 0;

  /** A job started on this worker. */
  start(jobId: string): void {
    this.active.add(jobId);
  }

  /** A job left this worker: `completed`, `failed`, or unfinished (left for a retry or stalled-job recovery). */
  finish(jobId: string, outcome?: 'completed' | 'failed'): void {
    this.active.delete(jobId);
    if (outcome === 'completed') this.completed += 1;
    else if (outcome === 'failed') this.failed += 1;
  }
}

/** Longest wait for the draining and the stopped heartbeat on shutdown (ms). */
const FINAL_BEAT_TIMEOUT_MS = 1000;

/** What {@link WorkerHeartbeat} writes about its worker. */
export interface HeartbeatOptions {
  registry: WorkerRegistry;
  activity: WorkerActivity;
  logger: Logger;
  /** The worker id (WORKER_ID or its default), the BullMQ worker name. */
  id: string;
  host: string;
  labels: Labels;
  concurrency: number;
  runners: number;
  /** Live runner children's pids (ChildPool.pids), for their memory. */
  runnerPids: () => number[];
  /** Its warm function hosts against their memory budget (FunctionPool.memoryUsage); omitted from the entry when absent. */
  functionHosts?: () => FunctionHostsUsage;
  /** The folder whose filesystem the entry reports (`resources.disk`); default the temporary directory, where runs get their work dirs. */
  workDir?: string;
  /** WORKER_HEARTBEAT_MS. */
  intervalMs: number;
  /** WORKER_OFFLINE_AFTER_MS (resolved). */
  offlineAfterMs: number;
}

/**
 * Registers a worker process and refreshes its entry every `intervalMs` (the hetuflow scheduler
 * API reference's agent heartbeat), with its CPU use over the interval, its memory and its
 * runners' memory, and its warm function hosts against their memory budget.
 */
export class WorkerHeartbeat {
  private readonly startedAt = isoNow();
  private state: WorkerState = 'running';
  private timer: NodeJS.Timeout | undefined;
  private lastCpu = process.cpuUsage();
  private lastCpuAt = process.hrtime.bigint();
  /** The beat in flight, so a final beat is not overtaken by a slower periodic one. */
  private pending: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Starts the loop with a first heartbeat now (not awaited: the worker starts while Redis is down, as BullMQ's do). */
  start(): void {
    this.timer = setInterval(() => void this.beat().catch((err: unknown) => this.warnOnce(err)), this.opts.intervalMs);
    this.timer.unref();
    void this.beat().catch((err: unknown) => this.warnOnce(err));
  }

  /** Marks the worker `draining` (shutdown began; its active jobs still show) and writes it, waiting at most `timeoutMs`. */
  async draining(timeoutMs = FINAL_BEAT_TIMEOUT_MS): Promise<void> {
    this.state = 'draining';
    await this.beatWithin(timeoutMs);
  }

  /** Stops the loop and writes the last heartbeat with state `stopped`, waiting at most `timeoutMs` (best effort). */
  async stop(timeoutMs = FINAL_BEAT_TIMEOUT_MS): Promise<void> {
    clearInterval(this.timer);
    this.state = 'stopped';
    await this.beatWithin(timeoutMs);
  }

  /** A beat that gives up waiting after `timeoutMs`: with Redis down, the worker's connection queues commands forever. */
  private async beatWithin(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.beat().catch((err: unknown) => this.warnOnce(err)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Writes the entry now. Rejects when Redis is unreachable. */
  beat(): Promise<void> {
    const next = this.pending.catch(() => undefined).then(async () => {
      await this.opts.registry.heartbeat(await this.snapshot());
      this.warned = false;
    });
    this.pending = next;
    return next;
  }

  private async snapshot(): Promise<StoredWorker> {
    const { opts } = this;
    const now = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.lastCpu);
    const wallUs = Number(now - this.lastCpuAt) / 1000;
    this.lastCpu = process.cpuUsage();
    this.lastCpuAt = now;
    return {
      id: opts.id,
      host: opts.host,
      pid: process.pid,
      state: this.state,
      labels: opts.labels,
      concurrency: opts.concurrency,
      runners: opts.runners,
      active_jobs: [...opts.activity.active],
      jobs_processed: { completed: opts.activity.completed, failed: opts.activity.failed },
      resources: {
        cpu_usage: wallUs > 0 ? Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 10 : 0,
        memory_usage: process.memoryUsage.rss(),
        runners_memory_usage: await runnersRss(opts.runnerPids()),
        disk: await diskOf(opts.workDir ?? tmpdir()),
        network: await networkCounters(),
      },
      ...(opts.functionHosts ? { function_hosts: opts.functionHosts() } : {}),
      started_at: this.startedAt,
      last_heartbeat: isoNow(),
      heartbeat_interval_ms: opts.intervalMs,
      offline_after_ms: opts.offlineAfterMs,
    };
  }

  private warnOnce(err: unknown): void {
    // Redis down is logged by the connection; one line here says the registry is stale, not one per beat.
    if (this.warned) return;
    this.warned = true;
    this.opts.logger.warn('worker heartbeat failed; GET /workers may show this worker offline', { error: String(err) });
  }
}

/** Summed VmRSS of `pids` in bytes, from /proc (Linux); null when it cannot be read. A child gone meanwhile counts 0. */
async function runnersRss(pids: number[]): Promise<number | null> {
  if (process.platform !== 'linux') return null;
  const sizes = await Promise.all(
    pids.map(async (pid) => {
      try {
        const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * The filesystem of `dir`, from statfs(2), as df(1) reports it (Use% = used / (used + available));
 * null when it cannot be read.
 */
export async function diskOf(dir: string): Promise<WorkerDisk | null> {
  try {
    const s = await statfs(dir);
    const total = s.blocks * s.bsize;
    const used = (s.blocks - s.bfree) * s.bsize;
    const available = s.bavail * s.bsize;
    const usage = used + available > 0 ? Math.round((used / (used + available)) * 1000) / 10 : 0;
    return { path: dir, total_bytes: total, used_bytes: used, available_bytes: available, usage_percent: usage };
  } catch {
    return null;
  }
}

/**
 * The received and sent bytes of this process's network namespace, summed over its interfaces
 * but loopback, from /proc/self/net/dev (Linux; the format of proc(5)); null where it cannot be read.
 */
export async function networkCounters(): Promise<WorkerNetwork | null> {
  if (process.platform !== 'linux') return null;
  try {
    const [text, namespace] = await Promise.all([readFile('/proc/self/net/dev', 'utf8'), readlink('/proc/self/ns/net').catch(() => 'unknown')]);
    let rx = 0;
    let tx = 0;
    // Two header lines, then `iface: rx_bytes rx_packets ... (8 receive fields) tx_bytes ...`.
    for (const line of text.split('\n').slice(2)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      if (line.slice(0, colon).trim() === 'lo') continue;
      const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
      rx += fields[0] ?? 0;
      tx += fields[8] ?? 0;
    }
    return { namespace, rx_bytes: rx, tx_bytes: tx };
  } catch {
    return null;
  }
}
