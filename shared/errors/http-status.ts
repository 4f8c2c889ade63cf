/**
 * Error code → HTTP status. The FunctionalScaffold API reference's codes first (VALIDATION_ERROR,
 * ALGORITHM_NOT_FOUND, JOB_NOT_FOUND, ALGORITHM_ERROR, INTERNAL_ERROR, SERVICE_UNAVAILABLE), then the
 * ones DESIGN.md adds with the other references' names (docs/api.md#errors).
 */
export const HTTP_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ALGORITHM_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  /** `GET /workers/{worker_id}`: unknown, or aged out of the registry. */
  WORKER_NOT_FOUND: 404,
  /** `/schedules/{schedule_id}`: unknown schedule. */
  SCHEDULE_NOT_FOUND: 404,
  /** A function target that names no function (the function API reference). */
  FUNCTION_NOT_FOUND: 404,
  /** `/projects/{name}`: a project with no record and no functions (the project FaaS API reference). */
  PROJECT_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  /** A job's record error code once it was cancelled; as an answer, like CONFLICT. */
  CANCELLED: 409,
  /** A job's record error code when a job of its depends_on failed, was cancelled or expired (docs/api.md#job-dependencies); as an answer, like CONFLICT. */
  DEPENDENCY_FAILED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** An Expect header other than 100-continue (RFC 9110, section 10.1.1), answered by the HTTP server before Express. */
  EXPECTATION_FAILED: 417,
  RATE_LIMITED: 429,
  /** Request line or headers over Node's limit (answered by the HTTP server before Express). */
  HEADERS_TOO_LARGE: 431,
  ALGORITHM_ERROR: 500,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

/** One of the service's error codes. */
export type ErrorCode = keyof typeof HTTP_STATUS;

/** True when `code` is one of the service's error codes (e.g. one read back from a job record). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(HTTP_STATUS, code);
}

/** The one error shape on the wire (DESIGN.md, Errors; docs/api.md#errors). */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
}
