/**
 * The API's wire shapes, named: each is the OpenAPI document's schema of the same name
 * (src/generated/schema.ts, generated from the API's document at build time).
 */
import type { components, operations, paths } from './generated/schema.js';

export type { components, operations, paths };
/** Every named schema of the OpenAPI document. */
export type Schemas = components['schemas'];

export type JobRecord = Schemas['JobRecord'];
export type JobStatus = JobRecord['status'];
export type JobAccepted = Schemas['JobAccepted'];
export type JobRequest = Schemas['JobRequest'];
export type JobBatchRequest = Schemas['JobBatchRequest'];
export type JobBatchResponse = Schemas['JobBatchResponse'];
/** One entry of a batch's answer: `{job_id, status, created_at}` or `{error: {code, message, details}}`. */
export type JobBatchResult = JobBatchResponse['results'][number];
export type JobList = Schemas['JobList'];
export type JobProgress = Schemas['Progress'];
export type JobLogs = Schemas['JobLogs'];
export type JobLogLine = Schemas['JobLogLine'];
export type AttemptList = Schemas['AttemptList'];
export type InvokeResponse = Schemas['InvokeResponse'];
export type ApiError = Schemas['Error'];
export type FunctionRecord = Schemas['Function'];
export type FunctionCreate = Schemas['FunctionCreate'];
export type FunctionUpdate = Schemas['FunctionUpdate'];
export type FunctionList = Schemas['FunctionList'];
export type FunctionMetrics = Schemas['FunctionMetrics'];
export type Schedule = Schemas['Schedule'];
export type ScheduleCreate = Schemas['ScheduleCreate'];
export type ScheduleUpdate = Schemas['ScheduleUpdate'];
export type ScheduleList = Schemas['ScheduleList'];
export type Worker = Schemas['Worker'];
export type WorkerList = Schemas['WorkerList'];
export type WorkerResources = Schemas['WorkerResources'];
export type Status = Schemas['Status'];
export type AlgorithmList = Schemas['AlgorithmList'];

/** GET /jobs's filters (all must match). */
export type JobFilter = Omit<NonNullable<operations['listJobs']['parameters']['query']>, 'limit' | 'offset'>;
/** GET /jobs/{job_id}/logs's query: tail, since, until. */
export type JobLogsQuery = NonNullable<operations['getJobLogs']['parameters']['query']>;
/** POST /jobs's options beside algorithm and params. */
export type JobOptions = Omit<JobRequest, 'algorithm' | 'params'>;
/** POST /functions/{function_id}/invoke's query options (webhook, priority, delay_ms, max_retries, timeout_ms). */
export type FunctionInvokeOptions = NonNullable<operations['invokeFunction']['parameters']['query']>;

/** The statuses after which a job never changes. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

/**
 * A webhook's body (docs/api.md#webhooks): the FunctionalScaffold API reference's
 * `{job_id, status, algorithm, result, error, metadata, completed_at}`.
 */
export interface WebhookPayload {
  job_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  algorithm: string;
  result: unknown;
  error: string | null;
  metadata: Record<string, unknown> | null;
  completed_at: string | null;
}
