import createFetchClient, { type Client as FetchClient } from 'openapi-fetch';
import { optionsFromEnv } from './env.js';
import { errorFromResponse, FnqueueError } from './errors.js';
import { JobEvents, sleep, waitForJob, type JobEvent, type WaitOptions } from './wait.js';
import type {
  AlgorithmList,
  AttemptList,
  FunctionCreate,
  FunctionInvokeOptions,
  FunctionList,
  FunctionMetrics,
  FunctionRecord,
  FunctionUpdate,
  InvokeResponse,
  JobAccepted,
  JobBatchRequest,
  JobBatchResponse,
  JobFilter,
  JobList,
  JobLogs,
  JobLogsQuery,
  JobOptions,
  JobRecord,
  paths,
  Schedule,
  ScheduleCreate,
  ScheduleList,
  ScheduleUpdate,
  Status,
  Worker,
  WorkerList,
  WorkerResources,
} from './types.js';

/** Where and how to reach the API. */
export interface ClientOptions {
  /** The API's base URL, e.g. `http://localhost:8000` (default: FNQUEUE_URL or that). */
  baseUrl?: string;
  /** An API key (`npm run keys -- create`), sent as X-API-Key (default: FNQUEUE_API_KEY). */
  apiKey?: string;
  /** A JWT, sent as `Authorization: Bearer` (default: FNQUEUE_TOKEN). */
  token?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global fetch). */
  fetch?: typeof fetch;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@link FnqueueClient.submit}. */
export interface SubmitOptions extends JobOptions, CallOptions {
  /** Sent as Idempotency-Key: the same key and body answer with the job the first call created. */
  idempotencyKey?: string;
}

/** Options of {@link JobsApi.list}. */
export interface ListOptions extends CallOptions {
  /** Records per request (default 100, the API's maximum). */
  pageSize?: number;
  /** Stop after this many records (default: all). */
  max?: number;
}

/** Options of {@link FunctionsApi.deploy}. */
export interface DeployOptions extends CallOptions {
  /** Wait while the function is `building` (its dependencies install) (default true). */
  waitReady?: boolean;
  /** Give up waiting for the build after this long (ms; default 600 000): WAIT_TIMEOUT. */
  timeoutMs?: number;
}

/** Options of {@link FunctionsApi.invoke}. */
export interface FunctionCallOptions extends FunctionInvokeOptions, CallOptions {
  /** For an async function: wait for the job to end, as {@link FnqueueClient.wait} does (default false). */
  wait?: boolean | Omit<WaitOptions, 'signal'>;
}

/** The API's default base URL (`npm start`). */
export const DEFAULT_BASE_URL = 'http://localhost:8000';
/** GET /jobs's largest page (the API refuses more). */
const MAX_PAGE_SIZE = 100;
/** How often deploy re-reads a building function (ms). */
const BUILD_POLL_MS = 500;

type Fetched<T> = { data?: T; error?: unknown; response: Response };

/**
 * The fnqueue API client: typed calls generated from the OpenAPI document (`api`, openapi-fetch),
 * and the helpers a caller needs: invoke, submit + wait (Server-Sent Events, else polling),
 * listing as async iterators, functions, schedules, workers. Every refusal rejects with
 * {@link FnqueueError}.
 */
export class FnqueueClient {
  /** The typed openapi-fetch client, for any route: `client.api.GET('/jobs/{job_id}', {params: {path: {job_id}}})`. */
  readonly api: FetchClient<paths>;
  readonly baseUrl: string;
  readonly jobs: JobsApi;
  readonly functions: FunctionsApi;
  readonly schedules: SchedulesApi;
  readonly workers: WorkersApi;
  /** The headers every request carries (credentials included). */
  readonly headers: Readonly<Record<string, string>>;
  readonly fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    const env = optionsFromEnv();
    this.baseUrl = (options.baseUrl ?? env.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    const apiKey = options.apiKey ?? env.apiKey;
    const token = options.token ?? env.token;
    this.headers = {
      ...(apiKey ? { 'X-API-Key': apiKey } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...options.headers,
    };
    this.fetch = options.fetch ?? globalThis.fetch;
    this.api = createFetchClient<paths>({ baseUrl: this.baseUrl, headers: this.headers, fetch: (req) => this.fetch(req) });
    this.jobs = new JobsApi(this);
    this.functions = new FunctionsApi(this);
    this.schedules = new SchedulesApi(this);
    this.workers = new WorkersApi(this);
  }

  /**
   * Sends one request through `call` and returns its body.
   * @throws FnqueueError for a non-2xx answer (the API's code) or no answer (UNREACHABLE);
   * the signal's reason when aborted.
   */
  async request<T>(call: () => Promise<Fetched<T>>, signal?: AbortSignal): Promise<{ data: T; response: Response }> {
    let out: Fetched<T>;
    try {
      out = await call();
    } catch (err) {
      throw this.transportError(err, signal);
    }
    if (!out.response.ok) throw errorFromResponse(out.response, out.error);
    return { data: out.data as T, response: out.response };
  }

  /** The error for a fetch that threw: the abort reason, or UNREACHABLE. @internal */
  transportError(err: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof FnqueueError) return err;
    const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
    const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
    return new FnqueueError({ code: 'UNREACHABLE', message: `cannot reach the fnqueue API at ${this.baseUrl} (${why})`, details: { url: this.baseUrl } }, { cause: err });
  }

