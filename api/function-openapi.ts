/**
 * OpenAPI paths of the functions API and of GET /jobs/{job_id}/logs (issue 3, seed 003), from the
 * same zod schemas that validate the requests (api/function-schemas.ts).
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  FunctionCreateSchema,
  FunctionIdParamsSchema,
  FunctionInvokeQueryDocSchema,
  FunctionJobListSchema,
  FunctionJobsQueryDocSchema,
  FunctionListQueryDocSchema,
  FunctionListSchema,
  FunctionMetricsSchema,
  FunctionRecordSchema,
  FunctionUpdateSchema,
  JobLogsQueryDocSchema,
  JobLogsSchema,
} from './function-schemas.js';
import { ErrorSchema, JobRecordSchema } from './schemas.js';

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: Array<[number, string]>) => Object.fromEntries(codes.map(([status, description]) => [status, json(ErrorSchema, description)]));

/** Registers every functions path on `registry`. */
export function registerFunctionPaths(registry: OpenAPIRegistry): void {
  const params = FunctionIdParamsSchema;
  const deployErrors = errors(
    [400, 'VALIDATION_ERROR (details.field): bad runtime, empty code, code over FUNCTION_CODE_MAX_BYTES, a syntax error (field `code`, the compiler message), a limit out of range, an unknown key'],
    [409, 'CONFLICT: the name is taken (details.name)'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [503, 'SERVICE_UNAVAILABLE'],
  );
  registry.registerPath({
    method: 'post',
    path: '/functions',
    summary: 'Deploy a function (seed 003)',
    description:
      'Compiles the code for syntax (nothing of it runs), stores version 1 and answers the record with `function_id` (seed 003 answers `{function_id}`). ' +
      'A function with dependencies is `building` until a worker installed them, then `active` or `failed` (build_log).',
    request: { body: { content: { 'application/json': { schema: FunctionCreateSchema } } } },
    responses: { 201: { ...json(FunctionRecordSchema, 'Created'), headers: { Location: { description: '/functions/{function_id}', schema: { type: 'string' } } } }, ...deployErrors },
  });
  registry.registerPath({
    method: 'get',
    path: '/functions',
    summary: 'List functions, newest first',
    request: { query: FunctionListQueryDocSchema },
    responses: { 200: json(FunctionListSchema, 'A page of functions'), ...errors([400, 'VALIDATION_ERROR'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/functions/{function_id}',
    summary: 'Read a function',
    request: { params },
    responses: { 200: json(FunctionRecordSchema, 'The function'), ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'put',
    path: '/functions/{function_id}',
    summary: 'Update a function',
    description:
      'The given fields are merged onto the function and validated as POST validates. A change of runtime, code, handler, env, dependencies, timeout_ms, memory_mb or max_output_bytes makes a new version: ' +
      'jobs already queued or running finish on the version they were invoked with.',
    request: { params, body: { content: { 'application/json': { schema: FunctionUpdateSchema } } } },
    responses: { 200: json(FunctionRecordSchema, 'The updated function'), ...deployErrors, 404: json(ErrorSchema, 'FUNCTION_NOT_FOUND') },
  });
  registry.registerPath({
    method: 'delete',
    path: '/functions/{function_id}',
    summary: 'Delete a function',
    description: 'Its name is freed at once; jobs already queued or running finish; its job records stay until their TTL.',
    request: { params },
    responses: { 204: { description: 'Deleted' }, ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'post',
    path: '/functions/{function_id}/invoke',
    summary: 'Invoke a function with the body as its event',
    description:
      'Any JSON value is the event (no body: `{}`). A `sync` function answers 200 with the finished job record (completed or failed), after waiting at most INVOKE_TIMEOUT_MS (then 504 TIMEOUT with details.job_id to poll); ' +
      'an `async` one answers 202 with the pending record. Job options and the webhook go in the query. GET /jobs/{job_id} and GET /jobs/{job_id}/logs serve the job.',
    request: { params, query: FunctionInvokeQueryDocSchema, body: { content: { 'application/json': { schema: z.unknown().openapi({ example: { param1: 'value1', param2: 'value2' } }) } } } },
    responses: {
      200: json(JobRecordSchema, 'sync: the finished job record (status completed or failed; metadata.version is the function version)'),
      202: json(JobRecordSchema, 'async: the pending job record'),
      ...errors(
        [400, 'VALIDATION_ERROR (a query parameter)'],
        [404, 'FUNCTION_NOT_FOUND'],
        [409, 'CONFLICT: the function is not active (details.status building or failed), or its project is stopped'],
        [413, 'PAYLOAD_TOO_LARGE'],
        [503, 'SERVICE_UNAVAILABLE'],
        [504, 'TIMEOUT (details.job_id)'],
      ),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/functions/{function_id}/jobs',
    summary: "A function's jobs, newest first (seed 003 job history)",
    request: { params, query: FunctionJobsQueryDocSchema },
    responses: { 200: json(FunctionJobListSchema, 'A page of job records'), ...errors([400, 'VALIDATION_ERROR'], [404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/functions/{function_id}/metrics',
    summary: "A function's measured metrics (seed 003)",
    description: 'Counted by the workers at the end of each run: invocations, success rate, average and p95 run time (last 1000 runs), CPU time and peak resident memory of the runs.',
    request: { params },
    responses: { 200: json(FunctionMetricsSchema, 'The metrics'), ...errors([404, 'FUNCTION_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
  registry.registerPath({
    method: 'get',
    path: '/jobs/{job_id}/logs',
    summary: "A job's captured stdout and stderr (seed 001: tail, since, until)",
    description: "Function jobs' output lines, kept as long as the record (RESULT_TTL_SECONDS); algorithm jobs have none (an empty list).",
    request: { params: z.object({ job_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) }), query: JobLogsQueryDocSchema },
    responses: { 200: json(JobLogsSchema, 'The lines, oldest first'), ...errors([400, 'VALIDATION_ERROR'], [404, 'JOB_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE']) },
  });
}
