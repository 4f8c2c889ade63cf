import type { Request, Response } from 'express';
import { z } from 'zod';
import { AppError, jobNotFound } from '../../shared/errors/index.js';
import { isJobId, TERMINAL_STATUSES, toPublicRecord } from '../../shared/store/job-store.js';
import { type JobRecord, type StoredJob } from '../../shared/schemas/job-record.js';
import type { JobWaiter } from '../services/job-waiter.js';
import { commandSubmission, type JobService, type Submission } from '../services/job-service.js';
import { parseBody } from '../middleware/validate.js';
import { JobRecordSchema } from '../../shared/schemas/job-record.js';
import { AttemptListSchema, JobAcceptedSchema, JobBatchEnvelopeSchema, JobBatchRequestSchema, JobBatchResponseSchema, JobListQueryDocSchema, JobListQuerySchema, JobListSchema, JobRequestSchema, MAX_BATCH_JOBS, type JobRequest } from '../schemas/jobs.js';
import { errors, json, located } from './responses.js';
import { route, type Route, type RouteServices } from './route.js';
import { assertJobVisible, assertMaySubmit, jobVisibleTo, listingNamespace } from './namespace-access.js';
import { DEFAULT_NAMESPACE } from '../../shared/schemas/namespace.js';

/** The FunctionalScaffold API reference's `任务已创建` (job created). */
export const JOB_CREATED_MESSAGE = 'job created';

/** An Idempotency-Key: 1 to 255 visible ASCII characters (Stripe's and the IETF draft's practice). */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** A live events stream re-reads its job this often, in case a pub/sub message was lost (ms). */
export const EVENTS_RECHECK_MS = 2000;
/** A comment line keeps idle event streams open through proxies this often (ms). */
export const EVENTS_KEEPALIVE_MS = 15_000;

const jobParams = z.object({ job_id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }) });

/** Reads the validated Idempotency-Key header, if any. @throws AppError VALIDATION_ERROR for a malformed key. */
function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new AppError('VALIDATION_ERROR', 'Idempotency-Key must be 1 to 255 visible ASCII characters', { field: 'Idempotency-Key' });
  }
  return key;
}

/**
 * The job routes (docs/api.md#hand-a-job-over-post-jobs-then-get-jobsjob_id): POST /jobs and GET /jobs/{job_id} (the FunctionalScaffold API
 * reference), GET /jobs (listing), GET /jobs/{job_id}/attempts, POST /jobs/{job_id}/cancel and
 * GET /jobs/{job_id}/events (Server-Sent Events).
 */
