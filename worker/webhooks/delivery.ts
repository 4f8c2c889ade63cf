import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import { withLogContext, type Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import type { WebhookJobData } from '../../shared/queue/job-data.js';
import { isoNow, type JobStore } from '../../shared/store/job-store.js';
import type { WebhookSlotStore } from '../../shared/store/webhook-slot-store.js';
import { webhookMessageId, type WebhookSigner } from './signing.js';
import { undici } from './undici.js';
import { isWebhookRefused } from './webhook-agent.js';
import { inSpan, SpanKind, traceHeaders } from '../../shared/tracing.js';

// The queue's configuration lives in shared/queue/webhooks-queue.ts; re-exported for the worker's imports.

/** Options of one {@link postWebhook} attempt. */
export interface PostWebhookOptions {
  timeoutMs: number;
  /** Extra headers (the Standard Webhooks signature headers). */
  headers?: Record<string, string>;
  /** The undici dispatcher: `createWebhookAgent`'s, which applies the SSRF guard. Default: undici's global one. */
  dispatcher?: Dispatcher;
}

/**
 * POSTs `body` (already-serialised JSON: the bytes signed are the bytes sent), once, with a timeout.
 * Redirects are not followed (undici's default): a 3xx is a failed attempt.
 * @throws Error naming the status for a non-2xx answer; the connection error, timeout, or
 * WebhookRefusedError (code ERR_WEBHOOK_REFUSED) from the dispatcher's SSRF guard.
 */
export async function postWebhook(url: string, body: Buffer | string, opts: PostWebhookOptions): Promise<number> {
  const { timeoutMs } = opts;
  const res = await undici().request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'fnqueue-webhook/1', ...opts.headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  await res.body.dump().catch(() => undefined);
  if (res.statusCode >= 300 && res.statusCode < 400) throw new Error(`receiver answered HTTP ${res.statusCode} (redirects are not followed)`);
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`receiver answered HTTP ${res.statusCode}`);
  return res.statusCode;
}

/** What {@link createWebhookProcessor} needs. */
export interface WebhookDeps {
  store: JobStore;
  metrics: Metrics;
  logger: Logger;
  timeoutMs: number;
  /** Signs each attempt (WEBHOOK_SECRET); undefined sends deliveries unsigned. */
  signer?: WebhookSigner;
  /**
   * The dispatcher of every attempt (`createWebhookAgent`), made at the first delivery (undici.ts:
   * a worker that delivers none never loads undici); default undici's global one (no SSRF guard).
   */
  dispatcher?: () => Dispatcher;
  /** Per-receiver slots (WEBHOOK_HOST_CONCURRENCY); undefined: no per-receiver limit. */
  slots?: WebhookSlotStore;
}

/** A delivery whose receiver has every slot taken waits this long (plus up to as much again, jittered) before it looks again. */
export const WEBHOOK_SLOT_RETRY_MS = 250;

/** How long a receiver's slot stays taken when its worker dies mid-attempt: longer than an attempt can last. */
export function webhookSlotLeaseMs(timeoutMs: number): number {
  return 2 * timeoutMs + 5000;
}

/**
 * The receiver a URL names, as slots are counted: its host name (lower case, as URL parsing gives
 * it), whatever the port, so black holes on many ports of one host share one host's slots
 * (docs/security.md#limits-and-hostile-input). @throws TypeError for an invalid URL.
 */
export function receiverOf(url: string): string {
  return new URL(url).hostname;
}

/**
 * The processor of the webhooks queue: one attempt per call; BullMQ retries on throw with
 * {@link webhookBackoff}. An attempt first takes a slot of its receiver (`deps.slots`); with every
 * slot taken, the delivery goes back to BullMQ's delayed set for {@link WEBHOOK_SLOT_RETRY_MS}
 * (jittered) without using an attempt (`moveToDelayed` + `DelayedError`, BullMQ's documented manual
 * rate limiting). Each attempt is counted on the job record before it is sent, and its outcome
 * recorded after; the last failed attempt records `failed`, and so does an attempt the SSRF guard
 * refused (final: no retries). A delivery whose record already shows delivered or failed (a re-run
 * after a crash) sends nothing. Every attempt of one delivery carries the same `webhook-id` and a
 * fresh `webhook-timestamp`.
 */
