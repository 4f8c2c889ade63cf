import { nodeHttp } from '../../shared/net/node-http.js';
import { type NextFunction, type Request, type Response, type Router } from 'express';
import { parseQuery } from '../middleware/validate.js';
import { z } from 'zod';
import { DASHBOARD_OPERATION, DASHBOARD_PATH } from './dashboard.js';
import { FUNCTION_ROUTES } from './functions.js';
import { HEALTH_ROUTES } from './health.js';
import { INVOKE_ROUTES } from './invoke.js';
import { JOB_ROUTES } from './jobs.js';
import { DOC_ASSET_PREFIXES, META_ROUTES } from './meta.js';
import { PROJECT_FAAS_ROUTES } from './project-faas.js';
import { PROJECT_ROUTES } from './projects.js';
import type { BodyReading, MountedOperation, Route, RouteAccess, RouteMethod, RouteServices } from './route.js';
import { SCHEDULE_ROUTES } from './schedules.js';
import { STATUS_ROUTES } from './status.js';
import { WORKER_ROUTES } from './workers.js';
import { V1_SCHEDULER_ROUTES } from './v1-scheduler/index.js';

export type { Route, RouteAccess, RouteServices } from './route.js';

/** Every route the API serves, each declared once in its resource's file. */
export const ROUTES: readonly Route[] = [
  ...HEALTH_ROUTES,
  ...INVOKE_ROUTES,
  ...JOB_ROUTES,
  ...WORKER_ROUTES,
  ...SCHEDULE_ROUTES,
  ...STATUS_ROUTES,
  ...PROJECT_ROUTES,
  ...FUNCTION_ROUTES,
  ...PROJECT_FAAS_ROUTES,
  ...META_ROUTES,
  ...V1_SCHEDULER_ROUTES,
];

/** What the OpenAPI document lists: the declared routes (but the documentation's own) and the dashboard's page. */
export const DOCUMENTED_OPERATIONS: readonly MountedOperation[] = [...ROUTES.filter((r) => !r.undocumented), DASHBOARD_OPERATION];

/** `/jobs/{job_id}` as Express writes it: `/jobs/:job_id`. */
const expressPath = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

/** `/jobs/{job_id}` as a pattern over `req.path`: any case, one segment per parameter, an optional trailing slash (as Express matches). */
export const pathPattern = (path: string) =>
  new RegExp(`^${path.split('/').map((seg) => (/^\{[^}]+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('\\/')}\\/?$`, 'i');

/** The order methods are listed in an Allow header. */
const METHOD_ORDER = ['GET', 'POST', 'PUT', 'DELETE'];

/** One path of the API: its pattern and the routes declared on it. */
interface PathEntry {
  path: string;
  pattern: RegExp;
  routes: Route[];
}

const PATHS: readonly PathEntry[] = (() => {
  const byPath = new Map<string, PathEntry>();
  for (const r of ROUTES) {
    const key = r.path.toLowerCase();
    const entry = byPath.get(key) ?? { path: r.path, pattern: pathPattern(r.path), routes: [] };
    if (entry.routes.some((o) => o.method === r.method)) throw new Error(`route ${r.method.toUpperCase()} ${r.path} is declared twice`);
    entry.routes.push(r);
    byPath.set(key, entry);
  }
  return [...byPath.values()];
})();

/**
 * The paths without parameters (`/invoke`, `/jobs`), lower case, each to its entry: found by one
 * lookup rather than by trying the patterns in order. A path that an earlier pattern also matches
 * is left out, so the lookup answers what the patterns in order would.
 */
const STATIC_PATHS: ReadonlyMap<string, PathEntry> = new Map(
  PATHS.filter((p) => !p.path.includes('{') && PATHS.find((q) => q.pattern.test(p.path)) === p).map((p) => [p.path.toLowerCase(), p]),
);

/** The entry whose pattern matches `path` first (case-insensitive, an optional trailing slash), if any. */
function pathEntryOf(path: string): PathEntry | undefined {
  const lower = path.toLowerCase();
  const entry = STATIC_PATHS.get(lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower);
  return entry ?? PATHS.find((p) => p.pattern.test(path));
}

