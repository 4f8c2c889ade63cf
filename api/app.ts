import express, { type Express } from 'express';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { JobService } from './job-service.js';
import { errorHandler, notFound, type RouteTable } from './middleware/error-handler.js';
import { requestContext } from './middleware/request-context.js';
import { buildOpenApiDocument } from './openapi.js';
import { healthRouter, type ReadinessCheck } from './routes/health.js';
import { invokeRouter } from './routes/invoke.js';
import { jobsRouter } from './routes/jobs.js';
import { metaRouter } from './routes/meta.js';

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
}

/** Paths served, for 405 answers. */
const ROUTES: RouteTable = [
  { pattern: /^\/invoke\/?$/, methods: ['POST'] },
  { pattern: /^\/jobs\/?$/, methods: ['POST'] },
  { pattern: /^\/jobs\/[^/]+\/?$/, methods: ['GET'] },
  { pattern: /^\/(healthz|readyz|metrics|algorithms|openapi\.json|docs|redoc)\/?$/, methods: ['GET'] },
];

/** The Express app, without listening (tests mount it on port 0). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(deps.metrics, deps.logger));
  // Any content type is read as JSON, so `curl -d '{"number": 17}'` works without a header.
  app.use(express.json({ limit: deps.bodyLimit, type: () => true, strict: false }));
  app.use(healthRouter(deps.readiness));
  app.use(invokeRouter(deps.jobs, deps.invokeTimeoutMs));
  app.use(jobsRouter(deps.jobs));
  app.use(metaRouter({ registry: deps.registry, openapi: buildOpenApiDocument(deps.version), metricsText: deps.metricsText }));
  app.use(notFound(ROUTES));
  app.use(errorHandler(deps.logger));
  return app;
}
