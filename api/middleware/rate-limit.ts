import type { NextFunction, Request, Response } from 'express';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import type { RateLimiterRedis } from 'rate-limiter-flexible';
import { AppError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/logger.js';

/** Paths never limited: the probes (an orchestrator must always reach them) and /metrics (scrapers). */
const UNLIMITED_PATHS = /^\/(healthz|health|readyz|metrics)\/?$/i;

/**
 * rate-limiter-flexible, imported when a limiter is made (RATE_LIMIT_PER_SECOND above 0) rather than
 * at startup: with the limit off it is never needed, and it is about 0.4 MB of the API's live heap
 * (the API's memory bound, docs/performance.md).
 */
let limiterModule: Promise<typeof import('rate-limiter-flexible')> | undefined;
const loadLimiterModule = () => (limiterModule ??= import('rate-limiter-flexible'));

/** What {@link createRateLimiter} needs. */
export interface RateLimitOptions {
  /** The API's request connection (no offline queue: commands fail at once while Redis is down). */
  redis: Redis;
  /** Key prefix under the queue's hash tag (`keysFor(...).rateLimit`). */
  keyPrefix: string;
  /** RATE_LIMIT_PER_SECOND; 0 turns the limiter off. */
  perSecond: number;
  /** RATE_LIMIT_WINDOW_SECONDS. */
  windowSeconds: number;
}

/**
 * Who a request counts against (docs/security.md: per key, or per IP when auth is off): the principal auth
 * verified (`key:<id>`, `jwt:<sub>`), else `ip:<address>`. Never an unverified header: a made-up
 * key id would get a fresh budget per request, and a real key's public id could spend its owner's.
 */
export function rateLimitCaller(req: Request): string {
  return req.auth?.id ?? `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
}

/**
 * A fixed-window limiter held in Redis (rate-limiter-flexible's RateLimiterRedis: one atomic
 * INCR + EXPIRE script per request), so every API process shares the count. A caller over its
 * limit is also blocked in this process's memory until the window ends, so a flood costs no Redis calls.
 *
 * While Redis is unreachable, each process counts in its own memory with the same limit
 * (the insurance limiter): requests are neither refused nor turned into 500s because of the limiter,
 * but the limit then holds per process, not across them.
 * @returns the limiter, or undefined when `perSecond` is 0 (no limit).
 */
export async function createRateLimiter(opts: RateLimitOptions): Promise<RateLimiterRedis | undefined> {
  if (opts.perSecond === 0) return undefined;
  const { RateLimiterMemory, RateLimiterRedis } = await loadLimiterModule();
  const points = opts.perSecond * opts.windowSeconds;
  return new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: opts.keyPrefix,
    points,
    duration: opts.windowSeconds,
    inMemoryBlockOnConsumed: points + 1,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: opts.keyPrefix, points, duration: opts.windowSeconds }),
  });
}

/** Seconds a refused caller should wait: whole seconds, at least 1. */
export function retryAfterSeconds(msBeforeNext: number): number {
  return Math.max(1, Math.ceil(msBeforeNext / 1000));
}

/**
 * Express middleware: 429 RATE_LIMITED (with Retry-After, seconds) for a caller over its limit.
 * Probes and /metrics pass untouched; with no limiter everything passes.
 */
export function rateLimit(limiter: RateLimiterRedis | undefined, logger: Logger) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!limiter || UNLIMITED_PATHS.test(req.path)) {
      next();
      return;
    }
    try {
      await limiter.consume(rateLimitCaller(req));
    } catch (err) {
      // The module is loaded: the limiter came from createRateLimiter.
      const { RateLimiterRes } = await loadLimiterModule();
      if (!(err instanceof RateLimiterRes)) {
        // Both Redis and the in-memory insurance failed: let the request through rather than refuse it.
        logger.warn('rate limiter unavailable; request not limited', { error: err instanceof Error ? err.message : String(err) });
        next();
        return;
      }
      const retryAfter = retryAfterSeconds(err.msBeforeNext);
      res.setHeader('Retry-After', String(retryAfter));
      next(
        new AppError('RATE_LIMITED', `too many requests; retry after ${retryAfter} s`, {
          limit: limiter.points,
          window_seconds: limiter.duration,
          retry_after_seconds: retryAfter,
        }),
      );
      return;
    }
    next();
  };
}