/** The dashboard (Bull Board, api/routes/dashboard.ts): its page and everything under it. */
const DASHBOARD_PATTERN = new RegExp(`^${DASHBOARD_PATH}(\\/.*)?$`, 'i');
/** The dashboard's own JSON API, whose bodies (Bull Board's actions: add a job, edit its data...) are read as JSON. */
const DASHBOARD_API_PATTERN = new RegExp(`^${DASHBOARD_PATH}\\/api\\/`, 'i');
/** The documentation pages' files (api/routes/meta.ts). */
const DOC_ASSETS_PATTERN = new RegExp(`^(${DOC_ASSET_PREFIXES.map((p) => p.replace(/\/$/, '')).join('|')})\\/`, 'i');

/** One line of the scope table. HEAD is checked as GET. */
export interface RouteAccessRule {
  methods: readonly string[];
  /** Matched against `req.path` as Express does: case-insensitive, optional trailing slash. */
  pattern: RegExp;
  access: RouteAccess;
}

/**
 * The scope table, derived from the declarations: each route's `access`, then the two special
 * cases: the documentation's files (open to GET) and the dashboard (GET and HEAD need read; every
 * other method Node accepts is an action and needs admin).
 */
export const ROUTE_ACCESS: readonly RouteAccessRule[] = [
  ...PATHS.flatMap((p) => p.routes.map((r) => ({ methods: [r.method.toUpperCase()], pattern: p.pattern, access: r.access }))),
  { methods: ['GET'], pattern: DOC_ASSETS_PATTERN, access: 'open' },
  { methods: ['GET'], pattern: DASHBOARD_PATTERN, access: DASHBOARD_OPERATION.access },
  { methods: nodeHttp.METHODS.filter((m) => m !== 'GET' && m !== 'HEAD'), pattern: DASHBOARD_PATTERN, access: 'admin' },
];

/** The access `method path` needs: its line of {@link ROUTE_ACCESS}, else `authenticated` (any valid credentials). */
export function accessFor(method: string, path: string): RouteAccess | 'authenticated' {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  // The first path matching declares the method (most requests): its line is the first that matches.
  const declared = pathEntryOf(path)?.routes.find((r) => r.method.toUpperCase() === m);
  if (declared) return declared.access;
  return ROUTE_ACCESS.find((r) => r.methods.includes(m) && r.pattern.test(path))?.access ?? 'authenticated';
}

/** Known paths and their methods, to answer 405 with Allow rather than 404 (the dashboard's page included). */
export const METHOD_TABLE: ReadonlyArray<{ pattern: RegExp; methods: readonly string[] }> = [
  ...PATHS.map((p) => ({
    pattern: p.pattern,
    methods: p.routes.map((r) => r.method.toUpperCase()).sort((a, b) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b)),
  })),
  // The dashboard's other paths (api/*, static/*) answer 404 for a method it does not serve.
  { pattern: pathPattern(DASHBOARD_OPERATION.path), methods: [DASHBOARD_OPERATION.method.toUpperCase()] },
];

/**
 * How the body of `method path` is read: the declaration of that method on that path (HEAD as GET),
 * `none` when it declares no body; `json` for the dashboard's API actions (any method but GET and
 * HEAD). A method no route declares on the path (405) and an unknown path (404) read `none` too, so
 * a body over 4 KB is refused with 413 before anything parses it, whatever the method
 * (docs/security.md, Bodies).
 */
export function bodyReadingFor(method: string, path: string): BodyReading {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  if (DASHBOARD_API_PATTERN.test(path)) return m === 'GET' ? 'none' : 'json';
  const entry = pathEntryOf(path);
  return entry?.routes.find((r) => r.method.toUpperCase() === m)?.body ?? 'none';
}

/**
 * Declares every route on `router` (the app itself, so a request walks no nested router on the way
 * to its route): each validates the declared query, then calls the handler.
 */
export function mountRoutes(router: Pick<Router, RouteMethod>, services: RouteServices): void {
  for (const r of ROUTES) {
    const querySchema = r.request?.query?.schema;
    // A route that takes a body and declares no query takes no query parameter either (as a GET
    // refuses one it does not declare). Routes without a body keep ignoring theirs: probes and
    // scrapers may add some.
    const takesNoQuery = !querySchema && r.body !== undefined && r.body !== 'none';
    router[r.method](expressPath(r.path), async (req: Request, res: Response, _next: NextFunction) => {
      const query = querySchema ? parseQuery(querySchema, req.query as Record<string, unknown>) : takesNoQuery && req.url.includes('?') ? parseQuery(NO_QUERY, req.query as Record<string, unknown>) : {};
      await r.handler({ req, res, services, query });
    });
  }
}

/** The query of a route that declares none ({@link mountRoutes}): any parameter is unknown. */
const NO_QUERY = z.object({});
