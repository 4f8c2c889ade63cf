import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';

/** Fields every log line of the current request or job carries (request_id; job_id, algorithm, attempt). */
export type LogContext = Record<string, string | number | undefined>;

const contextStorage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` merged into the log context of everything it (and what it awaits) logs. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  const parent = contextStorage.getStore();
  return contextStorage.run(parent ? { ...parent, ...ctx } : ctx, fn);
}

/** The log context of the caller, if any. */
export function currentLogContext(): LogContext | undefined {
  return contextStorage.getStore();
}

const SECRET_KEYS = /(authorization|password|secret|token|api[-_]?key|cookie)/i;

/** Adds the async context to each line and masks values of secret-looking keys. */
const contextFormat = winston.format((info) => {
  const ctx = contextStorage.getStore();
  if (ctx) {
    for (const [k, v] of Object.entries(ctx)) if (v !== undefined && info[k] === undefined) info[k] = v;
  }
  for (const key of Object.keys(info)) if (SECRET_KEYS.test(key)) info[key] = '[redacted]';
  return info;
});

/**
 * A winston JSON-lines logger for one process (`service`: api, worker, start), on stdout unless
 * other transports are given (tests keep lines in memory).
 * @param level winston level (LOG_LEVEL).
 */
export function createLogger(service: string, level: string, transports: winston.transport[] = [new winston.transports.Console()]): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service, pid: process.pid },
    format: winston.format.combine(
      contextFormat(),
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports,
  });
}

export type Logger = winston.Logger;
