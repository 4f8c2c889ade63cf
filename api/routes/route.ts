import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Queue } from 'bullmq';
import type { Request, Response } from 'express';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import type { z } from 'zod';
import type { AlgorithmRegistry } from '../../shared/algorithms/registry.js';
import type { Scope } from '../../shared/auth/scopes.js';
import type { FunctionRecord } from '../../shared/store/function-store.js';
import type { WorkerRegistry } from '../../shared/store/worker-registry.js';
import type { FunctionService } from '../services/function-service.js';
import type { JobService } from '../services/job-service.js';
import type { JobWaiter } from '../services/job-waiter.js';
import type { ProjectService } from '../services/project-service.js';
import type { ScheduleService } from '../services/schedule-service.js';
import type { HetuflowService } from '../services/hetuflow-service.js';
import type { HetuflowScheduleService } from '../services/hetuflow-schedules.js';

/**
 * What a route needs when AUTH_ENABLED=true: `open` (no credentials), `metrics` (the
 * METRICS_TOKEN bearer when it is set, else open) or the least scope (admin ⊇ write ⊇ read).
 * docs/security.md lists the scopes.
 */
export type RouteAccess = 'open' | 'metrics' | Scope;

/** The HTTP methods a route may be declared with. HEAD is served (and checked) as GET. */
export type RouteMethod = 'get' | 'post' | 'put' | 'delete';

/**
 * How the body of a request to a route's path is read before the handler runs:
 * `json` (any content type parsed as JSON up to BODY_LIMIT, prototype keys and deep nesting refused),
 * `stream` (left unread: the handler reads it, with its own limits), or `none` (the default: at most
 * a few KiB, then 413; the handler sees `undefined`).
 */
export type BodyReading = 'json' | 'stream' | 'none';

/** A readiness probe: each check true when passing. */
export type ReadinessCheck = () => Promise<Record<string, boolean>>;

/** The services and settings route handlers call, wired in api/app.ts. Unset services answer 503. */
export interface RouteServices {
  jobs: JobService;
  /** Job events, for GET /jobs/{job_id}/events. */
  waiter?: JobWaiter;
  registry: AlgorithmRegistry;
  readiness: ReadinessCheck;
  metricsText: () => Promise<{ contentType: string; body: string }>;
  invokeTimeoutMs: number;
  /** This process's version (package.json). */
  version: string;
  workers?: WorkerRegistry;
  schedules?: ScheduleService;
  status?: StatusSource;
  projects?: ProjectService;
  createFunction?: FunctionCreator;
  functions?: FunctionService;
  /** The OpenAPI document served at GET /openapi.json (built from the declarations on the first call, then the same one). */
  openapi: () => object;
  /** The hetuflow-compatible scheduler API under /api/v1 (docs/compat-hetuflow.md): definitions, tasks, agents, system. */
  hetuflow?: HetuflowService;
  /** Its schedules of job definitions, on the native schedules. */
  hetuflowSchedules?: HetuflowScheduleService;
}

/** A queue as `GET /status` reads it. */
export type CountedQueue = Pick<Queue, 'name' | 'getJobCounts' | 'isPaused'>;

/** Where `GET /status` reads from (wired in api/server.ts). */
export interface StatusSource {
  /** The jobs queue of every known pool, default pool first (JobQueues). */
  jobQueues: { all(): Promise<CountedQueue[]> };
  /** Other queues shown under `queues` but not counted in `queue_depth` (webhooks). */
  otherQueues: readonly CountedQueue[];
  /** A command connection (the request connection: no offline queue, so Redis down fails fast). */
  redis: Pick<Redis, 'info'>;
  /** Project and function counts. */
  projects: Pick<ProjectService, 'counts'>;
}

/**
 * Creates a function as `POST /functions` does (the functions API's service), from the body fields
 * of that route: `{name, runtime, code, execution_type, handler?, env?, dependencies?, project, timeout_ms?, memory_mb?}`.
 * @returns the created record (status `building` when it has dependencies).
 */
export type FunctionCreator = (body: Record<string, unknown>, requestId: string) => Promise<FunctionRecord>;

/** What a handler gets: the request, the answer, the services, and the query parsed by the declared schema. */
export interface RouteContext<Q> {
  req: Request;
  res: Response;
  services: RouteServices;
  query: Q;
}

/** One documented answer: a description, and a JSON schema or another media type. */
export type RouteResponses = NonNullable<RouteConfig['responses']>;

/**
 * A route, declared once. Everything else is derived from this: the Express route
 * (api/routes/index.ts), the 405 answers and their Allow header, the scope table
 * (api/middleware/auth.ts), how the body is read (api/middleware/body.ts) and the OpenAPI
 * operation (api/openapi/document.ts).
 */
export interface RouteDeclaration<Q = Record<string, never>> {
  method: RouteMethod;
  /** OpenAPI form, `/jobs/{job_id}`; matched case-insensitively, with an optional trailing slash. */
  path: string;
  /** The OpenAPI operationId: camelCase, unique. */
  operationId: string;
  access: RouteAccess;
  /** The OpenAPI tag the operation is listed under. */
  tag: string;
  summary: string;
  description?: string;
  /** See {@link BodyReading}; `none` unless set. */
  body?: BodyReading;
  /**
   * The request's parts. `query.schema` validates (an unknown parameter answers 400 naming it;
   * a bad value 400 naming the parameter) and `query.doc`, plain parameters, documents it;
   * `params`, `headers` and `body` document (the handler or the service validates a body).
   */
  request?: {
    params?: z.ZodObject;
    headers?: z.ZodObject;
    query?: { schema: z.ZodType<Q> & { shape: Record<string, unknown> }; doc: z.ZodObject };
    body?: { schema: z.ZodType; contentType?: string; description?: string };
  };
  /** The documented answers per status; 401/403 come from `access`. */
  responses: RouteResponses;
  /** Left out of the OpenAPI document (the document and its UI pages themselves). */
  undocumented?: boolean;
  handler: (ctx: RouteContext<Q>) => unknown;
}

/**
 * A path served by something other than a declared handler (the dashboard, Bull Board's own app),
 * declared once too for its scope and the OpenAPI document.
 */
export type MountedOperation = Omit<RouteDeclaration, 'handler' | 'body' | 'undocumented'>;

/** A declared route, its query type erased. */
export type Route = RouteDeclaration<any>;

/** Declares a route (typing the handler's query from the declared schema). */
export function route<Q = Record<string, never>>(declaration: RouteDeclaration<Q>): Route {
  return declaration as Route;
}
