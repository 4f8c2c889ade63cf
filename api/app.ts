import express, { type Express } from 'express';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { WorkerRegistry } from '../shared/queue/worker-registry.js';
import type { JobService } from './job-service.js';
import { authenticate, type AuthOptions } from './middleware/auth.js';
import { bodyParsing } from './middleware/body.js';
import { errorHandler, notFound, type RouteTable } from './middleware/error-handler.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { buildOpenApiDocument } from './openapi.js';
import { healthRouter, type ReadinessCheck } from './routes/health.js';
import { invokeRouter } from './routes/invoke.js';
import { jobsRouter } from './routes/jobs.js';
import { metaRouter } from './routes/meta.js';
import { workersRouter } from './routes/workers.js';

/** What {@link createApp} wires together. */
export interface AppDeps {
  jobs: JobService;
  registry: AlgorithmRegistry;
  metrics: Metrics;
  logger: Logger;
  readiness: ReadinessCheck;
  metricsText: () => Promise<{ contentType: string; body: string }>;
  /** Largest JSON body, e.g. `1mb` (BODY_LIMIT). */
  bodyLimit: string;
  invokeTimeoutMs: number;
  version: string;
  /** Per-caller rate limiter (RATE_LIMIT_PER_SECOND); unset: no limit. */
  rateLimiter?: Parameters<typeof rateLimit>[0];
  /** Authentication and scopes (AUTH_ENABLED, JWT_*, METRICS_TOKEN); unset: every route is open. */
  auth?: AuthOptions;
  /** The worker registry behind GET /workers (issue 4); unset: those routes answer 503. */
  workers?: WorkerRegistry;
}

/** Paths served, for 405 answers. */
const ROUTES: RouteTable = [
  { pattern: /^\/invoke\/?$/, methods: ['POST'] },
  { pattern: /^\/jobs\/?$/, methods: ['POST'] },
  { pattern: /^\/jobs\/[^/]+\/?$/, methods: ['GET'] },
  { pattern: /^\/workers(\/[^/]+)?\/?$/, methods: ['GET'] },
  { pattern: /^\/(healthz|readyz|metrics|algorithms|openapi\.json|docs|redoc)\/?$/, methods: ['GET'] },
];

/** The Express app, without listening (tests mount it on port 0). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(deps.metrics, deps.logger));
  // Scopes per route: the table in middleware/auth.ts. Probes and docs stay open. First, so an
  // unauthenticated caller costs no body parsing, and the limiter below counts verified callers.
  if (deps.auth) app.use(authenticate(deps.auth));
  // Limited before any body is read, so a refused caller costs one Redis call (or none).
  app.use(rateLimit(deps.rateLimiter, deps.logger));
  app.use(bodyParsing(deps.bodyLimit));
  app.use(healthRouter(deps.readiness));
  app.use(invokeRouter(deps.jobs, deps.invokeTimeoutMs));
  app.use(jobsRouter(deps.jobs));
  app.use(workersRouter(deps.workers));
  app.use(metaRouter({ registry: deps.registry, openapi: buildOpenApiDocument(deps.version), metricsText: deps.metricsText }));
  app.use(notFound(ROUTES));
  app.use(errorHandler(deps.logger));
  return app;
}
