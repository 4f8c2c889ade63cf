/**
 * A worker's registry entry (the hetuflow scheduler API reference's agent) as zod schemas; the types
 * come from them. The worker writes a {@link StoredWorker} (worker/heartbeat.ts), the registry
 * (shared/store/worker-registry.ts) reads it back with its status judged at read time, and the API
 * shows and documents that {@link PublicWorker} (api/routes/workers.ts; descriptions and examples
 * from zod's `.meta()`, `id` naming the OpenAPI component).
 */
import { z } from 'zod';

/** The hetuflow scheduler API reference's agent status: `online` while heartbeats arrive, `offline` once they stop or the worker stopped. */
export const WORKER_STATUSES = ['online', 'offline'] as const;
export const WorkerStatusSchema = z.enum(WORKER_STATUSES);
export type WorkerStatus = z.infer<typeof WorkerStatusSchema>;

/**
 * What a worker last said about itself: `running`, `draining` (SIGTERM received, finishing its
 * active jobs) or `stopped` (its last heartbeat, written on a graceful shutdown).
 */
export const WorkerStateSchema = z.enum(['running', 'draining', 'stopped']);
export type WorkerState = z.infer<typeof WorkerStateSchema>;

/** The filesystem of a worker's work dir (where runs get their private folders), measured with statfs(2) at each heartbeat. */
export const WorkerDiskSchema = z.object({
  /** The folder measured: the worker's temporary directory, the parent of every run's work dir. */
  path: z.string().meta({ example: '/tmp' }),
  total_bytes: z.number().int(),
  /** Used by anyone: total minus free. */
  used_bytes: z.number().int(),
  /** Available to unprivileged processes (statfs `bavail`). */
  available_bytes: z.number().int(),
  /** used / (used + available), percent, one decimal (as df computes Use%). */
  usage_percent: z.number().meta({ example: 65.8 }),
});
export type WorkerDisk = z.infer<typeof WorkerDiskSchema>;

/**
 * The byte counters of the network namespace a worker runs in (its host's, or its container's),
 * read from /proc/net/dev at each heartbeat: every interface but loopback, since that namespace's
 * interfaces came up. Workers sharing a namespace show the same counters (`namespace` tells them apart).
 */
export const WorkerNetworkSchema = z.object({
  /** The namespace's id, from /proc/self/ns/net (e.g. `net:[4026531840]`). */
  namespace: z.string().meta({ example: 'net:[4026531840]' }),
  rx_bytes: z.number().int().meta({ example: 1024 }),
  tx_bytes: z.number().int().meta({ example: 2048 }),
});
export type WorkerNetwork = z.infer<typeof WorkerNetworkSchema>;

/** Resource figures of one worker, with the container management API reference's names (`/metrics/resources`). */
export const WorkerResourceFiguresSchema = z.object({
  /** CPU used by the worker process over the last heartbeat interval, in percent of one core (may pass 100). */
  cpu_usage: z.number().meta({ description: 'Percent of one core over the last heartbeat interval', example: 12.5 }),
  /** Resident set size of the worker process, bytes. */
  memory_usage: z.number().int().meta({ description: 'Resident set size of the worker process, bytes' }),
  /** Summed resident set size of its runner children (from /proc/<pid>/status VmRSS), bytes; null where /proc is not available. */
  runners_memory_usage: z.number().int().nullable().meta({ description: 'Summed resident set size of its runner children, bytes; null where /proc is unavailable' }),
  /** Its work dir's filesystem; null where statfs fails (absent from entries of older workers). */
  disk: WorkerDiskSchema.nullable().optional().meta({ description: "Its work dir's filesystem (statfs at each heartbeat); null where it cannot be measured" }),
  /** Its network namespace's byte counters; null where /proc/net/dev is not available (absent from entries of older workers). */
  network: WorkerNetworkSchema.nullable().optional().meta({ description: "Its network namespace's byte counters (/proc/net/dev, all interfaces but loopback); null where /proc is unavailable" }),
});
export type WorkerResources = z.infer<typeof WorkerResourceFiguresSchema>;

/**
 * A worker's warm function hosts against its memory budget (FUNCTION_HOSTS_MEMORY_BUDGET_MB,
 * docs/functions.md "Warm processes"), at its last heartbeat.
 */
export const FunctionHostsUsageSchema = z.object({
  /** The budget, MiB: the sum of the hosts' declared memory_mb never goes past it. */
  budget_mb: z.number().int().meta({ description: 'FUNCTION_HOSTS_MEMORY_BUDGET_MB of this worker (default: half of its memory or cgroup limit), MiB', example: 12048 }),
  /** Sum of the declared memory_mb of its live hosts (starting, busy, idle, or being stopped), MiB. */
  reserved_mb: z.number().int().meta({ description: "Sum of the live function processes' declared memory_mb, MiB; never above budget_mb", example: 512 }),
  /** Measured: summed VmRSS of the hosts' process trees, MiB (rounded up); null where /proc is not available. */
  rss_mb: z.number().int().nullable().meta({ description: 'Measured: summed resident set size of those processes and their children, MiB; null where /proc is unavailable', example: 161 }),
  /** Live host processes. */
  hosts: z.number().int().meta({ description: 'Live function processes (warm hosts)' }),
  /** Of those, idle ones (evicted least recently used first when a new host needs their memory). */
  idle_hosts: z.number().int().meta({ description: 'Of those, idle ones: stopped least recently used first when a new process needs their memory, or after FUNCTION_HOST_IDLE_MS' }),
});
export type FunctionHostsUsage = z.infer<typeof FunctionHostsUsageSchema>;

