/**
 * Namespace limits of credentials on the native job routes (docs/security.md#namespaces): a job's
 * namespace is its `namespace`, else `default`. A credential limited to namespaces reads, follows
 * and cancels only jobs in them (others are 404 JOB_NOT_FOUND, as if they did not exist), lists
 * one of its namespaces at a time, and submits jobs (POST /jobs `namespace`, default `default`; /invoke: `default`) only into them.
 */
import type { Request } from 'express';
import { AppError, jobNotFound } from '../../shared/errors/index.js';
import { namespaceAllowed } from '../../shared/auth/scopes.js';
import { DEFAULT_NAMESPACE } from '../../shared/schemas/namespace.js';
import type { RouteServices } from './route.js';

/** Throws 404 JOB_NOT_FOUND when the caller's credential may not see `job`'s namespace. */
export function assertJobVisible(req: Request, job: { job_id: string; namespace?: string }): void {
  if (!namespaceAllowed(req.auth?.namespaces, job.namespace ?? DEFAULT_NAMESPACE)) throw jobNotFound(job.job_id);
}

/** Whether the caller's credential may see job `jobId` (for depends_on: a hidden job is refused as missing); always true without a limit. */
export function jobVisibleTo(req: Request, services: Pick<RouteServices, 'jobs'>): (jobId: string) => Promise<boolean> {
  const limit = req.auth?.namespaces;
  return async (jobId) => {
    if (!limit) return true;
    const job = await services.jobs.get(jobId).catch(() => null);
    return job !== null && namespaceAllowed(limit, job.namespace ?? DEFAULT_NAMESPACE);
  };
}

/**
 * The namespace a listing is limited to: the one asked for (which the credential must allow), else
 * the credential's only namespace; undefined for an unlimited credential that asked for none.
 * @throws AppError FORBIDDEN for a namespace outside the credential's; VALIDATION_ERROR when a
 *   credential of several namespaces names none.
 */
export function listingNamespace(req: Request, asked: string | undefined): string | undefined {
  const limit = req.auth?.namespaces;
  if (!limit) return asked;
  if (asked !== undefined) {
    if (!limit.includes(asked)) throw forbidden(asked, limit);
    return asked;
  }
  if (limit.length === 1) return limit[0];
  throw new AppError('VALIDATION_ERROR', `namespace is required: this credential is limited to ${limit.join(', ')}`, { field: 'namespace', allowed_namespaces: [...limit] });
}

/** Throws 403 FORBIDDEN when the caller's credential may not submit a job into `namespace` (default `default`). */
export function assertMaySubmit(req: Request, namespace: string = DEFAULT_NAMESPACE): void {
  const limit = req.auth?.namespaces;
  if (limit && !limit.includes(namespace)) throw forbidden(namespace, limit);
}

function forbidden(namespace: string, limit: readonly string[]): AppError {
  return new AppError('FORBIDDEN', `this credential may not act in namespace '${namespace.slice(0, 63)}'`, { namespace, allowed_namespaces: [...limit] });
}
