/**
 * The webhooks queue's one configuration (docs/api.md#webhooks): one delivery per job, 1 attempt
 * plus one retry per WEBHOOK_RETRY_DELAYS_MS entry (the FunctionalScaffold API reference: 3 retries
 * at 1 s, 5 s and 15 s), a custom backoff that follows those delays. Used by the API (a cancelled
 * job's delivery) and the worker (finished jobs' deliveries, and the Worker's backoff strategy).
 */
import type { ConnectionOptions } from 'bullmq';
import { Queue } from './bullmq-queue.js';
import { bullmqTelemetry } from '../tracing.js';
import type { WebhookJobData, WebhookPayload } from './job-data.js';
import { WEBHOOKS_QUEUE } from './names.js';

/**
 * Times a delivery may stall (its worker died mid-attempt or lost the lock) and be run again before
 * BullMQ fails it. A repeat is harmless to the receiver (the same `webhook-id`, Standard Webhooks);
 * a delivery BullMQ fails this way is still recorded failed (worker/webhooks/failures.ts).
 */
export const WEBHOOK_MAX_STALLED_COUNT = 5;

/** BullMQ backoff type name of webhook deliveries. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook-schedule';

/** BullMQ custom backoff: the delay before retry n (1-based) is `delaysMs[n - 1]`. */
export function webhookBackoff(delaysMs: readonly number[]) {
  return (attemptsMade: number, type?: string): number => {
    if (type !== WEBHOOK_BACKOFF_TYPE) return 0;
    return delaysMs[Math.min(attemptsMade, delaysMs.length) - 1] ?? 0;
  };
}

/** Job options of a delivery: 1 attempt plus one retry per delay (4 attempts by default). */
export function webhookJobOptions(delaysMs: readonly number[]) {
  return {
    attempts: delaysMs.length + 1,
    backoff: { type: WEBHOOK_BACKOFF_TYPE },
    removeOnComplete: true,
    removeOnFail: { age: 86_400 },
  };
}

/** The webhooks queue with its delivery options as defaults. */
export class WebhooksQueue {
  readonly queue: Queue<WebhookJobData>;

  /** @param retryDelaysMs WEBHOOK_RETRY_DELAYS_MS. */
  constructor(
    connection: ConnectionOptions,
    prefix: string,
    private readonly retryDelaysMs: readonly number[],
  ) {
    this.queue = new Queue<WebhookJobData>(WEBHOOKS_QUEUE, { connection, prefix, skipWaitingForReady: true, defaultJobOptions: webhookJobOptions(retryDelaysMs), telemetry: bullmqTelemetry() });
  }

  /**
   * Enqueues the delivery of a job's outcome. The delivery's id is the job's, so a re-run of the
   * job (stalled recovery) adds no second delivery.
   */
  async enqueue(jobId: string, url: string, payload: WebhookPayload): Promise<void> {
    await this.queue.add('delivery', { url, payload }, { ...webhookJobOptions(this.retryDelaysMs), jobId });
  }

  /** Closes the queue (the connection stays open; it is the caller's). */
  close(): Promise<void> {
    return this.queue.close();
  }
}
