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
  ReadySchema,
} from './schemas.js';
import { WorkerListSchema, WorkerQueryDocSchema, WorkerSchema } from './worker-schemas.js';

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
    request: { body: { content: { 'application/json': { schema: JobRequestSchema } } } },
    responses: {
      202: json(JobAcceptedSchema, 'Accepted'),
      ...errors([400, 'VALIDATION_ERROR'], [404, 'ALGORITHM_NOT_FOUND'], [413, 'PAYLOAD_TOO_LARGE'], [503, 'SERVICE_UNAVAILABLE']),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/jobs/{job_id}',
    summary: 'Read a job',
    request: { params: z.object({ job_id: z.string().openapi({ example: 'a1b2c3d4e5f6' }) }) },
    responses: { 200: json(JobRecordSchema, 'The job record'), ...errors([404, 'JOB_NOT_FOUND (unknown or expired)']) },
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

  // Security schemes and each operation's scope come from the scope table (api/middleware/auth.ts).
  return addSecurity(new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'fnqueue', version, description: 'Queue-backed job and function-execution service. Errors: `{error, message, details, request_id}`.' },
    servers: [{ url: '/' }],
  }));
}
