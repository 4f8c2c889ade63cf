/**
 * `npm run bench`: fnqueue against plain BullMQ, in one run, on one redis-server this script starts
 * itself on a free port (never 6379), all traffic on 127.0.0.1.
 *
 * A. Plain BullMQ (the bullmq package directly, its own prefix), the no-op Worker in a separate
 *    process (`scripts/bench.ts --bullmq-worker`): sequential and 50-concurrent `add` +
 *    `waitUntilFinished` round trips, `addBulk` throughput, async completions/s.
 *    Plus reference floors: a POST /jobs-like endpoint on bare node:http, on Express 5, and on
 *    Express 5 + one BullMQ queue.add (`scripts/bench.ts --floor-server <kind>`), no fnqueue code.
 * B. fnqueue: the real API (`api/main.ts`) and BENCH_WORKERS worker processes (`worker/main.ts`),
 *    measured with autocannon: /invoke at 1 and 50 connections, the Echo no-op /invoke, async
 *    end-to-end completions/s through POST /jobs, and POST /jobs accept rate at 50 connections.
 *
 * Prints the results with the ratios against the targets, then per phase: CPU per process role
 * (from /proc), CPU µs per job by role, kernel share and context switches, and Redis commands per
 * job (INFO commandstats); with BENCH_PROFILE, the top self-time functions of the profiled processes
 * per phase. Every process it starts is stopped on success, error and Ctrl-C (also the temp dirs).
 * Exit code 0 after printing; 1 when a phase failed (what was measured is still printed).
 *
 * Env knobs:
 *   BENCH_DURATION_S         seconds per autocannon / duration-bounded phase (default 5)
 *   BENCH_WORKERS            fnqueue worker processes (default 2)
 *   BENCH_CONCURRENCY        fnqueue WORKER_CONCURRENCY, also its runner pool size (default 8)
 *   BENCH_BASE_CONCURRENCY   plain BullMQ no-op Worker concurrency (default 50)
 *   BENCH_ASYNC_JOBS         jobs in each async end-to-end phase (default 5000)
 *   BENCH_SEQ_JOBS           sequential BullMQ round trips measured (default 1000)
 *   BENCH_RATE               fixed req/s for the 50-connection fnqueue phases, to compare CPU per request of two
 *                            builds at equal load (default: unset, as fast as possible)
 *   BENCH_PHASES             comma list of: bullmq,floors,invoke1,echo1,invoke50,async,jobs50 (default all)
 *   BENCH_PROFILE            1|api, worker, all: CPU-profile those processes (V8 profiler, 1 ms samples; files in
 *                            /tmp/fnqueue-bench-prof-*), summarised per phase at the end
 *   BENCH_VERBOSE            1: echo the service processes' log lines
 *
 * Also: `node --import tsx scripts/bench.ts --summarize <file.cpuprofile> [fromUs toUs]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { Queue, QueueEvents, Worker } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { decodeJobEvent, jobIdOfEvent, newJobId } from '../shared/queue/job-record.js';
import { bullPrefix, JOBS_QUEUE, keysFor } from '../shared/queue/names.js';
import { freePort } from '../shared/net/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);

const envInt = (name: string, dflt: number, min = 1): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: must be an integer >= ${min}`);
  return n;
};

/** The plain BullMQ jobs use fnqueue's job options, but for keeping the last 1000 completed jobs:
 * `waitUntilFinished` reads the finished job once after subscribing, and a job already removed then
 * reads as failed ("Missing key"). */
const BASE_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { age: 86_400, count: 10_000 },
} as const;
const BASE_PREFIX = 'benchbull';

// ---------------------------------------------------------------------------------------------
// Small helpers


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  perSecond: number;
}

function stats(latencies: number[], seconds: number): LatencyStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), perSecond: sorted.length / seconds };
}

/** Monotonic time in µs (CLOCK_MONOTONIC, the clock of V8's profile timestamps). */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
const fmtInt = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));

/** A markdown table; the first column (and those in `left`) left-aligned, the others right-aligned. */
function table(header: string[], rows: string[][], left: number[] = []): string {
  const isLeft = (i: number) => i === 0 || left.includes(i);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (isLeft(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (isLeft(i) ? ':' : '-') + '-'.repeat(w) + (isLeft(i) ? '-' : ':')).join('|') + '|';
  return [line(header), sep, ...rows.map(line)].join('\n');
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Process management: everything started is tracked and stopped on exit, error and signals.

interface Managed {
  name: string;
  proc: ChildProcess;
  /** Last lines of its output, for errors. */
  tail: string[];
  warnings: number;
  exited: Promise<void>;
  /** Stopped last (redis). */
  last?: boolean;
}

const managed: Managed[] = [];
/** Temp dirs to remove once everything is stopped (redis-server's --dir). */
const tempDirs: string[] = [];

function manage(name: string, proc: ChildProcess, last = false): Managed {
  const m: Managed = {
    name,
    proc,
    tail: [],
    warnings: 0,
    last,
    exited: new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    }),
  };
  const read = (stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      m.tail.push(line);
      if (m.tail.length > 20) m.tail.shift();
      if (/"level":"(warn|error)"/.test(line) || /\bWarning\b|Error/.test(line)) m.warnings++;
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
    });
  };
  read(proc.stdout);
  read(proc.stderr);
  managed.push(m);
  return m;
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

