/**
 * One cgroup (v1 `pids` and `memory` controllers) per function host process, when the service may
 * create them (root with cgroup v1 mounted writable, as on a plain VM): caps the total number of
 * tasks and the total memory of everything the function starts, counts its processes cheaply after
 * each invocation, and kills all of them on retire. Used by ./function-pool.ts through
 * ./sandbox.ts's launch wrapper.
 *
 * Layout: under the worker's own cgroup of each controller (so the worker's own limits and
 * accounting still cover its functions), `fnqueue-<worker pid>/<pool prefix>-<host id>`. Folders of
 * workers whose pid no longer exists are swept at pool start; a host's folder is removed when its
 * process is gone, and the worker's folder on {@link FunctionPool.close} when empty.
 *
 * Not supported (reported as `cgroups: false` with a reason, and the rlimits alone apply): cgroup v2
 * (the unified hierarchy needs delegation and other files), a non-root service, read-only cgroupfs.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the worker may create cgroups: one folder per controller, already created. */
export interface CgroupRoots {
  pids: string;
  memory: string;
  /** memory.memsw.limit_in_bytes exists (swap accounting on): swap is capped too. */
  memsw: boolean;
}

export type CgroupProbe = { ok: true; roots: CgroupRoots } | { ok: false; reason: string };

const WORKER_DIR = `fnqueue-${process.pid}`;
let probed: CgroupProbe | undefined;

/** Mount point of the v1 hierarchy holding `controller`, from /proc/self/mounts. */
function mountOf(controller: string): string | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (type === 'cgroup' && dir && opts?.split(',').includes(controller)) return dir;
  }
  return undefined;
}

/** The worker's own cgroup path in the v1 hierarchy of `controller`, from /proc/self/cgroup. */
function ownPath(controller: string): string | undefined {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m && m[1]!.split(',').includes(controller)) return m[2];
  }
  return undefined;
}

/**
 * Whether per-host cgroups can be used here; creates the worker's folders on success and sweeps
 * those of dead workers. Cached (the first call's answer holds for the process).
 */
export function probeCgroups(): CgroupProbe {
  probed ??= probe();
  return probed;
}

function probe(): CgroupProbe {
  try {
    if (process.getuid?.() !== 0) return { ok: false, reason: 'the service does not run as root, so it cannot create cgroups' };
    const dirs: Record<'pids' | 'memory', string> = { pids: '', memory: '' };
    for (const c of ['pids', 'memory'] as const) {
      const mount = mountOf(c);
      const own = ownPath(c);
      if (!mount || own === undefined) return { ok: false, reason: `no cgroup v1 '${c}' hierarchy is mounted (cgroup v2 is not supported)` };
      const base = path.join(mount, own);
      sweepDeadWorkers(base);
      const dir = path.join(base, WORKER_DIR);
      mkdirSync(dir, { recursive: true });
      if (!existsSync(path.join(dir, c === 'pids' ? 'pids.max' : 'memory.limit_in_bytes'))) return { ok: false, reason: `${dir} has no ${c} controls` };
      dirs[c] = dir;
    }
    return { ok: true, roots: { pids: dirs.pids, memory: dirs.memory, memsw: existsSync(path.join(dirs.memory, 'memory.memsw.limit_in_bytes')) } };
  } catch (err) {
    return { ok: false, reason: `cgroups are not writable here: ${(err as Error).message}` };
  }
}

/** Kills every process of a cgroup folder (repeatedly, in case one forked meanwhile) and removes it. @returns true when removed. */
function killAndRemove(dir: string): boolean {
  for (let i = 0; i < 20; i++) {
    const pids = readProcs(dir);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') return false;
    }
  }
  return false;
}

