import { FunctionMetricsSchema } from '../../shared/schemas/function-metrics.js';
import type { Request } from 'express';
import { z } from 'zod';
import { AppError, jobGone } from '../../shared/errors/index.js';
import { isJobId, toPublicRecord } from '../../shared/store/job-store.js';
import {
  FunctionCreateSchema,
  FunctionIdParamsSchema,
  FunctionInvokeQueryDocSchema,
  FunctionInvokeQuerySchema,
  FunctionJobListSchema,
  FunctionJobsQueryDocSchema,
  FunctionJobsQuerySchema,
  FunctionListQueryDocSchema,
  FunctionListQuerySchema,
  FunctionListSchema,
  FunctionUpdateSchema,
  JobLogsQueryDocSchema,
  JobLogsQuerySchema,
  JobLogsSchema,
} from '../schemas/functions.js';
import type { FunctionService } from '../services/function-service.js';
import { FunctionRecordSchema } from '../../shared/schemas/function-record.js';
import { JobRecordSchema } from '../../shared/schemas/job-record.js';
import { refuseMaskedEnv, withEnvNamesOnly } from './redaction.js';
import { errors, json, located } from './responses.js';
import { route, type Route, type RouteServices } from './route.js';
import { assertJobVisible } from './namespace-access.js';

/** The function service, or 503 when the app was built without one. */
function svc(services: RouteServices): FunctionService {
  if (!services.functions) throw new AppError('SERVICE_UNAVAILABLE', 'functions are not available');
  return services.functions;
}

const idOf = (req: Request) => String(req.params.function_id);
const params = FunctionIdParamsSchema;
const deployErrors = errors(
  [400, 'VALIDATION_ERROR (details.field): bad runtime, empty code, code over FUNCTION_CODE_MAX_BYTES, a syntax error (field `code`, the compiler message), a limit out of range, an unknown key'],
  [409, 'CONFLICT: the name is taken (details.name)'],
  [413, 'PAYLOAD_TOO_LARGE'],
  [503, 'SERVICE_UNAVAILABLE'],
);

/**
 * The functions API (docs/functions.md; the function API reference): POST/GET /functions,
 * GET/PUT/DELETE /functions/{function_id}, POST /functions/{function_id}/invoke (the body is the
 * event; job options and `webhook` in the query), GET /functions/{function_id}/jobs and /metrics;
 * and GET /jobs/{job_id}/logs (tail/since/until, as the container management API reference's logs)
 * for the captured output of function jobs. Every function record answered shows its env's names
 * only, each value masked (env is write-only: docs/security.md, Secrets).
 */
