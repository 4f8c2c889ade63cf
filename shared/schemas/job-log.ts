/**
 * A job log line (docs/api.md#job-logs, GET /jobs/{job_id}/logs): one line a function job printed,
 * as shared/store/job-log-store.ts stores it and the API answers it. The OpenAPI document's
 * `JobLogLine` is this schema (zod's `.meta()`).
 */
import { z } from 'zod';

/** One captured stdout or stderr line of a job's attempt. */
export const JobLogLineSchema = z
  .object({
    /** When the worker read the line (ISO 8601). */
    ts: z.string(),
    stream: z.enum(['stdout', 'stderr']),
    line: z.string(),
    /** The job's attempt that printed it (1 unless it was retried). */
    attempt: z.number().int(),
    /** The worker that ran the attempt (its worker id, as in GET /workers); absent on lines stored before it was recorded. */
    worker_id: z.string().optional().meta({ description: 'The worker that ran the attempt (its worker id, as in GET /workers and the attempts)' }),
    /** The job the line belongs to. */
    job_id: z.string().optional().meta({ description: 'The job the line belongs to' }),
  })
  .meta({ id: 'JobLogLine' });
/** One stored log line of a job. */
export type JobLogLine = z.infer<typeof JobLogLineSchema>;