async function stopProc(m: Managed, timeoutMs: number): Promise<void> {
  if (!alive(m.proc)) return;
  m.proc.kill('SIGTERM');
  const timer = setTimeout(() => alive(m.proc) && m.proc.kill('SIGKILL'), timeoutMs);
  await m.exited;
  clearTimeout(timer);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all(managed.filter((m) => !m.last).map((m) => stopProc(m, 12_000)));
    await Promise.all(managed.filter((m) => m.last).map((m) => stopProc(m, 5_000)));
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort (e.g. an uncaught error between awaits): nothing outlives the bench.
process.on('exit', () => {
  for (const m of managed) if (alive(m.proc)) m.proc.kill('SIGKILL');
});

function nodeProcess(name: string, entry: string, env: NodeJS.ProcessEnv, extraNodeArgs: string[] = []): Managed {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...extraNodeArgs, entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return manage(name, proc);
}

async function startRedis(): Promise<{ url: string; port: number; pid: number }> {
  const port = await freePort();
  if (port === 6379) throw new Error('refusing port 6379');
  const dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-bench-redis-'));
  tempDirs.push(dir);
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
  // Own process group: a terminal's Ctrl-C reaches the services (they drain) but Redis stays until they are gone.
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  await new Promise<void>((resolve, reject) => {
    proc.once('spawn', () => resolve());
    proc.once('error', reject);
  });
  const m = manage('redis-server', proc, true);
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (!alive(proc)) throw new Error(`redis-server exited: ${m.tail.join('\n')}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return { url, port, pid: proc.pid! };
    } catch {
      await sleep(50);
    } finally {
      probe.disconnect();
    }
  }
  throw new Error('redis-server did not answer PING');
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc: per role, per phase.

const CLK_TCK = 100;

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

function childrenOf(parents: Set<number>): number[] {
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

type Roles = Record<string, number[]>;

type CmdStats = Map<string, { calls: number; usec: number }>;

interface CpuSnap {
  at: number;
  ticks: Record<string, number>;
  /** Over all roles: kernel-mode ticks and context switches. */
  sys: number;
  ctxt: number;
  machine?: { busy: number; total: number };
  cmds: CmdStats;
}

/** A connection for INFO commandstats (set once redis-server is up). */
let statsRedis: Redis | undefined;

async function commandStats(): Promise<CmdStats> {
  const out: CmdStats = new Map();
  if (!statsRedis) return out;
  const info = await statsRedis.info('commandstats').catch(() => '');
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

async function cpuSnap(roles: Roles): Promise<CpuSnap> {
  const cmds = await commandStats();
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

interface CpuRow {
  phase: string;
  seconds: number;
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

function cpuDiff(phase: string, a: CpuSnap, b: CpuSnap, ops: number): CpuRow {
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
  return { phase, seconds, roles, machine, ops, cmds, sysShare, ctxt: b.ctxt - a.ctxt };
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary (.cpuprofile JSON): top self time, by package, top inclusive.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(ROOT + '/')) u = u.slice(ROOT.length + 1);
  return u;
}

function categoryOf(frame: ProfileNode['callFrame']): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const u = shortUrl(url);
  if (u !== url.replace(/^file:\/\//, '') || url.includes('/node_modules/')) {
    const parts = u.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return 'fnqueue:' + u.split('/')[0];
}

export function summarizeProfile(file: string, window?: { from: number; to: number }, top = 22): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    return f.url ? `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}` : f.functionName || '(anonymous)';
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const cats = new Map<string, number>();
  let t = prof.startTime;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (window && (t < window.from || t > window.to)) continue;
    const dt = prof.timeDeltas[i + 1] ?? 1000;
    const node = byId.get(prof.samples[i]!);
    if (!node) continue;
    total += dt;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const k = keyOf(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const c = categoryOf(node.callFrame);
    cats.set(c, (cats.get(c) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === '(root)') break;
      const key = keyOf(n);
      if (!seen.has(key)) {
        seen.add(key);
        incl.set(key, (incl.get(key) ?? 0) + dt);
      }
    }
  }
  const busy = total - idle;
  if (total === 0) return `  (no samples in window)\n`;
  const pct = (x: number) => `${((x / busy) * 100).toFixed(1)}%`;
  const ms = (x: number) => `${(x / 1000).toFixed(0)} ms`;
  const sorted = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  let out = `  window ${(total / 1e6).toFixed(1)} s, busy ${((busy / total) * 100).toFixed(0)}% of one core (${ms(busy)}); shares below are of busy time\n`;
  out += '\n  self time by package / area:\n';
  out += table(['area', 'self', 'share'], sorted(cats, 14).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  out += '\n  top self-time functions:\n';
  out += table(['function', 'self', 'share'], sorted(self, top).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  out += '\n  top inclusive (total) time:\n';
  out += table(['function', 'total', 'share'], sorted(incl, top).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  return out;
}

// ---------------------------------------------------------------------------------------------
// The plain BullMQ no-op worker process (`--bullmq-worker`): commanded over IPC.

type WorkerCmd = { type: 'start'; queue: string; concurrency: number } | { type: 'count' } | { type: 'stop' };
type WorkerMsg = { type: 'ready' } | { type: 'started'; queue: string } | { type: 'count'; completed: number; lastAt: number } | { type: 'stopped' };

async function bullmqWorkerMain(): Promise<void> {
  const port = Number(process.env.BENCH_REDIS_PORT);
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const workers: Worker[] = [];
  let completed = 0;
  let lastAt = 0;
  const send = (m: WorkerMsg) => process.send?.(m);
  const stop = async () => {
    await Promise.all(workers.map((w) => w.close()));
    send({ type: 'stopped' });
    process.exit(0);
  };
  process.on('message', (cmd: WorkerCmd) => {
    if (cmd.type === 'start') {
      const w = new Worker(cmd.queue, async () => null, { connection, prefix: BASE_PREFIX, concurrency: cmd.concurrency });
      w.on('completed', () => {
        completed++;
        lastAt = Date.now();
      });
      w.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
      workers.push(w);
      void w.waitUntilReady().then(() => send({ type: 'started', queue: cmd.queue }));
    } else if (cmd.type === 'count') {
      send({ type: 'count', completed, lastAt });
    } else if (cmd.type === 'stop') {
      void stop();
    }
  });
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined); // the parent decides
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// Reference floors (`--floor-server <kind>`): how fast a POST /jobs-like endpoint can be on this
// machine with nothing of fnqueue: bare node:http, Express 5 + express.json, and Express + one
// BullMQ queue.add (fnqueue's job options, no worker).

const FLOOR_KINDS = ['http', 'express', 'express+add'] as const;
type FloorKind = (typeof FLOOR_KINDS)[number];

async function floorServerMain(kind: FloorKind): Promise<void> {
  const port = Number(process.env.BENCH_FLOOR_PORT);
  const redisPort = Number(process.env.BENCH_REDIS_PORT);
  const accepted = (id: string) => ({ job_id: id, status: 'pending', message: 'job created', created_at: new Date().toISOString() });
  let server: import('node:http').Server;
  let queue: Queue | undefined;
  if (kind === 'http') {
    server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const id = newJobId();
        res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', location: `/jobs/${id}` });
        res.end(JSON.stringify(accepted(id)));
      });
    });
  } else {
    if (kind === 'express+add') {
      queue = new Queue('floor', { connection: { host: '127.0.0.1', port: redisPort }, prefix: BASE_PREFIX });
      await queue.waitUntilReady();
    }
    const app = express();
    app.use(express.json());
    app.post('/jobs', async (req, res) => {
      const id = newJobId();
      if (queue) await queue.add('PrimeChecker', { ...(req.body as object), mode: 'async', created_at: new Date().toISOString() }, { ...BASE_JOB_OPTIONS, jobId: id });
      res.status(202).location(`/jobs/${id}`).json(accepted(id));
    });
    server = createHttpServer(app);
  }
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const stop = async () => {
    server.close();
    server.closeAllConnections();
    if (queue) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined);
  process.on('disconnect', () => void stop());
  process.send?.({ type: 'ready' });
}

async function runFloors(redisPort: number, res: Results, cpuRows: CpuRow[], cfg: BenchConfig): Promise<void> {
  res.floors = {};
  for (const kind of FLOOR_KINDS) {
    const port = await freePort();
    const proc = spawn(process.execPath, ['--import', 'tsx', SELF, '--floor-server', kind], {
      cwd: ROOT,
      env: { ...minimalEnv(), BENCH_FLOOR_PORT: String(port), BENCH_REDIS_PORT: String(redisPort) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const m = manage(`floor-${kind}`, proc);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`floor server ${kind} did not start: ${m.tail.join('\n')}`)), 30_000);
      proc.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.once('exit', () => reject(new Error(`floor server ${kind} exited: ${m.tail.join('\n')}`)));
    });
    const url = `http://127.0.0.1:${port}/jobs`;
    const body = { algorithm: 'PrimeChecker', params: { number: 17 } };
    log(`floor: ${kind}, POST /jobs at 50 conns: warm-up 1 s, then ${cfg.durationS} s`);
    await cannon(url, body, 50, 1);
    const roles = (): Roles => ({ bench: [process.pid], floor: [proc.pid!], redis: [cfg.redisPid] });
    const a = await cpuSnap(roles());
    const run = await cannon(url, body, 50, cfg.durationS);
    cpuRows.push(cpuDiff(`floor: ${kind}, 50 conns`, a, await cpuSnap(roles()), run.stats.n));
    res.floors[kind] = run.stats;
    await stopProc(m, 10_000);
  }
}

