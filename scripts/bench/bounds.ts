/**
 * The bench's targets and memory bounds (one home: the tables in report.ts and paired.ts check
 * them), and, for each target against the hand-written service, plain BullMQ's commands and
 * batches and the memory bounds that a run misses, what bounds it in that run's own
 * figures: where the CPU goes by role, how much of the Redis work is the record layer, the round
 * trips on the path of a request, the API's memory by phase. docs/performance.md ("What bounds each
 * figure") explains each bound and the features that set it.
 */
import { cpus } from 'node:os';
import type { Results } from './context.js';
import { commandsPerOp, cpuMsPerOp, type CpuRow, type RssPeaks } from './cpu.js';
import { fmt, fmtInt } from './measure.js';

/** Every target the bench checks (ratios are fnqueue's figure over the baseline's). */
export const TARGETS = {
  /** fnqueue's /invoke, POST /jobs and async rates over the hand-written service's: at least. */
  rate: 0.8,
  /** fnqueue's CPU per job, all service processes, over the hand-written service's: at most. */
  cpu: 1.25,
  /** /invoke at 1 connection, p50 over the hand-written service's: at most. */
  p50: 1.2,
  /** /invoke at 1 connection, p99 over the hand-written service's: at most. */
  p99: 1.5,
  /** Redis commands per async job over plain BullMQ's: at most. */
  commands: 1.2,
  /** Async end to end with batches of 1,000 over plain BullMQ's addBulk + Worker: at least. */
  batchAsync: 0.7,
  /** POST /jobs/batch of 1,000, accepted jobs per second with the workers paused: at least. */
  batchAcceptPerSecond: 10_000,
  /** The Echo and the PrimeChecker /invoke at 1 connection, p50 over plain BullMQ's no-op round trip: at most. */
  plainP50: 1.5,
  /** /invoke at 50 connections, requests per second: at least. */
  invoke50PerSecond: 3000,
  /** POST /jobs at 50 connections, accepted per second: at least. */
  jobsPerSecond: 5000,
  /** Async via POST /jobs over plain BullMQ's async add + complete: at least. */
  plainAsync: 0.5,
} as const;

/** Memory bounds of one process while the bench runs, MB (VmRSS; the worker's without its runner children). */
export const RSS_BOUNDS_MB: Readonly<Record<string, number>> = { api: 150, workers: 200 };

/** The service processes' roles, in the order the lines name them. */
const ROLES = ['api', 'workers', 'runners', 'redis'] as const;
const ROLE_NAMES: Record<(typeof ROLES)[number], string> = { api: 'API', workers: 'workers', runners: 'runner children', redis: 'redis-server' };

const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);

/** A phase's share of all cores busy (CpuRow.machine, %) from which its rate counts as bound by the CPU. */
const SATURATED = 90;

/** The measures checked against the hand-written service (commands: against plain BullMQ's). */
export type HandCheckId = 'invoke50' | 'jobs50' | 'async' | 'cpuInvoke50' | 'cpuAsync' | 'p50' | 'p99' | 'commands';

/** One measure against its baseline: both figures, their ratio, the target and whether it was met. */
export interface Check {
  fn?: number;
  base?: number;
  /** fn / base; undefined when either is missing (or base is 0). */
  ratio?: number;
  target: number;
  /** true: the ratio must be at least the target (a rate); false: at most (a cost). */
  atLeast: boolean;
  /** undefined when the ratio is. */
  met?: boolean;
}

function check(fn: number | undefined, base: number | undefined, target: number, atLeast: boolean): Check {
  const r = ratio(fn, base);
  return { fn, base, ratio: r, target, atLeast, met: r === undefined ? undefined : atLeast ? r >= target : r <= target };
}

/**
 * Every measure against the hand-written service of one run (the table report.ts prints and the
 * lines {@link reportBounds} prints for the missed ones both read these): rates, CPU per job (ms,
 * all service processes), /invoke latency at 1 connection (ms), and Redis commands per async job
 * against plain BullMQ's.
 * @param rows the CPU rows of both services' phases, by `<service>:<phase>` (BenchContext.rows).
 * @param cpuRows every phase's CPU row in order (plain BullMQ's among them).
 */
