import { z } from 'zod';
import { AppError } from '../../../shared/errors/index.js';
import { parseBody } from '../../middleware/validate.js';
import { IdAnswerSchema, ListBodySchema, pageSchema, ScheduleV1CreateSchema, ScheduleV1Schema, ScheduleV1UpdateSchema } from '../../schemas/v1-scheduler.js';
import type { HetuflowScheduleService } from '../../services/hetuflow-schedules.js';
import { json } from '../responses.js';
import { route, type Route, type RouteServices } from '../route.js';
import { AUTH_ERRORS, hetuErrors } from './error-shape.js';
import { idOf, limitOf } from './common.js';

const params = z.object({ id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: 'The schedule id (also the native GET /schedules/{schedule_id})' }) });
const tag = 'v1 schedules';
const notFound = hetuErrors([404, 'NOT_FOUND: no such schedule (or it is in a namespace outside the credential)']);

/** The schedules adapter, or 503 when the app was built without Redis (unit tests). */
function need(services: RouteServices): HetuflowScheduleService {
  if (!services.hetuflowSchedules) throw new AppError('SERVICE_UNAVAILABLE', 'schedules are not available');
  return services.hetuflowSchedules;
}

/** Schedules of job definitions (docs/compat-hetuflow.md#schedules): native schedules running the definition's command. */
export const V1_SCHEDULE_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/api/v1/schedules/page',
    operationId: 'v1PageSchedules',
    access: 'read',
    tag,
    body: 'json',
    summary: 'List schedules of job definitions (filter and page)',
    description: 'Filters: id, job_id, namespace_id, name, kind (cron 1, interval 2), enabled (true/false), status (enabled 1, disabled 0), created_at, updated_at. Newest first.',
    request: { body: { schema: ListBodySchema } },
    responses: { 200: json(pageSchema(ScheduleV1Schema, 'HetuflowSchedulePage'), 'A page of schedules'), ...hetuErrors([400, 'VALIDATION_ERROR: a bad filter or page']), ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).list(req.body, limitOf(req)));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/schedules/item',
    operationId: 'v1CreateSchedule',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Create a schedule of a job definition',
    description:
      '`kind` cron (1) with `cron_expression` (5 fields, or 6 with seconds first, in `timezone`, default UTC), or interval (2) with `interval_secs` (the first run at once). Each run is a task of the definition. Answers 200 with the schedule (its `id` first).',
    request: { body: { schema: ScheduleV1CreateSchema } },
    responses: {
      200: json(ScheduleV1Schema, 'Created'),
      ...hetuErrors([400, 'VALIDATION_ERROR: a bad timing or field'], [404, 'NOT_FOUND: no such job definition'], [409, 'CONFLICT: the name is taken, or MAX_SCHEDULES exist']),
      ...AUTH_ERRORS,
    },
    handler: async ({ req, res, services }) => {
      const body = parseBody(ScheduleV1CreateSchema, req.body);
      res.json(await need(services).create(body, limitOf(req), req.requestId));
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/schedules/item/{id}',
    operationId: 'v1GetSchedule',
    access: 'read',
    tag,
    summary: 'Read a schedule',
    request: { params },
    responses: { 200: json(ScheduleV1Schema, 'The schedule'), ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).get(idOf(req), limitOf(req)));
    },
  }),
  route({
    method: 'put',
    path: '/api/v1/schedules/item/{id}',
    operationId: 'v1UpdateSchedule',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Update a schedule: name, description, timing, enabled',
    request: { params, body: { schema: ScheduleV1UpdateSchema } },
    responses: { 200: json(ScheduleV1Schema, 'The schedule'), ...hetuErrors([400, 'VALIDATION_ERROR: a bad timing or field']), ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      const body = parseBody(ScheduleV1UpdateSchema, req.body);
      res.json(await need(services).update(idOf(req), body, limitOf(req), req.requestId));
    },
  }),
  route({
    method: 'delete',
    path: '/api/v1/schedules/item/{id}',
    operationId: 'v1DeleteSchedule',
    access: 'write',
    tag,
    summary: 'Delete a schedule (its tasks stay)',
    request: { params },
    responses: { 200: json(IdAnswerSchema, 'Deleted'), ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      const id = idOf(req);
      await need(services).remove(id, limitOf(req));
      res.json({ id });
    },
  }),
  ...(['enable', 'disable'] as const).map((action) =>
    route({
      method: 'post',
      path: `/api/v1/schedules/item/{id}/${action}`,
      operationId: action === 'enable' ? 'v1EnableSchedule' : 'v1DisableSchedule',
      access: 'write',
      tag,
      summary: action === 'enable' ? 'Enable a schedule (its definition must be enabled)' : 'Disable a schedule',
      description: 'Idempotent.',
      request: { params },
      responses: { 200: json(ScheduleV1Schema, 'The schedule'), ...notFound, ...(action === 'enable' ? hetuErrors([409, 'CONFLICT: its job definition is disabled']) : {}), ...AUTH_ERRORS },
      handler: async ({ req, res, services }) => {
        res.json(await need(services).setEnabled(idOf(req), action === 'enable', limitOf(req), req.requestId));
      },
    }),
  ),
];
