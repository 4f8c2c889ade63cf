/**
 * The memory budget of a worker's warm function hosts (docs/functions.md, "Warm processes";
 * docs/configuration.md, FUNCTION_HOSTS_MEMORY_BUDGET_MB): its default, derived from the machine,
 * and the measured resident memory of the hosts for the heartbeat. The pool (./function-pool.ts)
 * counts each host by its function's declared `memory_mb` against the budget.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import path from 'node:path';

/** Share of the machine's memory (or the worker's cgroup limit, when lower) the default budget takes. */
export const DEFAULT_BUDGET_FRACTION = 0.5;

/** Where the cgroup hierarchies are mounted. */
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The memory limit that applies to this process from its cgroup, in bytes: the lowest
 * `memory.limit_in_bytes` (cgroup v1) or `memory.max` (v2) of its own cgroup and every ancestor
 * visible under /sys/fs/cgroup. Undefined when there is none, it says unlimited, or it cannot be read.
 */
export function cgroupMemoryLimitBytes(): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return undefined;
  }
  let lowest: number | undefined;
  const consider = (file: string) => {
    try {
      const text = readFileSync(file, 'latin1').trim();
      const bytes = Number(text);
      // v1 says "unlimited" with a huge page-aligned number (about 2^63); v2 says "max".
      if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60 && (lowest === undefined || bytes < lowest)) lowest = bytes;
    } catch {
      /* not there (another hierarchy, or an ancestor outside our cgroup namespace) */
    }
  };
  for (const line of lines) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const v1 = m[1]!.split(',').includes('memory');
    const v2 = m[1] === '';
    if (!v1 && !v2) continue;
    const base = v1 ? path.join(CGROUP_ROOT, 'memory') : CGROUP_ROOT;
    const file = v1 ? 'memory.limit_in_bytes' : 'memory.max';
    for (let dir = m[2]!; ; dir = path.posix.dirname(dir)) {
      consider(path.join(base, dir, file));
      if (dir === '/' || dir === '.' || dir === '') break;
    }
  }
  return lowest;
}

/**
 * The default warm-host budget of one worker, in MiB: {@link DEFAULT_BUDGET_FRACTION} of the
 * machine's memory (os.totalmem()) or of the worker's cgroup memory limit when that is lower (a
 * container's limit is what the kernel enforces; the machine's total is not). The other half is
 * left to the worker itself, its runner children, each host's private /tmp (charged on top of
 * memory_mb) and whatever else shares the machine.
 * @param machineBytes the machine's memory, bytes (tests); default os.totalmem().
 * @param cgroupBytes the cgroup limit, bytes, or undefined for none (tests); default {@link cgroupMemoryLimitBytes}.
 */
export function defaultHostsMemoryBudgetMb(machineBytes: number = totalmem(), cgroupBytes: number | undefined = cgroupMemoryLimitBytes()): number {
  const available = cgroupBytes !== undefined ? Math.min(machineBytes, cgroupBytes) : machineBytes;
  return Math.max(1, Math.floor((available * DEFAULT_BUDGET_FRACTION) / (1024 * 1024)));
}

/** VmRSS of one process, bytes (0 when it is gone). */
function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Child pids of `pid`, from /proc/<pid>/task/<tid>/children (every thread's children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').split(' ')) if (c) out.push(Number(c));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * Summed VmRSS of the process trees rooted at `pids` (a host's bwrap, the runtime inside it and
 * anything the function started), in bytes; null where /proc is not available (not Linux).
 * Shared pages count once per process, as VmRSS does.
 */
export function treesRssBytes(pids: number[]): number | null {
  if (process.platform !== 'linux') return null;
  let total = 0;
  const seen = new Set<number>();
  const stack = [...pids];
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    total += rssOf(pid);
    stack.push(...childrenOf(pid));
  }
  return total;
}
