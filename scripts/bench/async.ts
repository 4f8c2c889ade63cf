/** The async end-to-end phase of `npm run bench`: jobs submitted through POST /jobs until all are finished. */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { decodeJobEvent, jobIdOfEvent } from '../../shared/store/job-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type BenchContext } from './context.js';
import { cpuDiff } from './cpu.js';
import type { FnqueueStack } from './fnqueue-stack.js';
import { log, monoUs, sleep } from './measure.js';

/**
 * Submits BENCH_ASYNC_JOBS PrimeChecker jobs via POST /jobs (50 in flight) and counts the terminal
 * job events on the product's job-events channel (each worker publishes the finished record there);
 * the rate is from the first submit to the last completion.
 * @throws Error when some jobs are not finished within the limit.
 */
export async function runAsync(ctx: BenchContext, stack: FnqueueStack): Promise<void> {
  const { opts: cfg } = ctx;
  log(`fnqueue: async end to end, ${cfg.asyncJobs} jobs via POST /jobs (50 in flight)`);
  const keys = keysFor(stack.queuePrefix);
  const sub = new Redis(ctx.redis.url);
  sub.on('error', () => undefined);
  const finished = new Map<string, { at: number; status: string }>();
  sub.on('message', (_ch: string, msg: string) => {
    const at = performance.now();
    const id = jobIdOfEvent(msg);
    const status = decodeJobEvent(msg).record?.status ?? 'gone';
    if (status === 'completed' || status === 'failed' || status === 'gone') finished.set(id, { at, status });
  });
  await sub.subscribe(keys.jobEvents);
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
  const deadline = performance.now() + ASYNC_FINISH_LIMIT_MS;
  let pending = ids.length;
  while (performance.now() < deadline) {
    pending = ids.reduce((n, id) => n + (finished.has(id) ? 0 : 1), 0);
    if (pending === 0) break;
    await sleep(20);
  }
  ctx.windows.async = { from, to: monoUs() };
  ctx.cpuRows.push(cpuDiff('fnqueue: async submit + complete', a, await ctx.meter.snap(stack.roles()), ids.length));
  await pool.close();
  sub.disconnect();
  if (pending > 0) throw new Error(`fnqueue async: ${pending}/${ids.length} jobs not finished within ${ASYNC_FINISH_LIMIT_MS / 1000} s`);
  const lastAt = Math.max(...ids.map((id) => finished.get(id)!.at));
  const failed = ids.filter((id) => finished.get(id)!.status !== 'completed').length;
  const seconds = (lastAt - t0) / 1000;
  ctx.res.async = { perSecond: ids.length / seconds, seconds, submitSeconds, failed, submitErrors };
}
