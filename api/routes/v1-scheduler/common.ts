import type { Request } from 'express';
import { AppError } from '../../../shared/errors/index.js';
import type { HetuflowService, NamespaceLimit } from '../../services/hetuflow-service.js';
import type { RouteServices } from '../route.js';

/** The scheduler adapter, or 503 when the app was built without Redis (unit tests). */
export function hetu(services: RouteServices): HetuflowService {
  if (!services.hetuflow) throw new AppError('SERVICE_UNAVAILABLE', 'the scheduler API is not available');
  return services.hetuflow;
}

/** The namespaces the caller's credential is limited to (docs/security.md#namespaces); undefined: every one. */
export const limitOf = (req: Request): NamespaceLimit => req.auth?.namespaces;

/** The `{id}` path parameter. */
export const idOf = (req: Request): string => String(req.params.id);

/** OpenAPI tags of the scheduler API, listed by api/openapi/document.ts. */
export const HETUFLOW_TAGS = [
  { name: 'v1 jobs', description: 'hetuflow-compatible job definitions (docs/compat-hetuflow.md)' },
  { name: 'v1 schedules', description: 'hetuflow-compatible schedules of job definitions (docs/compat-hetuflow.md)' },
  { name: 'v1 tasks', description: 'hetuflow-compatible tasks and task instances: job records and their attempts (docs/compat-hetuflow.md)' },
  { name: 'v1 agents', description: 'hetuflow-compatible agents: the workers (docs/compat-hetuflow.md)' },
  { name: 'v1 system', description: 'hetuflow-compatible health and gateway stats, and the resource figures of the container management API reference (docs/compat-hetuflow.md)' },
] as const;
