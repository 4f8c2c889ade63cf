import { z } from 'zod';
import { LabelListSchema } from '../../shared/schemas/labels.js';
import { WORKER_STATUSES } from '../../shared/schemas/worker.js';
import './jobs.js'; // extends zod with .openapi()
import { queryInt } from './query.js';

/** Largest page of `GET /workers`. */
export const MAX_WORKERS_LIMIT = 500;
/** Default page of `GET /workers`. */
export const DEFAULT_WORKERS_LIMIT = 50;

/**
 * The query of `GET /workers` (parsed, it becomes the registry's WorkerQuery, shared/schemas/worker.ts): `status=online|offline`; `label=key=value`, repeatable or
 * comma-separated, every pair must match; `limit` (1-500, default 50) and `offset` (default 0).
 * Unknown parameters are refused (400 VALIDATION_ERROR), as unknown body keys are.
 */
export const WorkerQuerySchema = z
  .object({
    status: z.enum(WORKER_STATUSES, { error: 'must be online or offline' }).optional(),
    label: z
      .union([z.string(), z.array(z.string()).max(32, { error: 'at most 32 label parameters' })], { error: 'must be key=value' })
      .transform((v) => (Array.isArray(v) ? v.join(',') : v))
      .pipe(LabelListSchema)
      .optional(),
    limit: queryInt(1, MAX_WORKERS_LIMIT).default(DEFAULT_WORKERS_LIMIT),
    offset: queryInt(0, 1_000_000).default(0),
  })
  .strict();

/** The same query as plain parameters, for the OpenAPI document. */
export const WorkerQueryDocSchema = z.object({
  status: z.enum(WORKER_STATUSES).optional().openapi({ description: '`online`: heartbeat within the worker\'s WORKER_OFFLINE_AFTER_MS and not stopped' }),
  label: z.string().optional().openapi({ description: '`key=value`, e.g. `pool=gpu`; repeat the parameter or separate pairs with commas; all must match' }),
  limit: z.number().int().min(1).max(MAX_WORKERS_LIMIT).optional().openapi({ description: `Page size, default ${DEFAULT_WORKERS_LIMIT}` }),
  offset: z.number().int().min(0).optional().openapi({ description: 'Items to skip, default 0' }),
});