export const FUNCTION_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/functions',
    operationId: 'createFunction',
    access: 'write',
    tag: 'functions',
    body: 'json',
    summary: 'Deploy a function',
    description:
      'Compiles the code for syntax (nothing of it runs), stores version 1 and answers the record with `function_id`. ' +
      'A function with dependencies is `building` until a worker installed them, then `active` or `failed` (build_log).',
    request: { body: { schema: FunctionCreateSchema } },
    responses: { 201: located(FunctionRecordSchema, 'Created', '/functions/{function_id}'), ...deployErrors },
    handler: async ({ req, res, services }) => {
      refuseMaskedEnv((req.body as { env?: unknown } | undefined)?.env);
      const fn = await svc(services).create(req.body);
      res.status(201).location(`/functions/${fn.function_id}`).json(withEnvNamesOnly(fn));
    },
  }),
  route({
    method: 'get',
    path: '/functions',
    operationId: 'listFunctions',
    access: 'read',
    tag: 'functions',
    summary: 'List functions, newest first',
    request: { query: { schema: FunctionListQuerySchema, doc: FunctionListQueryDocSchema } },
    responses: { 200: json(FunctionListSchema, 'A page of functions'), ...errors([400, 'VALIDATION_ERROR (a bad value, or an unknown parameter named in details.field)'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ res, services, query }) => {
      const { limit, offset, project } = query;
      const page = await svc(services).list({ limit, offset, project });
      res.json({ functions: page.functions.map(withEnvNamesOnly), total: page.total, limit, offset });
    },
  }),
  route({
    method: 'get',
    path: '/functions/{function_id}',
    operationId: 'getFunction',
    access: 'read',
    tag: 'functions',
    summary: 'Read a function',
    request: { params },
    responses: { 200: json(FunctionRecordSchema, 'The function'), ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      res.json(withEnvNamesOnly(await svc(services).get(idOf(req))));
    },
  }),
  route({
    method: 'put',
    path: '/functions/{function_id}',
    operationId: 'updateFunction',
    access: 'write',
    tag: 'functions',
    body: 'json',
    summary: 'Update a function',
    description:
      'The given fields are merged onto the function and validated as POST validates. A change of runtime, code, handler, env, dependencies, timeout_ms, memory_mb or max_output_bytes makes a new version: ' +
      'jobs already queued or running finish on the version they were invoked with.',
    request: { params, body: { schema: FunctionUpdateSchema } },
    responses: { 200: json(FunctionRecordSchema, 'The updated function'), ...deployErrors, ...errors([404, 'FUNCTION_NOT_FOUND']) },
    handler: async ({ req, res, services }) => {
      refuseMaskedEnv((req.body as { env?: unknown } | undefined)?.env);
      res.json(withEnvNamesOnly(await svc(services).update(idOf(req), req.body)));
    },
  }),
  route({
    method: 'delete',
    path: '/functions/{function_id}',
    operationId: 'deleteFunction',
    access: 'write',
    tag: 'functions',
    summary: 'Delete a function',
    description: 'Its name is freed at once; jobs already queued or running finish; its job records stay until their TTL.',
    request: { params },
    responses: { 204: { description: 'Deleted' }, ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      await svc(services).delete(idOf(req));
      res.status(204).end();
    },
  }),
  route({
    method: 'post',
    path: '/functions/{function_id}/invoke',
    operationId: 'invokeFunction',
    access: 'write',
    tag: 'functions',
    body: 'json',
    summary: 'Invoke a function with the body as its event',
    description:
      'Any JSON value is the event (no body: `{}`). A `sync` function answers 200 with the finished job record (completed or failed), after waiting at most INVOKE_TIMEOUT_MS (then 504 TIMEOUT with details.job_id to poll); ' +
      'an `async` one answers 202 with the pending record. Job options and the webhook go in the query. GET /jobs/{job_id} and GET /jobs/{job_id}/logs serve the job.',
    request: {
      params,
      query: { schema: FunctionInvokeQuerySchema, doc: FunctionInvokeQueryDocSchema },
      body: { schema: z.unknown().openapi({ example: { param1: 'value1', param2: 'value2' } }) },
    },
    responses: {
      200: located(JobRecordSchema, 'sync: the finished job record (status completed or failed; metadata.version is the function version)', '/jobs/{job_id}'),
      202: located(JobRecordSchema, 'async: the pending job record', '/jobs/{job_id}'),
      ...errors(
        [400, 'VALIDATION_ERROR (a query parameter)'],
        [404, 'FUNCTION_NOT_FOUND'],
        [409, 'CONFLICT: the function is not active (details.status building or failed), or its project is stopped'],
        [413, 'PAYLOAD_TOO_LARGE'],
        [503, 'SERVICE_UNAVAILABLE'],
        [504, 'TIMEOUT (details.job_id)'],
      ),
    },
    handler: async ({ req, res, services, query }) => {
      // No body: the event is `{}` (as Lambda's console sends); any JSON value is an event.
      const event: unknown = req.body === undefined ? {} : req.body;
      const out = await svc(services).invoke(idOf(req), event, query, req.requestId);
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
    },
  }),
  route({
    method: 'get',
    path: '/functions/{function_id}/jobs',
    operationId: 'listFunctionJobs',
    access: 'read',
    tag: 'functions',
    summary: "A function's jobs, newest first",
    request: { params, query: { schema: FunctionJobsQuerySchema, doc: FunctionJobsQueryDocSchema } },
    responses: { 200: json(FunctionJobListSchema, 'A page of job records'), ...errors([400, 'VALIDATION_ERROR'], [404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services, query }) => {
      const { limit, offset } = query;
      const page = await svc(services).jobs(idOf(req), { limit, offset });
      res.json({ function_id: idOf(req), jobs: page.jobs.map(toPublicRecord), total: page.total, limit, offset });
    },
  }),
  route({
    method: 'get',
    path: '/functions/{function_id}/metrics',
    operationId: 'getFunctionMetrics',
    access: 'read',
    tag: 'functions',
    summary: "A function's measured metrics",
    description: 'Counted by the workers at the end of each run: invocations, success rate, average and p95 run time (last 1000 runs), CPU time and peak resident memory of the runs.',
    request: { params },
    responses: { 200: json(FunctionMetricsSchema, 'The metrics'), ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services }) => {
      res.json(await svc(services).metrics(idOf(req)));
    },
  }),
  route({
    method: 'get',
    path: '/jobs/{job_id}/logs',
    operationId: 'getJobLogs',
    access: 'read',
    tag: 'jobs',
    summary: "A job's captured stdout and stderr (tail, since, until)",
    description: "Function and command jobs' output lines, kept as long as the record (RESULT_TTL_SECONDS); algorithm jobs have none (an empty list).",
    request: { params: z.object({ job_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) }), query: { schema: JobLogsQuerySchema, doc: JobLogsQueryDocSchema } },
    responses: { 200: json(JobLogsSchema, 'The lines, oldest first'), ...errors([400, 'VALIDATION_ERROR'], [404, 'JOB_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
    handler: async ({ req, res, services, query }) => {
      const jobId = String(req.params.job_id);
      if (isJobId(jobId)) assertJobVisible(req, await services.jobs.get(jobId));
      res.json(await svc(services).logs(jobId, query));
    },
  }),
];