export function handwrittenChecks(res: Results, rows: Record<string, CpuRow>, cpuRows: readonly CpuRow[]): Record<HandCheckId, Check> {
  const hand = res.hand;
  return {
    invoke50: check(res.invoke50?.perSecond, hand?.invoke50?.perSecond, TARGETS.rate, true),
    jobs50: check(res.jobs50?.perSecond, hand?.jobs50?.perSecond, TARGETS.rate, true),
    async: check(res.async?.perSecond, hand?.async?.perSecond, TARGETS.rate, true),
    cpuInvoke50: check(cpuMsPerOp(rows['fnqueue:invoke50']), cpuMsPerOp(rows['hand-written:invoke50']), TARGETS.cpu, false),
    cpuAsync: check(cpuMsPerOp(rows['fnqueue:async']), cpuMsPerOp(rows['hand-written:async']), TARGETS.cpu, false),
    p50: check(res.invoke1?.p50, hand?.invoke1?.p50, TARGETS.p50, false),
    p99: check(res.invoke1?.p99, hand?.invoke1?.p99, TARGETS.p99, false),
    commands: check(commandsPerOp(rows['fnqueue:async']), commandsPerOp(cpuRows.find((r) => r.phase === PLAIN_ASYNC_PHASE)), TARGETS.commands, false),
  };
}

/** Async end to end with batches of 1,000 against plain BullMQ's addBulk + no-op Worker. */
export function batchAsyncCheck(res: Results): Check {
  return check(res.batch?.asyncPerSecond, res.baseBulkAsync?.perSecond, TARGETS.batchAsync, true);
}

/** Whether a peak of `mb` MB keeps `role`'s memory bound; undefined for a role without one. */
export function rssMet(role: string, mb: number): boolean | undefined {
  const bound = RSS_BOUNDS_MB[role];
  return bound === undefined ? undefined : mb < bound;
}

/** The CPU row of plain BullMQ's async add + complete (bullmq-baseline.ts), the commands' baseline. */
const PLAIN_ASYNC_PHASE = 'bullmq: async add + complete';

/** fnqueue's CPU per op minus the hand-written service's in `phase`, role by role, µs (e.g. `API +57 µs, workers +72, ...`); n/a for a role either lacks. */
function extraByRole(rows: Record<string, CpuRow>, phase: string): string | undefined {
  const fn = rows[`fnqueue:${phase}`];
  const hw = rows[`hand-written:${phase}`];
  if (!fn || !hw) return undefined;
  const parts = ROLES.map((role, i) => {
    const a = cpuMsPerOp(fn, role);
    const b = cpuMsPerOp(hw, role);
    if (a === undefined || b === undefined) return `${ROLE_NAMES[role]} n/a`;
    const d = (a - b) * 1000;
    return `${ROLE_NAMES[role]} ${d >= 0 ? '+' : '−'}${fmtInt(Math.abs(d))}${i === 0 ? ' µs' : ''}`;
  });
  return parts.join(', ');
}

/**
 * One line per target the run missed (nothing when it met them all, or did not measure them),
 * each with the figures of the same run that bound it.
 * @param res everything measured (the records and paired phases' figures feed several lines).
 * @param rows the CPU rows of both services' phases, by `<service>:<phase>` (BenchContext.rows).
 * @param cpuRows every phase's CPU row in order (plain BullMQ's, and the windows of fnqueue's phases).
 * @param rss the peak-memory samples, for the memory bounds.
 */
