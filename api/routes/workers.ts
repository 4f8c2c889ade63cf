import { AppError, workerNotFound } from '../../shared/errors/index.js';
import type { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { PublicWorkerSchema, WorkerPageSchema, WorkerResourcesReportSchema } from '../../shared/schemas/worker.js';
import { WorkerQueryDocSchema, WorkerQuerySchema } from '../schemas/workers.js';
import { z } from 'zod';
import { errors, json } from './responses.js';
import { route, type Route, type RouteServices } from './route.js';

/** The worker registry, or 503 when the app was built without Redis (unit tests). */
function need(services: RouteServices): WorkerRegistry {
  if (!services.workers) throw new AppError('SERVICE_UNAVAILABLE', 'the worker registry is not available');
  return services.workers;
}

// Ids are WORKER_ID or `<hostname>:<pid>-<suffix>`; Express decodes the parameter, so `host:1` and `host%3A1` both work.
const workerParams = z.object({ worker_id: z.string().openapi({ example: 'worker-7f9c:4242-3fa2c1', description: 'The worker id (WORKER_ID, or `<hostname>:<pid>-<6 random hex>`); a `:` may be sent as is or as %3A' }) });

/**
 * GET /workers, GET /workers/{worker_id} and GET /workers/{worker_id}/resources (docs/operations.md;
 * the agents of the hetuflow scheduler API reference, the resource figures of the container
 * management API reference).
 */
export const WORKER_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/workers',
    operationId: 'listWorkers',
    access: 'read',
    tag: 'workers',
    summary: 'List worker processes, newest heartbeat first',
    description: 'Each worker heartbeats every WORKER_HEARTBEAT_MS; one silent for its WORKER_OFFLINE_AFTER_MS, or stopped, is `offline`; past WORKER_FORGET_AFTER_MS it leaves the list.',
    request: { query: { schema: WorkerQuerySchema, doc: WorkerQueryDocSchema } },
    responses: { 200: json(WorkerPageSchema, 'A page of workers'), ...errors([400, 'VALIDATION_ERROR'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ res, services, query }) => {
      const { status, label, limit, offset } = query;
      res.json(await need(services).list({ status, labels: label, limit, offset }));
    },
  }),
  route({
    method: 'get',
    path: '/workers/{worker_id}',
    operationId: 'getWorker',
    access: 'read',
    tag: 'workers',
    summary: 'Read one worker',
    request: { params: workerParams },
    responses: { 200: json(PublicWorkerSchema, 'The worker'), ...errors([404, 'WORKER_NOT_FOUND (unknown or aged out)'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      const workerId = String(req.params.worker_id);
      const worker = await need(services).get(workerId);
      if (!worker) throw workerNotFound(workerId);
      res.json(worker);
    },
  }),
  route({
    method: 'get',
    path: '/workers/{worker_id}/resources',
    operationId: 'getWorkerResources',
    access: 'read',
    tag: 'workers',
    summary: "One worker's resource figures",
    description: "CPU and memory of the worker process and its runner children, its work dir's filesystem (statfs) and its network namespace's byte counters (/proc/net/dev), as of its last heartbeat (every WORKER_HEARTBEAT_MS).",
    request: { params: workerParams },
    responses: { 200: json(WorkerResourcesReportSchema, 'The figures'), ...errors([404, 'WORKER_NOT_FOUND (unknown or aged out)'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      const workerId = String(req.params.worker_id);
      const worker = await need(services).get(workerId);
      if (!worker) throw workerNotFound(workerId);
      const { cpu_usage, memory_usage, runners_memory_usage, disk = null, network = null } = worker.resources;
      res.json({ worker_id: worker.id, status: worker.status, cpu_usage, memory_usage, runners_memory_usage, disk, network, last_heartbeat: worker.last_heartbeat });
    },
  }),
];
