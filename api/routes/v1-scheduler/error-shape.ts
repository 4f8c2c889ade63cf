import type { ErrorShape } from '../../middleware/error-handler.js';
import type { AppError } from '../../../shared/errors/index.js';
import { HetuflowErrorSchema } from '../../schemas/v1-scheduler.js';
import type { RouteResponses } from '../route.js';

/** The first path segments under /api/v1 that belong to the hetuflow-compatible scheduler API (docs/compat-hetuflow.md). */
export const HETUFLOW_SEGMENTS = ['agents', 'servers', 'jobs', 'schedules', 'tasks', 'task-instances', 'system', 'gateway', 'auth', 'metrics'] as const;

const OWNED = new RegExp(`^/api/v1/(${HETUFLOW_SEGMENTS.join('|')})(/|$)`, 'i');

/**
 * fnqueue's code as the reference names it: every not-found code is NOT_FOUND, a failure inside
 * the service INTERNAL_ERROR; VALIDATION_ERROR, UNAUTHORIZED and FORBIDDEN are the same; codes the
 * reference has no word for (CONFLICT, SERVICE_UNAVAILABLE, RATE_LIMITED, PAYLOAD_TOO_LARGE,
 * METHOD_NOT_ALLOWED...) keep fnqueue's name.
 */
export function hetuflowCode(code: string): string {
  if (code.endsWith('NOT_FOUND')) return 'NOT_FOUND';
  if (code === 'ALGORITHM_ERROR' || code === 'INTERNAL_ERROR') return 'INTERNAL_ERROR';
  if (code === 'CANCELLED') return 'CONFLICT';
  return code;
}

/** `details` as the reference writes it, a sentence: the error's own `detail`, else the field and reason, else its details as JSON. */
function detailsOf(error: AppError): string | null {
  const d = error.details;
  if (typeof d.detail === 'string') return d.detail;
  if (typeof d.field === 'string') {
    const reason = error.message.startsWith(`${d.field} `) ? error.message.slice(d.field.length + 1) : error.message;
    return `field '${d.field}': ${reason}`;
  }
  return Object.keys(d).length ? JSON.stringify(d) : null;
}

/**
 * The reference's error answer, `{"error": {"code", "message", "details"}, "timestamp"}`, for the
 * scheduler API's paths under /api/v1, with fnqueue's HTTP status; `error.request_id` is added.
 */
export const HETUFLOW_ERROR_SHAPE: ErrorShape = {
  matches: (path) => OWNED.test(path),
  render: (error, requestId) => ({
    status: error.status,
    body: { error: { code: hetuflowCode(error.code), message: error.message, details: detailsOf(error), request_id: requestId }, timestamp: new Date().toISOString() },
  }),
};

/** Documented error answers of these routes, in the reference's shape: `[status, description]`, each description starting with its code. */
export function hetuErrors(...codes: Array<[number, string]>): RouteResponses {
  return Object.fromEntries(
    codes.map(([status, description]) => {
      const code = /^[A-Z][A-Z_]+[A-Z]\b/.exec(description)?.[0] ?? 'INTERNAL_ERROR';
      const example = { error: { code, message: description, details: null }, timestamp: '2024-01-01T00:00:00.000Z' };
      return [status, { description, content: { 'application/json': { schema: HetuflowErrorSchema, example } } }];
    }),
  );
}

/** The 401 and 403 of a scoped route, in the reference's shape. */
export const AUTH_ERRORS = hetuErrors(
  [401, 'UNAUTHORIZED: no credentials, or an invalid, expired or revoked key or token (see WWW-Authenticate)'],
  [403, "FORBIDDEN: the credentials lack the route's scope, or the namespace is outside the credential's namespaces"],
);