function readProcs(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Removes `fnqueue-<pid>` folders (and their hosts' folders) of workers that no longer run. */
function sweepDeadWorkers(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^fnqueue-(\d+)$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still running (or the pid was reused: leave it)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    removeWorkerDir(path.join(base, name));
  }
}

function removeWorkerDir(dir: string): void {
  let subs: string[] = [];
  try {
    subs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return;
  }
  for (const s of subs) killAndRemove(path.join(dir, s));
  killAndRemove(dir);
}

/** Removes the folders of workers that no longer run (also done by the first probe); a no-op without cgroups. */
export function sweepCgroups(): void {
  if (!probed?.ok) return;
  for (const dir of [probed.roots.pids, probed.roots.memory]) sweepDeadWorkers(path.dirname(dir));
}

/** Removes this worker's folders when no host cgroup is left in them (another pool may still use them). */
export function removeWorkerCgroups(): void {
  if (!probed?.ok) return;
  for (const dir of [probed.roots.pids, probed.roots.memory]) {
    try {
      rmdirSync(dir);
    } catch {
      /* busy (hosts of another pool) or gone */
    }
  }
}

/** The limits of one host's cgroup. */
export interface HostCgroupLimits {
  /** pids.max: tasks (processes and threads) at once. */
  maxTasks: number;
  /** memory.limit_in_bytes (and memsw, when present). */
  memoryBytes: number;
}

const procsBuf = Buffer.alloc(4096);

/** The cgroup pair of one host process. */
export class HostCgroup {
  readonly pidsDir: string;
  readonly memoryDir: string;
  private readonly procsFile: string;
  private oomFd = -1;
  private tasksFd = -1;
  private hostStatFd = -1;
  /** Tasks in the cgroup besides the host's own threads when nothing else runs (bwrap's two processes). */
  private baseTasks = 0;
  private removed = false;

  /** Creates the folders and writes the limits. @throws Error when a write fails (the caller must not start the host then). */
  constructor(roots: CgroupRoots, name: string, limits: HostCgroupLimits) {
    // The worker folder may have been removed by a closed pool of this process meanwhile.
    this.pidsDir = path.join(roots.pids, name);
    this.memoryDir = path.join(roots.memory, name);
    this.procsFile = path.join(this.pidsDir, 'cgroup.procs');
    try {
      mkdirSync(this.pidsDir, { recursive: true });
      mkdirSync(this.memoryDir, { recursive: true });
      writeFileSync(path.join(this.pidsDir, 'pids.max'), String(limits.maxTasks));
      writeFileSync(path.join(this.memoryDir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      if (roots.memsw) writeFileSync(path.join(this.memoryDir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      this.oomFd = openSync(path.join(this.memoryDir, 'memory.oom_control'), 'r');
      this.tasksFd = openSync(path.join(this.pidsDir, 'pids.current'), 'r');
    } catch (err) {
      void this.remove();
      throw err;
    }
  }

  /** The files a launch wrapper writes its pid into before exec'ing the host (see sandbox.ts). */
  procsFiles(): [string, string] {
    return [this.procsFile, path.join(this.memoryDir, 'cgroup.procs')];
  }

  /**
   * Once the host has loaded: finds the host process (the one not named bwrap) and keeps its
   * /proc/<pid>/stat open for {@link maybeStray}. `others`: the other processes expected (bwrap's).
   */
  watchHost(others: number): void {
    for (const pid of readProcs(this.pidsDir)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'bwrap') continue;
        this.hostStatFd = openSync(`/proc/${pid}/stat`, 'r');
        this.baseTasks = others;
        return;
      } catch {
        /* gone meanwhile */
      }
    }
  }

  /**
   * Cheap check (two preads, about 3 µs) whether anything but the host and bwrap may be running:
   * pids.current (tasks: threads of every process) against the host's own thread count. False
   * means the counts matched; true means {@link processCount} must decide (threads come and go).
   * The host's threads are read first: a thread that ends between the two reads makes a mismatch,
   * never a hidden process, except when it coincides with a new process (then the next check sees it).
   */
  maybeStray(): boolean {
    if (this.hostStatFd < 0 || this.tasksFd < 0) return true;
    try {
      const stat = procsBuf.toString('latin1', 0, readSync(this.hostStatFd, procsBuf, 0, procsBuf.length, 0));
      // Field 20 (num_threads), counting from the one after the parenthesised name (field 3).
      const threads = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 18)[17]);
      return !(threads > 0 && this.tasks() === threads + this.baseTasks);
    } catch {
      return true;
    }
  }

  /** Tasks in the cgroup now (pids.current: every thread of every process), one pread of a kept descriptor; -1 when unreadable. */
  tasks(): number {
    if (this.tasksFd < 0) return -1;
    try {
      return Number(procsBuf.toString('latin1', 0, readSync(this.tasksFd, procsBuf, 0, procsBuf.length, 0)));
    } catch {
      return -1;
    }
  }

  /** Pids of the processes (not threads) in the cgroup now; empty when unreadable. */
  pids(): number[] {
    return readProcs(this.pidsDir);
  }

  /**
   * Processes (not threads) in the cgroup now, -1 when unreadable. cgroup.procs is opened anew
   * each time (about 12 µs): cgroup v1 caches its pid list per open file, so a pread on a kept
   * descriptor would return a stale list.
   */
  processCount(): number {
    let fd = -1;
    try {
      fd = openSync(this.procsFile, 'r');
      const n = readSync(fd, procsBuf, 0, procsBuf.length, 0);
      let count = 0;
      for (let i = 0; i < n; i++) if (procsBuf[i] === 10) count++;
      // A full buffer holds at least that many: enough to know there are strays.
      return count;
    } catch {
      return -1;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /** Processes the kernel's OOM killer has killed in this cgroup (memory.oom_control `oom_kill`), -1 when unknown. */
  oomKills(): number {
    if (this.oomFd < 0) return -1;
    try {
      const n = readSync(this.oomFd, procsBuf, 0, procsBuf.length, 0);
      const m = /oom_kill (\d+)/.exec(procsBuf.toString('latin1', 0, n));
      if (m) return Number(m[1]);
      // Old kernels: no counter; under_oom at least tells a limit was hit.
      const failcnt = Number(readFileSync(path.join(this.memoryDir, 'memory.failcnt'), 'latin1'));
      return Number.isFinite(failcnt) ? failcnt : -1;
    } catch {
      return -1;
    }
  }

  /** SIGKILLs every process in the cgroup. */
  killAll(): void {
    for (const pid of readProcs(this.pidsDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /**
   * Kills what is left and removes both folders, retrying while the kernel still lists exiting
   * processes. @returns true when both are gone.
   */
  async remove(): Promise<boolean> {
    for (const fd of [this.oomFd, this.tasksFd, this.hostStatFd]) if (fd >= 0) closeSync(fd);
    this.oomFd = this.tasksFd = this.hostStatFd = -1;
    if (this.removed) return true;
    for (let attempt = 0; attempt < 50; attempt++) {
      const done = killAndRemove(this.pidsDir) && killAndRemove(this.memoryDir);
      if (done) {
        this.removed = true;
        return true;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }
}
