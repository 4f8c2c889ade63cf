import type { z } from 'zod';
import { ErrorSchema } from '../schemas/jobs.js';
import type { RouteResponses } from './route.js';

/** A JSON answer of `schema`, for a route's `responses`. */
export const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });

/** A JSON answer with a `Location` header (201 Created, or the job an answer points to). */
export const located = (schema: z.ZodType, description: string, location: string) => ({
  ...json(schema, description),
  headers: { Location: { description: location, schema: { type: 'string' as const } } },
});

/** The code an error answer's status has when its description names none (docs/api.md, Errors). */
const DEFAULT_CODES: Readonly<Record<number, string>> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  503: 'SERVICE_UNAVAILABLE',
  504: 'TIMEOUT',
};

/** A message per code for the examples: what such an answer says. */
const EXAMPLE_MESSAGES: Readonly<Record<string, string>> = {
  VALIDATION_ERROR: 'number must be an integer',
  UNAUTHORIZED: 'authentication required: send X-API-Key or Authorization: Bearer <JWT>',
  FORBIDDEN: 'this route needs the write scope',
  NOT_FOUND: 'no route for GET /nope',
  CONFLICT: 'the request conflicts with the current state',
  PAYLOAD_TOO_LARGE: 'request body exceeds the limit of 1048576 bytes',
  UNSUPPORTED_MEDIA_TYPE: 'this route takes multipart/form-data',
  INTERNAL_ERROR: 'internal server error',
  ALGORITHM_ERROR: 'the algorithm failed',
  SERVICE_UNAVAILABLE: 'the job service is temporarily unavailable, retry later',
  TIMEOUT: 'the job did not finish within 30000 ms; poll GET /jobs/a1b2c3d4e5f6 for its result',
};

/**
 * The example body of an error answer: `{error, message, details, request_id}` with the code the
 * description starts with (`JOB_NOT_FOUND (unknown or expired)`), else the status's usual code.
 */
export function errorExample(status: number, description: string): z.infer<typeof ErrorSchema> {
  const named = /^[A-Z][A-Z_]+[A-Z]\b/.exec(description)?.[0];
  const code = named ?? DEFAULT_CODES[status] ?? 'INTERNAL_ERROR';
  const message = EXAMPLE_MESSAGES[code] ?? code.toLowerCase().replace(/_/g, ' ');
  const details: Record<string, unknown> = code === 'VALIDATION_ERROR' ? { field: 'number', value: 'abc' } : {};
  return { error: code, message, details, request_id: '550e8400-e29b-41d4-a716-446655440000' };
}

/** One error answer in the one error shape, its example matching `status`. */
export const errorResponse = (status: number, description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema, example: errorExample(status, description) } },
});

/** Error answers: `[status, description]` pairs, each description starting with its code. */
export const errors = (...codes: Array<[number, string]>): RouteResponses =>
  Object.fromEntries(codes.map(([status, description]) => [status, errorResponse(status, description)]));
