/**
 * Killing a host process and everything it started (docs/functions.md, "The function sandbox"): the pool calls
 * this when a host is retired (timeout, crash, cancellation, recycling).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid of every process, from /proc/<pid>/stat (field 4, after the parenthesised name). */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return children;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* gone meanwhile */
    }
  }
  return children;
}

/**
 * Kills a host and everything it started, with SIGKILL. Under bwrap, killing bwrap is enough: its
 * child is pid 1 of the sandbox's pid namespace (with --die-with-parent), and when that dies the
 * kernel kills every process in the namespace, even ones that called setsid(). Without bwrap the
 * host's process group (it is spawned detached) is stopped, its descendants found through /proc,
 * and all killed; a descendant that left both the group and the tree (setsid plus double fork
 * before the kill) escapes, which is a stated limit of running without isolation.
 */
export function killProcessTree(pid: number, isolated: boolean): void {
  const signal = (target: number, sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      /* already gone */
    }
  };
  if (isolated) {
    signal(-pid, 'SIGKILL');
    signal(pid, 'SIGKILL');
    return;
  }
  signal(-pid, 'SIGSTOP');
  const tree = parentMap();
  const found: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    for (const c of tree.get(p) ?? []) {
      found.push(c);
      stack.push(c);
    }
  }
  signal(-pid, 'SIGKILL');
  for (const c of found) signal(c, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

