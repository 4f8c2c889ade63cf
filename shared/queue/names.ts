/** Queue of algorithm and function jobs. */
export const JOBS_QUEUE = 'jobs';
/** Queue of webhook deliveries (seed 002: its own retries, so a worker crash loses no delivery). */
export const WEBHOOKS_QUEUE = 'webhooks';

/**
 * BullMQ's key prefix for QUEUE_PREFIX: wrapped in `{}` (a Redis Cluster hash tag) so every key of
 * every queue and record lands in one slot and multi-key scripts work on a cluster.
 */
export function bullPrefix(queuePrefix: string): string {
  return `{${queuePrefix}}`;
}

/** Redis keys and channels of fnqueue's own data, all under the same hash tag as the queues. */
export function keysFor(queuePrefix: string) {
  const p = bullPrefix(queuePrefix);
  return {
    /** Hash: one job record. */
    job: (jobId: string) => `${p}:job:${jobId}`,
    /** Pub/sub channel: job record changes (`JobEvent` JSON). */
    jobEvents: `${p}:job-events`,
    /** String: one process's metrics snapshot (prom-client JSON). */
    metricsSnapshot: (processId: string) => `${p}:metrics:${processId}`,
    /** Sorted set: process ids with a metrics snapshot, scored by last push (ms). */
    metricsIndex: `${p}:metrics-index`,
    /** String: one worker's registry entry (`StoredWorker` JSON), expiring WORKER_FORGET_AFTER_MS after its last heartbeat (issue 4). */
    worker: (workerId: string) => `${p}:worker:${workerId}`,
    /** Sorted set: worker ids, scored by last heartbeat (ms); pruned when read (issue 4). */
    workers: `${p}:workers`,
    /** Hash: one API key, `{id, name, scopes, secret_sha256, created_at, revoked_at?}`; never the secret (issue 5). */
    apiKey: (keyId: string) => `${p}:api-key:${keyId}`,
    /** Set: every API key id, for `npm run keys -- list` (issue 5). */
    apiKeyIndex: `${p}:api-keys`,
    /** Prefix of the rate limiter's counters: `<rateLimit>:<caller>` strings with the window as TTL (issue 5). */
    rateLimit: `${p}:rate-limit`,
  };
}

export type Keys = ReturnType<typeof keysFor>;
