import type { AppError, ErrorCode } from '../../shared/errors/index.js';
import type { ErrorShape } from './error-handler.js';

/**
 * The error codes of the project-FaaS API (its "common error codes": project or function unknown,
 * bad parameters, a failed run, env and dependency errors, authentication, authorization, rate
 * limit, internal errors). docs/compat-project-faas.md#errors maps fnqueue's codes onto them.
 */
export const PROJECT_FAAS_CODES = [
  'PROJECT_NOT_FOUND',
  'FUNCTION_NOT_FOUND',
  'INVALID_PARAMETERS',
  'EXECUTION_ERROR',
  'ENV_ERROR',
  'DEPENDENCY_ERROR',
  'AUTHENTICATION_ERROR',
  'AUTHORIZATION_ERROR',
  'RATE_LIMIT_ERROR',
  'INTERNAL_ERROR',
] as const;

/** One of {@link PROJECT_FAAS_CODES}. */
export type ProjectFaasCode = (typeof PROJECT_FAAS_CODES)[number];

/**
 * The project-FaaS API's error body: `{status: "error", code, message, details: {field, reason}}`.
 * `field` is the request field, path parameter or header at fault (null when none is), `reason`
 * what is wrong with it; other keys of `details` are fnqueue's own (e.g. `job_id`, `retry_after_seconds`).
 */
export interface ProjectFaasErrorBody {
  status: 'error';
  code: ProjectFaasCode;
  message: string;
  details: { field: string | null; reason: string; [key: string]: unknown };
}

/** The paths of the project-FaaS API: `/api/v1/projects…`, `/api/v1/functions…`, `/api/v1/env…`, `/api/v1/dependencies…`. */
export const PROJECT_FAAS_PATHS = /^\/api\/v1\/(projects|functions|env|dependencies)(\/|$)/i;

/** A field name as the project-FaaS API calls it: fnqueue's `env…` is `env_vars…`, `dependencies…` is `requirements`. */
function isEnvField(field: string): boolean {
  return /^(env|env_vars)(\.|$)/.test(field);
}
function isDependencyField(field: string): boolean {
  return /^(dependencies|requirements|python|nodejs)(\.|$)/.test(field);
}

/** fnqueue's code → the project-FaaS code and HTTP status, by the error's code and, for some, its field or reason. */
function classify(error: AppError): { code: ProjectFaasCode; status: number } {
  const field = typeof error.details.field === 'string' ? error.details.field : '';
  const byCode: Partial<Record<ErrorCode, { code: ProjectFaasCode; status: number }>> = {
    UNAUTHORIZED: { code: 'AUTHENTICATION_ERROR', status: 401 },
    FORBIDDEN: { code: 'AUTHORIZATION_ERROR', status: 403 },
    RATE_LIMITED: { code: 'RATE_LIMIT_ERROR', status: 429 },
    PROJECT_NOT_FOUND: { code: 'PROJECT_NOT_FOUND', status: 404 },
    FUNCTION_NOT_FOUND: { code: 'FUNCTION_NOT_FOUND', status: 404 },
    ALGORITHM_ERROR: { code: 'EXECUTION_ERROR', status: 500 },
    TIMEOUT: { code: 'EXECUTION_ERROR', status: 504 },
    CANCELLED: { code: 'EXECUTION_ERROR', status: 409 },
    SERVICE_UNAVAILABLE: { code: 'INTERNAL_ERROR', status: 503 },
    INTERNAL_ERROR: { code: 'INTERNAL_ERROR', status: 500 },
  };
  const known = byCode[error.code];
  if (known) return known;
  if (error.code === 'VALIDATION_ERROR') {
    if (isEnvField(field)) return { code: 'ENV_ERROR', status: 400 };
    if (isDependencyField(field)) return { code: 'DEPENDENCY_ERROR', status: 400 };
    return { code: 'INVALID_PARAMETERS', status: 400 };
  }
  if (error.code === 'CONFLICT') {
    // A stopped project refuses runs; a function whose dependencies are building or failed cannot run yet.
    if (error.details.reason === 'project_stopped') return { code: 'EXECUTION_ERROR', status: 409 };
    if (typeof error.details.build_log === 'string' || error.details.status === 'building' || error.details.status === 'failed') return { code: 'DEPENDENCY_ERROR', status: 409 };
    return { code: 'INVALID_PARAMETERS', status: 409 };
  }
  // Unknown paths (404), wrong methods (405), bodies too large (413) or of another type (415), and the rest.
  return { code: error.status >= 500 ? 'INTERNAL_ERROR' : 'INVALID_PARAMETERS', status: error.status };
}

/** The field an error is about when its details name none. */
function defaultField(error: AppError): string | null {
  switch (error.code) {
    case 'PROJECT_NOT_FOUND':
      return 'project_name';
    case 'FUNCTION_NOT_FOUND':
      return 'function_name';
    case 'UNAUTHORIZED':
      return 'authorization';
    case 'FORBIDDEN':
      return 'scope';
    case 'NOT_FOUND':
      return 'path';
    case 'METHOD_NOT_ALLOWED':
      return 'method';
    default:
      return null;
  }
}

/**
 * An {@link AppError} in the project-FaaS API's shape and status (docs/compat-project-faas.md#errors).
 * `details.reason` is the first validation issue's message, else the error's message; fnqueue's
 * other details follow (its validation `issues` and its reason token are left out).
 */
export function renderProjectFaasError(error: AppError): { status: number; body: ProjectFaasErrorBody } {
  const { code, status } = classify(error);
  const { field, issues, reason: _token, ...rest } = error.details;
  const first = Array.isArray(issues) ? (issues[0] as { message?: unknown } | undefined) : undefined;
  const reason = typeof first?.message === 'string' ? first.message : error.message;
  return {
    status,
    body: { status: 'error', code, message: error.message, details: { field: typeof field === 'string' ? field : defaultField(error), reason, ...rest } },
  };
}

/** The project-FaaS API's error shape for the error handler (api/app.ts ERROR_SHAPES). */
export const PROJECT_FAAS_ERROR_SHAPE: ErrorShape = {
  matches: (path) => PROJECT_FAAS_PATHS.test(path),
  render: (error) => renderProjectFaasError(error),
};
