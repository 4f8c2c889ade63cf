import { Router, type Request } from 'express';
import { AppError, jobGone, validationError } from '../../shared/errors.js';
import { toPublicRecord } from '../../shared/queue/job-record.js';
import { FunctionInvokeQuerySchema, FunctionJobsQuerySchema, FunctionListQuerySchema, JobLogsQuerySchema } from '../function-schemas.js';
import type { FunctionService } from '../function-service.js';

/** Answer of routes whose service is not configured (an app built without functions). */
function unavailable(): never {
  throw new AppError('SERVICE_UNAVAILABLE', 'functions are not available');
}

function parseQuery<S extends { safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: import('zod').ZodError } }>(schema: S, req: Request) {
  const parsed = schema.safeParse({ ...req.query });
  if (!parsed.success) throw validationError(parsed.error, req.query);
  return parsed.data;
}

/**
 * The functions API (the function API reference): POST/GET /functions, GET/PUT/DELETE /functions/{function_id},
 * POST /functions/{function_id}/invoke (the body is the event; job options and `webhook` in the
 * query), GET /functions/{function_id}/jobs and /metrics; and GET /jobs/{job_id}/logs (the container management API reference's
 * tail/since/until) for the captured output of function jobs.
 */
export function functionsRouter(service?: FunctionService): Router {
  const router = Router();
  const svc = (): FunctionService => service ?? unavailable();
  const idOf = (req: Request) => String(req.params.function_id);

  router.post('/functions', async (req, res) => {
    const fn = await svc().create(req.body);
    res.status(201).location(`/functions/${fn.function_id}`).json(fn);
  });

  router.get('/functions', async (req, res) => {
    const { limit, offset, project } = parseQuery(FunctionListQuerySchema, req) as { limit: number; offset: number; project?: string };
    const page = await svc().list({ limit, offset, project });
    res.json({ functions: page.functions, total: page.total, limit, offset });
  });

  router.get('/functions/:function_id', async (req, res) => {
    res.json(await svc().get(idOf(req)));
  });

  router.put('/functions/:function_id', async (req, res) => {
    res.json(await svc().update(idOf(req), req.body));
  });

  router.delete('/functions/:function_id', async (req, res) => {
    await svc().delete(idOf(req));
    res.status(204).end();
  });

  router.post('/functions/:function_id/invoke', async (req, res) => {
    const query = parseQuery(FunctionInvokeQuerySchema, req) as import('../function-schemas.js').FunctionInvokeQuery;
    // No body: the event is `{}` (as Lambda's console sends); any JSON value is an event.
    const event: unknown = req.body === undefined ? {} : req.body;
    const out = await svc().invoke(idOf(req), event, query, req.requestId);
    if (out.kind === 'async') {
      res.status(202).location(`/jobs/${out.job.job_id}`).json(toPublicRecord(out.job));
      return;
    }
    const { job_id, outcome } = out;
    if (outcome.kind === 'timeout') {
      throw new AppError('TIMEOUT', `the function did not finish within the invocation wait; poll GET /jobs/${job_id} for its result`, { job_id, function_id: idOf(req) });
    }
    if (outcome.kind === 'gone') throw jobGone(job_id);
    res.status(200).location(`/jobs/${job_id}`).json(toPublicRecord(outcome.job));
  });

  router.get('/functions/:function_id/jobs', async (req, res) => {
    const { limit, offset } = parseQuery(FunctionJobsQuerySchema, req) as { limit: number; offset: number };
    const page = await svc().jobs(idOf(req), { limit, offset });
    res.json({ function_id: idOf(req), jobs: page.jobs.map(toPublicRecord), total: page.total, limit, offset });
  });

  router.get('/functions/:function_id/metrics', async (req, res) => {
    res.json(await svc().metrics(idOf(req)));
  });

  router.get('/jobs/:job_id/logs', async (req, res) => {
    const q = parseQuery(JobLogsQuerySchema, req) as { tail?: number; since?: number; until?: number };
    res.json(await svc().logs(String(req.params.job_id), q));
  });

  return router;
}
