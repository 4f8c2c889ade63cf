/**
 * The benchmarks' knobs, parsed once from the environment handed in (as shared/config.ts does for
 * the services). Bad values stop the bench with `NAME=value: must be ...`. See docs/performance.md.
 */
import { z } from 'zod';

/** The phases of `npm run bench`, in the order they run. */
export const ALL_PHASES = ['bullmq', 'records', 'instructions', 'floors', 'handwritten', 'invoke1', 'echo1', 'invoke50', 'async', 'batch', 'jobs50', 'paired', 'sharded'] as const;
export type Phase = (typeof ALL_PHASES)[number];

/** An unset or empty knob takes its default; otherwise an integer >= `min`. */
const intKnob = (dflt: number, min = 1) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return dflt;
      const n = Number(raw);
      if (Number.isInteger(n) && n >= min) return n;
      ctx.addIssue({ code: 'custom', message: `must be an integer >= ${min}` });
      return z.NEVER;
    });

const optionalIntKnob = (min = 1) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      const n = Number(raw);
      if (Number.isInteger(n) && n >= min) return n;
      ctx.addIssue({ code: 'custom', message: `must be an integer >= ${min}` });
      return z.NEVER;
    });

/** The knobs of `npm run bench` (scripts/bench/main.ts). */
const BenchEnvSchema = z.object({
  /** Seconds per autocannon / duration-bounded phase. */
  BENCH_DURATION_S: intKnob(5),
  /** fnqueue worker processes. */
  BENCH_WORKERS: intKnob(2),
  /** fnqueue WORKER_CONCURRENCY, also its runner pool size. */
  BENCH_CONCURRENCY: intKnob(8),
  /** Plain BullMQ no-op Worker concurrency. */
  BENCH_BASE_CONCURRENCY: intKnob(50),
  /** Jobs in each async end-to-end phase. */
  BENCH_ASYNC_JOBS: intKnob(5000),
  /** Sequential BullMQ round trips measured. */
  BENCH_SEQ_JOBS: intKnob(1000),
  /** Jobs through each call of the records phase (BullMQ add, record create, record finish). */
  BENCH_RECORD_JOBS: intKnob(20_000, 1000),
  /** Jobs through each call of the instructions phase (redis-server under callgrind, about 5 ms per job). */
  BENCH_INSTRUCTION_JOBS: intKnob(2000, 100),
  /** Jobs in each run of the sharded phase (a local 3-master cluster, 1 shard then 3). */
  BENCH_SHARD_JOBS: intKnob(3000),
  /** Fixed req/s for the 50-connection fnqueue phases (CPU per request of two builds at equal load); unset: as fast as possible. */
  BENCH_RATE: optionalIntKnob(),
  /** Comma list of {@link ALL_PHASES}; default all. */
  BENCH_PHASES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const phases = new Set((raw ?? ALL_PHASES.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
      for (const p of phases) {
        if (!(ALL_PHASES as readonly string[]).includes(p)) ctx.addIssue({ code: 'custom', message: `unknown phase '${p}' (known: ${ALL_PHASES.join(', ')})` });
      }
      return phases as Set<Phase>;
    }),
  /** 1|api, worker, all: CPU-profile those processes. */
  BENCH_PROFILE: z
    .string()
    .optional()
    .transform((raw) => {
      const v = (raw ?? '').toLowerCase();
      const profile = new Set<'api' | 'worker'>();
      if (['1', 'true', 'api', 'all'].includes(v)) profile.add('api');
      if (['worker', 'workers', 'all'].includes(v)) profile.add('worker');
      return profile;
    }),
  /** Any non-empty value: echo the service processes' log lines. */
  BENCH_VERBOSE: z.string().optional().transform((v) => Boolean(v)),
});

/** The knobs of `npm run bench:functions` (scripts/bench/functions.ts). */
const FunctionBenchEnvSchema = z.object({
  /** Measured warm invocations per runtime (after the fixed unmeasured warm-up). */
  BENCH_FN_WARM: intKnob(300),
  /** Cold invocations per runtime, each of a new function. */
  BENCH_FN_COLD: intKnob(20),
  /** Runs of the spawn-per-call baseline per runtime. */
  BENCH_FN_SPAWN: intKnob(20),
  /** The function sandbox mode. */
  BENCH_FN_SANDBOX: z.enum(['auto', 'bwrap', 'off']).default('auto'),
});

/**
 * Only these of the environment reach the processes the bench starts (with their own settings on
 * top). OTEL_EXPORTER_OTLP_ENDPOINT: the bench with traces on (docs/performance.md).
 */
const CHILD_ENV_KEYS = ['HOME', 'TMPDIR', 'LANG', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;

/** The parsed knobs of `npm run bench`, plus the environment its child processes start from. */
export interface BenchOptions {
  durationS: number;
  workers: number;
  concurrency: number;
  baseConcurrency: number;
  asyncJobs: number;
  seqJobs: number;
  shardJobs: number;
  /** Jobs through each call of the records phase. */
  recordJobs: number;
  /** Jobs through each call of the instructions phase. */
  instructionJobs: number;
  /** Fixed total req/s for the 50-connection fnqueue phases; undefined: as fast as possible. */
  rate?: number;
  phases: Set<Phase>;
  profile: Set<'api' | 'worker'>;
  verbose: boolean;
  /** PATH (default /usr/bin:/bin), HOME, TMPDIR and LANG: nothing else of this shell's environment. */
  childEnv: Record<string, string>;
}

/** The parsed knobs of `npm run bench:functions`. */
export interface FunctionBenchOptions {
  warm: number;
  cold: number;
  spawn: number;
  sandbox: 'auto' | 'bwrap' | 'off';
}

/** Thrown for a bad knob; the message names it and its value. */
export class BenchOptionsError extends Error {
  override name = 'BenchOptionsError';
}

function parse<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    return `${key}=${env[key] ?? ''}: ${i.message}`;
  });
  throw new BenchOptionsError(lines.join('\n'));
}

/**
 * The options of `npm run bench` from `env`.
 * @throws BenchOptionsError on a bad value.
 */
export function parseBenchOptions(env: Record<string, string | undefined>): BenchOptions {
  const v = parse(BenchEnvSchema, env);
  const childEnv: Record<string, string> = { PATH: env.PATH ?? '/usr/bin:/bin' };
  for (const k of CHILD_ENV_KEYS) if (env[k]) childEnv[k] = env[k];
  return {
    durationS: v.BENCH_DURATION_S,
    workers: v.BENCH_WORKERS,
    concurrency: v.BENCH_CONCURRENCY,
    baseConcurrency: v.BENCH_BASE_CONCURRENCY,
    asyncJobs: v.BENCH_ASYNC_JOBS,
    shardJobs: v.BENCH_SHARD_JOBS,
    seqJobs: v.BENCH_SEQ_JOBS,
    recordJobs: v.BENCH_RECORD_JOBS,
    instructionJobs: v.BENCH_INSTRUCTION_JOBS,
    rate: v.BENCH_RATE,
    phases: v.BENCH_PHASES,
    profile: v.BENCH_PROFILE,
    verbose: v.BENCH_VERBOSE,
    childEnv,
  };
}

/**
 * The options of `npm run bench:functions` from `env`.
 * @throws BenchOptionsError on a bad value.
 */
export function parseFunctionBenchOptions(env: Record<string, string | undefined>): FunctionBenchOptions {
  const v = parse(FunctionBenchEnvSchema, env);
  return { warm: v.BENCH_FN_WARM, cold: v.BENCH_FN_COLD, spawn: v.BENCH_FN_SPAWN, sandbox: v.BENCH_FN_SANDBOX };
}
