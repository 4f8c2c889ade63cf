import { z } from 'zod';
import { DEFAULT_ALGORITHM } from '../../shared/algorithms/registry.js';
import { AppError, jobGone, type ErrorCode } from '../../shared/errors/index.js';
import { parseBody } from '../middleware/validate.js';
import { InvokeCommandRequestSchema, InvokeCommandResponseSchema, InvokeRequestSchema, InvokeResponseSchema } from '../schemas/jobs.js';
import { commandSubmission } from '../services/job-service.js';
import { errors, json } from './responses.js';
import { route, type Route } from './route.js';
import { assertMaySubmit } from './namespace-access.js';

/** Job error codes /invoke passes through; any other failure is ALGORITHM_ERROR. */
const PASSED_THROUGH: ReadonlySet<string> = new Set<ErrorCode>(['TIMEOUT', 'VALIDATION_ERROR', 'ALGORITHM_NOT_FOUND', 'INTERNAL_ERROR', 'CANCELLED']);

/**
 * POST /invoke (the FunctionalScaffold API reference; docs/api.md#run-an-algorithm-and-wait-post-invoke): `{"number": 17}` runs
 * PrimeChecker; `{"algorithm", "params"}` runs any algorithm. Goes through the queue and waits up to
 * INVOKE_TIMEOUT_MS; then 504 TIMEOUT with the job_id.
 */
export const INVOKE_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/invoke',
    operationId: 'invoke',
    access: 'write',
    tag: 'jobs',
    body: 'json',
    summary: 'Run an algorithm and wait for its result',
    description:
      'With `{"number": 17}` runs PrimeChecker; with `{"algorithm", "params"}` runs any algorithm; with `{"command"}` runs a command in the worker sandbox (docs/commands.md; `result` is a CommandResult, a non-zero exit is 500 ALGORITHM_ERROR). Goes through the queue; after INVOKE_TIMEOUT_MS answers 504 TIMEOUT with the job_id to poll.',
    request: {
      body: { schema: z.union([z.object({ number: z.number().int() }).openapi({ example: { number: 17 } }), InvokeRequestSchema, InvokeCommandRequestSchema]).openapi({ example: { number: 17 } }) },
    },
    responses: {
      200: json(z.union([InvokeResponseSchema, InvokeCommandResponseSchema]), 'The algorithm (or command: result is a CommandResult) finished'),
      ...errors(
        [400, 'VALIDATION_ERROR'],
        [403, 'FORBIDDEN (a command not in COMMAND_ALLOWLIST)'],
        [404, 'ALGORITHM_NOT_FOUND'],
        [409, 'CONFLICT (no worker serves the pool: details.reason pool_not_served); CANCELLED (the job was cancelled while the call waited)'],
        [413, 'PAYLOAD_TOO_LARGE'],
        [500, 'ALGORITHM_ERROR (or INTERNAL_ERROR)'],
        [503, 'SERVICE_UNAVAILABLE'],
        [504, 'TIMEOUT (details.job_id)'],
      ),
    },
    handler: async ({ req, res, services }) => {
      assertMaySubmit(req);
      const body: unknown = req.body;
      const isObject = body !== null && typeof body === 'object' && !Array.isArray(body);
      const explicit = isObject && 'algorithm' in body;
      const sub =
        isObject && 'command' in body && !explicit
          ? (({ command, pool, timeout_ms, project }) => commandSubmission(command, { requestId: req.requestId, options: { ...(pool ? { pool } : {}), ...(timeout_ms !== undefined ? { timeout_ms } : {}) }, ...(project ? { project } : {}) }))(parseBody(InvokeCommandRequestSchema, body))
          : explicit
            ? (({ pool, ...rest }) => ({ ...rest, options: pool ? { pool } : undefined, paramsPath: ['params'] }))(parseBody(InvokeRequestSchema, body))
            : { algorithm: DEFAULT_ALGORITHM, params: parseBody(InvokeRequestSchema.shape.params, body), paramsPath: [] };
      const { job_id, outcome } = await services.jobs.invoke({ ...sub, requestId: req.requestId });

      if (outcome.kind === 'timeout') {
        throw new AppError('TIMEOUT', `the job did not finish within ${services.invokeTimeoutMs} ms; poll GET /jobs/${job_id} for its result`, {
          job_id,
          timeout_ms: services.invokeTimeoutMs,
        });
      }
      if (outcome.kind === 'gone') throw jobGone(job_id);
      const job = outcome.job;
      if (job.status === 'completed') {
        res.json({ request_id: req.requestId, status: 'success', result: job.result, metadata: job.metadata });
        return;
      }
      const code = (job.error_code && PASSED_THROUGH.has(job.error_code) ? job.error_code : 'ALGORITHM_ERROR') as ErrorCode;
      throw new AppError(code, job.error ?? 'the algorithm failed', { job_id, algorithm: job.algorithm });
    },
  }),
];
