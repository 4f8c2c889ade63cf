import { Router, type Request, type Response } from 'express';
import { AppError, jobNotFound, validationError } from '../../shared/errors.js';
import { isJobId, TERMINAL_STATUSES, toPublicRecord, type JobRecord, type StoredJob } from '../../shared/queue/job-record.js';
import type { JobWaiter } from '../job-waiter.js';
import type { JobService } from '../job-service.js';
import { parseBody } from '../middleware/validate.js';
import { JobListQuerySchema, JobRequestSchema } from '../schemas.js';

/** The FunctionalScaffold API reference: `任务已创建` (job created). */
export const JOB_CREATED_MESSAGE = 'job created';

/** An Idempotency-Key: 1 to 255 visible ASCII characters (Stripe's and the IETF draft's practice). */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** A live events stream re-reads its job this often, in case a pub/sub message was lost (ms). */
export const EVENTS_RECHECK_MS = 2000;
/** A comment line keeps idle event streams open through proxies this often (ms). */
export const EVENTS_KEEPALIVE_MS = 15_000;

/**
 * POST /jobs and GET /jobs/{job_id} (the FunctionalScaffold API reference), and job control: GET /jobs (listing),
 * GET /jobs/{job_id}/attempts, POST /jobs/{job_id}/cancel, GET /jobs/{job_id}/events (SSE).
 */
export function jobsRouter(jobs: JobService, waiter?: JobWaiter): Router {
  const router = Router();

  router.post('/jobs', async (req, res) => {
    const body = parseBody(JobRequestSchema, req.body);
    const { algorithm, params, webhook, ...options } = body;
    const key = req.get('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new AppError('VALIDATION_ERROR', 'Idempotency-Key must be 1 to 255 visible ASCII characters', { field: 'Idempotency-Key' });
    }
    const idempotency = key === undefined ? undefined : { key, caller: req.auth?.id ?? 'anonymous', body: req.body as unknown };
    const { job_id, created_at, existing } = await jobs.submit({ algorithm, params, webhook, options, idempotency, requestId: req.requestId, paramsPath: ['params'] });
    if (existing) {
      // A resubmission with the same Idempotency-Key and body: the job it created, as GET shows it.
      res.status(200).location(`/jobs/${job_id}`).set('Idempotent-Replayed', 'true').json(toPublicRecord(existing));
      return;
    }
    res.status(202).location(`/jobs/${job_id}`).json({ job_id, status: 'pending', message: JOB_CREATED_MESSAGE, created_at });
  });

  router.get('/jobs', async (req, res) => {
    const parsed = JobListQuerySchema.safeParse({ ...req.query });
    if (!parsed.success) throw validationError(parsed.error, req.query);
    const { limit, offset, ...filter } = parsed.data;
    const page = await jobs.list(filter, { limit, offset });
    res.json({ jobs: page.jobs.map(toPublicRecord), total: page.total, limit, offset });
  });

  router.get('/jobs/:job_id', async (req, res) => {
    res.json(toPublicRecord(await jobs.get(jobIdParam(req))));
  });

  router.get('/jobs/:job_id/attempts', async (req, res) => {
    const jobId = jobIdParam(req);
    const attempts = await jobs.attempts(jobId);
    res.json({ job_id: jobId, attempts, total: attempts.length });
  });

  router.post('/jobs/:job_id/cancel', async (req, res) => {
    res.json(toPublicRecord(await jobs.cancel(jobIdParam(req))));
  });

  router.get('/jobs/:job_id/events', async (req, res) => {
    const jobId = jobIdParam(req);
    if (!waiter) throw new AppError('SERVICE_UNAVAILABLE', 'live events are not available');
    await streamEvents(jobs, waiter, jobId, res);
  });

  return router;
}

function jobIdParam(req: Request): string {
  const jobId = String(req.params.job_id);
  if (!isJobId(jobId)) throw jobNotFound(jobId);
  return jobId;
}

/**
 * Streams a job's status and progress as Server-Sent Events: `status` events carry the
 * public record, `progress` events `{job_id, percent, message, updated_at}`; the stream ends after
 * the terminal `status` event (at once for an ended job), or with an `error` event when the record
 * expires. Driven by the job events channel, with a re-read every {@link EVENTS_RECHECK_MS}.
 * @throws AppError JOB_NOT_FOUND before the stream starts.
 */
async function streamEvents(jobs: JobService, waiter: JobWaiter, jobId: string, res: Response): Promise<void> {
  let last: JobRecord | undefined;
  let ended = false;
  let reading = false;
  let again = false;
  let seq = 0;
  let recheck: NodeJS.Timeout | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  // Listen for the client leaving and watch before the first read, so neither a departure nor a
  // change during that read is missed.
  res.on('close', () => end());
  const unwatch = waiter.watch(jobId, () => void refresh(), () => end());
  let first: StoredJob;
  try {
    first = await jobs.get(jobId);
  } catch (err) {
    unwatch();
    throw err;
  }
  // The client left, or the API began shutting down, during the first read.
  if (res.destroyed) return end();
  if (ended) throw new AppError('SERVICE_UNAVAILABLE', 'the API is shutting down; reconnect to another instance');

  res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  res.write(`retry: ${EVENTS_RECHECK_MS}\n\n`);
  const send = (event: string, data: unknown) => res.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  recheck = setInterval(() => void refresh(), EVENTS_RECHECK_MS);
  keepAlive = setInterval(() => res.write(': keep-alive\n\n'), EVENTS_KEEPALIVE_MS);

  function end(): void {
    if (ended) return;
    ended = true;
    clearInterval(recheck);
    clearInterval(keepAlive);
    unwatch();
    // Before the stream started (headers unsent) the route's error path or Express answers instead.
    if (res.headersSent) res.end();
  }

  function emit(job: StoredJob): void {
    const record = toPublicRecord(job);
    if (!last || last.status !== record.status) send('status', record);
    else if (record.progress && JSON.stringify(record.progress) !== JSON.stringify(last.progress)) {
      send('progress', { job_id: jobId, ...record.progress });
    }
    last = record;
    if (TERMINAL_STATUSES.has(record.status)) end();
  }

  // One read at a time; events arriving meanwhile cause one more read after it.
  async function refresh(): Promise<void> {
    if (ended) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const job = await jobs.get(jobId).catch((err: unknown) => (err instanceof AppError && err.code === 'JOB_NOT_FOUND' ? null : undefined));
        if (ended) return;
        if (job === null) {
          send('error', { error: 'JOB_NOT_FOUND', message: `job '${jobId}' does not exist or has expired`, details: { job_id: jobId } });
          end();
          return;
        }
        if (job) emit(job);
      } while (again && !ended);
    } finally {
      reading = false;
    }
  }

  emit(first);
}
