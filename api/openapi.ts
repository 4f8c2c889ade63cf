import { OpenApiGeneratorV3, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { addSecurity } from './openapi-security.js';
import {
  AlgorithmListSchema,
  ErrorSchema,
  HealthSchema,
  InvokeRequestSchema,
  InvokeResponseSchema,
  JobAcceptedSchema,
  JobRecordSchema,
  JobRequestSchema,
  AttemptListSchema,
  JobListQueryDocSchema,
  JobListSchema,
  ReadySchema,
} from './schemas.js';
import { WorkerListSchema, WorkerQueryDocSchema, WorkerResourcesSchema, WorkerSchema } from './worker-schemas.js';
import { StatusSchema } from './routes/status.js';
import { registerProjectPaths } from './project-openapi.js';
import { registerFunctionPaths } from './function-openapi.js';
import { ScheduleCreateSchema, ScheduleIdParamsSchema, ScheduleListSchema, SchedulePageQueryDocSchema, ScheduleRunListSchema, ScheduleSchema, ScheduleUpdateSchema } from './schedule-schemas.js';

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: Array<[number, string]>) => Object.fromEntries(codes.map(([status, description]) => [status, json(ErrorSchema, description)]));

/**
 * The OpenAPI 3.0 document, generated from the same zod schemas that validate requests.
 * @param version the service version (package.json).
 */
