import type { Queue } from 'bullmq';
import type { Express, Router } from 'express';
import { AppError, type ErrorCode } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/logger.js';
import { z } from 'zod';
import '../schemas/jobs.js'; // extends zod with .openapi()
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
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * Upper bounds of the board's paging parameters (GET api/queues), which Bull Board bounds only
 * below: past Redis's integer range a page fails in Redis (a 500), and a huge `jobsPerPage` reads a
 * whole queue. The board's UI offers pages of at most 100 jobs.
 */
export const DASHBOARD_PAGE_LIMITS: Readonly<Record<'page' | 'jobsPerPage', number>> = { page: 1_000_000, jobsPerPage: 1000 };

/** What the dashboard shows (dashboard-board.ts `dashboardRouter`, dashboard-lazy.ts `lazyDashboard`). */
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
export const isErrorShape = (body: unknown) =>
  body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' && 'request_id' in body && 'details' in body;

/** An HTML page without its `<link>`s to other hosts (Bull Board's Google Fonts stylesheet). */
export function withoutOutsideLinks(html: string): string {
  return html.replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/gi, '');
}
