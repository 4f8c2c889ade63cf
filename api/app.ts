import express, { type Express } from 'express';
import type { AlgorithmRegistry } from '../shared/algorithms/registry.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { WorkerRegistry } from '../shared/queue/worker-registry.js';
import type { JobService } from './job-service.js';
import type { JobWaiter } from './job-waiter.js';
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
import { schedulesRouter } from './routes/schedules.js';
import type { ScheduleService } from './schedule-service.js';
import type { Dashboard } from './routes/dashboard.js';
import { statusRouter, type StatusSource } from './routes/status.js';
import { projectsRouter, type FunctionCreator } from './routes/projects.js';
import { functionsRouter } from './routes/functions.js';
import type { FunctionService } from './function-service.js';
import type { ProjectService } from './project-service.js';

/** What {@link createApp} wires together. */
export interface AppDeps {
  jobs: JobService;
  /** Job events, for GET /jobs/{job_id}/events (issue 4); unset: that route answers 503. */
  waiter?: JobWaiter;
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
  /** Schedules behind /schedules (issue 4); unset: those routes answer 503. */
  schedules?: ScheduleService;
  /** What GET /status reads (issue 4), with `workers` and `version`; unset: GET /status answers 503. */
  status?: StatusSource;
  /** Bull Board at /admin/queues (issue 4, api/routes/dashboard.ts); unset: not mounted (404). */
  dashboard?: Dashboard;
  /** Projects, project and system env and dependencies (issue 3, seed 000); unset: those routes answer 503. */
  projects?: ProjectService;
  /** Creates a function as POST /functions does, for the multipart deploy (issue 3); unset: that route answers 503. */
  createFunction?: FunctionCreator;
  /** The functions API and GET /jobs/{job_id}/logs (issue 3, seed 003); unset: those routes answer 503. */
  functions?: FunctionService;
}

/** Paths served, for 405 answers. */
const ROUTES: RouteTable = [
  { pattern: /^\/invoke\/?$/, methods: ['POST'] },
  { pattern: /^\/jobs\/?$/, methods: ['GET', 'POST'] },
  { pattern: /^\/jobs\/[^/]+\/?$/, methods: ['GET'] },
  { pattern: /^\/jobs\/[^/]+\/(attempts|events)\/?$/, methods: ['GET'] },
  { pattern: /^\/jobs\/[^/]+\/logs\/?$/, methods: ['GET'] },
  { pattern: /^\/functions\/?$/, methods: ['GET', 'POST'] },
  { pattern: /^\/functions\/[^/]+\/?$/, methods: ['GET', 'PUT', 'DELETE'] },
  { pattern: /^\/functions\/[^/]+\/invoke\/?$/, methods: ['POST'] },
  { pattern: /^\/functions\/[^/]+\/(jobs|metrics)\/?$/, methods: ['GET'] },
  { pattern: /^\/jobs\/[^/]+\/cancel\/?$/, methods: ['POST'] },
  { pattern: /^\/workers(\/[^/]+)?\/?$/, methods: ['GET'] },
  { pattern: /^\/schedules\/?$/, methods: ['GET', 'POST'] },
  { pattern: /^\/schedules\/[^/]+\/?$/, methods: ['GET', 'PUT', 'DELETE'] },
  { pattern: /^\/schedules\/[^/]+\/(enable|disable)\/?$/, methods: ['POST'] },
  { pattern: /^\/schedules\/[^/]+\/jobs\/?$/, methods: ['GET'] },
  { pattern: /^\/workers\/[^/]+\/resources\/?$/, methods: ['GET'] },
  { pattern: /^\/status\/?$/, methods: ['GET'] },
  { pattern: /^\/projects(\/[^/]+)?\/?$/, methods: ['GET'] },
  { pattern: /^\/projects\/[^/]+\/(start|stop|functions)\/?$/, methods: ['POST'] },
  { pattern: /^\/projects\/[^/]+\/(env|dependencies)\/?$/, methods: ['GET', 'PUT'] },
  { pattern: /^\/(env|dependencies)\/system\/?$/, methods: ['GET'] },
  // The dashboard's page; its other paths (api/*, static/*) answer 404 for a method it does not serve.
  { pattern: /^\/admin\/queues\/?$/i, methods: ['GET'] },
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
  app.use(jobsRouter(deps.jobs, deps.waiter));
  app.use(workersRouter(deps.workers));
  app.use(schedulesRouter(deps.schedules));
  app.use(statusRouter(deps.status && deps.workers ? { ...deps.status, workers: deps.workers, version: deps.version } : undefined));
  app.use(projectsRouter(deps.projects, deps.createFunction));
  app.use(functionsRouter(deps.functions));
  if (deps.dashboard) app.use(deps.dashboard.router);
  app.use(metaRouter({ registry: deps.registry, openapi: buildOpenApiDocument(deps.version), metricsText: deps.metricsText }));
  app.use(notFound(ROUTES));
  app.use(errorHandler(deps.logger));
  return app;
}
