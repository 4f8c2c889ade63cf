/**
 * WEBHOOK_SECRET's format (Standard Webhooks): `whsec_` followed by the base64 of the key. Shared by
 * the configuration (validated at start) and the worker's signing.
 */

/** The prefix of a Standard Webhooks secret. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Key length bounds in bytes: the Standard Webhooks spec's recommendation (24 to 64). */
export const WEBHOOK_SECRET_MIN_BYTES = 24;
export const WEBHOOK_SECRET_MAX_BYTES = 64;

/** Splits WEBHOOK_SECRET's value on spaces and commas (several secrets during a rotation). */
export function splitWebhookSecrets(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '');
}

/**
 * What is wrong with one secret, or undefined when it is well formed. Never includes the secret.
 * @param secret one `whsec_...` token; `index` (0-based) names it in the message.
 */
export function webhookSecretProblem(secret: string, index: number): string | undefined {
  const which = `secret ${index + 1}`;
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return `${which} must start with ${WEBHOOK_SECRET_PREFIX}`;
  const b64 = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  // Buffer.from(, 'base64') skips bad characters silently: require canonical base64 (padding optional).
  const unpadded = b64.replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').toString('base64').replace(/=+$/, '') !== unpadded) {
    return `${which}: the part after ${WEBHOOK_SECRET_PREFIX} must be standard base64`;
  }
  const bytes = Buffer.from(b64, 'base64').length;
  if (bytes < WEBHOOK_SECRET_MIN_BYTES || bytes > WEBHOOK_SECRET_MAX_BYTES) {
    return `${which} decodes to ${bytes} bytes; it must be ${WEBHOOK_SECRET_MIN_BYTES} to ${WEBHOOK_SECRET_MAX_BYTES} (e.g. whsec_$(openssl rand -base64 32))`;
  }
  return undefined;
}

/** The HMAC key of a well-formed secret: the base64-decoded part after `whsec_`. */
export function webhookSecretKey(secret: string): Buffer {
  return Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64');
}
