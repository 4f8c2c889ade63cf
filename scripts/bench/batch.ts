/**
 * The batch phase of `npm run bench` (BENCH_PHASES `batch`): POST /jobs/batch of 1,000 PrimeChecker
 * jobs. First async end to end (BENCH_ASYNC_JOBS jobs in batches, 2 batches in flight, time from the
 * first submit to the last completion, the workers running), then the accept rate alone
 * (BATCH_ACCEPT_JOBS jobs, 2 in flight) with the workers paused, as plain BullMQ's addBulk rate is
 * measured into a queue no worker reads; then it resumes them and waits out the backlog (bounded,
 * unmeasured) so later phases start from an empty queue.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type BenchContext } from './context.js';
import { cpuDiff } from './cpu.js';
import { log, monoUs } from './measure.js';
import { waitFinished, type ServiceStack } from './stack.js';

/** Jobs per request (the most POST /jobs/batch takes). */
const BATCH_SIZE = 1000;
/** Jobs of the accept-rate run. */
const BATCH_ACCEPT_JOBS = 20_000;

/** The batch phase's figures. */
export interface BatchResult {
  /** Jobs accepted per second, submitting only, the workers paused. */
  acceptPerSecond: number;
  /** Async end to end with batches: jobs completed per second (first submit to last completion). */
  asyncPerSecond: number;
  asyncSubmitSeconds: number;
  failed: number;
  refused: number;
}

/**
 * Submits `total` PrimeChecker jobs in batches of {@link BATCH_SIZE}, `inFlight` requests at once.
 * @returns the accepted ids, the jobs refused (per item or per request) and the seconds it took.
 */
async function submitBatches(pool: Pool, total: number, inFlight: number): Promise<{ ids: string[]; refused: number; seconds: number }> {
  const body = JSON.stringify({ jobs: Array.from({ length: BATCH_SIZE }, () => ({ algorithm: 'PrimeChecker', params: { number: 17 } })) });
  const ids: string[] = [];
  let refused = 0;
  let next = 0;
  const t0 = performance.now();
  const until = t0 + ASYNC_SUBMIT_LIMIT_MS;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total && performance.now() < until) {
        next += BATCH_SIZE;
        try {
          const r = await pool.request({ method: 'POST', path: '/jobs/batch', headers: { 'content-type': 'application/json' }, body });
          const json = (await r.body.json()) as { results?: Array<{ job_id?: string }> };
          if (r.statusCode !== 202 || !json.results) refused += BATCH_SIZE;
          else for (const item of json.results) item.job_id ? ids.push(item.job_id) : refused++;
        } catch {
          refused += BATCH_SIZE;
        }
      }
    }),
  );
  return { ids, refused, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Runs the batch phase against fnqueue.
 * @throws Error when some jobs are not finished within the limit.
 */
export async function runBatch(ctx: BenchContext, stack: ServiceStack): Promise<BatchResult> {
  const { opts: cfg } = ctx;
  const watch = await stack.watchFinished();
  const pool = new Pool(stack.baseUrl, { connections: 2, pipelining: 1 });
  try {
    log(`${stack.name}: async end to end, ${cfg.asyncJobs} jobs via POST /jobs/batch (${BATCH_SIZE} per request, 2 in flight)`);
    let a = await ctx.meter.snap(stack.roles());
    let from = monoUs();
    const t0 = performance.now();
    const e2e = await submitBatches(pool, cfg.asyncJobs, 2);
    const { pending, failed, at: lastAt } = await waitFinished(watch, e2e.ids.length, ASYNC_FINISH_LIMIT_MS);
    ctx.windows.batchAsync = { from, to: monoUs() };
    const asyncRow = cpuDiff(`${stack.name}: async via batches, submit + complete`, a, await ctx.meter.snap(stack.roles()), e2e.ids.length);
    ctx.cpuRows.push(asyncRow);
    ctx.rows[`${stack.name}:batchAsync`] = asyncRow;
    if (pending > 0) throw new Error(`${stack.name} batch async: ${pending}/${e2e.ids.length} jobs not finished within ${ASYNC_FINISH_LIMIT_MS / 1000} s`);

    // The accept capacity alone: the workers take nothing meanwhile (as no worker reads plain
    // BullMQ's addBulk queue), so the 2 cores are not shared with running the accepted jobs.
    const resume = await stack.pauseWorkers?.();
    log(`${stack.name}: POST /jobs/batch accept rate, ${BATCH_ACCEPT_JOBS} jobs (${BATCH_SIZE} per request, 2 in flight)${resume ? ', workers paused' : ''}`);
    let accept: Awaited<ReturnType<typeof submitBatches>>;
    try {
      a = await ctx.meter.snap(stack.roles());
      from = monoUs();
      accept = await submitBatches(pool, BATCH_ACCEPT_JOBS, 2);
      ctx.windows.batchAccept = { from, to: monoUs() };
      const acceptRow = cpuDiff(`${stack.name}: POST /jobs/batch, submit only${resume ? ', workers paused' : ''}`, a, await ctx.meter.snap(stack.roles()), accept.ids.length);
      ctx.cpuRows.push(acceptRow);
      ctx.rows[`${stack.name}:batchAccept`] = acceptRow;
    } finally {
      await resume?.();
    }
    // The backlog is drained before the next phase (bounded; not measured).
    await waitFinished(watch, e2e.ids.length + accept.ids.length, ASYNC_FINISH_LIMIT_MS);
    return {
      acceptPerSecond: accept.ids.length / accept.seconds,
      asyncPerSecond: e2e.ids.length / ((lastAt - t0) / 1000),
      asyncSubmitSeconds: e2e.seconds,
      failed,
      refused: e2e.refused + accept.refused,
    };
  } finally {
    await pool.close();
    await watch.stop();
  }
}
