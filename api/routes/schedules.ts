import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError, validationError } from '../../shared/errors.js';
import type { ScheduleService } from '../schedule-service.js';
import { AlgorithmTargetSchema, FunctionTargetSchema, ScheduleCreateSchema, SchedulePageQuerySchema, ScheduleUpdateSchema } from '../schedule-schemas.js';

/**
 * A zod error with the `target` union's "Invalid input" replaced by the issues of the branch the
 * caller meant: a target with `function_id` is a function target, any other object an algorithm
 * target (so `target.params is required`, not `target Invalid input`).
 */
function withTargetIssues(err: z.ZodError, body: Record<string, unknown>): z.ZodError {
  const target = body.target;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return err;
  const branch = Object.hasOwn(target, 'function_id') ? FunctionTargetSchema : AlgorithmTargetSchema;
  const issues = err.issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.path.length !== 1 || issue.path[0] !== 'target') return [issue];
    const parsed = branch.safeParse(target);
    return parsed.success ? [issue] : parsed.error.issues.map((i) => ({ ...i, path: ['target', ...i.path] }));
  });
  return new z.ZodError(issues);
}

/**
 * Parses a schedule body with `schema`.
 * @throws AppError VALIDATION_ERROR naming the field (`target.params`, `every_ms`...), or `body`.
 */
function parseScheduleBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('VALIDATION_ERROR', 'request body must be a JSON object', { field: 'body' });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(withTargetIssues(parsed.error, body as Record<string, unknown>), body);
  return parsed.data;
}

/**
 * Parses `limit` and `offset`.
 * @throws AppError VALIDATION_ERROR for a bad value or an unknown parameter (as GET /workers).
 */
function parsePage(req: Request): { limit: number; offset: number } {
  const query = { ...(req.query as Record<string, unknown>) };
  const known = Object.keys(SchedulePageQuerySchema.shape);
  const unknown = Object.keys(query).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    throw new AppError('VALIDATION_ERROR', `unknown query parameter '${unknown.slice(0, 100)}' (known: ${known.join(', ')})`, { field: unknown.slice(0, 100) });
  }
  const parsed = SchedulePageQuerySchema.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error, query);
  return parsed.data;
}

/**
 * `/schedules` (issue 4): create, list, read, update, delete, enable and disable schedules, and list
 * their runs. `schedules` unset (an app built without Redis, in unit tests): 503.
 */
export function schedulesRouter(schedules: ScheduleService | undefined): Router {
  const router = Router();
  const need = (): ScheduleService => {
    if (!schedules) throw new AppError('SERVICE_UNAVAILABLE', 'schedules are not available');
    return schedules;
  };

  router.post('/schedules', async (req, res) => {
    const body = parseScheduleBody(ScheduleCreateSchema, req.body);
    const schedule = await need().create(body, req.requestId);
    res.status(201).location(`/schedules/${schedule.schedule_id}`).json(schedule);
  });

  router.get('/schedules', async (req, res) => {
    res.json(await need().list(parsePage(req)));
  });

  router.get('/schedules/:schedule_id', async (req, res) => {
    res.json(await need().get(req.params.schedule_id));
  });

  router.put('/schedules/:schedule_id', async (req, res) => {
    const body = parseScheduleBody(ScheduleUpdateSchema, req.body);
    res.json(await need().update(req.params.schedule_id, body, req.requestId));
  });

  router.delete('/schedules/:schedule_id', async (req, res) => {
    await need().remove(req.params.schedule_id);
    res.status(204).end();
  });

  router.post('/schedules/:schedule_id/enable', async (req, res) => {
    res.json(await need().setEnabled(req.params.schedule_id, true, req.requestId));
  });

  router.post('/schedules/:schedule_id/disable', async (req, res) => {
    res.json(await need().setEnabled(req.params.schedule_id, false, req.requestId));
  });

  router.get('/schedules/:schedule_id/jobs', async (req, res) => {
    const page = parsePage(req);
    res.json(await need().runs(req.params.schedule_id, page));
  });

  return router;
}