export function reportBounds(res: Results, rows: Record<string, CpuRow>, cpuRows: readonly CpuRow[], rss?: RssPeaks): string {
  const lines: string[] = [];
  const hand = res.hand;
  const checks = handwrittenChecks(res, rows, cpuRows);
  const records = res.records;
  const recordLayerUs = records ? `the record layer alone costs Redis ${fmt(records.create.redisCpuUs, 1)} µs per job for the create and ${fmt(records.finish.redisCpuUs, 1)} for the finish (the records phase), each one script call more for the API and a worker` : undefined;

  // CPU per job: where it goes by role, and how far the machine moved between the two phases.
  const cpuLines: string[] = [];
  const cpuMissed = new Set<string>();
  for (const { phase, label, c } of [
    { phase: 'invoke50', label: 'CPU per /invoke at 50 connections', c: checks.cpuInvoke50 },
    { phase: 'async', label: 'CPU per async job', c: checks.cpuAsync },
  ]) {
    if (c.met !== false) continue;
    const r = c.ratio!;
    cpuMissed.add(phase);
    const runners = ratio(cpuMsPerOp(rows[`fnqueue:${phase}`], 'runners'), cpuMsPerOp(rows[`hand-written:${phase}`], 'runners'));
    cpuLines.push(
      `- ${label}, ${fmt(r)}× (> ${c.target}×): fnqueue's extra per job by role: ${extraByRole(rows, phase)}. ` +
        `The runner children run the same PrimeChecker in both services, yet theirs came to ${fmt(runners)}× the hand-written's: how far the machine moved between the two phases` +
        (recordLayerUs ? `; ${recordLayerUs}.` : '.'),
    );
  }

  // Rates: a load that keeps the shared cores busy gets a rate that is its CPU per op's inverse.
  const rates = [
    { phase: 'invoke50', label: '/invoke at 50 connections', c: checks.invoke50 },
    { phase: 'jobs50', label: 'POST /jobs at 50 connections', c: checks.jobs50 },
    { phase: 'async', label: 'async via POST /jobs', c: checks.async },
  ];
  for (const { phase, label, c } of rates) {
    if (c.met !== false) continue;
    const r = c.ratio!;
    const fnRow = rows[`fnqueue:${phase}`];
    const hwRow = rows[`hand-written:${phase}`];
    const busy = (row?: CpuRow) => (row?.machine === undefined ? 'n/a' : `${fmt(row.machine * cpus().length, 0)}%`);
    // Saturated: both phases kept the cores at least 90 % busy.
    const saturated = [fnRow, hwRow].every((row) => row?.machine !== undefined && row.machine >= SATURATED);
    const cpuRatio = `${fmt(ratio(cpuMsPerOp(fnRow), cpuMsPerOp(hwRow)))}× the hand-written's${cpuMissed.has(phase) ? ' (below)' : `; by role: ${extraByRole(rows, phase) ?? 'n/a'}`}`;
    let line =
      `- ${label}, ${fmt(r)}× (< ${c.target}×): the cores were busy ${busy(fnRow)} in fnqueue's phase and ${busy(hwRow)} in the hand-written's (of ${cpus().length * 100}%), ` +
      (saturated ? `so the rate follows the CPU per op, ${cpuRatio}.` : `so not only the CPU bounds it (the CPU per op: ${cpuRatio}).`);
    if (phase === 'jobs50') {
      // The workers run jobs while the accepts go on: their CPU per accepted job here against their
      // CPU per completed job in the async phase is about the share of accepted jobs they ran meanwhile.
      const ran = (svc: string) => ratio(cpuMsPerOp(rows[`${svc}:jobs50`], 'workers'), cpuMsPerOp(rows[`${svc}:async`], 'workers'));
      const [fq, hw] = [ran('fnqueue'), ran('hand-written')];
      if (fq !== undefined && hw !== undefined) {
        line += ` Its workers share those cores: their CPU per accepted job here against per completed job in the async phase is ${fmt(fq * 100, 0)}% for fnqueue's and ${fmt(hw * 100, 0)}% for the hand-written's, about the share of the accepted jobs each service ran meanwhile.`;
      }
    }
    if (phase === 'invoke50' && res.paired) {
      const p = res.paired.invoke50;
      line += ` In turns (the paired phase): ${fmt(ratio(p.fnqueue.perSecond, p.hand.perSecond))}×${p.roundRatios.length ? ` (rounds ${fmt(Math.min(...p.roundRatios))}–${fmt(Math.max(...p.roundRatios))}×)` : ''}.`;
    }
    lines.push(line);
  }

  lines.push(...cpuLines);

  // Latency at 1 connection: the round trips on a request's path.
  const latencies = [
    { key: 'p50' as const, c: checks.p50, paired: res.paired && ratio(res.paired.invoke1.fnqueue.p50, res.paired.invoke1.hand.p50) },
    { key: 'p99' as const, c: checks.p99, paired: res.paired && ratio(res.paired.invoke1.fnqueue.p99, res.paired.invoke1.hand.p99) },
  ];
  for (const { key, c, paired } of latencies) {
    if (c.met !== false) continue;
    const { ratio: r, fn, base: hw } = c;
    const fnRow = rows['fnqueue:invoke1'];
    const hwRow = rows['hand-written:invoke1'];
    const us = (row: CpuRow | undefined, role: string) => fmtInt((cpuMsPerOp(row, role) ?? NaN) * 1000);
    lines.push(
      `- /invoke at 1 connection, ${key} ${fmt(r)}× (> ${c.target}×), ${fmt(((fn ?? 0) - (hw ?? 0)) * 1000, 0)} µs more: the path has as many Redis round trips as the hand-written service's (the record's script and BullMQ's add go in one; the worker's finish script wakes the waiting /invoke as BullMQ's completed event does there), so what is left is the work on it: the API's HTTP, validation, request context and the record's arguments, the worker's bookkeeping (docs/performance.md, "What bounds each figure", its latency at one connection); ` +
        `CPU per request on its path: API ${us(fnRow, 'api')} µs against ${us(hwRow, 'api')}, workers ${us(fnRow, 'workers')} against ${us(hwRow, 'workers')}` +
        (paired === undefined ? '.' : `; in turns (the paired phase) ${fmt(paired)}×.`),
    );
  }

  // Redis commands: BullMQ's own share against the record layer's.
  const { fn: fnCmds, base: bullCmds, ratio: rc } = checks.commands;
  if (checks.commands.met === false && fnCmds !== undefined && bullCmds !== undefined) {
    let line = `- Redis commands per async job, ${fmt(fnCmds, 1)} against plain BullMQ's ${fmt(bullCmds, 1)} (${fmt(rc)}× > ${checks.commands.target}×)`;
    if (records) {
      const layer = records.create.commands + records.finish.commands;
      const addBulk = commandsPerOp(cpuRows.find((r) => r.phase === 'bullmq: addBulk'));
      line +=
        `: the record layer's two scripts run ${fmt(layer, 1)} of them (create ${fmt(records.create.commands, 1)}, finish ${fmt(records.finish.commands, 1)}; the records phase), each for a feature every job uses (the record and its TTL, the listing indexes, the run counters, MAX_QUEUED_BYTES); ` +
        `the other ${fmt(fnCmds - layer, 1)} are BullMQ's own work for the job, ${fmt((fnCmds - layer) / bullCmds)}× plain BullMQ's (its add with fnqueue's priority runs ${fmt(records.add.commands, 1)} commands${addBulk === undefined ? '' : ` against ${fmt(addBulk, 1)} per job of a plain addBulk`}).`;
    } else {
      line += ' (the records phase, which splits them, did not run).';
    }
    lines.push(line);
  }

  // Batches end to end, against the no-op Worker and against workers that run the job.
  const batch = batchAsyncCheck(res);
  if (batch.met === false) {
    const sandboxed = ratio(batch.fn, hand?.bulkAsync?.perSecond);
    lines.push(
      `- async in batches of 1,000, ${fmt(batch.ratio)}× plain BullMQ's addBulk + no-op Worker (< ${batch.target}×): fnqueue's workers run each job in a runner child (a message each way) where that Worker runs nothing` +
        (sandboxed === undefined ? '.' : `; against the hand-written service's sandboxed workers fed by addBulk, which run it in a forked child too: ${fmt(sandboxed)}×.`),
    );
  }

  // Memory: where the process started, and its peak in each of fnqueue's measured phases.
  for (const [role, bound] of Object.entries(RSS_BOUNDS_MB)) {
    const peak = rss?.peak('fnqueue', role);
    if (!rss || peak === undefined || rssMet(role, peak) !== false) continue;
    const byPhase = cpuRows
      .filter((r) => r.phase.startsWith('fnqueue: '))
      .map((r) => [r.phase.slice('fnqueue: '.length), rss.peak('fnqueue', role, r.from, r.to)] as const)
      .filter((x): x is readonly [string, number] => x[1] !== undefined)
      .map(([phase, mb]) => `${phase} ${fmt(mb, 0)}`);
    lines.push(
      `- peak VmRSS of one fnqueue ${role === 'api' ? 'API' : 'worker'} process, ${fmt(peak, 0)} MB (≥ ${bound}): ${fmt(rss.first('fnqueue', role), 0)} MB once started and warmed up (the node binary's pages and the modules it loads); ` +
        `the peak within each measured phase, MB: ${byPhase.join('; ') || 'n/a'}.`,
    );
  }

  if (!lines.length) return '';
  return `\nWhat bounds each target this run missed, in its own figures (docs/performance.md, "What bounds each figure"):\n${lines.join('\n')}\n`;
}
