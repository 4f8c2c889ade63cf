/** The async end-to-end phase of `npm run bench`: jobs submitted through POST /jobs until all are finished. */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type AsyncResult, type BenchContext } from './context.js';
import { cpuDiff } from './cpu.js';
import { log, monoUs } from './measure.js';
import { waitFinished, type ServiceStack } from './stack.js';

/**
 * Submits BENCH_ASYNC_JOBS PrimeChecker jobs via POST /jobs (50 in flight) to `stack` and counts
 * the jobs it reports finished ({@link ServiceStack.watchFinished}); the rate is from the first
 * submit to when all had finished (seen within 20 ms).
 * @returns the phase's figures (also its CPU row, `rows[<name>:async]`).
 * @throws Error when some jobs are not finished within the limit.
 */
export async function runAsync(ctx: BenchContext, stack: ServiceStack): Promise<AsyncResult> {
  const { opts: cfg } = ctx;
  log(`${stack.name}: async end to end, ${cfg.asyncJobs} jobs via POST /jobs (50 in flight)`);
  const watch = await stack.watchFinished();
  const pool = new Pool(stack.baseUrl, { connections: 50, pipelining: 1 });
  const ids: string[] = [];
  let submitErrors = 0;
  const body = JSON.stringify({ algorithm: 'PrimeChecker', params: { number: 17 } });
  const a = await ctx.meter.snap(stack.roles());
  const from = monoUs();
  const t0 = performance.now();
  const submitUntil = t0 + ASYNC_SUBMIT_LIMIT_MS;
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < cfg.asyncJobs && performance.now() < submitUntil) {
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
  const { pending, failed, at: lastAt } = await waitFinished(watch, ids.length, ASYNC_FINISH_LIMIT_MS);
  if (stack.name === 'fnqueue') ctx.windows.async = { from, to: monoUs() };
  const row = cpuDiff(`${stack.name}: async submit + complete`, a, await ctx.meter.snap(stack.roles()), ids.length);
  ctx.cpuRows.push(row);
  ctx.rows[`${stack.name}:async`] = row;
  await pool.close();
  await watch.stop();
  if (pending > 0) throw new Error(`${stack.name} async: ${pending}/${ids.length} jobs not finished within ${ASYNC_FINISH_LIMIT_MS / 1000} s`);
  const seconds = (lastAt - t0) / 1000;
  return { perSecond: ids.length / seconds, seconds, submitSeconds, failed, submitErrors };
}
