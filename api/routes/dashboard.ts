import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Express, type NextFunction, type Request, type Response } from 'express';
import { hasScope } from '../../shared/auth/scopes.js';
import { AppError, type ErrorCode } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/logger.js';
import { z } from 'zod';
import '../schemas/jobs.js'; // extends zod with .openapi()
import { maskSecretsInPlace } from './redaction.js';
import type { MountedOperation } from './route.js';

/** Where the dashboard is mounted. Its scopes are a special case of the scope table (api/routes/index.ts ROUTE_ACCESS). */
export const DASHBOARD_PATH = '/admin/queues';

/** The dashboard's page, as the scope table and the OpenAPI document see it (its other paths are Bull Board's). */
export const DASHBOARD_OPERATION: MountedOperation = {
  method: 'get',
  path: DASHBOARD_PATH,
  operationId: 'getDashboard',
  access: 'read',
  tag: 'operations',
  summary: 'Queue dashboard (Bull Board, HTML)',
  description:
    'Bull Board on the jobs queue of every pool and the webhooks queue. Read-only unless the caller has the admin scope (so read-only for everyone when AUTH_ENABLED=false); ' +
    "its JSON API under /admin/queues/api/ is Bull Board's own: GET needs read, every other method admin. A browser sends no X-API-Key: with AUTH_ENABLED=true reach it through a proxy that adds the credentials.",
  responses: { 200: { description: 'The dashboard page', content: { 'text/html': { schema: z.string() } } } },
};

/**
 * Longest a dashboard request may see an old list of queues, ms: pools appear as jobs are submitted
 * (JobQueues), so the list is read again from Redis on the first request after this long.
 */
export const DASHBOARD_REFRESH_MS = 3000;

/** Methods that only read; every other method is an action (pause, retry, clean, add, ...). */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * Upper bounds of the board's paging parameters (GET api/queues), which Bull Board bounds only
 * below: past Redis's integer range a page fails in Redis (a 500), and a huge `jobsPerPage` reads a
 * whole queue. The board's UI offers pages of at most 100 jobs.
 */
export const DASHBOARD_PAGE_LIMITS: Readonly<Record<'page' | 'jobsPerPage', number>> = { page: 1_000_000, jobsPerPage: 1000 };

/** What {@link dashboardRouter} shows. */
export interface DashboardOptions {
  /** The jobs queues of every known pool (JobQueues): `get()` the default pool's, `all()` every pool's (reads Redis). */
  jobQueues: { get(): Queue; all(): Promise<Queue[]> };
  /** Queues shown as they are, after the jobs queues (webhooks). */
  otherQueues: readonly Queue[];
  logger: Logger;
  /** {@link DASHBOARD_REFRESH_MS} unless set (tests). */
  refreshMs?: number;
}

/** The two boards, for tests that check the read-only one on its own. */
export interface Dashboard {
  /** Mounts both boards at {@link DASHBOARD_PATH} and picks one per request. */
  router: Router;
  /** The read-only board's Express app (every queue in Bull Board's `readOnlyMode`). */
  readOnlyApp: Express;
  /** The full board's Express app (admin callers only). */
  fullApp: Express;
  /** Reads the pools from Redis now and updates both boards when the list changed. */
  refresh(): Promise<void>;
}

/** Bull Board's error status → the code fnqueue answers with. Its 405 is QUEUE_READ_ONLY: an action a read-only board refuses. */
const BOARD_ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'VALIDATION_ERROR',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'FORBIDDEN',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * One of Bull Board's own error bodies (`{error: {key, options?}, ...}`, its key a translation key
 * such as `ERRORS.QUEUE_NOT_FOUND`) as fnqueue's {@link AppError}: the key, made readable, is the
 * message and goes in `details.dashboard_error` with the key's scalar options. Anything else the
 * board sent (free text, a stack in development mode) is dropped. 5xx become INTERNAL_ERROR.
 */