  /**
   * POST /invoke: runs `algorithm` with `params` and waits for its result (the API waits up to
   * its INVOKE_TIMEOUT_MS, then answers 504 TIMEOUT with `details.job_id`).
   * @throws FnqueueError e.g. VALIDATION_ERROR, ALGORITHM_NOT_FOUND, ALGORITHM_ERROR, TIMEOUT.
   */
  async invoke(algorithm: string, params: Record<string, unknown>, options: CallOptions & { pool?: string } = {}): Promise<InvokeResponse> {
    const { signal, pool } = options;
    const body = { algorithm, params, ...(pool ? { pool } : {}) };
    return (await this.request(() => this.api.POST('/invoke', { body, signal }) as Promise<Fetched<InvokeResponse>>, signal)).data;
  }

  /**
   * POST /jobs: hands a job over. Answers the accepted job (`{job_id, status: 'pending', ...}`),
   * or, for a resubmission with the same Idempotency-Key and body, the existing record.
   * @throws FnqueueError e.g. VALIDATION_ERROR, ALGORITHM_NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE.
   */
  async submit(algorithm: string, params: Record<string, unknown>, options: SubmitOptions = {}): Promise<JobAccepted | JobRecord> {
    const { signal, idempotencyKey, ...jobOptions } = options;
    const header = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
    const call = () => this.api.POST('/jobs', { body: { algorithm, params, ...jobOptions }, params: { header }, signal }) as Promise<Fetched<JobAccepted | JobRecord>>;
    return (await this.request(call, signal)).data;
  }

  /**
   * Waits for a job to end and answers its final record (status completed, failed or cancelled):
   * from GET /jobs/{job_id}/events (Server-Sent Events) when the API serves it, else by polling
   * GET /jobs/{job_id} with backoff (250 ms growing to 5 s).
   * @throws FnqueueError WAIT_TIMEOUT after `timeoutMs`; JOB_NOT_FOUND for an unknown or expired job.
   */
  wait(jobId: string, options: WaitOptions = {}): Promise<JobRecord> {
    return waitForJob(this, jobId, options);
  }

  /** GET /status: queue depths, workers, Redis. */
  async status(options: CallOptions = {}): Promise<Status> {
    return (await this.request(() => this.api.GET('/status', { signal: options.signal }) as Promise<Fetched<Status>>, options.signal)).data;
  }

  /** GET /algorithms: the algorithms with the JSON Schema of their params. */
  async algorithms(options: CallOptions = {}): Promise<AlgorithmList['algorithms']> {
    return (await this.request(() => this.api.GET('/algorithms', { signal: options.signal }) as Promise<Fetched<AlgorithmList>>, options.signal)).data.algorithms;
  }

  /** GET /readyz: true when the API is ready (Redis reachable, accepting); false for its 503. @throws FnqueueError UNREACHABLE. */
  async ready(options: CallOptions = {}): Promise<boolean> {
    try {
      const res = await this.fetch(`${this.baseUrl}/readyz`, { headers: this.headers, signal: options.signal });
      await res.body?.cancel();
      return res.ok;
    } catch (err) {
      throw this.transportError(err, options.signal);
    }
  }
}

/** The job routes. */
export class JobsApi {
  constructor(private readonly client: FnqueueClient) {}

  /** As {@link FnqueueClient.submit}. */
  submit(algorithm: string, params: Record<string, unknown>, options?: SubmitOptions): Promise<JobAccepted | JobRecord> {
    return this.client.submit(algorithm, params, options);
  }

