import { z } from 'zod';
import { parseBody } from '../../middleware/validate.js';
import { IdAnswerSchema, JobDefinitionCreateSchema, JobDefinitionSchema, JobDefinitionUpdateSchema, JobRunAnswerSchema, JobRunSchema, ListBodySchema, pageSchema } from '../../schemas/v1-scheduler.js';
import { json } from '../responses.js';
import { route, type Route, type RouteServices } from '../route.js';
import { AUTH_ERRORS, hetuErrors } from './error-shape.js';
import { hetu, idOf, limitOf } from './common.js';

const params = z.object({ id: z.string().openapi({ example: '550e8400-e29b-41d4-a716-446655440000' }) });
const tag = 'v1 jobs';
const notFound = hetuErrors([404, 'NOT_FOUND: no such job definition (or it is in a namespace outside the credential)']);
const invalid = hetuErrors([400, 'VALIDATION_ERROR: a field is missing or out of bounds (details names it)']);

/** Removes a definition's schedules (when the schedules adapter is wired) before the definition goes. */
async function removeSchedules(services: RouteServices, id: string): Promise<void> {
  const schedules = services.hetuflowSchedules;
  if (!schedules) return;
  await schedules.removeAllOf(id);
}

/**
 * The job definitions of the hetuflow scheduler API (docs/compat-hetuflow.md#job-definitions):
 * paged listing, create, read, update, delete, enable and disable, and (an fnqueue extension) running
 * one now.
 */
export const V1_JOB_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/api/v1/jobs/page',
    operationId: 'v1PageJobs',
    access: 'read',
    tag,
    body: 'json',
    summary: 'List job definitions (filter and page)',
    description: 'Filters: id, namespace_id, name, status (enabled/disabled or 1/0), created_at, updated_at; each with eq, gte, lte (times), in. Newest first.',
    request: { body: { schema: ListBodySchema } },
    responses: { 200: json(pageSchema(JobDefinitionSchema, 'HetuflowJobPage'), 'A page of job definitions'), ...invalid, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).listDefinitions(req.body, limitOf(req)));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/jobs/item',
    operationId: 'v1CreateJob',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Create a job definition',
    description: '`config.cmd` is required; defaults: timeout 3600 s, max_retries 0, retry_interval 60 s, args [], capture_output true, max_output_size 1048576. Answers 200 `{id}` as the reference does.',
    request: { body: { schema: JobDefinitionCreateSchema } },
    responses: { 200: json(IdAnswerSchema, 'Created'), ...invalid, ...hetuErrors([409, 'CONFLICT: MAX_JOB_DEFINITIONS exist']), ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      const body = parseBody(JobDefinitionCreateSchema, req.body);
      res.status(200).json(await hetu(services).createDefinition(body, limitOf(req)));
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/jobs/item/{id}',
    operationId: 'v1GetJob',
    access: 'read',
    tag,
    summary: 'Read a job definition',
    request: { params },
    responses: { 200: json(JobDefinitionSchema, 'The definition'), ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).getDefinition(idOf(req), limitOf(req)));
    },
  }),
  route({
    method: 'put',
    path: '/api/v1/jobs/item/{id}',
    operationId: 'v1UpdateJob',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Update a job definition',
    description: 'Fields given replace the stored ones; `config` is merged field by field; `null` clears description or environment. Schedules run the new definition from their next run.',
    request: { params, body: { schema: JobDefinitionUpdateSchema } },
    responses: { 200: json(JobDefinitionSchema, 'The updated definition'), ...invalid, ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      const body = parseBody(JobDefinitionUpdateSchema, req.body);
      const updated = await hetu(services).updateDefinition(idOf(req), body, limitOf(req));
      await services.hetuflowSchedules?.refreshAllOf(updated.id);
      res.json(updated);
    },
  }),
  route({
    method: 'delete',
    path: '/api/v1/jobs/item/{id}',
    operationId: 'v1DeleteJob',
    access: 'write',
    tag,
    summary: 'Delete a job definition and its schedules',
    description: 'Its tasks stay, as job records with their TTL.',
    request: { params },
    responses: { 200: json(IdAnswerSchema, 'Deleted'), ...notFound, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      const id = idOf(req);
      await hetu(services).getDefinition(id, limitOf(req));
      await removeSchedules(services, id);
      await hetu(services).deleteDefinition(id, limitOf(req));
      res.json({ id });
    },
  }),
  ...(['enable', 'disable'] as const).map((action) =>
    route({
      method: 'post',
      path: `/api/v1/jobs/item/{id}/${action}`,
      operationId: action === 'enable' ? 'v1EnableJob' : 'v1DisableJob',
      access: 'write',
      tag,
      summary: action === 'enable' ? 'Enable a job definition' : 'Disable a job definition (and its schedules)',
      description:
        action === 'enable'
          ? 'Idempotent. Its schedules stay as they are: enable them with POST /api/v1/schedules/item/{id}/enable.'
          : 'Idempotent. Its schedules are disabled too, and running it now is refused (409) until it is enabled.',
      request: { params },
      responses: { 200: json(JobDefinitionSchema, 'The definition'), ...notFound, ...AUTH_ERRORS },
      handler: async ({ req, res, services }) => {
        const def = await hetu(services).setDefinitionStatus(idOf(req), action === 'enable' ? 'enabled' : 'disabled', limitOf(req));
        if (action === 'disable') await services.hetuflowSchedules?.disableAllOf(def.id);
        res.json(def);
      },
    }),
  ),
  route({
    method: 'post',
    path: '/api/v1/jobs/item/{id}/run',
    operationId: 'v1RunJob',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Run a job definition now (an fnqueue extension): a new task',
    description:
      'Submits the definition as a command job (docs/commands.md), as POST /jobs does: its task, listed by POST /api/v1/tasks/page and readable at GET /jobs/{job_id}. The body may be empty; `depends_on` names tasks this run waits for. A disabled definition answers 409.',
    request: { params, body: { schema: JobRunSchema } },
    responses: {
      201: json(JobRunAnswerSchema, 'The task, pending'),
      ...hetuErrors([400, 'VALIDATION_ERROR: a bad depends_on'], [403, 'FORBIDDEN: the command is not on COMMAND_ALLOWLIST, or the credential lacks the scope or namespace'], [404, 'NOT_FOUND: no such job definition'], [409, 'CONFLICT: the definition is disabled'], [503, 'SERVICE_UNAVAILABLE: the queue is full or Redis does not answer']),
      401: AUTH_ERRORS[401]!,
    },
    handler: async ({ req, res, services }) => {
      const body = req.body === undefined ? {} : parseBody(JobRunSchema, req.body);
      const task = await hetu(services).runDefinition(idOf(req), body, limitOf(req), req.requestId);
      res.status(201).location(`/jobs/${task.id}`).json(task);
    },
  }),
];
