import type { Queue, Worker } from 'bullmq';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import type { WebhookJobData } from '../../shared/queue/job-data.js';
import type { JobStore } from '../../shared/store/job-store.js';

/** Newest failed deliveries looked at by each sweep for deliveries BullMQ failed as stalled too often. */
const FAILED_SWEEP_COUNT = 100;

/** What {@link watchWebhookFailures} needs. */
export interface WebhookFailureWatch {
  worker: Worker<WebhookJobData>;
  queue: Queue<WebhookJobData>;
  store: JobStore;
  metrics: Metrics;
  logger: Logger;
  /** The webhooks Worker's maxStalledCount: a failed delivery stalled more often was failed by BullMQ's stall check. */
  maxStalledCount: number;
  /** Sweep period (STALLED_INTERVAL_MS). */
  intervalMs: number;
}

/**
 * Records as failed (record `webhook.status: failed`, `webhook_deliveries_total{status="failed"}`)
 * every delivery BullMQ failed outside the delivery processor, so a delivery always ends delivered
 * or failed: its attempts used up by errors the processor did not record (this worker's `failed`
 * event), and deliveries failed by BullMQ's stall check (stalled more than `maxStalledCount` times:
 * no event of ours, so the newest failed deliveries are swept every `intervalMs`, as worker/main.ts
 * does for jobs). The record changes only while its outcome is pending, so each such delivery is
 * counted once across every worker.
 * @returns a function that stops the sweep.
 */
export function watchWebhookFailures(w: WebhookFailureWatch): () => void {
  const { store, metrics, logger } = w;
  const recordFailed = async (jobId: string, reason: string) => {
    const outcome = await store.setWebhookOutcome(jobId, { status: 'failed', last_error: `delivery failed: ${reason}`, delivered_at: null });
    if (outcome !== 'updated') return;
    metrics.webhookDeliveriesTotal.inc({ status: 'failed' });
    logger.warn('webhook delivery failed outside its attempt', { job_id: jobId, reason });
  };
  const onFailed = (job: { data: WebhookJobData; attemptsMade: number; opts: { attempts?: number } } | undefined, err: Error) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void recordFailed(job.data.payload.job_id, err.message).catch(() => undefined);
  };
  w.worker.on('failed', onFailed);
  const sweep = async () => {
    for (const job of await w.queue.getFailed(0, FAILED_SWEEP_COUNT - 1)) {
      // BullMQ's own stall counter (the job hash's `stc`), not its message: past the limit, BullMQ failed it.
      if (job?.data?.payload && job.stalledCounter > w.maxStalledCount) await recordFailed(job.data.payload.job_id, job.failedReason);
    }
  };
  const timer = setInterval(() => void sweep().catch(() => undefined), w.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    w.worker.off('failed', onFailed);
  };
}
