import { z } from 'zod';
import { defineAlgorithm } from './algorithm.js';

/**
 * Diagnostic algorithms, registered only with DIAGNOSTIC_ALGORITHMS=true (tests and benchmarks):
 * they let a run be a no-op, slow, CPU-bound or crash on purpose.
 */

/** Returns its `value` unchanged (the no-op job of the benchmark); prints `print` to stdout and stderr first. */
export const echo = defineAlgorithm({
  name: 'Echo',
  version: '1.0.0',
  description: 'Diagnostic: returns params.value unchanged (prints params.print to stdout and stderr first).',
  params: z.strictObject({ value: z.json().optional(), print: z.string().max(10_000).optional() }),
  run: (params) => {
    if (params.print !== undefined) {
      console.log(params.print);
      console.error(params.print);
    }
    return { value: params.value ?? null };
  },
});

/** Waits `ms` (timer) or, with `spin`, burns CPU for `ms`; reports progress (`steps` times along the way, and 100 at the end). */
export const sleep = defineAlgorithm({
  name: 'Sleep',
  version: '1.0.0',
  description: 'Diagnostic: waits ms milliseconds (spin: true keeps the CPU busy instead), reporting progress steps times on the way.',
  params: z.strictObject({ ms: z.number().int().min(0).max(600_000), spin: z.boolean().default(false), steps: z.number().int().min(0).max(100).default(0) }),
  run: async (params, ctx) => {
    const start = Date.now();
    const wait = async (ms: number) => {
      const until = Date.now() + ms;
      if (params.spin) {
        while (Date.now() < until) {
          /* busy on purpose: a CPU-bound run */
        }
      } else {
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
    };
    const parts = params.steps + 1;
    for (let i = 1; i < parts; i++) {
      await wait(params.ms / parts);
      ctx.progress(Math.round((100 * i) / parts), `step ${i} of ${parts}`);
    }
    // A timer may fire up to a few ms early by the wall clock (libuv times it from the loop's cached
    // time): wait again until the whole `ms` has passed.
    while (Date.now() - start < params.ms) await wait(params.ms - (Date.now() - start));
    ctx.progress(100, 'done');
    return { slept_ms: Date.now() - start };
  },
});

/** Ends its child process abruptly (exit code `code`), or throws when `throw` is set. */
export const crash = defineAlgorithm({
  name: 'Crash',
  version: '1.0.0',
  description: 'Diagnostic: exits the runner process with code (or throws an error when throw is true).',
  params: z.strictObject({ code: z.number().int().min(0).max(255).default(1), throw: z.boolean().default(false) }),
  run: (params) => {
    if (params.throw) throw new Error('Crash algorithm threw on purpose');
    process.exit(params.code);
  },
});