/** The parent's handle on the `--bullmq-worker` process. */
class BullmqWorkerProcess {
  private readonly waiting: Array<{ type: string; resolve: (m: WorkerMsg) => void }> = [];
  readonly m: Managed;

  constructor(redisPort: number) {
    const proc = spawn(process.execPath, ['--import', 'tsx', SELF, '--bullmq-worker'], {
      cwd: ROOT,
      env: { ...minimalEnv(), BENCH_REDIS_PORT: String(redisPort) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.m = manage('bullmq-worker', proc);
    proc.on('message', (msg: WorkerMsg) => {
      const i = this.waiting.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(msg);
    });
  }

  request<T extends WorkerMsg['type']>(cmd: WorkerCmd | undefined, reply: T, timeoutMs = 20_000): Promise<Extract<WorkerMsg, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bullmq worker: no '${reply}' within ${timeoutMs} ms: ${this.m.tail.join('\n')}`)), timeoutMs);
      this.waiting.push({
        type: reply,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<WorkerMsg, { type: T }>);
        },
      });
      if (cmd) this.m.proc.send(cmd);
    });
  }
}

function minimalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const k of ['HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k];
  return env;
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Results {
  baseSeq?: LatencyStats;
  baseConc?: LatencyStats;
  baseBulk?: number;
  baseAsync?: { perSecond: number; seconds: number; submitSeconds: number };
  invoke1?: LatencyStats;
  echo1?: LatencyStats;
  invoke50?: LatencyStats;
  jobs50?: LatencyStats & { errors: string };
  async?: { perSecond: number; seconds: number; submitSeconds: number; failed: number; submitErrors: number };
  floors?: Partial<Record<FloorKind, LatencyStats>>;
}

function jobPayload() {
  return { algorithm: 'Echo', params: {}, mode: 'sync', created_at: new Date().toISOString(), request_id: '00000000-0000-4000-8000-000000000000' };
}

async function runBullmq(redisPort: number, res: Results, cpuRows: CpuRow[], cfg: BenchConfig): Promise<void> {
  const connection = { host: '127.0.0.1', port: redisPort };
  const worker = new BullmqWorkerProcess(redisPort);
  await worker.request(undefined, 'ready');
  await worker.request({ type: 'start', queue: 'rt', concurrency: cfg.baseConcurrency }, 'started');

  const roles = (): Roles => ({ bench: [process.pid], 'bullmq-worker': [worker.m.proc.pid!], redis: [cfg.redisPid] });
  const queue = new Queue('rt', { connection, prefix: BASE_PREFIX });
  const events = new QueueEvents('rt', { connection, prefix: BASE_PREFIX });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  // waitUntilFinished adds a 'closing' listener to the queue per waiting job (50 at once below).
  queue.setMaxListeners(200);
  const roundTrip = async (): Promise<number> => {
    const t = performance.now();
    const job = await queue.add('noop', jobPayload(), BASE_JOB_OPTIONS);
    await job.waitUntilFinished(events, 30_000);
    return performance.now() - t;
  };

  // (1) sequential round trips
  log(`bullmq: sequential round trips (warm-up 200, then ${cfg.seqJobs})`);
  for (let i = 0; i < 200; i++) await roundTrip();
  {
    const lat: number[] = [];
    const a = await cpuSnap(roles());
    const t0 = performance.now();
    const deadline = t0 + 30_000;
    while (lat.length < cfg.seqJobs && performance.now() < deadline) lat.push(await roundTrip());
    const secs = (performance.now() - t0) / 1000;
    res.baseSeq = stats(lat, secs);
    cpuRows.push(cpuDiff('bullmq: round trip, 1 at a time', a, await cpuSnap(roles()), lat.length));
  }

  // (2) 50 concurrent round trips, duration-bounded
  log(`bullmq: 50 concurrent round trips for ${cfg.durationS} s`);
  {
    const loop = async (until: number, into?: number[]) => {
      while (performance.now() < until) {
        const ms = await roundTrip();
        into?.push(ms);
      }
    };
    const warm = performance.now() + 1000;
    await Promise.all(Array.from({ length: 50 }, () => loop(warm)));
    const lat: number[] = [];
    const a = await cpuSnap(roles());
    const t0 = performance.now();
    const until = t0 + cfg.durationS * 1000;
    await Promise.all(Array.from({ length: 50 }, () => loop(until, lat)));
    const secs = (performance.now() - t0) / 1000;
    res.baseConc = stats(lat, secs);
    cpuRows.push(cpuDiff('bullmq: round trip, 50 concurrent', a, await cpuSnap(roles()), lat.length));
  }
  await events.close();

  // (3) addBulk to a queue no worker reads
  const bulkTotal = 20_000;
  log(`bullmq: addBulk ${bulkTotal} jobs in batches of 1000`);
  {
    const bulk = new Queue('bulk', { connection, prefix: BASE_PREFIX });
    await bulk.waitUntilReady();
    const batch = () => Array.from({ length: 1000 }, () => ({ name: 'noop', data: jobPayload(), opts: BASE_JOB_OPTIONS }));
    await bulk.addBulk(batch()); // warm-up
    const a = await cpuSnap(roles());
    const t0 = performance.now();
    for (let i = 0; i < bulkTotal / 1000; i++) await bulk.addBulk(batch());
    const secs = (performance.now() - t0) / 1000;
    res.baseBulk = bulkTotal / secs;
    cpuRows.push(cpuDiff('bullmq: addBulk', a, await cpuSnap(roles()), bulkTotal));
    await bulk.obliterate({ force: true });
    await bulk.close();
  }

  // (4) async completions: add N jobs (50 adds in flight, as POST /jobs below), time to the last completion
  log(`bullmq: async completions, ${cfg.asyncJobs} jobs`);
  {
    await worker.request({ type: 'start', queue: 'async', concurrency: cfg.baseConcurrency }, 'started');
    const q = new Queue('async', { connection, prefix: BASE_PREFIX });
    await q.waitUntilReady();
    const before = await worker.request({ type: 'count' }, 'count');
    const a = await cpuSnap(roles());
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < cfg.asyncJobs) {
          next++;
          await q.add('noop', { ...jobPayload(), mode: 'async' }, BASE_JOB_OPTIONS);
        }
      }),
    );
    const submitSeconds = (Date.now() - t0) / 1000;
    const deadline = Date.now() + 60_000;
    let last = before;
    while (Date.now() < deadline) {
      last = await worker.request({ type: 'count' }, 'count');
      if (last.completed - before.completed >= cfg.asyncJobs) break;
      await sleep(10);
    }
    cpuRows.push(cpuDiff('bullmq: async add + complete', a, await cpuSnap(roles()), cfg.asyncJobs));
    const done = last.completed - before.completed;
    if (done < cfg.asyncJobs) throw new Error(`bullmq async: only ${done}/${cfg.asyncJobs} completed within 60 s`);
    const seconds = (last.lastAt - t0) / 1000;
    res.baseAsync = { perSecond: cfg.asyncJobs / seconds, seconds, submitSeconds };
    await q.close();
  }

  await queue.close();
  await worker.request({ type: 'stop' }, 'stopped').catch(() => undefined);
  await stopProc(worker.m, 5000);
}

interface CannonRun {
  stats: LatencyStats;
  non2xx: Record<number, number>;
  errors: number;
  timeouts: number;
}

function cannon(url: string, body: object, connections: number, durationS: number, overallRate?: number): Promise<CannonRun> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const non2xx: Record<number, number> = {};
    const instance = autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        connections,
        duration: durationS,
        timeout: 10,
        ...(overallRate ? { overallRate } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        resolve({ stats: stats(lat, result.duration), non2xx, errors: result.errors, timeouts: result.timeouts });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) lat.push(responseTime);
      else non2xx[statusCode] = (non2xx[statusCode] ?? 0) + 1;
    });
  });
}

function describeErrors(run: CannonRun): string {
  const parts = Object.entries(run.non2xx).map(([code, n]) => `${n}×${code}`);
  if (run.errors) parts.push(`${run.errors} connection errors (${run.timeouts} timeouts)`);
  return parts.length ? parts.join(', ') : 'none';
}

/** Written to the profile dir and preloaded (`--import`) into the profiled API / worker processes. */
const PROFILE_PRELOAD = `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const dir = process.env.FNQ_BENCH_PROFILE_DIR;
if (dir && !process.send) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // An in-thread session answers synchronously, so this works in 'exit' (after the service's process.exit).
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(dir + '/' + process.pid + '.cpuprofile', JSON.stringify(res.profile));
    });
  });
}
`;

interface BenchConfig {
  durationS: number;
  workers: number;
  concurrency: number;
  baseConcurrency: number;
  asyncJobs: number;
  seqJobs: number;
  /** BENCH_RATE: fixed total req/s for the 50-connection fnqueue phases (CPU per op at equal load); unset = as fast as possible. */
  rate?: number;
  phases: Set<string>;
  profile: Set<'api' | 'worker'>;
  profileDir?: string;
  redisPid: number;
}

async function runFnqueue(redisUrl: string, res: Results, cpuRows: CpuRow[], windows: Record<string, { from: number; to: number }>, cfg: BenchConfig): Promise<void> {
  const queuePrefix = `bench${Date.now().toString(36)}`;
  const port = await freePort();
  const base: NodeJS.ProcessEnv = {
    ...minimalEnv(),
    REDIS_URL: redisUrl,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DIAGNOSTIC_ALGORITHMS: 'true',
    QUEUE_PREFIX: queuePrefix,
    WORKER_CONCURRENCY: String(cfg.concurrency),
    SHUTDOWN_GRACE_MS: '5000',
    // Limits (issue 5) off: the bench measures throughput, not the limiter's refusals.
    RATE_LIMIT_PER_SECOND: '0',
    MAX_QUEUE_DEPTH: '0',
  };
  // CPU profiles through a preload that starts V8's profiler in-process (like --cpu-prof) but
  // skips processes with an IPC channel: a worker's runner children inherit its node flags, and
  // 2 × WORKER_CONCURRENCY idle profiled children would take a core's worth of CPU by themselves.
  const preload = cfg.profileDir ? path.join(cfg.profileDir, 'profile-preload.mjs') : undefined;
  if (cfg.profileDir && preload) {
    mkdirSync(cfg.profileDir, { recursive: true });
    writeFileSync(preload, PROFILE_PRELOAD);
  }
  const profArgs = (who: string): { args: string[]; env: NodeJS.ProcessEnv } => {
    if (!cfg.profileDir || !preload) return { args: [], env: {} };
    const dir = path.join(cfg.profileDir, who);
    mkdirSync(dir, { recursive: true });
    return { args: ['--import', pathToFileURL(preload).href], env: { FNQ_BENCH_PROFILE_DIR: dir } };
  };
  log(`fnqueue: starting the API and ${cfg.workers} workers (WORKER_CONCURRENCY=${cfg.concurrency}, QUEUE_PREFIX=${queuePrefix})`);
  const apiProf = cfg.profile.has('api') ? profArgs('api') : { args: [], env: {} };
  const api = nodeProcess('api', path.join(ROOT, 'api/main.ts'), { ...base, ...apiProf.env, PORT: String(port) }, apiProf.args);
  const workerPorts: number[] = [];
  const workers: Managed[] = [];
  for (let i = 0; i < cfg.workers; i++) {
    const wp = await freePort();
    workerPorts.push(wp);
    const prof = cfg.profile.has('worker') ? profArgs(`worker-${i + 1}`) : { args: [], env: {} };
    workers.push(nodeProcess(`worker-${i + 1}`, path.join(ROOT, 'worker/main.ts'), { ...base, ...prof.env, WORKER_PORT: String(wp) }, prof.args));
  }
  const baseUrl = `http://127.0.0.1:${port}`;

  // Ready: API /readyz 200, each worker /healthz 200, then a few successful /invoke calls.
  const waitOk = async (url: string, who: Managed) => {
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      if (!alive(who.proc)) throw new Error(`${who.name} exited during start:\n${who.tail.join('\n')}`);
      try {
        const r = await fetch(url);
        await r.arrayBuffer();
        if (r.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    throw new Error(`${who.name}: ${url} not 200 within 40 s:\n${who.tail.join('\n')}`);
  };
  await waitOk(`${baseUrl}/readyz`, api);
  await Promise.all(workers.map((w, i) => waitOk(`http://127.0.0.1:${workerPorts[i]}/healthz`, w)));
  for (const body of [{ number: 17 }, { algorithm: 'Echo', params: {} }]) {
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${baseUrl}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`warm-up /invoke ${JSON.stringify(body)} → ${r.status} ${text}`);
    }
  }
  log('fnqueue: ready');

  const roles = (): Roles => {
    const workerPids = workers.map((w) => w.proc.pid!);
    return {
      bench: [process.pid],
      api: [api.proc.pid!],
      workers: workerPids,
      runners: childrenOf(new Set(workerPids)),
      redis: [cfg.redisPid],
    };
  };

  let first = true;
  const measured = async (id: string, label: string, url: string, body: object, connections: number): Promise<CannonRun> => {
    // The first phase also warms the JIT of the freshly started processes: a longer warm-up.
    const warmS = first ? 3 : 1;
    first = false;
    log(`fnqueue: ${label}: warm-up ${warmS} s, then ${cfg.durationS} s${connections > 1 && cfg.rate ? ` at a fixed ${cfg.rate} req/s` : ''}`);
    const rate = connections > 1 ? cfg.rate : undefined;
    await cannon(url, body, connections, warmS, rate);
    const a = await cpuSnap(roles());
    const from = monoUs();
    const run = await cannon(url, body, connections, cfg.durationS, rate);
    windows[id] = { from, to: monoUs() };
    cpuRows.push(cpuDiff(`fnqueue: ${label}`, a, await cpuSnap(roles()), run.stats.n + Object.values(run.non2xx).reduce((x, y) => x + y, 0)));
    return run;
  };

  if (cfg.phases.has('invoke1')) {
    const run = await measured('invoke1', 'POST /invoke {"number":17}, 1 conn', `${baseUrl}/invoke`, { number: 17 }, 1);
    res.invoke1 = run.stats;
    if (run.errors || Object.keys(run.non2xx).length) log(`  errors: ${describeErrors(run)}`);
  }
  if (cfg.phases.has('echo1')) {
    const run = await measured('echo1', 'POST /invoke Echo, 1 conn', `${baseUrl}/invoke`, { algorithm: 'Echo', params: {} }, 1);
    res.echo1 = run.stats;
    if (run.errors || Object.keys(run.non2xx).length) log(`  errors: ${describeErrors(run)}`);
  }
  if (cfg.phases.has('invoke50')) {
    const run = await measured('invoke50', 'POST /invoke {"number":17}, 50 conns', `${baseUrl}/invoke`, { number: 17 }, 50);
    res.invoke50 = run.stats;
    if (run.errors || Object.keys(run.non2xx).length) log(`  errors: ${describeErrors(run)}`);
  }

  // Async end to end: submit N via POST /jobs (50 in flight), count terminal job events on the
  // product's job-events channel (each worker publishes the finished record there).
  if (cfg.phases.has('async')) {
    log(`fnqueue: async end to end, ${cfg.asyncJobs} jobs via POST /jobs (50 in flight)`);
    const keys = keysFor(queuePrefix);
    const sub = new Redis(redisUrl);
    sub.on('error', () => undefined);
    const finished = new Map<string, { at: number; status: string }>();
    sub.on('message', (_ch: string, msg: string) => {
      const at = performance.now();
      const id = jobIdOfEvent(msg);
      const status = decodeJobEvent(msg).record?.status ?? 'gone';
      if (status === 'completed' || status === 'failed' || status === 'gone') finished.set(id, { at, status });
    });
    await sub.subscribe(keys.jobEvents);
    const pool = new Pool(baseUrl, { connections: 50, pipelining: 1 });
    const ids: string[] = [];
    let submitErrors = 0;
    const body = JSON.stringify({ algorithm: 'PrimeChecker', params: { number: 17 } });
    const a = await cpuSnap(roles());
    const from = monoUs();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < cfg.asyncJobs) {
          next++;
          try {
            const r = await pool.request({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body });
            const json = (await r.body.json()) as { job_id?: string };
            if (r.statusCode === 202 && json.job_id) ids.push(json.job_id);
            else submitErrors++;
          } catch {
            submitErrors++;
          }
        }
      }),
    );
    const submitSeconds = (performance.now() - t0) / 1000;
    const deadline = performance.now() + 60_000;
    let pending = ids.length;
    while (performance.now() < deadline) {
      pending = ids.reduce((n, id) => n + (finished.has(id) ? 0 : 1), 0);
      if (pending === 0) break;
      await sleep(20);
    }
    windows.async = { from, to: monoUs() };
    cpuRows.push(cpuDiff('fnqueue: async submit + complete', a, await cpuSnap(roles()), ids.length));
    await pool.close();
    sub.disconnect();
    if (pending > 0) throw new Error(`fnqueue async: ${pending}/${ids.length} jobs not finished within 60 s`);
    const lastAt = Math.max(...ids.map((id) => finished.get(id)!.at));
    const failed = ids.filter((id) => finished.get(id)!.status !== 'completed').length;
    const seconds = (lastAt - t0) / 1000;
    res.async = { perSecond: ids.length / seconds, seconds, submitSeconds, failed, submitErrors };
  }

  // Last, so the backlog it leaves behind (workers keep draining it) skews nothing else.
  if (cfg.phases.has('jobs50')) {
    const run = await measured('jobs50', 'POST /jobs PrimeChecker, 50 conns', `${baseUrl}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } }, 50);
    res.jobs50 = { ...run.stats, errors: describeErrors(run) };
    const q = new Queue(JOBS_QUEUE, { connection: { host: '127.0.0.1', port: Number(new URL(redisUrl).port) }, prefix: bullPrefix(queuePrefix) });
    const counts = await q.getJobCounts('waiting', 'active');
    await q.close();
    log(`fnqueue: backlog after POST /jobs: ${counts.waiting} waiting, ${counts.active} active (left to the workers; they stop now)`);
  }

  log('fnqueue: stopping the API and workers');
  await Promise.all([api, ...workers].map((m) => stopProc(m, 12_000)));
  const noisy = [api, ...workers].filter((m) => m.warnings > 0);
  for (const m of noisy) log(`${m.name} logged ${m.warnings} warn/error lines; last: ${m.tail.slice(-3).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// Report

function report(res: Results, cpuRows: CpuRow[], cfg: BenchConfig): string {
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const bullLabel = `plain BullMQ (1 worker proc, conc ${cfg.baseConcurrency})`;
  const fnLabel = `fnqueue (API + ${cfg.workers} workers, conc ${cfg.concurrency})`;
  const lat = (s?: LatencyStats) => (s ? `${fmt(s.p50)} / ${fmt(s.p99)}` : 'n/a');

  const rEcho = ratio(res.echo1?.p50, res.baseSeq?.p50);
  const rPrime = ratio(res.invoke1?.p50, res.baseSeq?.p50);
  const rAsync = ratio(res.async?.perSecond, res.baseAsync?.perSecond);
  const rows: string[][] = [
    ['no-op round trip, 1 at a time: p50 / p99 ms', lat(res.baseSeq), `Echo /invoke ${lat(res.echo1)}`, rEcho ? `${fmt(rEcho)}×` : 'n/a', 'p50 ≤ 1.5×', verdict(rEcho === undefined ? undefined : rEcho <= 1.5)],
    ['/invoke {"number":17}, 1 conn: p50 / p99 ms', `(no-op) ${lat(res.baseSeq)}`, lat(res.invoke1), rPrime ? `${fmt(rPrime)}×` : 'n/a', 'p50 ≤ 1.5×', verdict(rPrime === undefined ? undefined : rPrime <= 1.5)],
    ['round trip, 50 concurrent: p50 / p99 ms', lat(res.baseConc), `/invoke ${lat(res.invoke50)}`, '', '', ''],
    ['round trip, 50 concurrent: per second', fmtInt(res.baseConc?.perSecond), `/invoke ${fmtInt(res.invoke50?.perSecond)}`, res.invoke50 && res.baseConc ? `${fmt(res.invoke50.perSecond / res.baseConc.perSecond)}×` : 'n/a', '≥ 3,000/s', verdict(res.invoke50 ? res.invoke50.perSecond >= 3000 : undefined)],
    ['submit only: jobs/s', `addBulk ${fmtInt(res.baseBulk)}`, `POST /jobs ${fmtInt(res.jobs50?.perSecond)}`, res.jobs50 ? `${fmt((res.jobs50.perSecond / 5000) * 100, 0)}% of target` : 'n/a', '≥ 5,000/s', verdict(res.jobs50 ? res.jobs50.perSecond >= 5000 : undefined)],
    ['POST /jobs 50 conns: p50 / p99 ms', '', lat(res.jobs50), '', '', ''],
    [`async add ${cfg.asyncJobs} → all completed: per second`, fmtInt(res.baseAsync?.perSecond), fmtInt(res.async?.perSecond), rAsync ? `${fmt(rAsync)}×` : 'n/a', '≥ 0.5×', verdict(rAsync === undefined ? undefined : rAsync >= 0.5)],
    ['  (submit phase alone, s)', fmt(res.baseAsync?.submitSeconds), fmt(res.async?.submitSeconds), '', '', ''],
  ];
  let out = '\n' + table(['measure', bullLabel, fnLabel, 'ratio', 'target', ''], rows) + '\n';
  const notes: string[] = [];
  if (res.jobs50) notes.push(`POST /jobs non-2xx / errors: ${res.jobs50.errors}`);
  if (res.async) notes.push(`async: ${res.async.failed} failed jobs, ${res.async.submitErrors} submit errors`);
  notes.push(
    'Both sides: the client (bench.ts, incl. autocannon / the BullMQ Queue) is this process; workers are separate processes;',
    `  all share ${cpus().length} cores with redis-server. Latencies are client-side, 2xx only; per second = 2xx / measured seconds.`,
    '  BullMQ round trip = queue.add + job.waitUntilFinished(queueEvents); fnqueue round trip = HTTP /invoke (API → queue → worker → runner child → record → pub/sub → API).',
    '  async: 50 adds / POST /jobs in flight; time from the first add to the last completion.',
  );
  out += '\n' + notes.join('\n') + '\n';

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

function findProfiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...findProfiles(p));
    else if (e.endsWith('.cpuprofile')) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const profileEnv = (process.env.BENCH_PROFILE ?? '').toLowerCase();
  const profile = new Set<'api' | 'worker'>();
  if (['1', 'true', 'api', 'all'].includes(profileEnv)) profile.add('api');
  if (['worker', 'workers', 'all'].includes(profileEnv)) profile.add('worker');
  const allPhases = ['bullmq', 'floors', 'invoke1', 'echo1', 'invoke50', 'async', 'jobs50'];
  const phases = new Set((process.env.BENCH_PHASES ?? allPhases.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
  for (const p of phases) if (!allPhases.includes(p)) throw new Error(`BENCH_PHASES: unknown phase '${p}' (known: ${allPhases.join(', ')})`);
  const cfgBase = {
    durationS: envInt('BENCH_DURATION_S', 5),
    workers: envInt('BENCH_WORKERS', 2),
    concurrency: envInt('BENCH_CONCURRENCY', 8),
    baseConcurrency: envInt('BENCH_BASE_CONCURRENCY', 50),
    asyncJobs: envInt('BENCH_ASYNC_JOBS', 5000),
    seqJobs: envInt('BENCH_SEQ_JOBS', 1000),
    rate: process.env.BENCH_RATE ? envInt('BENCH_RATE', 1) : undefined,
    phases,
    profile,
    profileDir: profile.size ? path.join(tmpdir(), `fnqueue-bench-prof-${Date.now()}`) : undefined,
  };

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  const res: Results = {};
  const cpuRows: CpuRow[] = [];
  const windows: Record<string, { from: number; to: number }> = {};
  let failure: unknown;
  let cfg: BenchConfig | undefined;
  try {
    const redis = await startRedis();
    const version = await (async () => {
      const c = new Redis(redis.url);
      try {
        const info = await c.info('server');
        return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
      } finally {
        c.disconnect();
      }
    })();
    cfg = { ...cfgBase, redisPid: redis.pid };
    statsRedis = new Redis(redis.url);
    statsRedis.on('error', () => undefined);
    log(`redis-server ${version} on ${redis.url}; ${cpus().length} cores; node ${process.version}; load avg ${readLoad()}`);
    if (phases.has('bullmq')) await runBullmq(redis.port, res, cpuRows, cfg);
    if (phases.has('floors')) await runFloors(redis.port, res, cpuRows, cfg);
    if ([...phases].some((p) => p !== 'bullmq' && p !== 'floors')) await runFnqueue(redis.url, res, cpuRows, windows, cfg);
  } catch (err) {
    failure = err;
  }
  statsRedis?.disconnect();
  await cleanup();
  if (interrupted) return;

  if (cfg) process.stdout.write(report(res, cpuRows, cfg));
  process.stdout.write(
    `\nsettings: BENCH_DURATION_S=${cfgBase.durationS} BENCH_WORKERS=${cfgBase.workers} BENCH_CONCURRENCY=${cfgBase.concurrency} ` +
      `BENCH_BASE_CONCURRENCY=${cfgBase.baseConcurrency} BENCH_ASYNC_JOBS=${cfgBase.asyncJobs}${cfgBase.rate ? ` BENCH_RATE=${cfgBase.rate}` : ''}; load avg now ${readLoad()}; ` +
      `total ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );

  if (failure) {
    process.stderr.write(`\nbench failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
    process.exitCode = 1;
  }
  if (cfgBase.profileDir && existsSync(cfgBase.profileDir)) {
    const files = findProfiles(cfgBase.profileDir);
    process.stdout.write(`\nCPU profiles (${files.length}) in ${cfgBase.profileDir}\n`);
    for (const file of files) {
      const who = path.basename(path.dirname(file));
      if (!['api', 'worker-1'].includes(who)) continue; // the other workers look like worker-1
      for (const [phase, w] of Object.entries(windows)) {
        if (!['invoke50', 'jobs50', 'async'].includes(phase)) continue;
        process.stdout.write(`\n=== ${who}, phase ${phase}: ${file} (window ${w.from} ${w.to}, for --summarize)\n`);
        process.stdout.write(summarizeProfile(file, w));
      }
    }
  }
}

function readLoad(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

if (process.argv[2] === '--bullmq-worker') {
  void bullmqWorkerMain();
} else if (process.argv[2] === '--floor-server') {
  void floorServerMain(process.argv[3] as FloorKind);
} else if (process.argv[2] === '--summarize') {
  const [file, from, to] = process.argv.slice(3);
  if (!file) {
    process.stderr.write('usage: bench.ts --summarize <file.cpuprofile> [fromUs toUs]\n');
    process.exit(2);
  }
  process.stdout.write(summarizeProfile(file, from && to ? { from: Number(from), to: Number(to) } : undefined));
} else {
  void main();
}
