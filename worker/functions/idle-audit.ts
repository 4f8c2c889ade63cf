/**
 * The idle-host audit (docs/functions.md, "Warm processes"): what a warm host's process tree does
 * between invocations, measured from the worker in /proc. The host's own count of leftover threads
 * (`stray_threads`) runs inside the function's process, where its code can falsify it or start
 * work right after the result; this check cannot be reached from there.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { HostCgroup } from './cgroups.js';
import { childrenOf } from './memory-budget.js';

/** How often the pool audits its idle hosts, in ms (one unref'd timer per pool). */
export const IDLE_AUDIT_INTERVAL_MS = 250;

/** Delay of the one extra audit after each result (for the thread count), in ms. */
export const AFTER_RESULT_AUDIT_MS = 30;

/**
 * CPU an idle host's tree may use at all since its last result, in ms, on top of
 * {@link IDLE_CPU_MS_PER_S}: room for a garbage collection or a late flush (an idle Node or Python
 * host uses about 0).
 */
export const IDLE_CPU_GRACE_MS = 100;

/** CPU an idle host's tree may use per second idle, in ms (5% of a core), on top of {@link IDLE_CPU_GRACE_MS}. */
export const IDLE_CPU_MS_PER_S = 50;

/** Length of a clock tick of /proc/<pid>/stat's utime and stime, in ms (USER_HZ is 100 on Linux). */
const TICK_MS = 10;

/** CPU time and threads of a process tree at one moment. */
export interface TreeUsage {
  /**
   * Summed utime + stime of every process of the tree (all their threads), with the cutime +
   * cstime of the children each has reaped (so a short-lived process keeps counting once it is
   * gone: bwrap's init reaps the orphans of the sandbox), in ms.
   */
  cpuMs: number;
  /** Summed threads (num_threads) of every process of the tree. */
  threads: number;
  /** Processes of the tree that were not there once the host loaded ({@link HostStatFiles}); 0 when that is unknown. */
  started: number;
  /** performance.now() when it was read, in ms. */
  at: number;
}

/**
 * The CPU clock ticks (utime + stime + cutime + cstime), threads (num_threads) and start time
 * (starttime, ticks after boot: with the pid, it names one process) in one /proc/<pid>/stat text
 * (proc(5): fields 14 to 17, 20 and 22, counted from the pid).
 */
function statUsage(stat: string): { ticks: number; threads: number; start: string } {
  // Fields after the parenthesised name start at field 3: utime is 14 ... cstime 17, num_threads 20, starttime 22.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20);
  return { ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), threads: Number(f[17]), start: f[19]! };
}

/** The processes under `root` (through /proc/<pid>/task/<tid>/children) and `extra`, each pid with its stat text. */
function walkTree(root: number, extra: number[]): Map<number, string> {
  const found = new Map<number, string>();
  const stack = [root, ...extra];
  while (stack.length) {
    const pid = stack.pop()!;
    if (found.has(pid)) continue;
    try {
      found.set(pid, readFileSync(`/proc/${pid}/stat`, 'latin1'));
    } catch {
      continue;
    }
    stack.push(...childrenOf(pid));
  }
  return found;
}

const statBuf = Buffer.alloc(1024);

/** The stat text of a kept /proc/<pid>/stat descriptor, read anew (a pread at 0). @throws ESRCH once its process is reaped. */
function readStat(fd: number): string {
  return statBuf.toString('latin1', 0, readSync(fd, statBuf, 0, statBuf.length, 0));
}

/**
 * /proc/<pid>/stat of each process of a host's tree as it was once the host loaded (bwrap's and
 * the runtime's), kept open: a pread of each gives their CPU and threads in a few µs, where walking
 * the tree costs the worker about 0.3 ms (a readdir and a read per thread of each process). Opened
 * at the host's ready message (the host has loaded the function's module and started the runtime's
 * own thread pools by then), closed when it exits. A kept file of a process that has been reaped
 * fails its reads (ESRCH), whatever process reuses the pid.
 */
export class HostStatFiles {
  /** Each process's stat file, its threads when it was opened, and which process it is (pid and start time). */
  private procs: Array<{ fd: number; threads: number; id: string }> = [];

  /**
   * Walks the tree of `root` (and the members of `cgroup`) once and opens each process's stat
   * file; its threads and start time are read through the opened file, so they are that process's
   * even when the pid was reused since the walk.
   */
  constructor(root: number, cgroup: HostCgroup | undefined) {
    for (const pid of walkTree(root, cgroup?.pids() ?? []).keys()) {
      let fd = -1;
      try {
        fd = openSync(`/proc/${pid}/stat`, 'r');
        const { threads, start } = statUsage(readStat(fd));
        this.procs.push({ fd, threads, id: `${pid} ${start}` });
      } catch {
        /* gone meanwhile */
        if (fd >= 0) closeSync(fd);
      }
    }
  }

  /** Whether the process `pid`, started at `start` (its stat's starttime), is one of those the host loaded with. */
  loadedWith(pid: number, start: string): boolean {
    const id = `${pid} ${start}`;
    return this.procs.some((p) => p.id === id);
  }

