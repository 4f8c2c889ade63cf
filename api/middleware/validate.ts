import { z } from 'zod';
import { AppError, validationError } from '../../shared/errors/index.js';

/** A key or parameter name as shown in a message or `details.field` (at most 100 characters). */
const shown = (name: string) => name.slice(0, 100);

/**
 * Parses a JSON body with `schema`.
 * @throws AppError VALIDATION_ERROR naming the field (an unknown key by its name), or `body` when the body is missing or not an object.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('VALIDATION_ERROR', 'request body must be a JSON object', { field: 'body' });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error, body);
  return parsed.data;
}

/**
 * Refuses a top-level key of a JSON object body that `schema` does not declare (a body that is not
 * an object is left to the schema's own check).
 * @throws AppError VALIDATION_ERROR `x is not a known field` (as {@link parseBody} says it) with
 *   `details.field` the key and `details.known_fields`.
 */
export function assertKnownKeys(schema: { shape: Record<string, unknown> }, body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const known = Object.keys(schema.shape);
  const unknown = Object.keys(body).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    throw new AppError('VALIDATION_ERROR', `${shown(unknown)} is not a known field`, { field: shown(unknown), known_fields: known });
  }
}

/**
 * Parses a query with `schema` (an object schema of its parameters).
 * @throws AppError VALIDATION_ERROR `unknown query parameter 'x' (known: ...)` naming an unknown
 *   parameter, or naming the parameter whose value is bad.
 */
export function parseQuery<Q>(schema: z.ZodType<Q> & { shape: Record<string, unknown> }, query: Record<string, unknown>): Q {
  const params = { ...query };
  const known = Object.keys(schema.shape);
  const unknown = Object.keys(params).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    throw new AppError('VALIDATION_ERROR', `unknown query parameter '${shown(unknown)}' (${known.length ? `known: ${known.join(', ')}` : 'this route takes none'})`, { field: shown(unknown) });
  }
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw validationError(parsed.error, params);
  return parsed.data;
}
