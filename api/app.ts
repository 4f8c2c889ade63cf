import express, { type Express } from 'express';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { authenticate, type AuthOptions } from './middleware/auth.js';
import { bodyParsing } from './middleware/body.js';
import { errorHandler, notFound, type ErrorShape } from './middleware/error-handler.js';
import { PROJECT_FAAS_ERROR_SHAPE } from './middleware/project-faas-errors.js';
import { rateLimit } from './middleware/rate-limit.js';
import { redisStallGuard, type RedisStallWatch } from './middleware/redis-stall-guard.js';
import { requestContext } from './middleware/request-context.js';
import { buildOpenApiDocument } from './openapi/document.js';
import type { Dashboard } from './routes/dashboard.js';
import { METHOD_TABLE, mountRoutes } from './routes/index.js';
import { docAssetsRouter } from './routes/meta.js';
import type { RouteServices } from './routes/route.js';
import { HETUFLOW_ERROR_SHAPE } from './routes/v1-scheduler/index.js';

export type { ReadinessCheck } from './routes/route.js';

/** What {@link createApp} wires together: the services the routes call, and the middleware's settings. */
export interface AppDeps extends Omit<RouteServices, 'openapi'> {
  metrics: Metrics;
  logger: Logger;
  /** Largest JSON body, e.g. `1mb` (BODY_LIMIT). */
  bodyLimit: string;
  /** Per-caller rate limiter (RATE_LIMIT_PER_SECOND); unset: no limit. */
  rateLimiter?: Parameters<typeof rateLimit>[0];
  /** Authentication and scopes (AUTH_ENABLED, JWT_*, METRICS_TOKEN); unset: every route is open. */
  auth?: AuthOptions;
  /** Bull Board at /admin/queues (api/routes/dashboard.ts); unset: not mounted (404). */
  dashboard?: Pick<Dashboard, 'router'>;
  /** The request connection's stall watch: while Redis does not answer, requests needing it answer 503 at once. Unset: no guard. */
  redisStall?: RedisStallWatch;
}

/** The error shapes of the compatible APIs, each owning its paths (docs/api.md); every other path answers in fnqueue's own. */
const ERROR_SHAPES: readonly ErrorShape[] = [PROJECT_FAAS_ERROR_SHAPE, HETUFLOW_ERROR_SHAPE];

/**
 * The Express app, without listening (tests mount it on port 0). The routes, their scopes, how
 * their bodies are read and their 405 answers all come from the declarations in api/routes/.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(deps.metrics, deps.logger));
  const stallGuard = deps.redisStall ? redisStallGuard(deps.redisStall) : undefined;
  if (stallGuard) app.use(stallGuard);
  // Scopes per route (the declarations' `access`). Probes and docs stay open. First, so an
  // unauthenticated caller costs no body parsing, and the limiter below counts verified callers.
  // With AUTH_ENABLED=false and no METRICS_TOKEN it checks nothing: not mounted.
  const auth = deps.auth && (deps.auth.enabled || deps.auth.metricsToken !== undefined) ? deps.auth : undefined;
  if (auth) app.use(authenticate(auth));
  // Limited before any body is read, so a refused caller costs one Redis call (or none). Without a
  // limit (RATE_LIMIT_PER_SECOND=0) no layer at all: a request walks only the middlewares that act.
  if (deps.rateLimiter) app.use(rateLimit(deps.rateLimiter, deps.logger));
  // Again after the layers that may wait on Redis (API keys, the limiter); without them, once is enough.
  if (stallGuard && (auth || deps.rateLimiter)) app.use(stallGuard);
  app.use(bodyParsing(deps.bodyLimit));
  // Built on the first GET /openapi.json, not at startup: building it leaves about 1 MB of live heap,
  // which under load the old generation carries about 2.5 times over before a mark-compact (the
  // API's memory bound, docs/performance.md).
  let openapi: object | undefined;
  mountRoutes(app, { ...deps, openapi: () => (openapi ??= buildOpenApiDocument(deps.version)) });
  if (deps.dashboard) app.use(deps.dashboard.router);
  app.use(docAssetsRouter());
  app.use(notFound(METHOD_TABLE));
  app.use(errorHandler(deps.logger, ERROR_SHAPES));
  return app;
}
