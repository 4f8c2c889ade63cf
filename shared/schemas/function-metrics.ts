/**
 * GET /functions/{function_id}/metrics (the function API reference's fields, measured), as a zod
 * schema; the type comes from it. The store computes it (shared/store/function-store.ts) and the
 * API documents it from this schema's `.meta()` (api/openapi/).
 */
import { z } from 'zod';

/**
 * A function's measured statistics: counts of finished runs, times from the parent's clock, CPU and
 * memory from the kernel (see FunctionRunReport in shared/store/function-store.ts). Figures that no
 * run measured are null.
 */
export const FunctionMetricsSchema = z
  .object({
    function_id: z.string(),
    invocations: z
      .object({ total: z.number().int(), successful: z.number().int(), failed: z.number().int() })
      .meta({ description: 'Finished runs (each attempt of a retried job counts); cancelled runs are not counted' }),
    /** Percent of runs that succeeded, 0-100 (the function API reference: `95`); 0 before any run (not nullable there). */
    success_rate: z.number().meta({ description: 'Percent of runs that succeeded (0-100); 0 before any run', example: 95 }),
    /** The function API reference's string form of avg_execution_time_ms, e.g. `"120ms"`; `"0ms"` before any run. */
    avg_execution_time: z.string().meta({ example: '120ms', description: "The function API reference's form of avg_execution_time_ms; `0ms` before any run" }),
    avg_execution_time_ms: z.number().nullable(),
    /** 95th percentile of the last DURATION_SAMPLES runs' durations, ms (nearest rank). */
    p95_execution_time_ms: z.number().nullable().meta({ description: 'Nearest-rank 95th percentile of the last 1000 runs' }),
    /** Runs in the p95 window. */
    duration_samples: z.number().int(),
    /** CPU time over wall time of the runs, as a percent of one core, e.g. `"70%"`; `"0%"` before any measured run. */
    cpu_usage: z.string().meta({ example: '70%', description: 'CPU time over wall time of the runs, percent of one core; `0%` before any measured run' }),
    cpu_time_ms: z.object({ avg: z.number().nullable(), total: z.number() }),
    /** The highest peak resident memory of any run, e.g. `"42MB"` (MiB); `"0MB"` before any measured run. */
    memory_usage: z.string().meta({ example: '42MB', description: 'Highest peak resident memory of a run (MiB; includes the runtime itself); `0MB` before any measured run' }),
    peak_memory_bytes: z.object({ max: z.number().nullable(), avg: z.number().nullable() }),
    /** ISO 8601 time of the last finished run; null before any run. */
    last_invoked_at: z.string().nullable(),
  })
  .meta({ id: 'FunctionMetrics' });

/** A function's measured statistics (see {@link FunctionMetricsSchema}). */
export type FunctionMetrics = z.infer<typeof FunctionMetricsSchema>;
