import { createHmac } from 'node:crypto';
import { webhookSecretKey } from '../../shared/webhook-secrets.js';

/** The Standard Webhooks headers of one attempt. */
export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  /** Space-separated `v1,<base64>` signatures, one per secret (rotation). */
  'webhook-signature': string;
}

/** The Standard Webhooks message id of a job's delivery: the same for every attempt, so receivers can drop duplicates. */
export function webhookMessageId(jobId: string): string {
  return `msg_${jobId}`;
}

/**
 * Signs webhook bodies per the Standard Webhooks spec (https://www.standardwebhooks.com):
 * `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), one signature per secret.
 *
 * node:crypto rather than the `standardwebhooks` package: the scheme is one HMAC, several secrets
 * are a loop here (the package signs with one), and the tests verify our output with the package,
 * an implementation independent of this one.
 */
export class WebhookSigner {
  private readonly keys: readonly Buffer[];

  /** @param secrets well-formed `whsec_...` secrets (validated by loadConfig); at least one. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('WebhookSigner needs at least one secret');
    this.keys = secrets.map(webhookSecretKey);
  }

  /**
   * The headers of one attempt.
   * @param body the exact bytes sent.
   * @param timestampSeconds Unix seconds; fresh per attempt (receivers refuse old ones: replay protection).
   */
  sign(msgId: string, body: Buffer, timestampSeconds = Math.floor(Date.now() / 1000)): WebhookSignatureHeaders {
    const timestamp = String(timestampSeconds);
    const signatures = this.keys.map((key) => {
      const mac = createHmac('sha256', key).update(`${msgId}.${timestamp}.`).update(body).digest('base64');
      return `v1,${mac}`;
    });
    return { 'webhook-id': msgId, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
  }
}
