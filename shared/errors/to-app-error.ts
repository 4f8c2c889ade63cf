import { ZodError } from 'zod';
import { AppError } from './app-error.js';
import { isRedisOutOfMemory, isRedisUnavailable } from './redis-unavailable.js';
import { validationError } from './validation-error.js';

/** Seconds a caller refused because Redis is at its maxmemory is told to wait (Retry-After). */
export const REDIS_FULL_RETRY_AFTER_SECONDS = 5;

/**
 * Any thrown value as an AppError: AppError passes; ZodError → VALIDATION_ERROR with the field;
 * Redis unreachable → SERVICE_UNAVAILABLE; Redis out of memory (past maxmemory) → SERVICE_UNAVAILABLE
 * with details.retry_after_seconds; the rest → INTERNAL_ERROR with the original as `cause`
 * (logged, never sent).
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) return validationError(err);
  if (isRedisOutOfMemory(err)) {
    return new AppError('SERVICE_UNAVAILABLE', 'the job store is full, retry later', { retry_after_seconds: REDIS_FULL_RETRY_AFTER_SECONDS }, { cause: err });
  }
  if (isRedisUnavailable(err)) {
    return new AppError('SERVICE_UNAVAILABLE', 'the job service is temporarily unavailable, retry later', {}, { cause: err });
  }
  return new AppError('INTERNAL_ERROR', 'internal server error', {}, { cause: err });
}

/** The log fields of an error: see {@link errorFields}. */
export interface ErrorLogFields {
  /** The message. */
  error: string;
  /** The AppError's code, or the Node errno code (`ECONNREFUSED`). */
  error_code?: string;
  /** The stack of an unexpected error (not an AppError, whose message says it all). */
  stack?: string;
  /** The message of the error's `cause`, when it has one. */
  cause?: string;
}

/**
 * The fields a log line carries for an error (`logger.error('...', { ...errorFields(err) })`):
 * the message, the code as a field, the stack of an unexpected error, the cause's message.
 */
export function errorFields(err: unknown): ErrorLogFields {
  if (!(err instanceof Error)) return { error: String(err) };
  const fields: ErrorLogFields = { error: err.message };
  const code = err instanceof AppError ? err.code : (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string') fields.error_code = code;
  if (!(err instanceof AppError) && err.stack) fields.stack = err.stack;
  if (err.cause !== undefined) fields.cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
  return fields;
}
