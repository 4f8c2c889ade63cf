/**
 * Phase H of `npm run bench`: the hand-written service a team would write instead of fnqueue
 * (BASELINE, handwritten/: Express 5 + express.json + zod, BullMQ queue.add + waitUntilFinished, two
 * worker processes with a sandboxed PrimeChecker processor), started on the bench's redis-server with
 * fnqueue's resources (BENCH_WORKERS processes × BENCH_CONCURRENCY), measured with the same loads.
 */
import { Queue } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../shared/net/free-port.js';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type BenchContext } from './context.js';
import { childrenOf, cpuDiff, type Roles } from './cpu.js';
import { HANDWRITTEN_JOB_OPTIONS, HANDWRITTEN_PREFIX, HANDWRITTEN_QUEUE } from './handwritten/protocol.js';
import { runAsync } from './async.js';
import { describeErrors, log, sleep } from './measure.js';
import { stopProc, type Managed } from './processes.js';
import { finishedSince, measuredLoad, waitFinished, type ServiceStack } from './stack.js';

const READY_LIMIT_MS = 40_000;

/** Resolves once `m` printed `line` (its `tail`), or rejects when it exits or `limitMs` passes. */
async function waitForLine(m: Managed, line: RegExp, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (m.tail.some((l) => line.test(l))) return;
    if (m.proc.exitCode !== null) throw new Error(`${m.name} exited during start:\n${m.tail.join('\n')}`);
    await sleep(50);
  }
  throw new Error(`${m.name}: not ready within ${limitMs / 1000} s:\n${m.tail.join('\n')}`);
}

/**
 * Starts the hand-written API and its workers, warms them (until every sandboxed child is forked), and returns their stack.
 * @param rssLabel its column in the peak memory table.
 * @throws Error when a process exits or is not ready within 40 s, or a warm-up call fails.
 */
