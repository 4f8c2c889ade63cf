/**
 * CPU accounting from /proc per process role and phase (utime + stime, kernel share, context
 * switches), Redis commands per phase (INFO commandstats), and the peak resident memory of each
 * role's processes (VmRSS).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { redisInfo } from '../lib/redis-server.js';

const CLK_TCK = 100;

/** Pids per role name (bench, api, workers, runners, redis, ...). */
export type Roles = Record<string, number[]>;

type CmdStats = Map<string, { calls: number; usec: number }>;

/** One reading of every role's CPU ticks and Redis's command counters. */
export interface CpuSnap {
  at: number;
  ticks: Record<string, number>;
  /** Over all roles: kernel-mode ticks and context switches. */
  sys: number;
  ctxt: number;
  machine?: { busy: number; total: number };
  cmds: CmdStats;
}

/** One phase's row of the CPU tables. */
export interface CpuRow {
  phase: string;
  seconds: number;
  /** When the phase's measuring began (`performance.now()`, ms), for {@link RssPeaks.peak}. */
  from: number;
  /** When it ended (`performance.now()`, ms). */
  to: number;
  /** % of one core per role. */
  roles: Record<string, number>;
  /** % of all cores busy (any process, also outside this bench). */
  machine?: number;
  /** Jobs / requests done in the phase, for CPU per op. */
  ops: number;
  /** Share of the roles' CPU spent in the kernel (syscalls), 0..1. */
  sysShare: number;
  /** Context switches of all the roles' processes. */
  ctxt: number;
  /** Redis commands in the phase (INFO commandstats diff; the stats INFO calls excluded). */
  cmds: Array<{ name: string; calls: number; usec: number }>;
}

/** All roles' CPU per op of `row`, ms (the bench process, the load generator, left out), or one role's. */
export function cpuMsPerOp(row: CpuRow | undefined, role?: string): number | undefined {
  if (!row || row.ops === 0) return undefined;
  const pct = role === undefined ? Object.entries(row.roles).reduce((n, [r, v]) => n + (r === 'bench' ? 0 : v), 0) : row.roles[role];
  return pct === undefined ? undefined : ((pct / 100) * row.seconds * 1000) / row.ops;
}

/** Redis commands per op of `row`. */
export function commandsPerOp(row: CpuRow | undefined): number | undefined {
  if (!row || row.ops === 0) return undefined;
  return row.cmds.reduce((n, c) => n + c.calls, 0) / row.ops;
}

/** utime + stime and stime alone (clock ticks), and context switches (voluntary + not) of a process. */
function procUsage(pid: number): { ticks: number; sys: number; ctxt: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const ctxt = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    return { ticks: Number(fields[11]) + Number(fields[12]), sys: Number(fields[12]), ctxt };
  } catch {
    return undefined;
  }
}

/** The pids whose parent is in `parents` (a worker's runner children). */
export function childrenOf(parents: Set<number>): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parents.has(ppid)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Takes {@link CpuSnap}s; reads INFO commandstats over `statsRedis` once it is set. */
export class CpuMeter {
  statsRedis?: Redis;

  private async commandStats(): Promise<CmdStats> {
    const out: CmdStats = new Map();
    if (!this.statsRedis) return out;
    const info = await this.statsRedis.info('commandstats').catch(() => '');
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
    return out;
  }

  async snap(roles: Roles): Promise<CpuSnap> {
    const cmds = await this.commandStats();
    const ticks: Record<string, number> = {};
    let sys = 0;
    let ctxt = 0;
    for (const [role, pids] of Object.entries(roles)) {
      ticks[role] = 0;
      for (const pid of pids) {
        const u = procUsage(pid);
        if (!u) continue;
        ticks[role] += u.ticks;
        sys += u.sys;
        ctxt += u.ctxt;
      }
    }
    return { at: performance.now(), ticks, sys, ctxt, machine: machineTicks(), cmds };
  }
}

