import { Router } from 'express';
import { DEFAULT_ALGORITHM } from '../../shared/algorithms/registry.js';
import { AppError, jobGone, type ErrorCode } from '../../shared/errors.js';
import type { JobService } from '../job-service.js';
import { parseBody } from '../middleware/validate.js';
import { InvokeRequestSchema } from '../schemas.js';

/** Job error codes /invoke passes through; any other failure is ALGORITHM_ERROR. */
const PASSED_THROUGH: ReadonlySet<string> = new Set<ErrorCode>(['TIMEOUT', 'VALIDATION_ERROR', 'ALGORITHM_NOT_FOUND', 'INTERNAL_ERROR', 'CANCELLED']);

/**
 * POST /invoke (the FunctionalScaffold API reference): `{"number": 17}` runs PrimeChecker; `{"algorithm", "params"}` runs any
 * algorithm. Goes through the queue and waits up to INVOKE_TIMEOUT_MS; then 504 TIMEOUT with the job_id.
 */
export function invokeRouter(jobs: JobService, invokeTimeoutMs: number): Router {
  const router = Router();

  router.post('/invoke', async (req, res) => {
    const body: unknown = req.body;
    const explicit = body !== null && typeof body === 'object' && !Array.isArray(body) && 'algorithm' in body;
    const sub = explicit
      ? (({ pool, ...rest }) => ({ ...rest, options: pool ? { pool } : undefined, paramsPath: ['params'] }))(parseBody(InvokeRequestSchema, body))
      : { algorithm: DEFAULT_ALGORITHM, params: parseBody(InvokeRequestSchema.shape.params, body), paramsPath: [] };
    const { job_id, outcome } = await jobs.invoke({ ...sub, requestId: req.requestId });

    if (outcome.kind === 'timeout') {
      throw new AppError('TIMEOUT', `the job did not finish within ${invokeTimeoutMs} ms; poll GET /jobs/${job_id} for its result`, {
        job_id,
        timeout_ms: invokeTimeoutMs,
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
  });

  return router;
}
