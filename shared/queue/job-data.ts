/**
 * The payload of a BullMQ job on the jobs queue. The BullMQ job id is the job record's id.
 */
export interface AlgorithmJobData {
  algorithm: string;
  params: unknown;
  /** `sync` for POST /invoke (a caller waits), `async` for POST /jobs. */
  mode: 'sync' | 'async';
  /** ISO 8601, as on the record. */
  created_at: string;
  /** http(s) URL to POST the outcome to. */
  webhook?: string;
  /** The request that created the job, for log correlation. */
  request_id?: string;
  /** The pool (worker `pool` label) that runs the job; absent: the default pool (issue 4). */
  pool?: string;
  /** Retries after a failed attempt (issue 4); absent: 0 (seed 002: an algorithm failure is final). */
  max_retries?: number;
  /** Longest one attempt may run, ms, already capped by the server's JOB_TIMEOUT_MAX_MS; absent: ALGORITHM_TIMEOUT_MS. */
  timeout_ms?: number;
  /** Failed attempts of the algorithm so far (written by the worker before a retry; Redis errors are not counted). */
  algorithm_failures?: number;
  /** The schedule that produced this run (issue 4); its record is created by the worker when the run starts. */
  schedule_id?: string;
  /**
   * A function invocation (issue 3): the function's id. `algorithm` is then the function's name,
   * `params` the event, and the worker runs version {@link function_version} in its FunctionPool.
   */
  function_id?: string;
  /** The function version the job runs (fixed at invocation: an update later does not change a queued or running job). */
  function_version?: number;
}

/** Seed 002's webhook payload. */
export interface WebhookPayload {
  job_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  algorithm: string;
  result: unknown;
  error: string | null;
  metadata: unknown;
  completed_at: string | null;
}

/** The payload of a BullMQ job on the webhooks queue: one delivery. */
export interface WebhookJobData {
  url: string;
  payload: WebhookPayload;
}
