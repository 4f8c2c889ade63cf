/** Queue of algorithm and function jobs. */
export const JOBS_QUEUE = 'jobs';
/** The pool a job runs in when it names none; workers without a `pool` label serve it. */
export const DEFAULT_POOL = 'default';

/** A pool name: 1-63 lowercase letters, digits, `_ -`, starting with a letter or digit (a worker label value). */
export const POOL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The BullMQ queue of a pool (routing by label): `jobs` for the default pool, `jobs-<pool>`
 * for another. One queue per pool because BullMQ workers take whatever their queue holds; only
 * workers whose `pool` label names the pool consume its queue.
 */
export function jobsQueueName(pool: string = DEFAULT_POOL): string {
  return pool === DEFAULT_POOL ? JOBS_QUEUE : `${JOBS_QUEUE}-${pool}`;
}

/** Queue of webhook deliveries (the FunctionalScaffold API reference: its own retries, so a worker crash loses no delivery). */
export const WEBHOOKS_QUEUE = 'webhooks';

/**
 * Queue of function dependency builds: one job per function version with dependencies,
 * jobId `<function_id>-v<version>`; a worker installs them (worker/functions/dependencies.ts) and
 * sets the version's status to `active` or `failed`.
 */
export const BUILDS_QUEUE = 'builds';

/** The jobId of a version's build in {@link BUILDS_QUEUE}: one build per version, however often it is asked for. */
export function buildJobId(functionId: string, version: number | string): string {
  return `${functionId}-v${version}`;
}

// Key names are built in shared/store/keys.ts; re-exported for the modules that import them from here.
