import { ZodError } from 'zod';

/**
 * Error code → HTTP status. Seed 002's codes first, then the ones DESIGN.md adds with the seeds' names.
 */
export const HTTP_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ALGORITHM_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  /** `GET /workers/{worker_id}`: unknown, or aged out of the registry (issue 4). */
  WORKER_NOT_FOUND: 404,
  /** `/schedules/{schedule_id}`: unknown schedule (issue 4). */
  SCHEDULE_NOT_FOUND: 404,
  /** A function target that names no function (seed 003; functions arrive with issue 3). */
  FUNCTION_NOT_FOUND: 404,
  /** `/projects/{name}`: a project with no record and no functions (seed 000's PROJECT_NOT_FOUND; issue 3). */
  PROJECT_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  /** A job's record error code once it was cancelled (issue 4); as an answer, like CONFLICT. */
  CANCELLED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
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

/** The one error shape on the wire (DESIGN.md, Errors). */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
}

/**
 * An error meant for a caller: a code from {@link HTTP_STATUS}, a message a person can act on,
 * and details safe to send. `cause` is logged, never sent.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    opts?: ErrorOptions,
  ) {
    super(message, opts);
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** The error shape for a response. */
  toBody(requestId: string): ErrorBody {
    return { error: this.code, message: this.message, details: this.details, request_id: requestId };
  }
}

/** A plain object form of an error that crosses a process boundary (child IPC, job records). Matched by `code`. */
export interface SerializedError {
  name: string;
  message: string;
  code: string;
}

const REDIS_DOWN_PATTERNS = [
  /ECONNREFUSED/,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /EPIPE/,
  /Connection is closed/i,
  /enableOfflineQueue/i,
  /max retries per request/i,
  /Reached the max retries/i,
  /Stream isn't writeable/i,
  /Connection in subscriber mode/i,
  /LOADING/,
];

/** True for the errors ioredis and BullMQ raise while Redis cannot be reached. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const text = `${err.name} ${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}`;
  return REDIS_DOWN_PATTERNS.some((p) => p.test(text));
}

/** The dotted path of a zod issue, `body` when it is the whole value. */
function issuePath(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : 'body';
}

/** Reads the value at a zod issue's path from the input, for details.value. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * A ZodError as VALIDATION_ERROR: message `"<field> <reason>"` as in seed 002 (`number must be an integer`),
 * details `{field, value, issues}`.
 */
export function validationError(err: ZodError, input?: unknown, prefix: readonly PropertyKey[] = []): AppError {
  const issues = err.issues.map((i) => ({ field: issuePath([...prefix, ...i.path]), message: i.message }));
  const first = err.issues[0];
  const field = first ? issuePath([...prefix, ...first.path]) : 'body';
  const value = first ? valueAt(input, first.path) : undefined;
  const message = first ? `${field} ${first.message}` : 'invalid request';
  const details: Record<string, unknown> = { field, issues };
  if (value !== undefined && (typeof value !== 'object' || value === null)) details.value = value;
  return new AppError('VALIDATION_ERROR', message, details);
}

/**
 * Any thrown value as an AppError: AppError passes; ZodError → VALIDATION_ERROR with the field;
 * Redis unreachable → SERVICE_UNAVAILABLE; the rest → INTERNAL_ERROR with the original as `cause`.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) return validationError(err);
  if (isRedisUnavailable(err)) {
    return new AppError('SERVICE_UNAVAILABLE', 'the job service is temporarily unavailable, retry later', {}, { cause: err });
  }
  return new AppError('INTERNAL_ERROR', 'internal server error', {}, { cause: err });
}
