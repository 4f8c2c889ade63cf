import { z } from 'zod';
import { LabelListSchema } from '../shared/schemas/labels.js';
import './schemas.js'; // extends zod with .openapi()

/** Largest page of `GET /workers`. */
export const MAX_WORKERS_LIMIT = 500;
/** Default page of `GET /workers`. */
export const DEFAULT_WORKERS_LIMIT = 50;

/**
 * The query of `GET /workers`: `status=online|offline`; `label=key=value`, repeatable or
 * comma-separated, every pair must match; `limit` (1-500, default 50) and `offset` (default 0).
 * Unknown parameters are refused (400 VALIDATION_ERROR), as unknown body keys are.
 */
export const WorkerQuerySchema = z
  .object({
    status: z.enum(['online', 'offline'], { error: 'must be online or offline' }).optional(),
    label: z
      .union([z.string(), z.array(z.string()).max(32, { error: 'at most 32 label parameters' })], { error: 'must be key=value' })
      .transform((v) => (Array.isArray(v) ? v.join(',') : v))
      .pipe(LabelListSchema)
      .optional(),
    limit: z.coerce.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).min(1, { error: 'must be at least 1' }).max(MAX_WORKERS_LIMIT, { error: `must be at most ${MAX_WORKERS_LIMIT}` }).default(DEFAULT_WORKERS_LIMIT),
    offset: z.coerce.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).min(0, { error: 'must be at least 0' }).max(1_000_000, { error: 'must be at most 1000000' }).default(0),
  })
  .strict();

/** The same query as plain parameters, for the OpenAPI document. */
export const WorkerQueryDocSchema = z.object({
  status: z.enum(['online', 'offline']).optional().openapi({ description: '`online`: heartbeat within the worker\'s WORKER_OFFLINE_AFTER_MS and not stopped' }),
  label: z.string().optional().openapi({ description: '`key=value`, e.g. `pool=gpu`; repeat the parameter or separate pairs with commas; all must match' }),
  limit: z.number().int().min(1).max(MAX_WORKERS_LIMIT).optional().openapi({ description: `Page size, default ${DEFAULT_WORKERS_LIMIT}` }),
  offset: z.number().int().min(0).optional().openapi({ description: 'Items to skip, default 0' }),
});

/** One worker process (the hetuflow scheduler API reference's agent) as `GET /workers` shows it. */
export const WorkerSchema = z
  .object({
    id: z.string().openapi({ example: 'worker-7f9c:4242', description: '`<hostname>:<pid>`, also the BullMQ worker name' }),
    status: z.enum(['online', 'offline']),
    state: z.enum(['running', 'draining', 'stopped']).openapi({ description: 'What the worker last reported; `stopped` after a graceful shutdown (then `offline`)' }),
    host: z.string(),
    pid: z.number().int(),
    labels: z.record(z.string(), z.string()).openapi({ example: { pool: 'gpu', region: 'eu' } }),
    concurrency: z.number().int().openapi({ description: 'WORKER_CONCURRENCY' }),
    runners: z.number().int().openapi({ description: 'Warm runner children (RUNNER_POOL_SIZE)' }),
    active_jobs: z.array(z.string()).openapi({ description: 'Ids of the jobs running on this worker at its last heartbeat' }),
    jobs_processed: z.object({ completed: z.number().int(), failed: z.number().int() }),
    resources: z
      .object({
        cpu_usage: z.number().openapi({ description: 'Percent of one core over the last heartbeat interval', example: 12.5 }),
        memory_usage: z.number().int().openapi({ description: 'Resident set size of the worker process, bytes' }),
        runners_memory_usage: z.number().int().nullable().openapi({ description: 'Summed resident set size of its runner children, bytes; null where /proc is unavailable' }),
      })
      .openapi({ description: "the container management API reference's /metrics/resources names" }),
    function_hosts: z
      .object({
        budget_mb: z.number().int().openapi({ description: 'FUNCTION_HOSTS_MEMORY_BUDGET_MB of this worker (default: half of its memory or cgroup limit), MiB', example: 12048 }),
        reserved_mb: z.number().int().openapi({ description: "Sum of the live function processes' declared memory_mb, MiB; never above budget_mb", example: 512 }),
        rss_mb: z.number().int().nullable().openapi({ description: 'Measured: summed resident set size of those processes and their children, MiB; null where /proc is unavailable', example: 161 }),
        hosts: z.number().int().openapi({ description: 'Live function processes (warm hosts)' }),
        idle_hosts: z.number().int().openapi({ description: 'Of those, idle ones: stopped least recently used first when a new process needs their memory, or after FUNCTION_HOST_IDLE_MS' }),
      })
      .optional()
      .openapi({ description: "Its warm function processes against their memory budget (docs/functions.md, \"Warm processes\"); absent from entries of older workers" }),
    started_at: z.string().openapi({ example: '2026-11-21T12:00:00.000+00:00' }),
    last_heartbeat: z.string().openapi({ example: '2026-11-21T12:05:00.000+00:00' }),
    heartbeat_interval_ms: z.number().int(),
    offline_after_ms: z.number().int(),
  })
  .openapi('Worker');

/** `GET /workers`. */
export const WorkerListSchema = z
  .object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int(), items: z.array(WorkerSchema) })
  .openapi('WorkerList');

/** `GET /workers/{worker_id}/resources`: the container management API reference's `/metrics/resources` figures for one worker, from its last heartbeat. */
export const WorkerResourcesSchema = z
  .object({
    worker_id: z.string().openapi({ example: 'worker-7f9c:4242' }),
    status: z.enum(['online', 'offline']),
    cpu_usage: z.number().openapi({ description: 'Percent of one core over the last heartbeat interval (may pass 100)', example: 12.5 }),
    memory_usage: z.number().int().openapi({ description: 'Resident set size of the worker process, bytes' }),
    runners_memory_usage: z.number().int().nullable().openapi({ description: 'Summed resident set size of its runner children, bytes; null where /proc is unavailable' }),
    last_heartbeat: z.string().openapi({ example: '2026-11-21T12:05:00.000+00:00', description: 'When these figures were taken' }),
  })
  .openapi('WorkerResources');
