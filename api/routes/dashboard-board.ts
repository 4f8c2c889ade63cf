/**
 * Bull Board itself, behind the dashboard's router (dashboard.ts has its path, scopes, limits and
 * error mapping; its `lazyDashboard` loads this module on the dashboard's first request).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Express, type NextFunction, type Request, type Response } from 'express';
import { hasScope } from '../../shared/auth/scopes.js';
import { AppError } from '../../shared/errors/index.js';
import { DASHBOARD_PAGE_LIMITS, DASHBOARD_PATH, DASHBOARD_REFRESH_MS, fromBoardError, isErrorShape, READ_METHODS, withoutOutsideLinks, type Dashboard, type DashboardOptions } from './dashboard.js';
import { maskSecretsInPlace } from './redaction.js';

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