export async function startHandwritten(ctx: BenchContext, rssLabel = 'hand-written'): Promise<ServiceStack> {
  const cfg = ctx.opts;
  const port = await freePort();
  log(`hand-written: starting its API and ${cfg.workers} workers (concurrency ${cfg.concurrency}, sandboxed processor)`);
  const api = ctx.procs.node('hand-api', 'scripts/bench/handwritten/server.ts', cfg.childEnv, { args: [String(port), String(ctx.redis.port)] });
  const workers: Managed[] = [];
  for (let i = 0; i < cfg.workers; i++) {
    workers.push(ctx.procs.node(`hand-worker-${i + 1}`, 'scripts/bench/handwritten/worker.ts', cfg.childEnv, { args: [String(ctx.redis.port), String(cfg.concurrency)] }));
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  await Promise.all(workers.map((w) => waitForLine(w, /^ready$/, READY_LIMIT_MS)));
  await waitForLine(api, /^listening on/, READY_LIMIT_MS);
  // Every sandboxed child forked before measuring (BullMQ forks one per concurrent job, then
  // reuses it), as fnqueue's runner pool is started before it is ready: rounds of as many concurrent
  // /invoke calls as there are slots, until a round finds no new child.
  const slots = cfg.workers * cfg.concurrency;
  // On a loaded machine the first round may outlast the service's 30 s wait while the children
  // start: a failed call is retried in the next round; the last round must be clean.
  let children = -1;
  let failure: string | undefined;
  for (let round = 0; round < 20; round++) {
    failure = undefined;
    await Promise.all(
      Array.from({ length: slots * 2 }, async () => {
        const r = await fetch(`${baseUrl}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ number: 17 }) });
        const text = await r.text();
        if (r.status !== 200) failure = `hand-written warm-up /invoke → ${r.status} ${text}`;
      }),
    );
    const now = childrenOf(new Set(workers.map((w) => w.proc.pid!))).length;
    if (!failure && now === children && now >= slots) break;
    children = now;
  }
  if (failure) throw new Error(failure);
  log('hand-written: ready');

  const roles = (): Roles => {
    const workerPids = workers.map((w) => w.proc.pid!);
    return { bench: [process.pid], api: [api.proc.pid!], workers: workerPids, runners: childrenOf(new Set(workerPids)), redis: [ctx.redis.pid] };
  };

  // Its finished jobs, from the sizes of BullMQ's completed and failed sets (one getJobCounts per
  // look), as fnqueue's are read from its status indexes. Not from the events stream: BullMQ trims
  // it to about 10,000 entries, and a QueueEvents reader that falls behind on a loaded machine
  // misses the trimmed `completed` events (5,000 jobs write some 20,000).
  const watchFinished = async () => {
    const queue = new Queue(HANDWRITTEN_QUEUE, { connection: { host: '127.0.0.1', port: ctx.redis.port }, prefix: HANDWRITTEN_PREFIX });
    queue.on('error', () => undefined);
    const read = async () => {
      const counts = await queue.getJobCounts('completed', 'failed');
      return { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
    };
    return finishedSince(read, () => queue.close());
  };

  const stopRss = ctx.rss.watch(rssLabel, roles);
  const stop = async () => {
    stopRss();
    log('hand-written: stopping its API and workers');
    await Promise.all([api, ...workers].map((m) => stopProc(m, 12_000)));
  };

  return { name: 'hand-written', baseUrl, roles, measured: measuredLoad(ctx, 'hand-written', roles), watchFinished, stop };
}

/**
 * Its sandboxed workers fed by `Queue.addBulk` of 1,000 PrimeChecker jobs from the bench (2 calls in
 * flight, no HTTP), until all `total` have completed: how fast batches can go when each job runs in
 * a forked child, as fnqueue's batch phase runs each in a runner child.
 * @returns jobs completed per second, and the seconds from the first add to the last completion.
 * @throws Error when an addBulk fails or some jobs are not finished within the limit.
 */
async function runBulkAsync(ctx: BenchContext, stack: ServiceStack, total: number): Promise<{ perSecond: number; seconds: number }> {
  log(`${stack.name}: async end to end, ${total} jobs via addBulk of 1,000 from the bench (2 in flight)`);
  const queue = new Queue(HANDWRITTEN_QUEUE, { connection: { host: '127.0.0.1', port: ctx.redis.port }, prefix: HANDWRITTEN_PREFIX });
  const watch = await stack.watchFinished();
  try {
    await queue.waitUntilReady();
    const a = await ctx.meter.snap(stack.roles());
    const t0 = performance.now();
    let next = 0;
    let failed = false;
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (!failed && next < total && performance.now() < t0 + ASYNC_SUBMIT_LIMIT_MS) {
          const n = Math.min(1000, total - next);
          next += n;
          // One failed call stops both loops (the queue is closed right after).
          await queue.addBulk(Array.from({ length: n }, () => ({ name: 'PrimeChecker', data: { number: 17 }, opts: HANDWRITTEN_JOB_OPTIONS }))).catch((err: unknown) => {
            failed = true;
            throw err;
          });
        }
      }),
    );
    const { pending, at } = await waitFinished(watch, next, ASYNC_FINISH_LIMIT_MS);
    const row = cpuDiff(`${stack.name}: async addBulk + complete`, a, await ctx.meter.snap(stack.roles()), next);
    ctx.cpuRows.push(row);
    ctx.rows[`${stack.name}:bulkAsync`] = row;
    if (pending > 0) throw new Error(`${stack.name} async via addBulk: ${pending}/${next} jobs not finished within ${ASYNC_FINISH_LIMIT_MS / 1000} s`);
    const seconds = (at - t0) / 1000;
    return { perSecond: next / seconds, seconds };
  } finally {
    await Promise.allSettled([watch.stop(), queue.close()]);
  }
}

/**
 * Runs the hand-written service through the loads fnqueue gets: /invoke at 1 and 50 connections,
 * async end to end, its workers fed by addBulk (the batch phase's bound), and POST /jobs at 50
 * connections (last: it leaves a backlog).
 */
export async function runHandwritten(ctx: BenchContext): Promise<void> {
  const stack = await startHandwritten(ctx);
  const hand: NonNullable<typeof ctx.res.hand> = {};
  ctx.res.hand = hand;
  try {
    hand.invoke1 = (await stack.measured('invoke1', 'POST /invoke {"number":17}, 1 conn', `${stack.baseUrl}/invoke`, { number: 17 }, 1)).stats;
    hand.invoke50 = (await stack.measured('invoke50', 'POST /invoke {"number":17}, 50 conns', `${stack.baseUrl}/invoke`, { number: 17 }, 50)).stats;
    hand.async = await runAsync(ctx, stack);
    hand.bulkAsync = await runBulkAsync(ctx, stack, ctx.opts.asyncJobs);
    const run = await stack.measured('jobs50', 'POST /jobs PrimeChecker, 50 conns', `${stack.baseUrl}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } }, 50);
    hand.jobs50 = { ...run.stats, errors: describeErrors(run) };
  } finally {
    await stack.stop();
  }
}
