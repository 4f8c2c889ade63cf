import type { Request } from 'express';
import { z } from 'zod';
import { AppError, validationError } from '../../shared/errors/index.js';
import type { ScheduleService } from '../services/schedule-service.js';
import {
  AlgorithmTargetSchema,
  CommandTargetSchema,
  FunctionTargetSchema,
  ScheduleCreateSchema,
  ScheduleIdParamsSchema,
  ScheduleListSchema,
  SchedulePageQueryDocSchema,
  SchedulePageQuerySchema,
  ScheduleRunListSchema,
  ScheduleSchema,
  ScheduleUpdateSchema,
} from '../schemas/schedules.js';
import { errors, json, located } from './responses.js';
import { route, type Route, type RouteServices } from './route.js';

/**
 * A zod error with the `target` union's "Invalid input" replaced by the issues of the branch the
 * caller meant: a target with `function_id` is a function target, any other object an algorithm
 * target (so `target.params is required`, not `target Invalid input`).
 */
function withTargetIssues(err: z.ZodError, body: Record<string, unknown>): z.ZodError {
  const target = body.target;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return err;
  const branch = Object.hasOwn(target, 'function_id') ? FunctionTargetSchema : Object.hasOwn(target, 'command') ? CommandTargetSchema : AlgorithmTargetSchema;
  const issues = err.issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.path.length !== 1 || issue.path[0] !== 'target') return [issue];
    const parsed = branch.safeParse(target);
    return parsed.success ? [issue] : parsed.error.issues.map((i) => ({ ...i, path: ['target', ...i.path] }));
  });
  return new z.ZodError(issues);
}

/**
 * Parses a schedule body with `schema`.
 * @throws AppError VALIDATION_ERROR naming the field (`target.params`, `every_ms`, an unknown key...), or `body`.
 */
function parseScheduleBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('VALIDATION_ERROR', 'request body must be a JSON object', { field: 'body' });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(withTargetIssues(parsed.error, body as Record<string, unknown>), body);
  return parsed.data;
}

/** The schedule service, or 503 when the app was built without Redis (unit tests). */
function need(services: RouteServices): ScheduleService {
  if (!services.schedules) throw new AppError('SERVICE_UNAVAILABLE', 'schedules are not available');
  return services.schedules;
}

const idOf = (req: Request) => String(req.params.schedule_id);
const page = { schema: SchedulePageQuerySchema, doc: SchedulePageQueryDocSchema };
const scheduleErrors = errors(
  [400, 'VALIDATION_ERROR (details.field: cron, every_ms, timezone, target.params..., or an unknown key)'],
  [404, 'ALGORITHM_NOT_FOUND (details.available_algorithms) or FUNCTION_NOT_FOUND'],
  [409, 'CONFLICT: the name is taken (details.name)'],
  [503, 'SERVICE_UNAVAILABLE'],
);

/**
 * `/schedules` (docs/operations.md#schedules): create, list, read, update, delete, enable and disable
 * cron and interval schedules (BullMQ job schedulers), and list their runs.
 */