export function fromBoardError(status: number, body: unknown): AppError {
  const error = (body as { error?: unknown } | null)?.error;
  const key = typeof error === 'string' ? error : typeof (error as { key?: unknown } | null)?.key === 'string' ? (error as { key: string }).key : 'ERRORS.UNKNOWN';
  const options = (error as { options?: unknown } | null)?.options;
  const details: Record<string, unknown> = { dashboard_error: key.slice(0, 100) };
  if (options && typeof options === 'object') {
    for (const [k, v] of Object.entries(options)) if (['string', 'number', 'boolean'].includes(typeof v)) details[k.slice(0, 50)] = typeof v === 'string' ? v.slice(0, 200) : v;
  }
  if (status >= 500) return new AppError('INTERNAL_ERROR', 'internal server error', {});
  const code = BOARD_ERROR_CODES[status] ?? 'VALIDATION_ERROR';
  const readable = key.replace(/^ERRORS\./, '').toLowerCase().replace(/_/g, ' ');
  const message = status === 405 ? `the dashboard is read-only for this caller (${readable}): actions need the admin scope` : `dashboard: ${readable}`;
  if (status === 405) details.required_scope = 'admin';
  return new AppError(code, message, details);
}

/** True for fnqueue's error shape (already converted, or from our error handler). */
const isErrorShape = (body: unknown) =>
  body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' && 'request_id' in body && 'details' in body;

/** An HTML page without its `<link>`s to other hosts (Bull Board's Google Fonts stylesheet). */
export function withoutOutsideLinks(html: string): string {
  return html.replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/gi, '');
}

/** One Bull Board on its own Express app, mounted at {@link DASHBOARD_PATH}. */
function createBoard(queues: readonly Queue[], readOnlyMode: boolean) {
  // A pool has one queue per shard (QUEUE_SHARDS), all named alike: the board names each by its
  // hash tag but the first (shard 0, `{QUEUE_PREFIX}`), since it keys queues by name.
  const adapters = (qs: readonly Queue[]) => {
    const seen = new Set<string>();
    return qs.map((q) => {
      const prefix = seen.has(q.name) ? `${q.opts.prefix ?? ''}:` : '';
      seen.add(q.name);
      return new BullMQAdapter(q, { readOnlyMode, prefix });
    });
  };
  const serverAdapter = new ExpressAdapter().setBasePath(DASHBOARD_PATH);
  const board = createBullBoard({
    queues: adapters(queues),
    serverAdapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'fnqueue (read-only)' : 'fnqueue', hideDocsLink: true } },
  });
  // createBullBoard installs its own error handler, which sends the error's message (and its stack
  // when NODE_ENV=development). Replaced after it: rethrown, so Express passes it on to fnqueue's
  // error handler (logged; one error shape; 503 when Redis is down; never a stack).
  serverAdapter.setErrorHandler((err: Error) => {
    // A malformed %-escape in a path parameter, or in a query parameter the board decodes itself (activeQueue).
    if (err instanceof URIError) throw new AppError('VALIDATION_ERROR', 'the path or query has a malformed %-escape', { field: 'url' });
    throw err;
  });
  const app = serverAdapter.getRouter() as Express;
  app.disable('x-powered-by');
  return { app, replace: (qs: readonly Queue[]) => board.replaceQueues(adapters(qs)) };
}

/**
 * Bull Board at {@link DASHBOARD_PATH} (docs/operations.md#status-and-dashboard): the jobs queue of every known pool and the
 * webhooks queue. Two boards on the same queues: the full one for callers whose `req.auth` has the
 * admin scope (set by api/middleware/auth.ts when AUTH_ENABLED), the read-only one (Bull Board's
 * `readOnlyMode` on every queue) for everyone else, so with auth off every caller reads only.
 *
 * Read-only is enforced on the server three times: the scope table needs `admin` for any method but
 * GET/HEAD under /admin/queues; this router answers 403 FORBIDDEN to any such method before the
 * read-only board sees it; and the read-only board itself refuses per-queue actions (Bull Board's
 * 405 QUEUE_READ_ONLY, answered as 403 FORBIDDEN here) and skips its queues on pause-all/resume-all.
 * Paging is bounded by {@link DASHBOARD_PAGE_LIMITS}.
 *
 * The board's errors leave in fnqueue's error shape (its `{error: {key}}` bodies converted by
 * {@link fromBoardError}, its thrown errors passed to the error handler), and every other JSON answer
 * is masked whole ({@link maskSecretsInPlace}: secrets in strings such as webhook URLs, env values,
 * job stack traces), so no endpoint of the board, present or added by an upgrade, shows them. Its static files and pages are served as they are. The list of pools is
 * read again on the first request after {@link DASHBOARD_REFRESH_MS}; a failed read (Redis down)
 * keeps the last list.
 */