  /**
   * POST /jobs/batch: hands over 1 to 1,000 jobs (each the body POST /jobs takes) in one request.
   * Answers per job, in order, `{job_id, status, created_at}` or `{error: {code, message, details}}`,
   * with the counts `accepted` and `refused`. `webhook` is the webhook of every job that gives none.
   * @throws FnqueueError for the batch as a whole: VALIDATION_ERROR (the envelope, e.g. more than
   *   1,000 jobs), PAYLOAD_TOO_LARGE, SERVICE_UNAVAILABLE (nothing was written); and when no job was
   *   accepted, the refusals' code with `details.results`.
   */
  async submitBatch(jobs: JobBatchRequest['jobs'], options: CallOptions & { webhook?: string } = {}): Promise<JobBatchResponse> {
    const c = this.client;
    const { signal, webhook } = options;
    const body: JobBatchRequest = { jobs, ...(webhook ? { webhook } : {}) };
    return (await c.request(() => c.api.POST('/jobs/batch', { body, signal }) as Promise<Fetched<JobBatchResponse>>, signal)).data;
  }

  /** As {@link FnqueueClient.wait}. */
  wait(jobId: string, options?: WaitOptions): Promise<JobRecord> {
    return this.client.wait(jobId, options);
  }

  /** GET /jobs/{job_id}. @throws FnqueueError JOB_NOT_FOUND. */
  async get(jobId: string, options: CallOptions = {}): Promise<JobRecord> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/jobs/{job_id}', { params: { path: { job_id: jobId } }, signal: options.signal }) as Promise<Fetched<JobRecord>>, options.signal)).data;
  }

  /** GET /jobs: one page (newest first), with `total` matching. */
  async page(filter: JobFilter & { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<JobList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/jobs', { params: { query: filter }, signal: options.signal }) as Promise<Fetched<JobList>>, options.signal)).data;
  }

  /**
   * Every job matching `filter`, newest first, fetched a page at a time as the loop asks:
   * `for await (const job of client.jobs.list({status: 'failed'})) ...`. Jobs created while
   * listing shift the pages; a job already yielded is not yielded again.
   */
  async *list(filter: JobFilter = {}, options: ListOptions = {}): AsyncGenerator<JobRecord, void, undefined> {
    const limit = Math.min(Math.max(1, options.pageSize ?? MAX_PAGE_SIZE), MAX_PAGE_SIZE);
    const max = options.max ?? Infinity;
    const seen = new Set<string>();
    let offset = 0;
    while (seen.size < max) {
      const page = await this.page({ ...filter, limit, offset }, options);
      for (const job of page.jobs) {
        if (seen.has(job.job_id)) continue;
        seen.add(job.job_id);
        yield job;
        if (seen.size >= max) return;
      }
      offset += page.jobs.length;
      if (page.jobs.length === 0 || offset >= page.total) return;
    }
  }

  /** POST /jobs/{job_id}/cancel: the cancelled record. @throws FnqueueError JOB_NOT_FOUND; CONFLICT when it already ended. */
  async cancel(jobId: string, options: CallOptions = {}): Promise<JobRecord> {
    const c = this.client;
    return (await c.request(() => c.api.POST('/jobs/{job_id}/cancel', { params: { path: { job_id: jobId } }, signal: options.signal }) as Promise<Fetched<JobRecord>>, options.signal)).data;
  }

  /** GET /jobs/{job_id}/attempts, oldest first. */
  async attempts(jobId: string, options: CallOptions = {}): Promise<AttemptList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/jobs/{job_id}/attempts', { params: { path: { job_id: jobId } }, signal: options.signal }) as Promise<Fetched<AttemptList>>, options.signal)).data;
  }

  /** GET /jobs/{job_id}/logs: a function job's stdout and stderr lines, oldest first (an algorithm job has none). */
  async logs(jobId: string, query: JobLogsQuery = {}, options: CallOptions = {}): Promise<JobLogs> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/jobs/{job_id}/logs', { params: { path: { job_id: jobId }, query }, signal: options.signal }) as Promise<Fetched<JobLogs>>, options.signal)).data;
  }

  /**
   * GET /jobs/{job_id}/events as an async iterator: a `status` event at each status change (the
   * record; the first one at once), `progress` events between; it ends after the terminal status.
   * @throws FnqueueError JOB_NOT_FOUND (also when the record expires meanwhile); SERVICE_UNAVAILABLE
   * when the API does not serve live events.
   */
  events(jobId: string, options: CallOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    return new JobEvents(this.client, jobId, options.signal).stream();
  }
}

/** The function routes. */
export class FunctionsApi {
  constructor(private readonly client: FnqueueClient) {}

