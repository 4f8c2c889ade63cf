import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * The METRICS_TOKEN check of a `/metrics` endpoint that is not behind the API's auth middleware
 * (the worker's own server on WORKER_PORT): with a token set, only `Authorization: Bearer <METRICS_TOKEN>`
 * passes, compared in constant time (SHA-256 of both sides).
 * @returns a function telling whether an `Authorization` header value is let through; always true without a token.
 */
export function metricsTokenCheck(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const expected = sha256(token);
  return (authorization) => {
    const bearer = /^Bearer +([^\s]+) *$/i.exec(authorization ?? '');
    return bearer !== null && timingSafeEqual(sha256(bearer[1]!), expected);
  };
}
