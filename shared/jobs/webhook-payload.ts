/**
 * The one webhook payload builder (docs/api.md#webhooks): the FunctionalScaffold API reference's
 * `{job_id, status, algorithm, result, error, metadata, completed_at}`, from a finished record, plus
 * `failed_dependency` when a job it depends on failed it (docs/api.md#job-dependencies).
 */
import type { WebhookPayload } from '../queue/job-data.js';
import type { StoredJob } from '../schemas/job-record.js';

/** The payload of a finished (completed, failed or cancelled) job. */
export function webhookPayloadOf(record: Pick<StoredJob, 'job_id' | 'algorithm' | 'result' | 'error' | 'metadata' | 'completed_at' | 'failed_dependency'> & { status: WebhookPayload['status'] }): WebhookPayload {
  const payload: WebhookPayload = {
    job_id: record.job_id,
    status: record.status,
    algorithm: record.algorithm,
    result: record.result,
    error: record.error,
    metadata: record.metadata,
    completed_at: record.completed_at,
  };
  if (record.failed_dependency) payload.failed_dependency = record.failed_dependency;
  return payload;
}
