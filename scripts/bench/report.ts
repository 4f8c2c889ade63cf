/** What `npm run bench` prints on stdout once its phases ran (docs/performance.md explains the tables). */
import { cpus } from 'node:os';
import { FLOOR_KINDS, type Results } from './context.js';
import { batchAsyncCheck, handwrittenChecks, reportBounds, RSS_BOUNDS_MB, rssMet, TARGETS, type Check } from './bounds.js';
import { commandsPerOp, cpuMsPerOp, type CpuRow, type RssPeaks } from './cpu.js';
import { fmt, fmtInt, table, type LatencyStats } from './measure.js';
import type { BenchOptions } from './options.js';

/**
 * The results as markdown tables: each measure against plain BullMQ with its ratio and target, the
 * reference floors, then per phase CPU per process role, CPU µs per job by role, kernel share and
 * context switches, and Redis commands per job.
 */
export function report(res: Results, cpuRows: CpuRow[], cfg: BenchOptions, byPhase: Record<string, CpuRow> = {}, rss?: RssPeaks): string {
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const bullLabel = `plain BullMQ (1 worker proc, conc ${cfg.baseConcurrency})`;
  const fnLabel = `fnqueue (API + ${cfg.workers} workers, conc ${cfg.concurrency})`;
  const lat = (s?: LatencyStats) => (s ? `${fmt(s.p50)} / ${fmt(s.p99)}` : 'n/a');

  const rEcho = ratio(res.echo1?.p50, res.baseSeq?.p50);
  const rPrime = ratio(res.invoke1?.p50, res.baseSeq?.p50);
  const rAsync = ratio(res.async?.perSecond, res.baseAsync?.perSecond);
  const rows: string[][] = [
    ['no-op round trip, 1 at a time: p50 / p99 ms', lat(res.baseSeq), `Echo /invoke ${lat(res.echo1)}`, rEcho ? `${fmt(rEcho)}×` : 'n/a', `p50 ≤ ${TARGETS.plainP50}×`, verdict(rEcho === undefined ? undefined : rEcho <= TARGETS.plainP50)],
    ['/invoke {"number":17}, 1 conn: p50 / p99 ms', `(no-op) ${lat(res.baseSeq)}`, lat(res.invoke1), rPrime ? `${fmt(rPrime)}×` : 'n/a', `p50 ≤ ${TARGETS.plainP50}×`, verdict(rPrime === undefined ? undefined : rPrime <= TARGETS.plainP50)],
    ['round trip, 50 concurrent: p50 / p99 ms', lat(res.baseConc), `/invoke ${lat(res.invoke50)}`, '', '', ''],
    ['round trip, 50 concurrent: per second', fmtInt(res.baseConc?.perSecond), `/invoke ${fmtInt(res.invoke50?.perSecond)}`, res.invoke50 && res.baseConc ? `${fmt(res.invoke50.perSecond / res.baseConc.perSecond)}×` : 'n/a', `≥ ${fmtInt(TARGETS.invoke50PerSecond)}/s`, verdict(res.invoke50 ? res.invoke50.perSecond >= TARGETS.invoke50PerSecond : undefined)],
    ['submit only: jobs/s', `addBulk ${fmtInt(res.baseBulk)}`, `POST /jobs ${fmtInt(res.jobs50?.perSecond)}`, res.jobs50 ? `${fmt((res.jobs50.perSecond / TARGETS.jobsPerSecond) * 100, 0)}% of target` : 'n/a', `≥ ${fmtInt(TARGETS.jobsPerSecond)}/s`, verdict(res.jobs50 ? res.jobs50.perSecond >= TARGETS.jobsPerSecond : undefined)],
    ['POST /jobs 50 conns: p50 / p99 ms', '', lat(res.jobs50), '', '', ''],
    [`async add ${cfg.asyncJobs} → all completed: per second`, fmtInt(res.baseAsync?.perSecond), fmtInt(res.async?.perSecond), rAsync ? `${fmt(rAsync)}×` : 'n/a', `≥ ${TARGETS.plainAsync}×`, verdict(rAsync === undefined ? undefined : rAsync >= TARGETS.plainAsync)],
    ['  (submit phase alone, s)', fmt(res.baseAsync?.submitSeconds), fmt(res.async?.submitSeconds), '', '', ''],
  ];
  if (res.batch) {
    const rAccept = ratio(res.batch.acceptPerSecond, res.baseBulk);
    const bulkAsync = batchAsyncCheck(res);
    rows.push(
      ['batches of 1,000, submit only: jobs/s', `addBulk ${fmtInt(res.baseBulk)}`, `POST /jobs/batch ${fmtInt(res.batch.acceptPerSecond)}`, rAccept ? `${fmt(rAccept)}×` : 'n/a', `≥ ${fmtInt(TARGETS.batchAcceptPerSecond)}/s`, verdict(res.batch.acceptPerSecond >= TARGETS.batchAcceptPerSecond)],
      [`async ${cfg.asyncJobs} in batches of 1,000 → all completed: per second`, `addBulk + Worker ${fmtInt(res.baseBulkAsync?.perSecond)}`, fmtInt(res.batch.asyncPerSecond), bulkAsync.ratio ? `${fmt(bulkAsync.ratio)}×` : 'n/a', `≥ ${bulkAsync.target}×`, verdict(bulkAsync.met)],
    );
    const handBulk = res.hand?.bulkAsync?.perSecond;
    if (handBulk !== undefined) {
      const rHand = ratio(res.batch.asyncPerSecond, handBulk);
      rows.push(['  the same against addBulk + the hand-written sandboxed Worker', fmtInt(handBulk), fmtInt(res.batch.asyncPerSecond), rHand ? `${fmt(rHand)}×` : 'n/a', '', '']);
    }
  }
  let out = '\n' + table(['measure', bullLabel, fnLabel, 'ratio', 'target', ''], rows) + '\n';
  const notes: string[] = [];
  if (res.jobs50) notes.push(`POST /jobs non-2xx / errors: ${res.jobs50.errors}`);
  if (res.async) notes.push(`async: ${res.async.failed} failed jobs, ${res.async.submitErrors} submit errors`);
  if (res.batch) {
    notes.push(
      `batch: ${res.batch.failed} failed jobs, ${res.batch.refused} jobs refused; 2 batch requests / addBulk calls in flight.`,
      '  batches, submit only: accepted jobs / seconds of submitting, with no worker taking jobs (fnqueue: its workers paused; BullMQ: a queue no worker reads);',
      '  async in batches: first submit to last completion, the workers running (fnqueue: 2 workers, PrimeChecker in runner children; BullMQ: its no-op Worker;',
      '  the hand-written service: its 2 workers, PrimeChecker in forked children, fed by addBulk from the bench, no HTTP).',
    );
  }
  notes.push(
    'Both sides: the client (the bench process, incl. autocannon / the BullMQ Queue) is this process; workers are separate processes;',
    `  all share ${cpus().length} cores with redis-server. Latencies are client-side, 2xx only; per second = 2xx / measured seconds.`,
    '  BullMQ round trip = queue.add + job.waitUntilFinished(queueEvents); fnqueue round trip = HTTP /invoke (API → queue → worker → runner child → record → pub/sub → API).',
    '  async: 50 adds / POST /jobs in flight; time from the first add to the last completion.',
  );
  out += '\n' + notes.join('\n') + '\n';

  if (res.hand) out += handwrittenTable(res, byPhase, cpuRows, cfg);
  if (rss?.services().length) out += rssTable(rss);
  out += reportBounds(res, byPhase, cpuRows, rss);

  if (res.floors && Object.keys(res.floors).length) {
    out +=
      '\nReference floors on this machine: a POST /jobs-like endpoint without fnqueue, 50 conns, no workers running:\n' +
      table(
        ['server', 'req/s', 'p50 / p99 ms', 'POST /jobs vs it'],
        FLOOR_KINDS.filter((k) => res.floors?.[k]).map((k) => {
          const f = res.floors![k]!;
          return [k === 'http' ? 'node:http + JSON.parse' : k === 'express' ? 'Express 5 + express.json' : 'Express 5 + express.json + BullMQ queue.add', fmtInt(f.perSecond), lat(f), res.jobs50 ? `${fmt((res.jobs50.perSecond / f.perSecond) * 100, 0)}%` : 'n/a'];
        }),
      ) +
      '\n';
  }

  const roleNames = [...new Set(cpuRows.flatMap((r) => Object.keys(r.roles)))];
  out +=
    '\nCPU per process role during each phase (% of one core; machine = all cores, any process, of ' +
    `${cpus().length * 100}%):\n` +
    table(
      ['phase', 's', ...roleNames, 'machine'],
      cpuRows.map((r) => [r.phase, fmt(r.seconds, 1), ...roleNames.map((n) => (r.roles[n] === undefined ? '' : fmt(r.roles[n], 0))), r.machine === undefined ? 'n/a' : fmt(r.machine * cpus().length, 0)]),
    ) +
    '\n';
  const perOp = (r: CpuRow, n: string) => (r.roles[n] === undefined || r.ops === 0 ? '' : fmtInt(((r.roles[n] / 100) * r.seconds * 1e6) / r.ops));
  out +=
    '\nCPU µs per job / request by role (same phases; lower is better, less sensitive to machine load than rates):\n' +
    table(
      ['phase', 'ops', ...roleNames, 'sum', 'kernel share', 'ctx switches/op'],
      cpuRows.map((r) => [
        r.phase,
        fmtInt(r.ops),
        ...roleNames.map((n) => perOp(r, n)),
        r.ops ? fmtInt((Object.values(r.roles).reduce((x, y) => x + y, 0) / 100) * r.seconds * 1e6 / r.ops) : '',
        `${fmt(r.sysShare * 100, 0)}%`,
        r.ops ? fmt(r.ctxt / r.ops, 1) : '',
      ]),
    ) +
    '\n';
  out +=
    '\nRedis commands per job / request (INFO commandstats; usec = time inside Redis executing them, I/O excluded):\n' +
    table(
      ['phase', 'cmds/op', 'usec/op', 'top commands (calls/op)'],
      cpuRows.map((r) => {
        const calls = r.cmds.reduce((n, c) => n + c.calls, 0);
        const usec = r.cmds.reduce((n, c) => n + c.usec, 0);
        const top = r.cmds
          .slice(0, 7)
          .map((c) => `${c.name} ${fmt(c.calls / Math.max(1, r.ops), 2)}`)
          .join(', ');
        return [r.phase, r.ops ? fmt(calls / r.ops, 1) : '', r.ops ? fmt(usec / r.ops, 0) : '', top];
      }),
      [3],
    ) +
    '\n';
  return out;
}