  /**
   * POST /functions, then (unless `waitReady: false`) re-reads it while it is `building`. Answers
   * the record: `status` active, or failed with its `build_log`.
   * @throws FnqueueError VALIDATION_ERROR (e.g. a syntax error, `details`), CONFLICT; WAIT_TIMEOUT.
   */
  async deploy(spec: FunctionCreate, options: DeployOptions = {}): Promise<FunctionRecord> {
    const c = this.client;
    const { signal } = options;
    let fn = (await c.request(() => c.api.POST('/functions', { body: spec, signal }) as Promise<Fetched<FunctionRecord>>, signal)).data;
    if (options.waitReady === false) return fn;
    const until = Date.now() + (options.timeoutMs ?? 600_000);
    while (fn.status === 'building') {
      if (Date.now() > until) throw new FnqueueError({ code: 'WAIT_TIMEOUT', message: `function ${fn.function_id} still building after ${options.timeoutMs ?? 600_000} ms`, details: { function_id: fn.function_id } });
      await sleep(BUILD_POLL_MS, signal);
      fn = await this.get(fn.function_id, { signal });
    }
    return fn;
  }

  /** GET /functions: one page. */
  async list(query: { limit?: number; offset?: number; project?: string } = {}, options: CallOptions = {}): Promise<FunctionList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/functions', { params: { query: query as never }, signal: options.signal }) as Promise<Fetched<FunctionList>>, options.signal)).data;
  }

  /** GET /functions/{function_id}. @throws FnqueueError FUNCTION_NOT_FOUND. */
  async get(functionId: string, options: CallOptions = {}): Promise<FunctionRecord> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/functions/{function_id}', { params: { path: { function_id: functionId } }, signal: options.signal }) as Promise<Fetched<FunctionRecord>>, options.signal)).data;
  }

  /** PUT /functions/{function_id}: a new version. */
  async update(functionId: string, changes: FunctionUpdate, options: CallOptions = {}): Promise<FunctionRecord> {
    const c = this.client;
    return (await c.request(() => c.api.PUT('/functions/{function_id}', { params: { path: { function_id: functionId } }, body: changes, signal: options.signal }) as Promise<Fetched<FunctionRecord>>, options.signal)).data;
  }

  /** DELETE /functions/{function_id}. @throws FnqueueError FUNCTION_NOT_FOUND. */
  async remove(functionId: string, options: CallOptions = {}): Promise<void> {
    const c = this.client;
    await c.request(() => c.api.DELETE('/functions/{function_id}', { params: { path: { function_id: functionId } }, signal: options.signal, parseAs: 'text' }) as Promise<Fetched<unknown>>, options.signal);
  }

  /**
   * POST /functions/{function_id}/invoke with `event` as the body: a sync function answers its
   * finished job record (completed or failed), an async one its pending record — or, with
   * `wait`, its final record.
   * @throws FnqueueError FUNCTION_NOT_FOUND, CONFLICT (not active), TIMEOUT.
   */
  async invoke(functionId: string, event: unknown = {}, options: FunctionCallOptions = {}): Promise<JobRecord> {
    const c = this.client;
    const { signal, wait, ...query } = options;
    const call = () =>
      c.api.POST('/functions/{function_id}/invoke', { params: { path: { function_id: functionId }, query }, body: event, signal }) as Promise<Fetched<JobRecord>>;
    const record = (await c.request(call, signal)).data;
    if (!wait || record.status === 'completed' || record.status === 'failed' || record.status === 'cancelled') return record;
    return c.wait(record.job_id, { ...(typeof wait === 'object' ? wait : {}), signal });
  }

  /** GET /functions/{function_id}/jobs: its invocations, newest first. */
  async jobs(functionId: string, query: { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<JobList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/functions/{function_id}/jobs', { params: { path: { function_id: functionId }, query: query as never }, signal: options.signal }) as Promise<Fetched<JobList>>, options.signal)).data;
  }

  /**
   * The output lines of the function's last `invocations` runs (default 1), newest run first:
   * GET /functions/{function_id}/jobs, then GET /jobs/{job_id}/logs for each.
   */
  async logs(functionId: string, options: CallOptions & { invocations?: number; tail?: number } = {}): Promise<JobLogs[]> {
    const page = await this.jobs(functionId, { limit: options.invocations ?? 1 }, options);
    const out: JobLogs[] = [];
    for (const job of page.jobs) out.push(await this.client.jobs.logs(job.job_id, options.tail ? { tail: options.tail } : {}, options));
    return out;
  }

  /** GET /functions/{function_id}/metrics. */
  async metrics(functionId: string, options: CallOptions = {}): Promise<FunctionMetrics> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/functions/{function_id}/metrics', { params: { path: { function_id: functionId } }, signal: options.signal }) as Promise<Fetched<FunctionMetrics>>, options.signal)).data;
  }
}

