/**
 * `npm run bench:functions`: benchmark of the function runner, `node --import tsx scripts/bench/functions.ts`.
 * See docs/performance.md.
 *
 * For each runtime (nodejs, python), with the echo handler of the function API reference and a small JSON event:
 *   warm     BENCH_FN_WARM sequential invocations (default 300, after 300 unmeasured to let both JITs settle) on one warm process
 *   cold     BENCH_FN_COLD invocations (default 20), each of a new function, so each spawns its process
 *   spawn    the plain baseline: BENCH_FN_SPAWN runs (default 20) of `node -e` / `python3 -c` executing the
 *            same handler on the same event, one process per call, no sandbox, no limits
 *   handler  the handler's own time as the host measured it around the call (handler_ms)
 * and prints p50/p99 in ms, the warm overhead (warm p50 − handler p50) and the spawn/warm ratio,
 * against the targets: overhead ≤ 0.3 ms p50, warm ≥ 50× faster than spawn-per-call.
 * Every process it starts is stopped before it exits; a baseline process is killed after 10 s.
 * Exit code 0 after printing, 1 on error, 2 on a bad knob.
 *
 * Env knobs (parsed in options.ts): BENCH_FN_WARM, BENCH_FN_COLD, BENCH_FN_SPAWN (counts above);
 * BENCH_FN_SANDBOX (auto|bwrap|off, default auto).
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FunctionPool } from '../../worker/functions/function-pool.js';
import { type FunctionSpec } from '../../worker/functions/function-run.js';
import { resolveRuntime, type FunctionRuntime } from '../../shared/functions/runtimes.js';
import { BenchOptionsError, parseFunctionBenchOptions, type FunctionBenchOptions } from './options.js';

/** Unmeasured warm invocations before the measured ones, to let both JITs settle. */
const WARMUP = 300;
/** A spawn-per-call baseline process still running after this is killed (and the bench fails). */
const SPAWN_LIMIT_MS = 10_000;

let opts: FunctionBenchOptions;
try {
  opts = parseFunctionBenchOptions(process.env);
} catch (err) {
  if (!(err instanceof BenchOptionsError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const { warm: WARM, cold: COLD, spawn: SPAWN, sandbox: SANDBOX } = opts;

/** The examples of the function API reference, verbatim. */
const HANDLERS: Record<FunctionRuntime, string> = {
  nodejs: 'function handler(event) { return event }',
  python: 'def handler(event): return event',
};

const EVENT = { user: 'bench', n: 42, tags: ['a', 'b'], payload: 'x'.repeat(64) };

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

interface Stats {
  p50: number;
  p99: number;
  n: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), n: s.length };
}

function spec(runtime: FunctionRuntime, id: string): FunctionSpec {
  return { function_id: id, version: 1, runtime, code: HANDLERS[runtime], env: {}, timeout_ms: 10_000, memory_mb: 256, max_output_bytes: 64 * 1024 };
}

/** One plain process per call running the same handler on the same event; wall time until it exited, in ms. */
async function spawnOnce(runtime: FunctionRuntime, exe: string): Promise<number> {
  const event = JSON.stringify(EVENT);
  const args =
    runtime === 'nodejs'
      ? ['-e', `${HANDLERS.nodejs}\nprocess.stdout.write(JSON.stringify(handler(JSON.parse(process.argv[1]))))`, event]
      : ['-c', `import json, sys\n${HANDLERS.python}\nsys.stdout.write(json.dumps(handler(json.loads(sys.argv[1]))))`, event];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), SPAWN_LIMIT_MS);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (code !== 0 || JSON.stringify(JSON.parse(out)) !== event) reject(new Error(`baseline ${runtime} failed (exit ${code}): ${out.slice(0, 200)}`));
      else resolve(ms);
    });
  });
}

interface RuntimeReport {
  runtime: FunctionRuntime;
  warm: Stats;
  handler: Stats;
  cold: Stats;
  spawn: Stats;
}

async function benchRuntime(pool: FunctionPool, runtime: FunctionRuntime): Promise<RuntimeReport> {
  const warmSpec = spec(runtime, `bench-warm-${runtime}`);
  for (let i = 0; i < WARMUP; i++) await pool.run(warmSpec, EVENT);
  const warm: number[] = [];
  const handler: number[] = [];
  let pid: number | null = null;
  for (let i = 0; i < WARM; i++) {
    const t0 = performance.now();
    const r = await pool.run(warmSpec, EVENT);
    warm.push(performance.now() - t0);
    handler.push(r.handler_ms ?? NaN);
    if (pid !== null && r.host_pid !== pid) throw new Error('the warm process changed during the warm phase');
    pid = r.host_pid;
  }
  const cold: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const t0 = performance.now();
    const r = await pool.run(spec(runtime, `bench-cold-${runtime}-${i}`), EVENT);
    cold.push(performance.now() - t0);
    if (!r.cold_start) throw new Error('a cold invocation found a warm process');
  }
  const exe = (await resolveRuntime(runtime)).executable;
  const spawned: number[] = [];
  for (let i = 0; i < SPAWN; i++) spawned.push(await spawnOnce(runtime, exe));
  return { runtime, warm: stats(warm), handler: stats(handler), cold: stats(cold), spawn: stats(spawned) };
}

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(3).padStart(9) : '      n/a');

async function main(): Promise<number> {
  // Enough room for the cold phase's processes (one per cold function) next to the warm ones.
  const pool = new FunctionPool({ sandbox: SANDBOX, maxProcesses: COLD + 4, maxInvocationsPerProcess: WARMUP + WARM + 10 });
  let failed = false;
  const reports: RuntimeReport[] = [];
  try {
    const status = await pool.start();
    console.log(`fnqueue function runner benchmark: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
    console.log(`isolation: ${status.isolated ? `bubblewrap (${status.bwrapVersion}), code runs as ${status.user}` : `none (${status.reason})`}; memory caps: ${status.memoryLimit}`);
    console.log(`warm: ${WARM} sequential calls after ${WARMUP} unmeasured; cold: ${COLD} new functions; spawn-per-call baseline: ${SPAWN} calls\n`);
    for (const runtime of ['nodejs', 'python'] as const) reports.push(await benchRuntime(pool, runtime));
  } catch (err) {
    failed = true;
    console.error('benchmark failed:', err);
  } finally {
    await pool.close();
  }
  if (reports.length) {
    console.log('runtime  phase                     p50 ms    p99 ms');
    for (const r of reports) {
      const rows: Array<[string, Stats]> = [
        ['handler (in host)', r.handler],
        ['warm invocation', r.warm],
        ['cold invocation', r.cold],
        ['spawn-per-call baseline', r.spawn],
      ];
      for (const [name, s] of rows) console.log(`${r.runtime.padEnd(8)} ${name.padEnd(24)}${f(s.p50)} ${f(s.p99)}`);
    }
    console.log('\ntargets: warm overhead ≤ 0.3 ms p50 over the handler; warm ≥ 50× faster than spawn-per-call');
    for (const r of reports) {
      const overhead = r.warm.p50 - r.handler.p50;
      const ratio = r.spawn.p50 / r.warm.p50;
      console.log(
        `${r.runtime.padEnd(8)} warm overhead p50 ${overhead.toFixed(3)} ms ${overhead <= 0.3 ? 'MET' : 'MISSED'}; ` +
          `spawn/warm p50 ${ratio.toFixed(0)}× ${ratio >= 50 ? 'MET' : 'MISSED'}; cold/warm p50 ${(r.cold.p50 / r.warm.p50).toFixed(0)}×`,
      );
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
