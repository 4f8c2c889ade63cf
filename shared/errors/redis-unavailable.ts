const REDIS_DOWN_PATTERNS = [
  /ECONNREFUSED/,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /EPIPE/,
  /Connection is closed/i,
  /enableOfflineQueue/i,
  /max retries per request/i,
  /Reached the max retries/i,
  /Stream isn't writeable/i,
  /Connection in subscriber mode/i,
  /LOADING/,
  // ioredis `commandTimeout` (shared/queue/redis.ts): Redis did not answer within REDIS_COMMAND_TIMEOUT_MS.
  /Command timed out/i,
  /\b(ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNABORTED)\b/,
  // Failovers (docs/deployment.md#redis-topologies). Redis Cluster: a slot moved or moving (MOVED,
  // ASK) past ioredis's redirections, the cluster without a master for a slot (CLUSTERDOWN), a
  // multi-key command during a resharding (TRYAGAIN); ioredis Cluster's own words for those.
  /\bMOVED \d+/,
  /\bASK \d+/,
  /\bCLUSTERDOWN\b/,
  /\bTRYAGAIN\b/,
  /Too many Cluster redirections/i,
  /too many redirections/i,
  /Cluster isn't ready/i,
  /Failed to refresh slots cache/i,
  /ClusterAllFailedError/,
  // A master turned replica (READONLY), a replica without its master (MASTERDOWN), a master short of
  // min-replicas-to-write (NOREPLICAS), a blocked client cut off by a role change (UNBLOCKED).
  /\bREADONLY\b/,
  // Redis running a script past its busy-reply-threshold answers every other command BUSY until it ends.
  /\bBUSY\b/,
  /\bMASTERDOWN\b/,
  /\bNOREPLICAS\b/,
  /\bUNBLOCKED\b/,
  // Sentinel: no sentinel answered, or none knows the master (ioredis SentinelConnector).
  /None of the sentinels are available/i,
  /All sentinels are unreachable/i,
  /Unable to connect to the master/i,
];

/**
 * Redis refusing a write past its maxmemory (`noeviction`): "OOM command not allowed when used
 * memory > 'maxmemory'." (docs/operations.md). Nothing was written; the caller may retry later.
 */
export function isRedisOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /\bOOM command not allowed\b/.test(err.message);
}

/**
 * True for the errors ioredis and BullMQ raise while Redis cannot be reached, does not answer in
 * time, or is failing over (one node, Sentinel or Cluster): the API answers them 503
 * SERVICE_UNAVAILABLE with Retry-After (shared/errors/to-app-error.ts), never 500. Also for an
 * error whose `cause` is one (the AppError toAppError makes of it): what was sent may still land.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const text = `${err.name} ${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}`;
  return REDIS_DOWN_PATTERNS.some((p) => p.test(text)) || (err.cause !== undefined && isRedisUnavailable(err.cause));
}