export function createWebhookProcessor(deps: WebhookDeps) {
  const { store, metrics, logger, timeoutMs, signer, dispatcher, slots } = deps;
  return async function deliverWebhook(job: Job<WebhookJobData>, token?: string): Promise<void> {
    const { url, payload } = job.data;
    const receiver = receiverOf(url);
    const holder = `${job.id}:${token ?? ''}`;
    if (slots && !(await slots.acquire(receiver, holder))) {
      await job.moveToDelayed(Date.now() + WEBHOOK_SLOT_RETRY_MS + Math.floor(Math.random() * WEBHOOK_SLOT_RETRY_MS), token);
      throw new DelayedError();
    }
    try {
      const started = await store.startWebhookAttempt(payload.job_id);
      if (started === 'ended') {
        logger.info('webhook outcome already recorded; nothing sent', { job_id: payload.job_id });
        return;
      }
      await attemptDelivery(job, started === 'gone' ? job.attemptsMade + 1 : started);
    } finally {
      if (slots) await slots.release(receiver, holder).catch((e: unknown) => logger.warn('could not release a webhook slot', { error: String(e) }));
    }
  };

  async function attemptDelivery(job: Job<WebhookJobData>, attempt: number): Promise<void> {
    const { url, payload } = job.data;
    const maxAttempts = job.opts.attempts ?? 1;
    const spanAttributes = { 'http.request.method': 'POST', 'server.address': receiverOf(url), 'fnqueue.job_id': payload.job_id, 'fnqueue.webhook.attempt': attempt };
    // One CLIENT span per attempt (shared/tracing.ts); its traceparent goes to the receiver.
    await inSpan('webhook delivery', SpanKind.CLIENT, spanAttributes, (span) => withLogContext({ job_id: payload.job_id, algorithm: payload.algorithm, attempt, delivery: 'webhook' }, async () => {
      try {
        const body = Buffer.from(JSON.stringify(payload), 'utf8');
        const signed = signer ? signer.sign(webhookMessageId(payload.job_id), body) : undefined;
        const headers = span ? { ...traceHeaders(), ...signed } : signed;
        const status = await postWebhook(url, body, { timeoutMs, headers, ...(dispatcher ? { dispatcher: dispatcher() } : {}) });
        span?.setAttribute('http.response.status_code', status);
        metrics.webhookDeliveriesTotal.inc({ status: 'success' });
        await store.setWebhookOutcome(payload.job_id, { status: 'delivered', last_error: null, delivered_at: isoNow() });
        logger.info('webhook delivered', { url, http_status: status });
      } catch (err) {
        const message = errorText(err, timeoutMs);
        // BullMQ's count: an attempt cut by a crash is on the record but uses no retry.
        const final = job.attemptsMade + 1 >= maxAttempts || isWebhookRefused(err);
        span?.setAttribute('fnqueue.webhook.final', final);
        metrics.webhookDeliveriesTotal.inc({ status: final ? 'failed' : 'retry' });
        await store
          .setWebhookOutcome(payload.job_id, { status: final ? 'failed' : 'pending', last_error: message, delivered_at: null })
          .catch((e: unknown) => logger.warn('could not record the webhook outcome', { error: String(e) }));
        logger.warn(final ? 'webhook delivery failed; giving up' : 'webhook attempt failed; will retry', { url, error: message });
        if (final) throw new UnrecoverableError(message);
        throw new Error(message);
      }
    }));
  }
}

function errorText(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (isWebhookRefused(err)) return err.message;
    if (err.name === 'TimeoutError' || err.name === 'AbortError' || /timeout/i.test(err.name)) return `no answer within ${timeoutMs} ms`;
    const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
