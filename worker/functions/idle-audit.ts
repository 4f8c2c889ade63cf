/**
 * The idle-host audit (docs/functions.md, "Warm processes"): what a warm host's process tree does
 * between invocations, measured from the worker in /proc. The host's own count of leftover threads
 * (`stray_threads`) runs inside the function's process, where its code can falsify it or start
 * work right after the result; this check cannot be reached from there.
 */
import { readFileSync } from 'node:fs';
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
  /** Summed utime + stime of every process of the tree (all their threads), in ms. */
  cpuMs: number;
  /** Summed threads (num_threads) of every process of the tree. */
  threads: number;
  /** performance.now() when it was read, in ms. */
  at: number;
}

/**
 * Reads the CPU time and threads of every process under `root` (its descendants through
 * /proc/<pid>/task/<tid>/children) and of `extra` pids (a host's cgroup members, which catches a
 * process that left the tree); null when `root` is gone or /proc is unreadable.
 */
export function treeUsage(root: number, extra: number[], now: number): TreeUsage | null {
  const seen = new Set<number>();
  const stack = [root, ...extra];
  let ticks = 0;
  let threads = 0;
  let rootSeen = false;
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue;
    }
    if (pid === root) rootSeen = true;
    // Fields after the parenthesised name start at field 3: utime is 14, stime 15, num_threads 20.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 18);
    ticks += Number(f[11]) + Number(f[12]);
    threads += Number(f[17]);
    stack.push(...childrenOf(pid));
  }
  return rootSeen ? { cpuMs: ticks * TICK_MS, threads, at: now } : null;
}

/**
 * Why an idle host must be retired, comparing its tree now with right after its last result
 * (`base`); null when it is within bounds: no more threads than then, and CPU within
 * {@link IDLE_CPU_GRACE_MS} + {@link IDLE_CPU_MS_PER_S} per second since.
 */
export function idleViolation(base: TreeUsage, now: TreeUsage): string | null {
  if (now.threads > base.threads) return `started threads while idle (${base.threads} -> ${now.threads})`;
  const used = now.cpuMs - base.cpuMs;
  const allowed = IDLE_CPU_GRACE_MS + (IDLE_CPU_MS_PER_S * Math.max(0, now.at - base.at)) / 1000;
  if (used > allowed) return `used ${used} ms of CPU in ${Math.round(now.at - base.at)} ms idle`;
  return null;
}