export function buildOpenApiDocument(version: string): object {
  const registry = new OpenAPIRegistry();

  registry.registerPath({
    method: 'post',
    path: '/invoke',
    summary: 'Run an algorithm and wait for its result',
    description:
      'With `{"number": 17}` runs PrimeChecker (seed 002); with `{"algorithm", "params"}` runs any algorithm. Goes through the queue; after INVOKE_TIMEOUT_MS answers 504 TIMEOUT with the job_id to poll.',
    request: {
      body: {
        content: {
          'application/json': {
            schema: z.union([z.object({ number: z.number().int() }).openapi({ example: { number: 17 } }), InvokeRequestSchema]),
          },
        },
      },
    },
    responses: {
      200: json(InvokeResponseSchema, 'The algorithm finished'),
      ...errors([400, 'VALIDATION_ERROR'], [404, 'ALGORITHM_NOT_FOUND'], [413, 'PAYLOAD_TOO_LARGE'], [500, 'ALGORITHM_ERROR or INTERNAL_ERROR'], [503, 'SERVICE_UNAVAILABLE'], [504, 'TIMEOUT (details.job_id)']),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/jobs',
    summary: 'Create an asynchronous job',
    description:
      'Job options (issue 4): priority, delay_ms, max_retries with retry_backoff and retry_interval_ms, timeout_ms, pool. ' +
      'With an `Idempotency-Key` header (1-255 visible ASCII characters, kept 24 h per caller), the same key and body answer 200 with the existing job (header `Idempotent-Replayed: true`); the same key with another body is 409 CONFLICT.',
    request: {
      headers: z.object({ 'Idempotency-Key': z.string().optional().openapi({ example: 'order-42' }) }),
      body: { content: { 'application/json': { schema: JobRequestSchema } } },
    },
    responses: {
      200: json(JobRecordSchema, 'A resubmission with the same Idempotency-Key and body: the existing job'),
      202: json(JobAcceptedSchema, 'Accepted'),
      ...errors([400, 'VALIDATION_ERROR'], [404, 'ALGORITHM_NOT_FOUND'], [409, 'CONFLICT (Idempotency-Key reused with another body)'], [413, 'PAYLOAD_TOO_LARGE'], [503, 'SERVICE_UNAVAILABLE']),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/jobs',
    summary: 'List jobs, newest first',
    description: 'Filters combine (all must match); served from indexes that expire with the records (RESULT_TTL_SECONDS).',
    request: { query: JobListQueryDocSchema },
    responses: { 200: json(JobListSchema, 'One page of job records and the total matching'), ...errors([400, 'VALIDATION_ERROR']) },
  });
  const jobParams = z.object({ job_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) });
  registry.registerPath({
    method: 'get',
    path: '/jobs/{job_id}',
    summary: 'Read a job',
    request: { params: jobParams },
    responses: { 200: json(JobRecordSchema, 'The job record'), ...errors([404, 'JOB_NOT_FOUND (unknown or expired)']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/jobs/{job_id}/attempts',
    summary: "A job's attempts (seed 004's task instances)",
    request: { params: jobParams },
    responses: { 200: json(AttemptListSchema, 'Every attempt, oldest first'), ...errors([404, 'JOB_NOT_FOUND']) },
  });
  registry.registerPath({
    method: 'post',
    path: '/jobs/{job_id}/cancel',
    summary: 'Cancel a pending, delayed or running job',
    description: 'A waiting or delayed job is removed from its queue; a running one is stopped on whichever worker runs it (its runner process is killed). The webhook, if any, is sent with status `cancelled`.',
    request: { params: jobParams },
    responses: { 200: json(JobRecordSchema, 'The cancelled record'), ...errors([404, 'JOB_NOT_FOUND'], [409, 'CONFLICT (the job already ended; details.status)']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/jobs/{job_id}/events',
    summary: "A job's status and progress as Server-Sent Events",
    description:
      '`event: status` carries the public record at each status change; `event: progress` carries `{job_id, percent, message, updated_at}`. The stream ends after the terminal status (at once for an ended job), or with `event: error` when the record expires.',
    request: { params: jobParams },
    responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errors([404, 'JOB_NOT_FOUND']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/workers',
    summary: 'List worker processes (seed 004 agents), newest heartbeat first',
    description: 'Each worker heartbeats every WORKER_HEARTBEAT_MS; one silent for its WORKER_OFFLINE_AFTER_MS, or stopped, is `offline`; past WORKER_FORGET_AFTER_MS it leaves the list.',
    request: { query: WorkerQueryDocSchema },
    responses: { 200: json(WorkerListSchema, 'A page of workers'), ...errors([400, 'VALIDATION_ERROR'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/workers/{worker_id}',
    summary: 'Read one worker',
    request: { params: z.object({ worker_id: z.string().openapi({ example: 'worker-7f9c:4242', description: '`<hostname>:<pid>`; the `:` may be sent as is or as %3A' }) }) },
    responses: { 200: json(WorkerSchema, 'The worker'), ...errors([404, 'WORKER_NOT_FOUND (unknown or aged out)'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/workers/{worker_id}/resources',
    summary: "One worker's resource figures (seed 001's /metrics/resources)",
    description: 'CPU and memory of the worker process and its runner children, as of its last heartbeat (every WORKER_HEARTBEAT_MS).',
    request: { params: z.object({ worker_id: z.string().openapi({ example: 'worker-7f9c:4242', description: '`<hostname>:<pid>`; the `:` may be sent as is or as %3A' }) }) },
    responses: { 200: json(WorkerResourcesSchema, 'The figures'), ...errors([404, 'WORKER_NOT_FOUND (unknown or aged out)'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/status',
    summary: 'Deployment status: queues, workers, Redis and this API process',
    description: 'Every figure is read when asked: job counts per BullMQ queue (getJobCounts), the worker registry, Redis INFO, this process\'s memory.',
    responses: { 200: json(StatusSchema, 'The status'), ...errors([503, 'SERVICE_UNAVAILABLE (Redis cannot be reached)']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/queues',
    summary: 'Queue dashboard (Bull Board, HTML)',
    description:
      'Bull Board on the jobs queue of every pool and the webhooks queue. Read-only unless the caller has the admin scope (so read-only for everyone when AUTH_ENABLED=false); ' +
      'its JSON API under /admin/queues/api/ is Bull Board\'s own: GET needs read, every other method admin. A browser sends no X-API-Key: with AUTH_ENABLED=true reach it through a proxy that adds the credentials.',
    responses: { 200: { description: 'The dashboard page', content: { 'text/html': { schema: z.string() } } } },
  });
  // Schedules (issue 4): cron and interval schedules on BullMQ job schedulers.
  const scheduleErrors = errors([400, 'VALIDATION_ERROR (details.field: cron, every_ms, timezone, target.params..., or an unknown key)'], [404, 'ALGORITHM_NOT_FOUND (details.available_algorithms) or FUNCTION_NOT_FOUND'], [409, 'CONFLICT: the name is taken (details.name)'], [503, 'SERVICE_UNAVAILABLE']);
  registry.registerPath({
    method: 'post',
    path: '/schedules',
    summary: 'Create a schedule',
    description:
      'Runs `target` on a cron expression (in `timezone`, default UTC) or every `every_ms` (the first run at once); exactly one of the two. Each run is an ordinary async job with `schedule_id`, listed by GET /schedules/{schedule_id}/jobs. ' +
      'The target is validated as POST /jobs validates a job.',
    request: { body: { content: { 'application/json': { schema: ScheduleCreateSchema } } } },
    responses: { 201: { ...json(ScheduleSchema, 'Created'), headers: { Location: { description: '/schedules/{schedule_id}', schema: { type: 'string' } } } }, ...scheduleErrors },
  });
  registry.registerPath({
    method: 'get',
    path: '/schedules',
    summary: 'List schedules, newest first',
    request: { query: SchedulePageQueryDocSchema },
    responses: { 200: json(ScheduleListSchema, 'A page of schedules'), ...errors([400, 'VALIDATION_ERROR (bad limit or offset, or an unknown parameter)'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/schedules/{schedule_id}',
    summary: 'Read a schedule',
    request: { params: ScheduleIdParamsSchema },
    responses: { 200: json(ScheduleSchema, 'The schedule'), ...errors([404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'put',
    path: '/schedules/{schedule_id}',
    summary: 'Update a schedule',
    description: 'The fields of POST, all optional, merged onto the schedule and validated again. `target` replaces the whole target; `cron` or `every_ms` replaces the timing; `null` clears an optional field. A changed timing, target or option re-upserts the job scheduler.',
    request: { params: ScheduleIdParamsSchema, body: { content: { 'application/json': { schema: ScheduleUpdateSchema } } } },
    responses: { 200: json(ScheduleSchema, 'The updated schedule'), ...scheduleErrors, 404: json(ErrorSchema, 'SCHEDULE_NOT_FOUND, ALGORITHM_NOT_FOUND or FUNCTION_NOT_FOUND') },
  });
  registry.registerPath({
    method: 'delete',
    path: '/schedules/{schedule_id}',
    summary: 'Delete a schedule and its job scheduler',
    description: 'Runs already made stay, as job records with their TTL.',
    request: { params: ScheduleIdParamsSchema },
    responses: { 204: { description: 'Deleted' }, ...errors([404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  for (const action of ['enable', 'disable'] as const) {
    registry.registerPath({
      method: 'post',
      path: `/schedules/{schedule_id}/${action}`,
      summary: action === 'enable' ? 'Enable a schedule (upserts its job scheduler); idempotent' : 'Disable a schedule (removes its job scheduler and its next run not yet started); idempotent',
      request: { params: ScheduleIdParamsSchema },
      responses: { 200: json(ScheduleSchema, 'The schedule'), ...errors([404, action === 'enable' ? 'SCHEDULE_NOT_FOUND, or ALGORITHM_NOT_FOUND when its algorithm is no longer served' : 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/schedules/{schedule_id}/jobs',
    summary: "A schedule's runs, newest first",
    description: 'Job records with `schedule_id`, paged as GET /jobs pages; each run is recorded when it starts, and kept RESULT_TTL_SECONDS.',
    request: { params: ScheduleIdParamsSchema, query: SchedulePageQueryDocSchema },
    responses: { 200: json(ScheduleRunListSchema, 'A page of runs'), ...errors([400, 'VALIDATION_ERROR (bad limit or offset, or an unknown parameter)'], [404, 'SCHEDULE_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/algorithms',
    summary: 'List algorithms with the JSON Schema of their params',
    responses: { 200: json(AlgorithmListSchema, 'Algorithms') },
  });
  registry.registerPath({ method: 'get', path: '/healthz', summary: 'Liveness probe', responses: { 200: json(HealthSchema, 'Alive') } });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness probe',
    responses: { 200: json(ReadySchema, 'Ready'), 503: json(ReadySchema, 'Not ready: the failing checks are false') },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of the whole deployment',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
  });

  // Projects, env and dependencies (issue 3, seed 000).
  registerProjectPaths(registry);
  // Functions and job logs (issue 3, seed 003).
  registerFunctionPaths(registry);

  // Security schemes and each operation's scope come from the scope table (api/middleware/auth.ts).
  return addSecurity(new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'fnqueue', version, description: 'Queue-backed job and function-execution service. Errors: `{error, message, details, request_id}`.' },
    servers: [{ url: '/' }],
  }));
}
