/**
 * Webhook verification for receivers: fnqueue signs deliveries per Standard Webhooks
 * (https://www.standardwebhooks.com; docs/security.md#signed-webhooks) when WEBHOOK_SECRET is set.
 * The verifier is the reference one, the `standardwebhooks` package, re-exported as is.
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { WebhookPayload } from './types.js';

export { Webhook, WebhookVerificationError };

/** Request headers as Node's http (IncomingHttpHeaders), fetch (Headers) or a plain object (names in any case) give them. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/**
 * Verifies one delivery and answers its payload: `webhook-signature` must hold an HMAC-SHA256
 * (over `webhook-id.webhook-timestamp.body`) by `secret` (`whsec_` + base64, as WEBHOOK_SECRET
 * holds it), and `webhook-timestamp` must be within 5 minutes of now (the library's tolerance).
 * @param body the raw body, exactly as received (not re-serialised JSON).
 * @throws WebhookVerificationError when a header is missing, the signature does not match or the timestamp is too old or too new.
 * @throws Error (not a WebhookVerificationError) when `secret` is empty or not base64 after `whsec_`: a configuration mistake.
 */
export function verifyWebhook(secret: string, body: string | Buffer, headers: HeadersLike): WebhookPayload {
  const get = (name: string): string => {
    if (headers instanceof Headers) return headers.get(name) ?? '';
    // Header names are case-insensitive (RFC 9110 §5.1): a plain object may spell them any way.
    const key = name in headers ? name : Object.keys(headers).find((k) => k.toLowerCase() === name);
    const v = key === undefined ? undefined : headers[key];
    return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
  };
  const wanted = { 'webhook-id': get('webhook-id'), 'webhook-timestamp': get('webhook-timestamp'), 'webhook-signature': get('webhook-signature') };
  return new Webhook(secret).verify(typeof body === 'string' ? body : body.toString('utf8'), wanted) as WebhookPayload;
}
