import type { Logger } from './logger.js';

/** How long one kind of error is summed up before its next line, ms. */
export const THROTTLED_LOG_INTERVAL_MS = 10_000;

/**
 * The kind of an error for {@link ThrottledLog}: its errno code (`ECONNREFUSED`), else the Redis
 * error prefix of its message (`MOVED`, `READONLY`, `CLUSTERDOWN`, `LOADING`, …), else its message
 * with numbers and addresses blanked, at most 80 characters ("Connection is closed.").
 */
export function errorKind(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 80);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code) return code;
  const prefix = /^([A-Z][A-Z_]{2,})\b/.exec(err.message);
  if (prefix) return prefix[1]!;
  return err.message.replace(/\d+(\.\d+)*(:\d+)?/g, '#').slice(0, 80);
}

/**
 * Logs a storm of errors as one line per kind per interval with a count, instead of a line per
 * error (a failing Redis makes BullMQ and ioredis emit an error per command or retry). The first
 * error of a kind logs at once (`count: 1`); those that follow within {@link THROTTLED_LOG_INTERVAL_MS}
 * are counted and logged as one line when the interval ends (`count: n`, `interval_ms`), and so on
 * while they last. The logger's own (winston) rate-limiting has no such option, hence this.
 */
export class ThrottledLog {
  private readonly windows = new Map<string, { count: number; timer: NodeJS.Timeout; fields: Record<string, unknown> }>();

  /**
   * @param logger where lines go.
   * @param level their level. Default `warn`.
   * @param intervalMs the interval, ms. Default {@link THROTTLED_LOG_INTERVAL_MS}.
   */
  constructor(
    private readonly logger: Logger,
    private readonly level: 'error' | 'warn' | 'info' | 'debug' = 'warn',
    private readonly intervalMs = THROTTLED_LOG_INTERVAL_MS,
  ) {}

  /**
   * Notes one `err` under `message` (e.g. "redis connection error"); its kind is {@link errorKind}.
   * @param fields more log fields of the line (e.g. `{queue}`); those of the first error of an interval are kept.
   */
  note(message: string, err: unknown, fields: Record<string, unknown> = {}): void {
    const kind = errorKind(err);
    const key = `${message}\u0000${kind}\u0000${JSON.stringify(fields)}`;
    const open = this.windows.get(key);
    if (open) {
      open.count++;
      return;
    }
    const line = { ...fields, error: err instanceof Error ? err.message : String(err), error_kind: kind };
    this.logger.log(this.level, message, { ...line, count: 1 });
    this.openWindow(key, message, line);
  }

  private openWindow(key: string, message: string, line: Record<string, unknown>): void {
    const timer = setTimeout(() => {
      const w = this.windows.get(key);
      this.windows.delete(key);
      if (!w || w.count === 0) return;
      this.logger.log(this.level, message, { ...w.fields, count: w.count, interval_ms: this.intervalMs });
      // More may follow: the next ones are summed up too, not logged one by one again.
      this.openWindow(key, message, w.fields);
    }, this.intervalMs);
    timer.unref();
    this.windows.set(key, { count: 0, timer, fields: line });
  }

  /** Logs what is counted and not yet logged, and stops the timers (at shutdown). */
  flush(): void {
    for (const [key, w] of this.windows) {
      clearTimeout(w.timer);
      this.windows.delete(key);
      if (w.count > 0) this.logger.log(this.level, key.split('\u0000')[0]!, { ...w.fields, count: w.count });
    }
  }
}
