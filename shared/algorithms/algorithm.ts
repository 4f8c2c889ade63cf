import type { z } from 'zod';

/** What an algorithm's run may use besides its params. */
export interface AlgorithmContext {
  /** Reports progress, 0-100, with an optional message. */
  progress(percent: number, message?: string): void;
}

/**
 * One algorithm: its identity, the zod schema of its params (validated by the API before a job is
 * enqueued, and again in the runner), and `run`, which executes in a worker's child process.
 */
export interface Algorithm<P = unknown, R = unknown> {
  /** Name callers use (`"algorithm": "PrimeChecker"`). */
  readonly name: string;
  /** Semantic version, reported in metadata.version. */
  readonly version: string;
  /** One sentence for GET /algorithms and the docs. */
  readonly description: string;
  /** Schema of params; strict objects, so unknown keys are refused. */
  readonly params: z.ZodType<P>;
  /** Runs the algorithm; its return value must be JSON. Throwing fails the job with ALGORITHM_ERROR. */
  run(params: P, ctx: AlgorithmContext): R | Promise<R>;
}

/** Identity helper that keeps `P` inferred from the schema. */
export function defineAlgorithm<S extends z.ZodType, R>(def: {
  name: string;
  version: string;
  description: string;
  params: S;
  run(params: z.infer<S>, ctx: AlgorithmContext): R | Promise<R>;
}): Algorithm<z.infer<S>, R> {
  return def as unknown as Algorithm<z.infer<S>, R>;
}