/** The row of phase `phase` between snapshots `a` and `b`, with `ops` jobs / requests done. */
export function cpuDiff(phase: string, a: CpuSnap, b: CpuSnap, ops: number): CpuRow {
  const seconds = (b.at - a.at) / 1000;
  const roles: Record<string, number> = {};
  for (const role of Object.keys(b.ticks)) roles[role] = (((b.ticks[role] ?? 0) - (a.ticks[role] ?? 0)) / CLK_TCK / seconds) * 100;
  const machine = a.machine && b.machine ? ((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * 100 : undefined;
  const cmds: CpuRow['cmds'] = [];
  for (const [name, v] of b.cmds) {
    const before = a.cmds.get(name) ?? { calls: 0, usec: 0 };
    const calls = v.calls - before.calls - (name === 'info' ? 1 : 0);
    if (calls > 0) cmds.push({ name, calls, usec: v.usec - before.usec });
  }
  cmds.sort((x, y) => y.calls - x.calls);
  const totalTicks = Object.keys(b.ticks).reduce((n, r) => n + (b.ticks[r] ?? 0) - (a.ticks[r] ?? 0), 0);
  const sysShare = totalTicks > 0 ? (b.sys - a.sys) / totalTicks : 0;
  return { phase, seconds, from: a.at, to: b.at, roles, machine, ops, cmds, sysShare, ctxt: b.ctxt - a.ctxt };
}

/** VmRSS of a process, MB (undefined once it is gone). */
function procRssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * Resident memory per service and role, sampled: at each sample the largest VmRSS of one process
 * of the role, MB. The peak, the first sample and the peak within a phase's window all come from
 * the samples.
 */
export class RssPeaks {
  /** service name → role → every sample: when (`performance.now()`, ms) and the largest VmRSS of one process then, MB. */
  private readonly samples = new Map<string, Record<string, Array<[number, number]>>>();

  /** The services sampled, in the order they were first watched. */
  services(): string[] {
    return [...this.samples.keys()];
  }

  /** The roles sampled of `service`. */
  roles(service: string): string[] {
    return Object.keys(this.samples.get(service) ?? {});
  }

  /**
   * The largest sample of `service`'s `role`, MB, of those taken between `from` and `to`
   * (`performance.now()`, ms; default: all of them); undefined without one.
   */
  peak(service: string, role: string, from = -Infinity, to = Infinity): number | undefined {
    let peak: number | undefined;
    for (const [at, mb] of this.samples.get(service)?.[role] ?? []) if (at >= from && at <= to && (peak === undefined || mb > peak)) peak = mb;
    return peak;
  }

  /** The first sample of `service`'s `role` (the service just started and warmed up), MB. */
  first(service: string, role: string): number | undefined {
    return this.samples.get(service)?.[role]?.[0]?.[1];
  }

  /**
   * Samples the processes `roles` names every `intervalMs` (the role list, which scans /proc for
   * runner children, is re-read every fourth sample) until the returned function is called.
   */
  watch(service: string, roles: () => Roles, intervalMs = 500): () => void {
    const samples = this.samples.get(service) ?? {};
    this.samples.set(service, samples);
    let current = roles();
    let n = 0;
    const sample = () => {
      if (++n % 4 === 0) current = roles();
      const at = performance.now();
      for (const [role, pids] of Object.entries(current)) {
        if (role === 'bench') continue;
        let largest: number | undefined;
        for (const pid of pids) {
          const mb = procRssMb(pid);
          if (mb !== undefined && (largest === undefined || mb > largest)) largest = mb;
        }
        if (largest !== undefined) (samples[role] ??= []).push([at, largest]);
      }
    };
    sample();
    const timer = setInterval(sample, intervalMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      sample();
    };
  }
}

/** The CPU the redis-server on 127.0.0.1:`port` used so far, seconds (INFO cpu: used_cpu_sys + used_cpu_user). */
export async function redisCpuSeconds(port: number): Promise<number> {
  const cpu = await redisInfo(port, 'cpu');
  return Number(cpu.used_cpu_sys ?? 0) + Number(cpu.used_cpu_user ?? 0);
}
