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
];

/**
 * Redis refusing a write past its maxmemory (`noeviction`): "OOM command not allowed when used
 * memory > 'maxmemory'." (docs/operations.md). Nothing was written; the caller may retry later.
 */
export function isRedisOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /\bOOM command not allowed\b/.test(err.message);
}

/** True for the errors ioredis and BullMQ raise while Redis cannot be reached or does not answer in time. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const text = `${err.name} ${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}`;
  return REDIS_DOWN_PATTERNS.some((p) => p.test(text));
}
