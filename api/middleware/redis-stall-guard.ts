import type { NextFunction, Request, Response } from 'express';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import { AppError } from '../../shared/errors/index.js';
import { ping } from '../../shared/store/channels.js';

/** One probe of Redis: resolves whether it answered (never rejects). Default: PING. */
export type RedisProbe = (redis: Redis) => Promise<boolean>;

/** How often the watch sends its PING (one at a time: the next goes once the last is answered). */
const WATCH_INTERVAL_MS = 250;

/**
 * Paths that need no Redis or answer its absence themselves: the probes (readiness checks Redis
 * itself, as the hetuflow-compatible system health does, with its documented `unhealthy` body),
 * /metrics (it falls back to this process) and the API documentation.
 */
const UNGUARDED_PATHS = /^\/(healthz|health|readyz|metrics|openapi\.json|docs|redoc|algorithms|api\/v1\/system\/health)(\/.*)?$/i;

/**
 * Watches the API's request connection with one probe at a time, every {@link WATCH_INTERVAL_MS}
 * (a PING, or the probe given: the API writes a short-lived key under fnqueue's hash tag, so a
 * READONLY replica or a cluster master that went away counts too).
 * Redis counts as stalled while a PING has waited longer than half of `commandTimeoutMs`
 * (REDIS_COMMAND_TIMEOUT_MS), so a request that waited the whole bound on one command finds the stall
 * known by then; or since one failed (timed out, or the connection is down), until a PING is answered again: a
 * frozen Redis keeps the TCP connection open, so only an unanswered command shows it.
 */
export class RedisStallWatch {
  private sentAt: number | undefined;
  private failed = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly commandTimeoutMs: number,
    private readonly now: () => number = Date.now,
    private readonly probe: RedisProbe = ping,
  ) {}

  /** True while Redis has not answered a PING for longer than half the bound (or the last one failed). */
  get stalled(): boolean {
    return this.failed || (this.sentAt !== undefined && this.now() - this.sentAt > this.commandTimeoutMs / 2);
  }

  /** Starts pinging. */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops pinging (an outstanding PING is left to settle). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  /**
   * One PING now, outside the schedule (readiness asks this way): resolves whether Redis answered,
   * and an answer ends a stall at once.
   */
  async check(): Promise<boolean> {
    const ok = await this.probe(this.redis);
    this.note(ok);
    return ok;
  }

  private note(ok: boolean): void {
    // A PING that failed on a connected socket timed out (REDIS_COMMAND_TIMEOUT_MS): Redis is frozen
    // and requests would wait the bound. One that failed while disconnected failed at once, and so do
    // requests (503 on their own): no need to refuse them here, and they see Redis back first.
    this.failed = !ok && this.redis.status === 'ready';
  }

  private async tick(): Promise<void> {
    this.sentAt = this.now();
    const ok = await this.probe(this.redis);
    this.sentAt = undefined;
    this.note(ok);
    this.schedule();
  }
}

/**
 * Express middleware: 503 SERVICE_UNAVAILABLE (Retry-After by the error handler) at once while
 * `watch` says Redis is stalled, for every route but the probes, /metrics and the documentation.
 * Mounted before authentication and, when authentication or a rate limit is on, again after the
 * rate limiter, so a request that waited on a frozen Redis there does not wait again in its handler.
 */
export function redisStallGuard(watch: RedisStallWatch) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    // The flag first: while Redis answers (every request but during a stall) no path is matched.
    if (!watch.stalled || UNGUARDED_PATHS.test(req.path)) {
      next();
      return;
    }
    next(new AppError('SERVICE_UNAVAILABLE', 'the job service is temporarily unavailable (Redis is not answering), retry later', { retry_after_seconds: 1 }));
  };
}