export const SCHEDULE_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/schedules',
    operationId: 'createSchedule',
    access: 'write',
    tag: 'schedules',
    body: 'json',
    summary: 'Create a schedule',
    description:
      'Runs `target` on a cron expression (in `timezone`, default UTC) or every `every_ms` (the first run at once); exactly one of the two. Each run is an ordinary async job with `schedule_id`, listed by GET /schedules/{schedule_id}/jobs. ' +
      'The target is validated as POST /jobs validates a job.',
    request: { body: { schema: ScheduleCreateSchema } },
    responses: { 201: located(ScheduleSchema, 'Created', '/schedules/{schedule_id}'), ...scheduleErrors },
    handler: async ({ req, res, services }) => {
      const body = parseScheduleBody(ScheduleCreateSchema, req.body);
      const schedule = await need(services).create(body, req.requestId);
      res.status(201).location(`/schedules/${schedule.schedule_id}`).json(schedule);
    },
  }),
  route({
    method: 'get',
    path: '/schedules',
    operationId: 'listSchedules',
    access: 'read',
    tag: 'schedules',
    summary: 'List schedules, newest first',
    request: { query: page },
    responses: { 200: json(ScheduleListSchema, 'A page of schedules'), ...errors([400, 'VALIDATION_ERROR (bad limit or offset, or an unknown parameter)'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ res, services, query }) => {
      res.json(await need(services).list(query));
    },
  }),
  route({
    method: 'get',
    path: '/schedules/{schedule_id}',
    operationId: 'getSchedule',
    access: 'read',
    tag: 'schedules',
    summary: 'Read a schedule',
    request: { params: ScheduleIdParamsSchema },
    responses: { 200: json(ScheduleSchema, 'The schedule'), ...errors([404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).get(idOf(req)));
    },
  }),
  route({
    method: 'put',
    path: '/schedules/{schedule_id}',
    operationId: 'updateSchedule',
    access: 'write',
    tag: 'schedules',
    body: 'json',
    summary: 'Update a schedule',
    description:
      'The fields of POST, all optional, merged onto the schedule and validated again. `target` replaces the whole target; `cron` or `every_ms` replaces the timing; `null` clears an optional field. A changed timing, target or option re-upserts the job scheduler.',
    request: { params: ScheduleIdParamsSchema, body: { schema: ScheduleUpdateSchema } },
    responses: { 200: json(ScheduleSchema, 'The updated schedule'), ...scheduleErrors, ...errors([404, 'SCHEDULE_NOT_FOUND, ALGORITHM_NOT_FOUND or FUNCTION_NOT_FOUND']) },
    handler: async ({ req, res, services }) => {
      const body = parseScheduleBody(ScheduleUpdateSchema, req.body);
      res.json(await need(services).update(idOf(req), body, req.requestId));
    },
  }),
  route({
    method: 'delete',
    path: '/schedules/{schedule_id}',
    operationId: 'deleteSchedule',
    access: 'write',
    tag: 'schedules',
    summary: 'Delete a schedule and its job scheduler',
    description: 'Runs already made stay, as job records with their TTL.',
    request: { params: ScheduleIdParamsSchema },
    responses: { 204: { description: 'Deleted' }, ...errors([404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      await need(services).remove(idOf(req));
      res.status(204).end();
    },
  }),
  route({
    method: 'post',
    path: '/schedules/{schedule_id}/enable',
    operationId: 'enableSchedule',
    access: 'write',
    tag: 'schedules',
    summary: 'Enable a schedule (upserts its job scheduler); idempotent',
    request: { params: ScheduleIdParamsSchema },
    responses: { 200: json(ScheduleSchema, 'The schedule'), ...errors([404, 'SCHEDULE_NOT_FOUND, or ALGORITHM_NOT_FOUND when its algorithm is no longer served'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).setEnabled(idOf(req), true, req.requestId));
    },
  }),
  route({
    method: 'post',
    path: '/schedules/{schedule_id}/disable',
    operationId: 'disableSchedule',
    access: 'write',
    tag: 'schedules',
    summary: 'Disable a schedule (removes its job scheduler and its next run not yet started); idempotent',
    request: { params: ScheduleIdParamsSchema },
    responses: { 200: json(ScheduleSchema, 'The schedule'), ...errors([404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).setEnabled(idOf(req), false, req.requestId));
    },
  }),
  route({
    method: 'get',
    path: '/schedules/{schedule_id}/jobs',
    operationId: 'listScheduleRuns',
    access: 'read',
    tag: 'schedules',
    summary: "A schedule's runs, newest first",
    description: 'Job records with `schedule_id`, paged as GET /jobs pages; each run is recorded when it starts, and kept RESULT_TTL_SECONDS.',
    request: { params: ScheduleIdParamsSchema, query: page },
    responses: { 200: json(ScheduleRunListSchema, 'A page of runs'), ...errors([400, 'VALIDATION_ERROR (bad limit or offset, or an unknown parameter)'], [404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services, query }) => {
      res.json(await need(services).runs(idOf(req), query));
    },
  }),
];
