import { Router } from 'express';
import { AppError, validationError, workerNotFound } from '../../shared/errors.js';
import type { WorkerRegistry } from '../../shared/queue/worker-registry.js';
import { WorkerQuerySchema } from '../worker-schemas.js';

// moved: shim kept for the merge
export { workerNotFound } from '../../shared/errors.js';

/**
 * GET /workers, GET /workers/{worker_id} and GET /workers/{worker_id}/resources (the hetuflow scheduler API reference's
 * agents, the container management API reference's resource figures). `registry` unset (an app
 * built without Redis, in unit tests): 503.
 */
export function workersRouter(registry: WorkerRegistry | undefined): Router {
  const router = Router();
  const need = (): WorkerRegistry => {
    if (!registry) throw new AppError('SERVICE_UNAVAILABLE', 'the worker registry is not available');
    return registry;
  };

  router.get('/workers', async (req, res) => {
    const query = { ...req.query };
    const unknown = Object.keys(query).find((k) => !Object.hasOwn(WorkerQuerySchema.shape, k));
    if (unknown !== undefined) {
      throw new AppError('VALIDATION_ERROR', `unknown query parameter '${unknown.slice(0, 100)}' (known: ${Object.keys(WorkerQuerySchema.shape).join(', ')})`, { field: unknown.slice(0, 100) });
    }
    const parsed = WorkerQuerySchema.safeParse(query);
    if (!parsed.success) throw validationError(parsed.error, req.query);
    const { status, label, limit, offset } = parsed.data;
    res.json(await need().list({ status, labels: label, limit, offset }));
  });

  // Ids are `<hostname>:<pid>`; Express decodes the parameter, so `host:1` and `host%3A1` both work.
  router.get('/workers/:worker_id', async (req, res) => {
    const workerId = req.params.worker_id;
    const worker = await need().get(workerId);
    if (!worker) throw workerNotFound(workerId);
    res.json(worker);
  });

  // The container management API reference's GET /metrics/resources, per worker: the figures of its last heartbeat.
  router.get('/workers/:worker_id/resources', async (req, res) => {
    const workerId = req.params.worker_id;
    const worker = await need().get(workerId);
    if (!worker) throw workerNotFound(workerId);
    const { cpu_usage, memory_usage, runners_memory_usage } = worker.resources;
    res.json({ worker_id: worker.id, status: worker.status, cpu_usage, memory_usage, runners_memory_usage, last_heartbeat: worker.last_heartbeat });
  });

  return router;
}
