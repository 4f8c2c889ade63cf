/** The POST /jobs accept-rate phase of `npm run bench` (jobs50). */
import { Queue } from 'bullmq';
import { bullPrefix } from '../../shared/store/keys.js';
import { JOBS_QUEUE } from '../../shared/queue/names.js';
import type { BenchContext } from './context.js';
import type { FnqueueStack } from './fnqueue-stack.js';
import { describeErrors, log } from './measure.js';

/**
 * POST /jobs PrimeChecker at 50 connections for BENCH_DURATION_S. Runs last: the backlog it leaves
 * (the workers keep draining it until they stop) skews nothing else.
 */
export async function runJobs(ctx: BenchContext, stack: FnqueueStack): Promise<void> {
  const run = await stack.measured('jobs50', 'POST /jobs PrimeChecker, 50 conns', `${stack.baseUrl}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } }, 50);
  ctx.res.jobs50 = { ...run.stats, errors: describeErrors(run) };
  const q = new Queue(JOBS_QUEUE, { connection: { host: '127.0.0.1', port: ctx.redis.port }, prefix: bullPrefix(stack.queuePrefix) });
  const counts = await q.getJobCounts('waiting', 'active');
  await q.close();
  log(`fnqueue: backlog after POST /jobs: ${counts.waiting} waiting, ${counts.active} active (left to the workers; they stop now)`);
}