/**
 * fnqueue against the hand-written Express + BullMQ service, measured in the same run with the same
 * resources: throughput ratios, CPU per job, /invoke latency at 1 connection (p50, p99) and Redis
 * commands per async job against plain BullMQ's, each against its target (bounds.ts TARGETS).
 */
function handwrittenTable(res: Results, rows: Record<string, CpuRow>, cpuRows: CpuRow[], cfg: BenchOptions): string {
  const checks = handwrittenChecks(res, rows, cpuRows);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const cell = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? 'n/a' : `${fmt(r)}×`);
  const target = (c: Check) => `${c.atLeast ? '≥' : '≤'} ${c.target}×`;
  const higher = (label: string, c: Check) => [label, fmtInt(c.fn), fmtInt(c.base), cell(c.ratio), target(c), verdict(c.met)];
  const lower = (label: string, c: Check) => [label, fmt(c.fn, 2), fmt(c.base, 2), cell(c.ratio), target(c), verdict(c.met)];
  const body: string[][] = [
    higher('/invoke {"number":17}, 50 conns: req/s', checks.invoke50),
    higher('POST /jobs, 50 conns: accepted/s', checks.jobs50),
    higher(`async: ${cfg.asyncJobs} jobs via POST /jobs → all completed: jobs/s`, checks.async),
    lower('CPU per /invoke at 50 conns, all processes: ms', checks.cpuInvoke50),
    lower('CPU per async job, all processes: ms', checks.cpuAsync),
    lower('/invoke, 1 conn: p50 ms', checks.p50),
    lower('/invoke, 1 conn: p99 ms', checks.p99),
  ];
  const cmds = checks.commands;
  body.push(['Redis commands per async job (vs plain BullMQ no-op)', fmt(cmds.fn, 1), `${fmt(commandsPerOp(rows['hand-written:async']), 1)} (plain ${fmt(cmds.base, 1)})`, cell(cmds.ratio), `${target(cmds)} plain`, verdict(cmds.met)]);
  let out = `\nfnqueue against the hand-written Express 5 + BullMQ service (same run, same redis-server, ${cfg.workers} worker processes × ${cfg.concurrency} each):\n`;
  out += table(['measure', 'fnqueue', 'hand-written', 'ratio', 'target', ''], body) + '\n';
  const roles = ['api', 'workers', 'runners', 'redis'];
  out +=
    '\nCPU per job by role, ms (api / workers / runner children / redis):\n' +
    table(
      ['phase', ...roles.map((r) => `fnqueue ${r}`), ...roles.map((r) => `hand-written ${r}`)],
      ['invoke50', 'jobs50', 'async'].map((phase) => [
        phase,
        ...roles.map((r) => fmt(cpuMsPerOp(rows[`fnqueue:${phase}`], r), 3)),
        ...roles.map((r) => fmt(cpuMsPerOp(rows[`hand-written:${phase}`], r), 3)),
      ]),
    ) +
    '\n';
  return out;
}

/** Peak VmRSS of one process per role and service, against the bounds for fnqueue's api and workers. */
function rssTable(rss: RssPeaks): string {
  const services = rss.services();
  const roles = [...new Set(services.flatMap((s) => rss.roles(s)))];
  const rows = roles.map((role) => {
    const bound = RSS_BOUNDS_MB[role];
    const fn = rss.peak('fnqueue', role);
    const met = fn === undefined ? undefined : rssMet(role, fn);
    return [role, ...services.map((s) => fmt(rss.peak(s, role), 0)), bound === undefined ? '' : `< ${bound}`, met === undefined ? '' : met ? 'PASS' : 'FAIL'];
  });
  return (
    '\nPeak resident memory (VmRSS) of one process per role while each service ran, MB (sampled every 0.5 s):\n' + table(['role', ...services, 'fnqueue bound', ''], rows) + '\n'
  );
}
