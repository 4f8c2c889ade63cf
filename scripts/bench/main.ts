/**
 * `npm run bench`: fnqueue against plain BullMQ, in one run, on one redis-server this script starts
 * itself on a free port (never 6379), all traffic on 127.0.0.1. See docs/performance.md.
 * Every service it starts (fnqueue's API and workers, the hand-written service, the floors, the plain
 * BullMQ worker) runs compiled with plain `node`, as the image runs fnqueue: one build at the start
 * (processes.ts).
 *
 * A. Plain BullMQ (bullmq-baseline.ts; the bullmq package directly, its own prefix), the no-op
 *    Worker in a separate process (bullmq-worker.ts): sequential and 50-concurrent `add` +
 *    `waitUntilFinished` round trips, `addBulk` throughput, async completions/s.
 *    Then the record layer (records.ts): BENCH_RECORD_JOBS jobs, 50 calls in flight, through BullMQ's
 *    `Queue.add` (fnqueue's default job options), `JobStore.createCounted` and `JobStore.finish`, no
 *    service running: Redis CPU µs and commands per job of each, against the add.
 *    Then the same three calls counted in redis-server instructions per job under valgrind's
 *    callgrind (instructions.ts): a figure that repeats from run to run on a shared machine.
 *    Plus reference floors (floors.ts): a POST /jobs-like endpoint on bare node:http, on Express 5,
 *    and on Express 5 + one BullMQ queue.add (floor-server.ts), no fnqueue code.
 * H. The hand-written service a team would write instead of fnqueue (handwritten-stack.ts and
 *    handwritten/: Express 5 + express.json + zod, /invoke = queue.add + waitUntilFinished, /jobs =
 *    queue.add, 2 worker processes with a sandboxed PrimeChecker processor), measured with the same
 *    loads and resources as fnqueue: /invoke at 1 and 50 connections, POST /jobs at 50, async end to end.
 * B. fnqueue (fnqueue-stack.ts): the real API (`api/main.ts`) and BENCH_WORKERS worker processes
 *    (`worker/main.ts`), measured with autocannon: /invoke at 1 and 50 connections, the Echo no-op
 *    /invoke (invoke.ts), async end-to-end completions/s through POST /jobs (async.ts), and POST /jobs
 *    accept rate at 50 connections (jobs.ts); POST /jobs/batch accept rate and async end to end with
 *    batches of 1,000 (batch.ts), against plain BullMQ's addBulk and its addBulk + Worker run.
 * P. Both services in turns (paired.ts): fnqueue and the hand-written service running side by
 *    side, /invoke at 1 and at 50 connections measured in short turns per service, the order swapped
 *    every round, so that both ratios see the same stretch of the shared VM's speed.
 * C. Sharded queues (sharded.ts): a local 3-master Redis Cluster, the API and workers on it with
 *    QUEUE_SHARDS=1, then 3: commands per job per master and Redis CPU per job on the busiest master.
 *
 * Prints the results with the ratios against the targets, then per phase: CPU per process role
 * (from /proc), CPU µs per job by role, kernel share and context switches, and Redis commands per
 * job (INFO commandstats); for each target the run missed, what bounds it in the run's own figures
 * (bounds.ts); with BENCH_PROFILE, the top self-time functions of the profiled processes per phase.
 * Every process it starts is stopped on success, error and Ctrl-C (also the temp dirs).
 * Every load is bounded: autocannon phases by BENCH_DURATION_S, the others by a count and a time limit.
 * Exit code 0 after printing; 1 when a phase failed (what was measured is still printed); 2 on a bad knob.
 *
 * Env knobs (parsed in options.ts):
 *   BENCH_DURATION_S         seconds per autocannon / duration-bounded phase (default 5)
 *   BENCH_WORKERS            fnqueue worker processes (default 2)
 *   BENCH_CONCURRENCY        fnqueue WORKER_CONCURRENCY, also its runner pool size (default 8)
 *   BENCH_BASE_CONCURRENCY   plain BullMQ no-op Worker concurrency (default 50)
 *   BENCH_ASYNC_JOBS         jobs in each async end-to-end phase (default 5000)
 *   BENCH_SEQ_JOBS           sequential BullMQ round trips measured (default 1000)
 *   BENCH_RATE               fixed req/s for the 50-connection fnqueue phases, to compare CPU per request of two
 *                            builds at equal load (default: unset, as fast as possible)
 *   BENCH_SHARD_JOBS         jobs in each run of the sharded phase (default 3000)
 *   BENCH_RECORD_JOBS        jobs through each call of the records phase (default 20000, at least 1000)
 *   BENCH_INSTRUCTION_JOBS   jobs through each call of the instructions phase (default 2000, at least 100)
 *   BENCH_PHASES             comma list of: bullmq,records,instructions,floors,handwritten,invoke1,echo1,invoke50,async,batch,jobs50,paired,sharded (default all)
 *   BENCH_PROFILE            1|api, worker, all: CPU-profile those processes (V8 profiler, 1 ms samples; files in
 *                            /tmp/fnqueue-bench-prof-*), summarised per phase at the end
 *   BENCH_VERBOSE            1: echo the service processes' log lines
 *
 * Also: `node --import tsx scripts/bench/main.ts --summarize <file.cpuprofile> [fromUs toUs]`.
 */
import { existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { runAsync } from './async.js';
import { runBatch } from './batch.js';
import { runBullmq } from './bullmq-baseline.js';
import type { BenchContext } from './context.js';
import { CpuMeter, RssPeaks } from './cpu.js';
import { runFloors } from './floors.js';
import { runHandwritten } from './handwritten-stack.js';
import { reportPaired, runPaired } from './paired.js';
import { startFnqueue } from './fnqueue-stack.js';
import { runInvoke } from './invoke.js';
import { runJobs } from './jobs.js';
import { log, readLoad } from './measure.js';
import { BenchOptionsError, parseBenchOptions, type BenchOptions } from './options.js';
import { ProcessGroup } from './processes.js';
import { findProfiles, summarizeProfile } from './profile.js';
import { runInstructions, reportInstructions } from './instructions.js';
import { runRecords, reportRecords } from './records.js';
import { report } from './report.js';
import { reportSharded, runSharded } from './sharded.js';

async function redisVersion(url: string): Promise<string> {
  const c = new Redis(url);
  try {
    const info = await c.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  } finally {
    c.disconnect();
  }
}

async function main(opts: BenchOptions): Promise<void> {
  const procs = new ProcessGroup(opts.verbose);
  const meter = new CpuMeter();
  const profileDir = opts.profile.size ? path.join(tmpdir(), `fnqueue-bench-prof-${Date.now()}`) : undefined;

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping everything`);
    void procs.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  let failure: unknown;
  let ctx: BenchContext | undefined;
  try {
    await procs.build();
    const redis = await procs.startRedis();
    const version = await redisVersion(redis.url);
    ctx = { opts, procs, meter, rss: new RssPeaks(), redis, profileDir, res: {}, cpuRows: [], rows: {}, windows: {} };
    meter.statsRedis = new Redis(redis.url);
    meter.statsRedis.on('error', () => undefined);
    log(`redis-server ${version} on ${redis.url}; ${cpus().length} cores; node ${process.version}; load avg ${readLoad()}`);
    if (opts.phases.has('bullmq')) await runBullmq(ctx);
    if (opts.phases.has('records')) await runRecords(ctx);
    if (opts.phases.has('instructions')) await runInstructions(ctx);
    if (opts.phases.has('floors')) await runFloors(ctx);
    if (opts.phases.has('handwritten')) await runHandwritten(ctx);
    if ([...opts.phases].some((p) => !['bullmq', 'records', 'instructions', 'floors', 'handwritten', 'paired', 'sharded'].includes(p))) {
      const stack = await startFnqueue(ctx);
      await runInvoke(ctx, stack);
      if (opts.phases.has('async')) ctx.res.async = await runAsync(ctx, stack);
      if (opts.phases.has('batch')) ctx.res.batch = await runBatch(ctx, stack);
      // Last, so the backlog it leaves behind (workers keep draining it) skews nothing else.
      if (opts.phases.has('jobs50')) await runJobs(ctx, stack);
      await stack.stop();
    }
    if (opts.phases.has('paired')) ctx.res.paired = await runPaired(ctx);
    if (opts.phases.has('sharded')) await runSharded(ctx);
  } catch (err) {
    failure = err;
  }
  meter.statsRedis?.disconnect();
  await procs.cleanup();
  if (interrupted) return;

  if (ctx) process.stdout.write(report(ctx.res, ctx.cpuRows, opts, ctx.rows, ctx.rss) + reportRecords(ctx.res.records) + reportInstructions(ctx.res.instructions) + reportPaired(ctx.res.paired) + reportSharded(ctx.res.sharded ?? []));
  process.stdout.write(
    `\nsettings: BENCH_DURATION_S=${opts.durationS} BENCH_WORKERS=${opts.workers} BENCH_CONCURRENCY=${opts.concurrency} ` +
      `BENCH_BASE_CONCURRENCY=${opts.baseConcurrency} BENCH_ASYNC_JOBS=${opts.asyncJobs} BENCH_SHARD_JOBS=${opts.shardJobs} BENCH_RECORD_JOBS=${opts.recordJobs} BENCH_INSTRUCTION_JOBS=${opts.instructionJobs}${opts.rate ? ` BENCH_RATE=${opts.rate}` : ''}; load avg now ${readLoad()}; ` +
      `total ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );

  if (failure) {
    process.stderr.write(`\nbench failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
    process.exitCode = 1;
  }
  if (ctx && profileDir && existsSync(profileDir)) {
    const files = findProfiles(profileDir);
    process.stdout.write(`\nCPU profiles (${files.length}) in ${profileDir}\n`);
    for (const file of files) {
      const who = path.basename(path.dirname(file));
      if (!['api', 'worker-1'].includes(who)) continue; // the other workers look like worker-1
      for (const [phase, w] of Object.entries(ctx.windows)) {
        if (!['invoke1', 'invoke50', 'jobs50', 'async', 'batchAccept'].includes(phase)) continue;
        process.stdout.write(`\n=== ${who}, phase ${phase}: ${file} (window ${w.from} ${w.to}, for --summarize)\n`);
        process.stdout.write(summarizeProfile(file, w));
      }
    }
  }
}

if (process.argv[2] === '--summarize') {
  const [file, from, to] = process.argv.slice(3);
  if (!file) {
    process.stderr.write('usage: scripts/bench/main.ts --summarize <file.cpuprofile> [fromUs toUs]\n');
    process.exit(2);
  }
  process.stdout.write(summarizeProfile(file, from && to ? { from: Number(from), to: Number(to) } : undefined));
} else {
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(process.env);
  } catch (err) {
    if (!(err instanceof BenchOptionsError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  void main(opts);
}
