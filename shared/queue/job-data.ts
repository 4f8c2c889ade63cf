/**
 * The payloads of BullMQ jobs (docs/architecture.md#how-the-pieces-fit). A job on a jobs queue is a
 * {@link JobData}: an algorithm job, a function job (`function_id`) or a command job (`command`). The BullMQ job
 * id is the job record's id (a schedule's run: see recordIdOf in shared/store/job-store.ts).
 */

import type { CommandSpec, FailedDependency } from '../schemas/command.js';
import type { RetryBackoff } from '../schemas/job-record.js';

/** What every job on a jobs queue carries. */
interface JobDataBase {
  /** The algorithm's name; for a function job, the function's name. */
  algorithm: string;
  /** The algorithm's params; for a function job, the event. */
  params: unknown;
  /** `sync` when a caller waits (POST /invoke, a sync function), `async` otherwise. */
  mode: 'sync' | 'async';
  /** ISO 8601, as on the record; '' in a schedule's template (the worker fills it when the run starts). */
  created_at: string;
  /** http(s) URL to POST the outcome to. */
  webhook?: string;
  /** The request that created the job, for log correlation. */
  request_id?: string;
  /** The pool (worker `pool` label) that runs the job; absent: the default pool. */
  pool?: string;
  /** Retries after a failed attempt; absent: 0 (an algorithm failure is final, as the FunctionalScaffold API reference has it). */
  max_retries?: number;
  /** A schedule's runs only: how a failed attempt's retry waits, as the schedule gave it (shown on each run's record). */
  retry_backoff?: RetryBackoff;
  /** A schedule's runs only: the first retry's wait, ms, as the schedule gave it. */
  retry_interval_ms?: number;
  /** Longest one attempt may run, ms, already capped by the server's JOB_TIMEOUT_MAX_MS; absent: ALGORITHM_TIMEOUT_MS. */
  timeout_ms?: number;
  /** Failed attempts of the job so far (written by the worker before a retry; Redis errors are not counted). */
  algorithm_failures?: number;
  /** The schedule that produced this run; its record is created by the worker when the run starts. */
  schedule_id?: string;
  /** The job's namespace (docs/security.md#namespaces); absent: `default`. */
  namespace?: string;
  /** The hetuflow scheduler API's job definition it runs (docs/compat-hetuflow.md). */
  definition_id?: string;
}

/** A job running one of the registry's algorithms in the worker's child pool. */
export interface AlgorithmJob extends JobDataBase {
  function_id?: undefined;
  function_version?: undefined;
  command?: undefined;
}

/** A job running a user function (docs/functions.md) in the worker's function pool. */
export interface FunctionJob extends JobDataBase {
  function_id: string;
  /** The version the job runs, fixed at invocation (an update later does not change a queued job); absent in a schedule's runs, which take the current version when they start. */
  function_version?: number;
  command?: undefined;
}

/** A job running a command in the worker's sandbox (docs/commands.md); `algorithm` is COMMAND_ALGORITHM, `params` `{}`. */
export interface CommandJob extends JobDataBase {
  function_id?: undefined;
  function_version?: undefined;
  command: CommandSpec;
  /** The project whose env is layered between the system env and the command's own. */
  project?: string;
}

/** The data of a job on a jobs queue. */
export type JobData = AlgorithmJob | FunctionJob | CommandJob;

/** True for a function job. */
export function isFunctionJob(data: JobData): data is FunctionJob {
  return typeof data.function_id === 'string' && data.function_id !== '';
}

/** True for a command job. */
export function isCommandJob(data: JobData): data is CommandJob {
  return typeof data.command === 'object' && data.command !== null;
}

/** The webhook payload (the FunctionalScaffold API reference's fields; built by shared/jobs/webhook-payload.ts). */
export interface WebhookPayload {
  job_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  algorithm: string;
  result: unknown;
  error: string | null;
  metadata: unknown;
  completed_at: string | null;
  /** A job failed by a job it depends on: that job and how it ended (docs/api.md#job-dependencies). */
  failed_dependency?: FailedDependency;
}

/** The payload of a BullMQ job on the webhooks queue: one delivery. */
export interface WebhookJobData {
  url: string;
  payload: WebhookPayload;
}
