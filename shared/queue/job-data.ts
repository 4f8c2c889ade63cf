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
}

/** Seed 002's webhook payload. */
export interface WebhookPayload {
  job_id: string;
  status: 'completed' | 'failed';
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