export function dashboardRouter(opts: DashboardOptions): Dashboard {
  const refreshMs = opts.refreshMs ?? DASHBOARD_REFRESH_MS;
  const initial = [opts.jobQueues.get(), ...opts.otherQueues];
  const readOnly = createBoard(initial, true);
  const full = createBoard(initial, false);
  let shown = initial.map((q) => q.name).join('\n');
  let refreshedAt = -Infinity;
  let refreshing: Promise<void> | undefined;

  const refresh = async () => {
    const queues = [...(await opts.jobQueues.all()), ...opts.otherQueues];
    const names = queues.map((q) => q.name).join('\n');
    if (names === shown) return;
    readOnly.replace(queues);
    full.replace(queues);
    shown = names;
  };
  /** Refreshes when the list is older than refreshMs; concurrent requests share one read. */
  const refreshIfStale = async () => {
    if (performance.now() - refreshedAt < refreshMs) return;
    refreshing ??= refresh()
      .catch((err: unknown) => {
        opts.logger.debug('dashboard: pools not refreshed', { error: String(err) });
      })
      .finally(() => {
        refreshedAt = performance.now();
        refreshing = undefined;
      });
    await refreshing;
  };

  const router = Router();
  router.use(DASHBOARD_PATH, async (req: Request, res: Response, next: NextFunction) => {
    const admin = req.auth !== undefined && hasScope(req.auth.scopes, 'admin');
    if (!admin && !READ_METHODS.has(req.method)) {
      throw new AppError('FORBIDDEN', `the dashboard is read-only for this caller: ${req.method} needs the admin scope${req.auth ? '' : ' (AUTH_ENABLED=false: nobody has it)'}`, {
        required_scope: 'admin',
        granted_scopes: req.auth?.scopes ?? [],
      });
    }
    if (/^\/api\/queues\/?$/i.test(req.path)) {
      for (const [name, max] of Object.entries(DASHBOARD_PAGE_LIMITS)) {
        const value = req.query[name];
        if (typeof value === 'string' && Number(value) > max) throw new AppError('VALIDATION_ERROR', `${name} must be at most ${max}`, { field: name });
      }
    }
    await refreshIfStale();

    // The board's JSON answers: errors into the one error shape; every other answer (queues and
    // their jobs, one job, job schedulers, ...) masked as a whole, whatever its endpoint: webhook
    // URLs' credentials and secret query parameters, env values, job stack traces.
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      if (res.statusCode >= 400 && !isErrorShape(body)) return json(fromBoardError(res.statusCode, body).toBody(req.requestId ?? 'unknown'));
      return json(isErrorShape(body) ? body : maskSecretsInPlace(body));
    };
    // The board's page links Google Fonts: dropped, so the page makes no outside request (the
    // board falls back to the system's sans-serif and monospace fonts).
    const send = res.send.bind(res);
    res.send = (body?: unknown) => send(typeof body === 'string' && /^\s*<!doctype html/i.test(body) ? withoutOutsideLinks(body) : body);
    // The board is an Express app of its own, called as a function: like Express's mounted apps,
    // restore req/res's prototypes (and res.json) when it passes the request on (404, errors).
    const reqProto = Object.getPrototypeOf(req) as object;
    const resProto = Object.getPrototypeOf(res) as object;
    (admin ? full : readOnly).app(req, res, (err?: unknown) => {
      Object.setPrototypeOf(req, reqProto);
      Object.setPrototypeOf(res, resProto);
      Reflect.deleteProperty(res, 'json');
      Reflect.deleteProperty(res, 'send');
      next(err);
    });
  });

  return { router, readOnlyApp: readOnly.app, fullApp: full.app, refresh };
}
