import { z } from 'zod';
import { AppError, isRedisUnavailable } from '../../shared/errors/index.js';
import { serverInfo } from '../../shared/store/channels.js';
import type { WorkerRegistry } from '../../shared/store/worker-registry.js';
import '../schemas/jobs.js'; // extends zod with .openapi()
import { errors, json } from './responses.js';
import { route, type CountedQueue, type Route, type StatusSource } from './route.js';

export type { CountedQueue, StatusSource } from './route.js';

/** The job states `GET /status` counts per queue, with BullMQ's names (`waiting-children` is `waiting_children` in the body). */
const COUNTED_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children'] as const;

/** Jobs per state of one BullMQ queue, read with `Queue.getJobCounts`. */
export const QueueCountsSchema = z
  .object({
    waiting: z.number().int().openapi({ description: 'Jobs in the wait list (BullMQ 6 keeps the jobs of a paused queue there too)' }),
    active: z.number().int().openapi({ description: 'Jobs a worker runs now' }),
    delayed: z.number().int(),
    prioritized: z.number().int(),
    completed: z.number().int().openapi({ description: 'Completed jobs BullMQ still keeps (removeOnComplete trims them)' }),
    failed: z.number().int().openapi({ description: 'Failed jobs BullMQ still keeps (removeOnFail trims them)' }),
    paused: z.number().int().openapi({ description: '`waiting` when the queue is paused, else 0 (BullMQ 6 has no paused list: a subset of `waiting`, never added to it)' }),
    waiting_children: z.number().int(),
  })
  .openapi('QueueCounts');

/** `GET /status`: the whole deployment at a glance, every figure read when asked. */
export const StatusSchema = z
  .object({
    status: z.literal('running').openapi({ description: 'This API process runs (the project FaaS API reference)' }),
    version: z.string().openapi({ example: '0.1.0', description: 'This API process\'s version (package.json)' }),
    timestamp: z.number().openapi({ description: 'Unix time in seconds', example: 1706868000.123 }),
    uptime_seconds: z.number().openapi({ description: 'Seconds since this API process started' }),
    queues: z.record(z.string(), QueueCountsSchema).openapi({
      description: 'Per BullMQ queue: the jobs queue of every pool jobs were submitted to (`jobs`, `jobs-<pool>`), then `webhooks`',
    }),
    queue_depth: z.number().int().openapi({ description: 'waiting + delayed + prioritized + active, summed over the jobs queues (not webhooks)' }),
    workers: z
      .object({ online: z.number().int(), offline: z.number().int(), total: z.number().int() })
      .openapi({ description: 'Worker processes in the registry (GET /workers): online while heartbeats arrive; offline ones stay until WORKER_FORGET_AFTER_MS' }),
    redis: z
      .object({
        version: z.string().nullable().openapi({ example: '7.2.4' }),
        used_memory_bytes: z.number().int().nullable(),
        used_memory_peak_bytes: z.number().int().nullable(),
        maxmemory_bytes: z.number().int().nullable().openapi({ description: '0: no limit' }),
        connected_clients: z.number().int().nullable(),
        uptime_seconds: z.number().int().nullable(),
      })
      .openapi({ description: 'From Redis INFO (redis_version, used_memory, used_memory_peak, maxmemory, connected_clients, uptime_in_seconds); null where this Redis does not report a field' }),
    memory: z
      .object({ rss_bytes: z.number().int(), heap_used_bytes: z.number().int() })
      .openapi({ description: 'This API process (process.memoryUsage)' }),
    // The project FaaS API reference's /status fields: projects and functions, read live (ProjectService.counts).
    uptime: z.string().openapi({ example: '2h 30m', description: 'uptime_seconds as the project FaaS API reference writes it' }),
    memory_usage: z.string().openapi({ example: '256MB', description: 'memory.rss_bytes as the project FaaS API reference writes it (MiB, rounded)' }),
    active_projects: z.number().int().openapi({ description: 'Projects running (not stopped), `default` included' }),
    total_functions: z.number().int().openapi({ description: 'Functions deployed, every project' }),
    projects: z
      .object({ total: z.number().int(), running: z.number().int(), stopped: z.number().int() })
      .openapi({ description: 'Projects (GET /projects), `default` included' }),
  })
  .openapi('Status');

/** The `GET /status` body. */
export type StatusBody = z.infer<typeof StatusSchema>;

/** Everything {@link readStatus} needs. */
export interface StatusOptions extends StatusSource {
  workers: Pick<WorkerRegistry, 'list'>;
  /** This process's version (package.json). */
  version: string;
}

/** Parses Redis `INFO` text (`key:value` lines, `#` section headers) into a map. */
export function parseRedisInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** Seconds as the project FaaS API reference's uptime: `2h 30m`, `3d 4h 5m`, `42s` under a minute. */
export function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [d ? `${d}d` : '', d || h ? `${h}h` : '', `${m}m`].filter(Boolean).join(' ');
}

