import { Redis, type RedisOptions } from 'ioredis';

/**
 * How a connection is used, which decides how it behaves while Redis is down:
 * - `request`: fails commands at once (no offline queue), so an HTTP request answers 503 instead of hanging;
 * - `blocking`: BullMQ Workers and subscribers; retries forever (`maxRetriesPerRequest: null`), as BullMQ requires.
 */
export type ConnectionRole = 'request' | 'blocking';

/**
 * Opens an ioredis connection to `url`. Reconnects forever with a capped backoff (max 2 s).
 * @param name shown in `CLIENT LIST` (`fnqueue:<role>:<name>`).
 */
export function createRedis(url: string, role: ConnectionRole, name: string, extra: RedisOptions = {}): Redis {
  const common: RedisOptions = {
    connectionName: `fnqueue:${name}`,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: false,
    ...extra,
  };
  if (role === 'request') {
    return new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  }
  return new Redis(url, { ...common, maxRetriesPerRequest: null, enableReadyCheck: true });
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