export const JOB_ROUTES: readonly Route[] = [
  route({
    method: 'post',
    path: '/jobs',
    operationId: 'createJob',
    access: 'write',
    tag: 'jobs',
    body: 'json',
    summary: 'Create an asynchronous job',
    description:
      'A job runs an `algorithm` with its `params`, or a `command` in the worker sandbox (docs/commands.md; its result is a CommandResult, its output the job logs). ' +
      '`depends_on` makes it wait for other jobs (docs/api.md#job-dependencies). ' +
      'Job options: priority, delay_ms, max_retries with retry_backoff and retry_interval_ms, timeout_ms, pool. ' +
      'With an `Idempotency-Key` header (1-255 visible ASCII characters, kept 24 h per caller), the same key and body answer 200 with the existing job (header `Idempotent-Replayed: true`); the same key with another body is 409 CONFLICT.',
    request: {
      headers: z.object({ 'Idempotency-Key': z.string().optional().openapi({ description: 'Any 1-255 visible ASCII characters of your choosing, e.g. a UUID; left empty, no deduplication' }) }),
      body: { schema: JobRequestSchema },
    },
    responses: {
      200: located(JobRecordSchema, 'A resubmission with the same Idempotency-Key and body: the existing job', '/jobs/{job_id}'),
      202: located(JobAcceptedSchema, 'Accepted', '/jobs/{job_id}'),
      ...errors([400, 'VALIDATION_ERROR (also a depends_on job that does not exist: details.job_id)'], [403, 'FORBIDDEN (a command not in COMMAND_ALLOWLIST: details.reason command_not_allowed)'], [404, 'ALGORITHM_NOT_FOUND'], [409, 'CONFLICT (Idempotency-Key reused with another body; or no worker serves the pool: details.reason pool_not_served)'], [413, 'PAYLOAD_TOO_LARGE'], [503, 'SERVICE_UNAVAILABLE']),
    },
    handler: async ({ req, res, services }) => {
      const body = parseBody(JobRequestSchema, req.body);
      const key = idempotencyKey(req);
      const idempotency = key === undefined ? undefined : { key, caller: req.auth?.id ?? 'anonymous', body: req.body as unknown };
      const submission = submissionOf(body, req, services, idempotency);
      const { job_id, created_at, existing } = await services.jobs.submit(submission);
      if (existing) {
        // A resubmission with the same Idempotency-Key and body: the job it created, as GET shows it.
        res.status(200).location(`/jobs/${job_id}`).set('Idempotent-Replayed', 'true').json(toPublicRecord(existing));
        return;
      }
      sendAccepted(res, job_id, created_at);
    },
  }),
  route({
    method: 'post',
    path: '/jobs/batch',
    operationId: 'createJobBatch',
    access: 'write',
    tag: 'jobs',
    body: 'json',
    summary: 'Create up to 1,000 asynchronous jobs in one request',
    description:
      `\`jobs\` holds 1 to ${MAX_BATCH_JOBS} bodies of POST /jobs (the whole request within BODY_LIMIT); a top-level \`webhook\` is the webhook of every job that gives none. ` +
      'Each job is validated and checked on its own as POST /jobs checks it (its schema, the algorithm, the server maxima, depends_on naming existing jobs, the pool being served, MAX_QUEUE_DEPTH and MAX_QUEUED_BYTES: the jobs past a bound are refused, the first ones accepted). ' +
      '`results` answers per job, in order: `{job_id, status, created_at}` or `{error: {code, message, details}}` with the code POST /jobs would answer. ' +
      '202 when at least one job was accepted. When none was, the answer is an error (the refusals\' common code, or VALIDATION_ERROR when they differ) with the same `results` in details. ' +
      'The accepted jobs are written together: when Redis fails, none of them is (503). The batch counts as one request against RATE_LIMIT_PER_SECOND. Idempotency-Key is not supported here (400).',
    request: { body: { schema: JobBatchRequestSchema } },
    responses: {
      202: json(JobBatchResponseSchema, 'At least one job accepted; per job, in order, its id or its error'),
      ...errors(
        [400, 'VALIDATION_ERROR (the envelope: not an object, no jobs, empty, more than 1,000; an Idempotency-Key header; or no job accepted: details.results)'],
        [404, 'ALGORITHM_NOT_FOUND (no job accepted, each for this: details.results)'],
        [409, 'CONFLICT (no job accepted, each for this: details.results)'],
        [413, 'PAYLOAD_TOO_LARGE (past BODY_LIMIT)'],
        [503, 'SERVICE_UNAVAILABLE (Redis unavailable: nothing written; or no job accepted, each for a full queue: details.results)'],
      ),
    },
    handler: async ({ req, res, services }) => {
      if (req.get('idempotency-key') !== undefined) {
        throw new AppError('VALIDATION_ERROR', 'Idempotency-Key is not supported on POST /jobs/batch (send each job to POST /jobs to deduplicate it)', { field: 'Idempotency-Key' });
      }
      const envelope = parseBody(JobBatchEnvelopeSchema, req.body);
      const items = envelope.jobs.map((item) => batchItem(item, envelope.webhook, req, services));
      const outcomes = await services.jobs.submitBatch(items);
      const results = outcomes.map((o) => (o instanceof AppError ? { error: { code: o.code, message: o.message, details: o.details } } : { job_id: o.job_id, status: 'pending' as const, created_at: o.created_at }));
      const refused = outcomes.filter((o): o is AppError => o instanceof AppError);
      if (refused.length === outcomes.length) throw batchRefused(refused, results);
      res.status(202).json({ results, accepted: outcomes.length - refused.length, refused: refused.length });
    },
  }),
  route({
    method: 'get',
    path: '/jobs',
    operationId: 'listJobs',
    access: 'read',
    tag: 'jobs',
    summary: 'List jobs, newest first',
    description: 'Filters combine (all must match); served from indexes that expire with the records (RESULT_TTL_SECONDS).',
    request: { query: { schema: JobListQuerySchema, doc: JobListQueryDocSchema } },
    responses: { 200: json(JobListSchema, 'One page of job records and the total matching'), ...errors([400, 'VALIDATION_ERROR (a bad value, or an unknown parameter named in details.field)']) },
    handler: async ({ req, res, services, query }) => {
      const { limit, offset, namespace, ...rest } = query;
      const filter = { ...rest, namespace: listingNamespace(req, namespace) };
      const page = await services.jobs.list(filter, { limit, offset });
      res.json({ jobs: page.jobs.map(toPublicRecord), total: page.total, limit, offset });
    },
  }),
  route({
    method: 'get',
    path: '/jobs/{job_id}',
    operationId: 'getJob',
    access: 'read',
    tag: 'jobs',
    summary: 'Read a job',
    request: { params: jobParams },
    responses: { 200: json(JobRecordSchema, 'The job record'), ...errors([404, 'JOB_NOT_FOUND (unknown or expired)']) },
    handler: async ({ req, res, services }) => {
      const job = await services.jobs.get(jobIdParam(req));
      assertJobVisible(req, job);
      res.json(toPublicRecord(job));
    },
  }),
  route({
    method: 'get',
    path: '/jobs/{job_id}/attempts',
    operationId: 'listJobAttempts',
    access: 'read',
    tag: 'jobs',
    summary: "A job's attempts, oldest first",
    description: 'One entry per attempt started: the worker that ran it, its outcome and duration (the task instances of the hetuflow scheduler API reference).',
    request: { params: jobParams },
    responses: { 200: json(AttemptListSchema, 'Every attempt, oldest first'), ...errors([404, 'JOB_NOT_FOUND']) },
    handler: async ({ req, res, services }) => {
      const jobId = jobIdParam(req);
      assertJobVisible(req, await services.jobs.get(jobId));
      const attempts = await services.jobs.attempts(jobId);
      res.json({ job_id: jobId, attempts, total: attempts.length });
    },
  }),
  route({
    method: 'post',
    path: '/jobs/{job_id}/cancel',
    operationId: 'cancelJob',
    access: 'write',
    tag: 'jobs',
    summary: 'Cancel a pending, delayed or running job',
    description: 'A waiting or delayed job is removed from its queue; a running one is stopped on whichever worker runs it (its runner process is killed). The webhook, if any, is sent with status `cancelled`.',
    request: { params: jobParams },
    responses: { 200: json(JobRecordSchema, 'The cancelled record'), ...errors([404, 'JOB_NOT_FOUND'], [409, 'CONFLICT (the job already ended; details.status)']) },
    handler: async ({ req, res, services }) => {
      const jobId = jobIdParam(req);
      assertJobVisible(req, await services.jobs.get(jobId));
      res.json(toPublicRecord(await services.jobs.cancel(jobId)));
    },
  }),
  route({
    method: 'get',
    path: '/jobs/{job_id}/events',
    operationId: 'streamJobEvents',
    access: 'read',
    tag: 'jobs',
    summary: "A job's status and progress as Server-Sent Events",
    description:
      '`event: status` carries the public record at each status change; `event: progress` carries `{job_id, percent, message, updated_at}`. The stream ends after the terminal status (at once for an ended job), or with `event: error` when the record expires.',
    request: { params: jobParams },
    responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errors([404, 'JOB_NOT_FOUND'], [503, 'SERVICE_UNAVAILABLE (live events are not available)']) },
    handler: async ({ req, res, services }) => {
      const jobId = jobIdParam(req);
      if (!services.waiter) throw new AppError('SERVICE_UNAVAILABLE', 'live events are not available');
      assertJobVisible(req, await services.jobs.get(jobId));
      await streamEvents(services.jobs, services.waiter, jobId, res);
    },
  }),
];

