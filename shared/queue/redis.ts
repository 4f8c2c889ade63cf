import { Redis, type RedisOptions } from 'ioredis';

/**
 * How a connection is used, which decides how it behaves while Redis is down or does not answer:
 * - `request`: fails commands at once while disconnected (no offline queue), and rejects a command
 *   Redis has not answered within `commandTimeoutMs` (ioredis `commandTimeout`: "Command timed out"),
 *   so an HTTP request answers 503 instead of hanging on a frozen Redis. A timed-out command stays
 *   written on the connection: Redis runs it when it answers again, in order with what follows it.
 * - `blocking`: BullMQ Workers and subscribers; retries forever (`maxRetriesPerRequest: null`), as
 *   BullMQ requires, and no command timeout: BullMQ duplicates this connection for its blocking
 *   BZPOPMIN, which must be allowed to block (BullMQ bounds that wait with its own watchdog).
 */
export type ConnectionRole = 'request' | 'blocking';

/** The default bound of one command on a `request` connection, ms (REDIS_COMMAND_TIMEOUT_MS). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

/**
 * Opens an ioredis connection to `url`. Reconnects forever with a capped backoff (max 2 s).
 * @param name shown in `CLIENT LIST` (`fnqueue:<role>:<name>`).
 * @param extra ioredis options over the role's; `commandTimeout` (ms) is applied to `request`
 *   connections only, default {@link DEFAULT_COMMAND_TIMEOUT_MS}.
 */
export function createRedis(url: string, role: ConnectionRole, name: string, extra: RedisOptions = {}): Redis {
  const common: RedisOptions = {
    connectionName: `fnqueue:${name}`,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: false,
    ...extra,
  };
  if (role === 'request') {
    return new Redis(url, { commandTimeout: DEFAULT_COMMAND_TIMEOUT_MS, ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  }
  const { commandTimeout: _never, ...blocking } = common;
  return new Redis(url, { ...blocking, maxRetriesPerRequest: null, enableReadyCheck: true });
}

/** Resolves once `redis` is ready, or rejects after `timeoutMs` (unset: waits as long as it takes). */
export function waitReady(redis: Redis, timeoutMs?: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            cleanup();
            reject(new Error(`Redis not ready after ${timeoutMs} ms`));
          }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** Closes `redis` politely (QUIT), falling back to disconnect when Redis is unreachable. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('quit timeout')), 1000))]);
  } catch {
    redis.disconnect();
  }
}

/** `url` without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}
