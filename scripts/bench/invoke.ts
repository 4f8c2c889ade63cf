/** The /invoke phases of `npm run bench`: PrimeChecker and the Echo no-op at 1 connection, PrimeChecker at 50. */
import type { BenchContext } from './context.js';
import type { FnqueueStack } from './fnqueue-stack.js';
import { describeErrors, log, type CannonRun } from './measure.js';

const logErrors = (run: CannonRun) => {
  if (run.errors || Object.keys(run.non2xx).length) log(`  errors: ${describeErrors(run)}`);
};

/** Runs the selected ones of invoke1, echo1 and invoke50 (BENCH_PHASES), in that order. */
export async function runInvoke(ctx: BenchContext, stack: FnqueueStack): Promise<void> {
  const { res, opts } = ctx;
  const url = `${stack.baseUrl}/invoke`;
  if (opts.phases.has('invoke1')) {
    const run = await stack.measured('invoke1', 'POST /invoke {"number":17}, 1 conn', url, { number: 17 }, 1);
    res.invoke1 = run.stats;
    logErrors(run);
  }
  if (opts.phases.has('echo1')) {
    const run = await stack.measured('echo1', 'POST /invoke Echo, 1 conn', url, { algorithm: 'Echo', params: {} }, 1);
    res.echo1 = run.stats;
    logErrors(run);
  }
  if (opts.phases.has('invoke50')) {
    const run = await stack.measured('invoke50', 'POST /invoke {"number":17}, 50 conns', url, { number: 17 }, 50);
    res.invoke50 = run.stats;
    logErrors(run);
  }
}
