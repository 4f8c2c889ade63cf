import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { withLogContext, type Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import { endServerSpan, startServerSpan, tracingEnabled, withContext } from '../../shared/tracing.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'express-serve-static-core' {
  interface Request {
    /** This request's id: the caller's X-Request-Id when well-formed, else a new UUID. Echoed as X-Request-Id. */
    requestId: string;
  }
}

/**
 * The endpoint labels already derived, by Express path (`/jobs/:job_id` → `/jobs/{job_id}`): one
 * per declared route and mount point, so a request does not rewrite its route's path again. A
 * mount point keeps the case the caller wrote (`/ADMIN/queues`), so the map is bounded.
 */
const ENDPOINTS = new Map<string, string>();
const ENDPOINTS_MAX = 1000;

/** `/jobs/:job_id` → `/jobs/{job_id}` (the endpoint label and the OpenAPI form); `unmatched` when no route matched. */
function endpointOf(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (typeof route?.path !== 'string') return 'unmatched';
  const expressPath = req.baseUrl + route.path;
  let endpoint = ENDPOINTS.get(expressPath);
  if (endpoint === undefined) {
    endpoint = expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    if (ENDPOINTS.size < ENDPOINTS_MAX) ENDPOINTS.set(expressPath, endpoint);
  }
  return endpoint;
}

/**
 * Gives every request an id (echoed in X-Request-Id, carried by every log line of the request),
 * counts the HTTP metrics of the FunctionalScaffold API reference, logs one `http`-level line when
 * the response ends, and with tracing on runs the request in a SERVER span named after its route
 * (`POST /jobs`; shared/tracing.ts) that continues the caller's `traceparent`.
 */
export function requestContext(metrics: Metrics, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.get('x-request-id');
    req.requestId = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    const start = process.hrtime.bigint();
    metrics.httpRequestsInProgress.inc();
    const traced = tracingEnabled() ? startServerSpan(req.method, req.headers, { 'http.request.method': req.method, 'url.path': req.path, 'fnqueue.request_id': req.requestId }) : undefined;
    res.once('close', () => {
      metrics.httpRequestsInProgress.dec();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const endpoint = endpointOf(req);
      if (traced) endServerSpan(traced.span, `${req.method} ${endpoint}`, endpoint, res.statusCode);
      metrics.httpRequestsTotal.inc({ method: req.method, endpoint, status: res.statusCode < 400 ? 'success' : 'error' });
      metrics.httpRequestDuration.observe({ method: req.method, endpoint }, seconds);
      // Guarded: winston formats a line before its level drops it.
      if (!logger.isLevelEnabled('http')) return;
      // principal: the authenticated caller (middleware/auth.ts), set after this middleware ran.
      withLogContext({ request_id: req.requestId, principal: req.auth?.id }, () =>
        logger.http('request', { method: req.method, path: req.path, endpoint, http_status: res.statusCode, duration_ms: Math.round(seconds * 1e6) / 1e3 }),
      );
    });
    if (traced) withContext(traced.context, () => withLogContext({ request_id: req.requestId }, next));
    else withLogContext({ request_id: req.requestId }, next);
  };
}