/** An integer field of INFO, or null when absent or not a number. */
function infoInt(fields: Map<string, string>, name: string): number | null {
  const raw = fields.get(name);
  if (raw === undefined || !/^\d+$/.test(raw)) return null;
  return Number(raw);
}

/** One queue's counts per state, with `paused` as documented in {@link QueueCountsSchema}. */
async function countQueue(queue: CountedQueue): Promise<z.infer<typeof QueueCountsSchema>> {
  const [counts, paused] = await Promise.all([queue.getJobCounts(...COUNTED_STATES), queue.isPaused()]);
  const n = (state: (typeof COUNTED_STATES)[number]) => counts[state] ?? 0;
  return {
    waiting: n('waiting'),
    active: n('active'),
    delayed: n('delayed'),
    prioritized: n('prioritized'),
    completed: n('completed'),
    failed: n('failed'),
    paused: paused ? n('waiting') : 0,
    waiting_children: n('waiting-children'),
  };
}

/**
 * Reads the `GET /status` body: queue counts (one getJobCounts and one isPaused per queue), the
 * worker registry, Redis INFO, and this process's memory, all at once.
 * @throws whatever Redis throws (the route turns an unreachable Redis into 503).
 */
export async function readStatus(opts: StatusOptions): Promise<StatusBody> {
  const jobQueues = await opts.jobQueues.all();
  const [jobCounts, otherCounts, workers, info, projectCounts] = await Promise.all([
    Promise.all(jobQueues.map(countQueue)),
    Promise.all(opts.otherQueues.map(countQueue)),
    opts.workers.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 }),
    serverInfo(opts.redis),
    opts.projects.counts(),
  ]);
  const queues: Record<string, z.infer<typeof QueueCountsSchema>> = {};
  // A pool's queues in every shard (QUEUE_SHARDS) share its name: their counts are summed.
  jobQueues.forEach((q, i) => {
    const counts = jobCounts[i]!;
    const sum = queues[q.name];
    queues[q.name] = sum ? (Object.fromEntries(Object.entries(sum).map(([state, n]) => [state, n + counts[state as keyof typeof counts]])) as typeof counts) : counts;
  });
  opts.otherQueues.forEach((q, i) => (queues[q.name] = otherCounts[i]!));
  const online = workers.items.filter((w) => w.status === 'online').length;
  const fields = parseRedisInfo(info);
  const memory = process.memoryUsage();
  return {
    status: 'running',
    version: opts.version,
    timestamp: Date.now() / 1000,
    uptime_seconds: process.uptime(),
    queues,
    queue_depth: jobCounts.reduce((sum, c) => sum + c.waiting + c.delayed + c.prioritized + c.active, 0),
    workers: { online, offline: workers.items.length - online, total: workers.items.length },
    redis: {
      version: fields.get('redis_version') ?? null,
      used_memory_bytes: infoInt(fields, 'used_memory'),
      used_memory_peak_bytes: infoInt(fields, 'used_memory_peak'),
      maxmemory_bytes: infoInt(fields, 'maxmemory'),
      connected_clients: infoInt(fields, 'connected_clients'),
      uptime_seconds: infoInt(fields, 'uptime_in_seconds'),
    },
    memory: { rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed },
    uptime: formatUptime(process.uptime()),
    memory_usage: `${Math.round(memory.rss / 1024 / 1024)}MB`,
    active_projects: projectCounts.running,
    total_functions: projectCounts.functions,
    projects: { total: projectCounts.total, running: projectCounts.running, stopped: projectCounts.stopped },
  };
}

/**
 * GET /status (docs/operations.md#status-and-dashboard; the project FaaS API reference's `/status` with
 * fnqueue's figures): see {@link StatusSchema}. Redis unreachable: 503 SERVICE_UNAVAILABLE. Without
 * a status source or worker registry (an app built without Redis, in unit tests): 503 as well.
 */
export const STATUS_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/status',
    operationId: 'getStatus',
    access: 'read',
    tag: 'operations',
    summary: 'Deployment status: queues, workers, Redis and this API process',
    description: "Every figure is read when asked: job counts per BullMQ queue (getJobCounts), the worker registry, Redis INFO, this process's memory.",
    responses: { 200: json(StatusSchema, 'The status'), ...errors([503, 'SERVICE_UNAVAILABLE (Redis cannot be reached)']) },
    handler: async ({ res, services }) => {
      if (!services.status || !services.workers) throw new AppError('SERVICE_UNAVAILABLE', 'status is not available (no Redis configured)');
      let body: StatusBody;
      try {
        body = await readStatus({ ...services.status, workers: services.workers, version: services.version });
      } catch (err) {
        if (isRedisUnavailable(err)) throw new AppError('SERVICE_UNAVAILABLE', 'Redis cannot be reached: status cannot be read, retry later', { dependency: 'redis' }, { cause: err });
        throw err;
      }
      res.json(body);
    },
  }),
];
