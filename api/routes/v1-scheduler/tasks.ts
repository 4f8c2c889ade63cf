import { ListBodySchema, pageSchema, TaskInstanceSchema, TaskSchema } from '../../schemas/v1-scheduler.js';
import { json } from '../responses.js';
import { route, type Route } from '../route.js';
import { AUTH_ERRORS, hetuErrors } from './error-shape.js';
import { hetu, limitOf } from './common.js';

const tag = 'v1 tasks';
const invalid = hetuErrors([400, 'VALIDATION_ERROR: a bad filter or page']);

/** Tasks (runs of job definitions: job records) and task instances (their attempts), docs/compat-hetuflow.md#tasks. */
export const V1_TASK_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/api/v1/tasks/page',
    operationId: 'v1PageTasks',
    access: 'read',
    tag,
    body: 'json',
    summary: 'List tasks: runs of job definitions (filter and page)',
    description:
      'Filters: id, job_id (the definition), namespace_id, status (pending 1, running 10, failed 90, cancelled 99, succeeded 100; locked 2 and dispatched 3 are never shown), schedule_id, schedule_kind (cron 1, interval 2, event 4: run by the API), priority, scheduled_at, completed_at, created_at. ' +
      'Newest first; tasks are job records (GET /jobs/{job_id} with the same id) and expire after RESULT_TTL_SECONDS.',
    request: { body: { schema: ListBodySchema } },
    responses: { 200: json(pageSchema(TaskSchema, 'HetuflowTaskPage'), 'A page of tasks'), ...invalid, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).listTasks(req.body, limitOf(req)));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/task-instances/page',
    operationId: 'v1PageTaskInstances',
    access: 'read',
    tag,
    body: 'json',
    summary: 'List task instances: attempts of tasks (filter and page)',
    description:
      'Filters: id, task_id, job_id, agent_id (the worker id), status (running 10, timeout 20, failed 90, cancelled 99, succeeded 100), exit_code, started_at, completed_at, created_at. ' +
      '`output` is the attempt\'s captured stdout and stderr lines. Without `task_id`, the attempts of the newest 200 tasks the other filters select.',
    request: { body: { schema: ListBodySchema } },
    responses: { 200: json(pageSchema(TaskInstanceSchema, 'HetuflowTaskInstancePage'), 'A page of task instances'), ...invalid, ...AUTH_ERRORS },
    handler: async ({ req, res, services }) => {
      res.json(await hetu(services).listTaskInstances(req.body, limitOf(req)));
    },
  }),
];