/** One worker's registry entry as the worker writes it (JSON under `keys.worker(id)`). */
export const StoredWorkerSchema = z.object({
  /** The worker id (WORKER_ID, default `<hostname>:<pid>-<suffix>`), also the BullMQ worker name. */
  id: z.string().meta({ example: 'worker-7f9c:4242-3fa2c1', description: 'The worker id: WORKER_ID (a Kubernetes pod name), or by default `<hostname>:<pid>-<6 random hex>`; also the BullMQ worker name' }),
  state: WorkerStateSchema.meta({ description: 'What the worker last reported; `stopped` after a graceful shutdown (then `offline`)' }),
  host: z.string(),
  pid: z.number().int(),
  labels: z.record(z.string(), z.string()).meta({ example: { pool: 'gpu', region: 'eu' } }),
  /** WORKER_CONCURRENCY. */
  concurrency: z.number().int().meta({ description: 'WORKER_CONCURRENCY' }),
  /** Warm runner children (RUNNER_POOL_SIZE). */
  runners: z.number().int().meta({ description: 'Warm runner children (RUNNER_POOL_SIZE)' }),
  /** Ids of the jobs this worker runs now. */
  active_jobs: z.array(z.string()).meta({ description: 'Ids of the jobs running on this worker at its last heartbeat' }),
  /** Jobs this worker finished since it started: completed, and failed (the algorithm failed or timed out). */
  jobs_processed: z.object({ completed: z.number().int(), failed: z.number().int() }),
  resources: WorkerResourceFiguresSchema.meta({ description: "the container management API reference's /metrics/resources names" }),
  /** Its warm function hosts and their memory budget (absent from entries of older workers). */
  function_hosts: FunctionHostsUsageSchema.optional().meta({
    description: 'Its warm function processes against their memory budget (docs/functions.md, "Warm processes"); absent from entries of older workers',
  }),
  /** ISO 8601 with `+00:00`, like job records. */
  started_at: z.string().meta({ example: '2026-11-21T12:00:00.000+00:00' }),
  last_heartbeat: z.string().meta({ example: '2026-11-21T12:05:00.000+00:00' }),
  /** WORKER_HEARTBEAT_MS of this worker. */
  heartbeat_interval_ms: z.number().int(),
  /** The worker's own offline bound (WORKER_OFFLINE_AFTER_MS), so every API process judges it alike. */
  offline_after_ms: z.number().int(),
});
export type StoredWorker = z.infer<typeof StoredWorkerSchema>;

/** A worker as `GET /workers` shows it: the stored entry with its status judged at read time (documented right after `id`). */
export const PublicWorkerSchema = z
  .object({ id: StoredWorkerSchema.shape.id, status: WorkerStatusSchema, ...StoredWorkerSchema.omit({ id: true }).shape })
  .meta({ id: 'Worker' });
export type PublicWorker = z.infer<typeof PublicWorkerSchema>;

/** Filters and paging of the registry's list (the API's `GET /workers` query, parsed). */
export const WorkerFilterSchema = z.object({
  status: WorkerStatusSchema.optional(),
  /** Every pair must match. */
  labels: z.record(z.string(), z.string()).optional(),
  limit: z.number().int().min(1),
  offset: z.number().int().min(0),
});
export type WorkerQuery = z.infer<typeof WorkerFilterSchema>;

/** One page of workers, newest heartbeat first (`GET /workers`). */
export const WorkerPageSchema = z
  .object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int(), items: z.array(PublicWorkerSchema) })
  .meta({ id: 'WorkerList' });
export type WorkerPage = z.infer<typeof WorkerPageSchema>;

/** `GET /workers/{worker_id}/resources`: the container management API reference's `/metrics/resources` figures for one worker, from its last heartbeat. */
export const WorkerResourcesReportSchema = z
  .object({
    worker_id: z.string().meta({ example: 'worker-7f9c:4242' }),
    status: WorkerStatusSchema,
    ...WorkerResourceFiguresSchema.shape,
    cpu_usage: WorkerResourceFiguresSchema.shape.cpu_usage.meta({ description: 'Percent of one core over the last heartbeat interval (may pass 100)', example: 12.5 }),
    last_heartbeat: StoredWorkerSchema.shape.last_heartbeat.meta({ example: '2026-11-21T12:05:00.000+00:00', description: 'When these figures were taken' }),
  })
  .meta({ id: 'WorkerResources' });
