/**
 * The image's HEALTHCHECK (Dockerfile): `node dist/scripts/healthcheck.js URL...` exits 0 when
 * any URL answers 2xx within 2 s, else 1. One image runs both services, so the Dockerfile passes
 * the API's readiness (`/readyz` on PORT) and the worker's liveness (`/healthz` on WORKER_PORT):
 * whichever process the container runs answers its own. Written here rather than with curl or
 * wget, which the slim Node image does not have.
 */
const TIMEOUT_MS = 2000;

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

const urls = process.argv.slice(2);
const answers = await Promise.all(urls.map(healthy));
process.exit(answers.includes(true) ? 0 : 1);
