import { z } from 'zod';
import { AppError } from '../../../shared/errors/index.js';
import { AgentSchema, HetuflowErrorSchema, ListBodySchema, pageSchema } from '../../schemas/v1-scheduler.js';
import { json } from '../responses.js';
import { route, type Route } from '../route.js';
import { AUTH_ERRORS, hetuErrors } from './error-shape.js';
import { hetu, idOf, limitOf } from './common.js';

const params = z.object({ id: z.string().openapi({ example: 'worker-7f9c:4242', description: 'The worker id, `<hostname>:<pid>` (the `:` may be sent as %3A)' }) });
const tag = 'v1 agents';

/**
 * 409 for the calls that mean nothing for workers, which register themselves (docs/compat-hetuflow.md#agents):
 * an agent is created by starting a worker process, renamed or relabelled by restarting it with other
 * WORKER_LABELS, and leaves the registry by itself WORKER_FORGET_AFTER_MS after its last heartbeat.
 */
function selfRegistering(action: string): AppError {
  return new AppError('CONFLICT', `agents are fnqueue worker processes, which register themselves: ${action}`, {
    detail: 'see docs/compat-hetuflow.md#agents',
    reason: 'agents_self_register',
  });
}

/** The documented answer of the calls that never succeed: an error in the reference's shape. */
const NEVER_SUCCEEDS = { description: 'No success answer: this call always answers an error (see 409)', content: { 'application/json': { schema: HetuflowErrorSchema } } };

/** The agents of the hetuflow scheduler API: fnqueue's workers (docs/compat-hetuflow.md#agents). */
export const V1_AGENT_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/api/v1/agents/query',
    operationId: 'v1QueryAgents',
    access: 'read',
    tag,
    body: 'json',
    summary: 'List agents (the workers), filter and page',
    description:
      'Filters: id, namespace_id (the worker label `namespace`, default `default`), name (the host), status (offline 0, online 1, busy 2: every concurrency slot taken; error 3 is never shown), created_at (worker start), updated_at (last heartbeat). Newest heartbeat first.',
    request: { body: { schema: ListBodySchema } },
    responses: { 200: json(pageSchema(AgentSchema, 'HetuflowAgentPage'), 'A page of agents'), ...hetuErrors([400, 'VALIDATION_ERROR: a bad filter or page']), ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).listAgents(req.body, limitOf(req)));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/agents/create',
    operationId: 'v1CreateAgent',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Not available: agents register themselves',
    description: 'Always 409 CONFLICT (`reason: agents_self_register`): start a worker process instead (`npm run start:worker`, with `WORKER_LABELS=namespace=<ns>,...`).',
    responses: { default: NEVER_SUCCEEDS, ...hetuErrors([409, 'CONFLICT: agents are worker processes, which register themselves']), ...AUTH_ERRORS },
    handler: () => {
      throw selfRegistering('start a worker process (WORKER_LABELS=namespace=<ns>,...) to add one');
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/agents/{id}',
    operationId: 'v1GetAgent',
    access: 'read',
    tag,
    summary: 'Read an agent (a worker)',
    request: { params },
    responses: { 200: json(AgentSchema, 'The agent'), ...hetuErrors([404, 'NOT_FOUND: unknown, aged out, or in a namespace outside the credential']), ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).getAgent(idOf(req), limitOf(req)));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/agents/{id}/update',
    operationId: 'v1UpdateAgent',
    access: 'write',
    tag,
    body: 'json',
    summary: 'Not available: an agent\'s name and labels are its worker\'s',
    description: '404 NOT_FOUND for an unknown agent; else 409 CONFLICT (`reason: agents_self_register`): restart the worker with other WORKER_LABELS.',
    request: { params },
    responses: { default: NEVER_SUCCEEDS, ...hetuErrors([404, 'NOT_FOUND: unknown agent'], [409, 'CONFLICT: labels come from the worker (WORKER_LABELS)']), ...AUTH_ERRORS },
    handler: async ({ req, services }) => {
      await hetu(services).getAgent(idOf(req), limitOf(req));
      throw selfRegistering('its name is its host and its labels are its WORKER_LABELS; restart the worker to change them');
    },
  }),
  route({
    method: 'delete',
    path: '/api/v1/agents/{id}',
    operationId: 'v1DeleteAgent',
    access: 'write',
    tag,
    summary: 'Not available: a worker leaves the registry by itself',
    description: '404 NOT_FOUND for an unknown agent; else 409 CONFLICT (`reason: agents_self_register`): stop the worker (SIGTERM); it shows offline, and leaves the list WORKER_FORGET_AFTER_MS after its last heartbeat.',
    request: { params },
    responses: { default: NEVER_SUCCEEDS, ...hetuErrors([404, 'NOT_FOUND: unknown agent'], [409, 'CONFLICT: stop the worker instead']), ...AUTH_ERRORS },
    handler: async ({ req, services }) => {
      await hetu(services).getAgent(idOf(req), limitOf(req));
      throw selfRegistering('stop the worker process (SIGTERM); it leaves the list WORKER_FORGET_AFTER_MS after its last heartbeat');
    },
  }),
];