/** The schedule routes. */
export class SchedulesApi {
  constructor(private readonly client: FnqueueClient) {}

  /** POST /schedules. @throws FnqueueError VALIDATION_ERROR, CONFLICT (schedule_limit). */
  async create(spec: ScheduleCreate, options: CallOptions = {}): Promise<Schedule> {
    const c = this.client;
    return (await c.request(() => c.api.POST('/schedules', { body: spec, signal: options.signal }) as Promise<Fetched<Schedule>>, options.signal)).data;
  }

  /** GET /schedules: one page. */
  async list(query: { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<ScheduleList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/schedules', { params: { query: query as never }, signal: options.signal }) as Promise<Fetched<ScheduleList>>, options.signal)).data;
  }

  /** GET /schedules/{schedule_id}. @throws FnqueueError SCHEDULE_NOT_FOUND. */
  async get(scheduleId: string, options: CallOptions = {}): Promise<Schedule> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/schedules/{schedule_id}', { params: { path: { schedule_id: scheduleId } }, signal: options.signal }) as Promise<Fetched<Schedule>>, options.signal)).data;
  }

  /** PUT /schedules/{schedule_id}. */
  async update(scheduleId: string, changes: ScheduleUpdate, options: CallOptions = {}): Promise<Schedule> {
    const c = this.client;
    return (await c.request(() => c.api.PUT('/schedules/{schedule_id}', { params: { path: { schedule_id: scheduleId } }, body: changes, signal: options.signal }) as Promise<Fetched<Schedule>>, options.signal)).data;
  }

  /** DELETE /schedules/{schedule_id}. */
  async remove(scheduleId: string, options: CallOptions = {}): Promise<void> {
    const c = this.client;
    await c.request(() => c.api.DELETE('/schedules/{schedule_id}', { params: { path: { schedule_id: scheduleId } }, signal: options.signal, parseAs: 'text' }) as Promise<Fetched<unknown>>, options.signal);
  }

  /** POST /schedules/{schedule_id}/enable. */
  async enable(scheduleId: string, options: CallOptions = {}): Promise<Schedule> {
    const c = this.client;
    return (await c.request(() => c.api.POST('/schedules/{schedule_id}/enable', { params: { path: { schedule_id: scheduleId } }, signal: options.signal }) as Promise<Fetched<Schedule>>, options.signal)).data;
  }

  /** POST /schedules/{schedule_id}/disable. */
  async disable(scheduleId: string, options: CallOptions = {}): Promise<Schedule> {
    const c = this.client;
    return (await c.request(() => c.api.POST('/schedules/{schedule_id}/disable', { params: { path: { schedule_id: scheduleId } }, signal: options.signal }) as Promise<Fetched<Schedule>>, options.signal)).data;
  }

  /** GET /schedules/{schedule_id}/jobs: the runs it started, newest first. */
  async runs(scheduleId: string, query: { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<JobList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/schedules/{schedule_id}/jobs', { params: { path: { schedule_id: scheduleId }, query: query as never }, signal: options.signal }) as Promise<Fetched<JobList>>, options.signal)).data;
  }
}

/** The worker routes. */
export class WorkersApi {
  constructor(private readonly client: FnqueueClient) {}

  /** GET /workers: the worker processes by heartbeat. */
  async list(query: { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<WorkerList> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/workers', { params: { query: query as never }, signal: options.signal }) as Promise<Fetched<WorkerList>>, options.signal)).data;
  }

  /** GET /workers/{worker_id}. */
  async get(workerId: string, options: CallOptions = {}): Promise<Worker> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/workers/{worker_id}', { params: { path: { worker_id: workerId } }, signal: options.signal }) as Promise<Fetched<Worker>>, options.signal)).data;
  }

  /** GET /workers/{worker_id}/resources. */
  async resources(workerId: string, options: CallOptions = {}): Promise<WorkerResources> {
    const c = this.client;
    return (await c.request(() => c.api.GET('/workers/{worker_id}/resources', { params: { path: { worker_id: workerId } }, signal: options.signal }) as Promise<Fetched<WorkerResources>>, options.signal)).data;
  }
}

/** A client for `options` (see {@link ClientOptions}: base URL and credentials default to FNQUEUE_URL, FNQUEUE_API_KEY, FNQUEUE_TOKEN). */
export function createClient(options: ClientOptions = {}): FnqueueClient {
  return new FnqueueClient(options);
}
