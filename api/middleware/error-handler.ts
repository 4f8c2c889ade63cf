import type { NextFunction, Request, Response } from 'express';
import { AppError, toAppError, type ErrorCode } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/logger.js';
import { ThrottledLog } from '../../shared/throttled-log.js';

/** Known paths and their methods, to answer 405 (with Allow) rather than 404 for a wrong method. */
export type RouteTable = ReadonlyArray<{ pattern: RegExp; methods: readonly string[] }>;

/** The last route: 405 METHOD_NOT_ALLOWED for a known path, else 404 NOT_FOUND, in the one error shape. */
export function notFound(routes: RouteTable) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const known = routes.find((r) => r.pattern.test(req.path));
    if (known) {
      _res.setHeader('Allow', known.methods.join(', '));
      next(new AppError('METHOD_NOT_ALLOWED', `method ${req.method} is not allowed on ${req.path}`, { allowed_methods: known.methods }));
      return;
    }
    next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`, { method: req.method, path: req.path }));
  };
}

/** Turns body-parser's errors into AppErrors: malformed JSON 400, too large 413, bad encoding 415. */
function fromBodyParser(err: unknown): AppError | undefined {
  const e = err as { type?: string; limit?: number; length?: number; expose?: boolean };
  switch (e?.type) {
    case 'entity.parse.failed':
      return new AppError('VALIDATION_ERROR', 'request body is not valid JSON', { field: 'body', reason: (err as Error).message });
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${e.limit} bytes`, { limit_bytes: e.limit, length_bytes: e.length });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', (err as Error).message, {});
    case 'request.aborted':
    case 'stream.encoding.set':
    case 'request.size.invalid':
      return new AppError('VALIDATION_ERROR', (err as Error).message, { field: 'body' });
    default:
      return fromHttpError(err);
  }
}

/** Status → code for the 4xx http-errors that Express's parsers and static files raise. */
const CLIENT_ERROR_CODES: Readonly<Record<number, ErrorCode>> = {
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * A 4xx http-error without a body-parser type (a body that fails to inflate, a static file path
 * refused): its code by status, VALIDATION_ERROR for the rest. Its message is sent only when marked safe (`expose`).
 */
function fromHttpError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return undefined;
  // The router's decoding of a path parameter (Express 5's router: decodeURIComponent, a URIError
  // it gives status 400): a fault of the path, not of the body.
  if (err instanceof URIError && (err as { status?: unknown }).status === 400) return new AppError('VALIDATION_ERROR', 'the path holds a %-escape that does not decode', { field: 'path' });
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status > 499) return undefined;
  const code = CLIENT_ERROR_CODES[status] ?? 'VALIDATION_ERROR';
  const message = e.expose === true && typeof e.message === 'string' ? e.message : 'the request could not be read';
  return new AppError(code, message, code === 'VALIDATION_ERROR' ? { field: 'body' } : {});
}

/**
 * Another API's error shape, for the paths that API owns (the compatible APIs under `/api/v1`,
 * docs/api.md): the same {@link AppError}, written in that API's own shape and status.
 */
export interface ErrorShape {
  /** Whether this shape answers errors of `path` (`req.path`); the first shape that matches wins. */
  matches(path: string): boolean;
  /** The answer's status and JSON body for `error`; headers (Retry-After, Allow) are already set. */
  render(error: AppError, requestId: string): { status: number; body: unknown };
}

/**
 * The one error middleware (practica's handleError): every error leaves as
 * `{error, message, details, request_id}` with its code's status, or in the shape of the first
 * of `shapes` that owns the path. INTERNAL_ERROR's cause is logged with its stack, never sent;
 * 503s are logged at warn, one line per kind per 10 s with a count (ThrottledLog).
 */
export function errorHandler(logger: Logger, shapes: readonly ErrorShape[] = []) {
  // A 503 is the service's backpressure or a Redis outage, one per request while it lasts: summed
  // up per kind (the cause's, e.g. "Command timed out.", or the refusal's), at warn, without a stack.
  const unavailable = new ThrottledLog(logger, 'warn');
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = fromBodyParser(err) ?? toAppError(err);
    if (appError.code === 'SERVICE_UNAVAILABLE') {
      // Its kind: the cause's (a Redis error), else the refusal's own message (its numbers blanked).
      unavailable.note('request answered 503 SERVICE_UNAVAILABLE', appError.cause ?? new Error(appError.message), { error_code: appError.code });
    } else if (appError.status >= 500 && appError.code !== 'TIMEOUT') {
      const cause = appError.cause ?? err;
      logger.error(appError.message, { error_code: appError.code, cause: cause instanceof Error ? cause.message : String(cause), stack: cause instanceof Error ? cause.stack : undefined });
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    // 429 and 503 tell the caller when to come back (details.retry_after_seconds when the error knows).
    const retryAfter = appError.details.retry_after_seconds;
    if (typeof retryAfter === 'number' && !res.getHeader('Retry-After')) res.setHeader('Retry-After', String(retryAfter));
    if (appError.code === 'SERVICE_UNAVAILABLE' && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '1');
    const requestId = req.requestId ?? 'unknown';
    const shape = shapes.find((s) => s.matches(req.path));
    if (shape) {
      const { status, body } = shape.render(appError, requestId);
      res.status(status).json(body);
      return;
    }
    res.status(appError.status).json(appError.toBody(requestId));
  };
}
