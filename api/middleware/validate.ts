import type { z } from 'zod';
import { AppError, validationError } from '../../shared/errors.js';

/**
 * Parses a JSON body with `schema`.
 * @throws AppError VALIDATION_ERROR naming the field, or `body` when the body is missing or not an object.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('VALIDATION_ERROR', 'request body must be a JSON object', { field: 'body' });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error, body);
  return parsed.data;
}