  /** The threads (num_threads, summed) the processes still kept had when they were opened. */
  get loadThreads(): number {
    let n = 0;
    for (const p of this.procs) n += p.threads;
    return n;
  }

  /**
   * The summed CPU ticks and threads of those processes now. A process that has ended since (one
   * the function's code started while loading) is dropped, with its threads at load; null when
   * none is left or a read fails otherwise.
   */
  read(): { ticks: number; threads: number } | null {
    let ticks = 0;
    let threads = 0;
    for (let i = 0; i < this.procs.length; ) {
      const p = this.procs[i]!;
      let text: string;
      try {
        text = readStat(p.fd);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return null;
        closeSync(p.fd);
        this.procs.splice(i, 1);
        continue;
      }
      const one = statUsage(text);
      ticks += one.ticks;
      threads += one.threads;
      i++;
    }
    return this.procs.length ? { ticks, threads } : null;
  }

  close(): void {
    for (const p of this.procs) closeSync(p.fd);
    this.procs = [];
  }
}

/**
 * The threads of a host's tree as the worker takes its result, for {@link baselineUsage}: the
 * cgroup's task count (one pread), or without a cgroup the kept stat files' sum; -1 when neither
 * can be read.
 */
export function threadsAtResult(cgroup: HostCgroup | undefined, files: HostStatFiles | undefined): number {
  const tasks = cgroup ? cgroup.tasks() : -1;
  return tasks > 0 ? tasks : (files?.read()?.threads ?? -1);
}

/**
 * The baseline of a host that went idle, taken after the worker's reply to its result has been
 * written: the CPU of the processes its tree had once it loaded ({@link HostStatFiles}), and the
 * fewer of the threads they had then and of `atResult` ({@link threadsAtResult}, read as the
 * result arrived). A host that keeps to its own count ends every invocation with no thread beyond
 * those it loaded with (it is retired otherwise: docs/functions.md), so a thread or process
 * started after the worker took the result shows as more threads at the next audit, which counts
 * the whole tree, however late this baseline is read. The walk of {@link treeUsage} when none of
 * those processes can be read.
 */
export function baselineUsage(root: number, cgroup: HostCgroup | undefined, files: HostStatFiles | undefined, atResult: number, now: number): TreeUsage | null {
  const base = files?.read();
  if (!base) return treeUsage(root, cgroup, files, now);
  const load = files!.loadThreads;
  return { cpuMs: base.ticks * TICK_MS, threads: atResult >= 0 ? Math.min(load, atResult) : load, started: 0, at: now };
}

/**
 * Reads the CPU time and threads of every process under `root` (its descendants through
 * /proc/<pid>/task/<tid>/children) and of the members of the host's `cgroup` (which catches a
 * process that left the tree); null when `root` is gone or /proc is unreadable. With a cgroup
 * whose task count (pids.current: every thread of every process in it) equals the threads of the
 * processes the host loaded with ({@link HostStatFiles}), nothing else runs, and their kept stat
 * files give the same sums without the walk.
 */
export function treeUsage(root: number, cgroup: HostCgroup | undefined, files: HostStatFiles | undefined, now: number): TreeUsage | null {
  if (cgroup && files) {
    const base = files.read();
    // The threads are read before the tasks: a thread that starts or ends in between makes a mismatch (the walk), never a hidden task.
    if (base && base.threads > 0 && cgroup.tasks() === base.threads) return { cpuMs: base.ticks * TICK_MS, threads: base.threads, started: 0, at: now };
  }
  const tree = walkTree(root, cgroup?.pids() ?? []);
  if (!tree.has(root)) return null;
  let ticks = 0;
  let threads = 0;
  let started = 0;
  for (const [pid, stat] of tree) {
    const one = statUsage(stat);
    ticks += one.ticks;
    threads += one.threads;
    if (files && !files.loadedWith(pid, one.start)) started++;
  }
  return { cpuMs: ticks * TICK_MS, threads, started, at: now };
}

/**
 * Why an idle host must be retired, comparing its tree now with right after its last result
 * (`base`); null when it is within bounds: no process the host did not load with (a host that
 * keeps to its own count ends every invocation with none: a thread it loaded with that forks one
 * and ends keeps the thread count), no more threads than then, and CPU within
 * {@link IDLE_CPU_GRACE_MS} + {@link IDLE_CPU_MS_PER_S} per second since.
 */
export function idleViolation(base: TreeUsage, now: TreeUsage): string | null {
  if (now.started > base.started) return `started ${now.started - base.started} process(es) while idle`;
  if (now.threads > base.threads) return `started threads while idle (${base.threads} -> ${now.threads})`;
  const used = now.cpuMs - base.cpuMs;
  const allowed = IDLE_CPU_GRACE_MS + (IDLE_CPU_MS_PER_S * Math.max(0, now.at - base.at)) / 1000;
  if (used > allowed) return `used ${used} ms of CPU in ${Math.round(now.at - base.at)} ms idle`;
  return null;
}