/**
 * The Submission of a parsed POST /jobs body: exactly one target, a command or an algorithm with its
 * params (the schema let no other shape through), in the namespace the caller may submit to.
 * @throws AppError FORBIDDEN when the caller's credentials are limited to other namespaces (docs/security.md#namespaces).
 */
function submissionOf(body: JobRequest, req: Request, services: RouteServices, idempotency?: Submission['idempotency']): Submission {
  const { algorithm, params, command, webhook, depends_on, project, namespace, ...options } = body;
  assertMaySubmit(req, namespace);
  const common = { webhook, options, idempotency, requestId: req.requestId, ...(depends_on ? { depends_on, dependencyVisible: jobVisibleTo(req, services) } : {}), ...(namespace && namespace !== DEFAULT_NAMESPACE ? { namespace } : {}) };
  return command ? commandSubmission(command, { ...common, ...(project ? { project } : {}) }) : { ...common, algorithm: algorithm!, params: params!, paramsPath: ['params'] };
}

/** One job of a batch: its Submission, or the AppError its body's parse gives (as POST /jobs would answer it). */
function batchItem(item: unknown, webhook: string | undefined, req: Request, services: RouteServices): Submission | AppError {
  const withDefault = webhook !== undefined && item !== null && typeof item === 'object' && !Array.isArray(item) && !('webhook' in item) ? { ...item, webhook } : item;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return new AppError('VALIDATION_ERROR', 'a job must be a JSON object (the body POST /jobs takes)', { field: 'body' });
  try {
    return submissionOf(parseBody(JobRequestSchema, withDefault), req, services);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

/**
 * The error of a batch none of whose jobs was accepted: the refusals' code when they share one
 * (SERVICE_UNAVAILABLE then says when to retry), else VALIDATION_ERROR; details.results per job.
 */
function batchRefused(refused: readonly AppError[], results: unknown[]): AppError {
  const code = refused.every((e) => e.code === refused[0]!.code) ? refused[0]!.code : 'VALIDATION_ERROR';
  const retry = Math.max(0, ...refused.map((e) => (typeof e.details.retry_after_seconds === 'number' ? e.details.retry_after_seconds : 0)));
  return new AppError(code, `no job of the batch was accepted (${refused.length} refused; the first: ${refused[0]!.message})`, { results, ...(code === 'SERVICE_UNAVAILABLE' && retry > 0 ? { retry_after_seconds: retry } : {}) });
}

/**
 * Answers POST /jobs' 202 `{job_id, status: 'pending', message, created_at}` with its Location, the
 * same bytes and headers as `res.status(202).location(...).json(...)` give (no JSON settings are set
 * on the app), written directly: the hottest answer skips Express's per-call header and charset work.
 */
function sendAccepted(res: Response, jobId: string, createdAt: string): void {
  // Both values are JSON-safe as they are: a job id is 12 hex characters, created_at an ISO time.
  const body = `{"job_id":"${jobId}","status":"pending","message":${ACCEPTED_MESSAGE_JSON},"created_at":"${createdAt}"}`;
  res.statusCode = 202;
  res.setHeader('Location', `/jobs/${jobId}`);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}

const ACCEPTED_MESSAGE_JSON = JSON.stringify(JOB_CREATED_MESSAGE);

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
  // Listen for the client leaving and for the job's events before the first read, which also marks
  // the job watched (its events are published only then), so neither a departure nor a change
  // during that read is missed.
  res.on('close', () => end());
  const unwatch = waiter.watch(jobId, () => void refresh(), () => end());
  let first: StoredJob;
  try {
    first = await jobs.watch(jobId);
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
