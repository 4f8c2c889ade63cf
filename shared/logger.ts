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

/**
 * Runs `fn` outside any log context: for timers that a request or job sets up but that outlive it
 * (a pool's audits and sweeps), whose lines are not that job's.
 */
export function withoutLogContext<T>(fn: () => T): T {
  return contextStorage.exit(fn);
}

/** Keys whose values are secrets at any depth (headers included: Authorization, X-API-Key, Cookie, webhook-signature). */
const SECRET_KEYS = /(authorization|password|passwd|secret|token|api[-_]?key|cookie|credential|private[-_]?key|signature)/i;

/** What replaces a secret. */
export const REDACTED = '[redacted]';

/** Nesting beyond which a logged value is cut (also stops cycles and huge structures). */
const MAX_REDACT_DEPTH = 8;

/** Secrets inside free text, each with its replacement. */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string | ((...m: string[]) => string)]> = [
  // Credentials in URLs: scheme://user:pass@host keeps the user; scheme://token@host hides the lone user (often a token).
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*)(?::([^\s/?#@]*))?@/gi, (_m, scheme, user, pass) => (pass === undefined ? `${scheme}${REDACTED}@` : `${scheme}${user}:${REDACTED}@`)],
  // Secret-looking query parameters.
  [/([?&](?:access_token|token|api[-_]?key|apikey|key|secret|password|sig|signature)=)[^&\s#"]+/gi, `$1${REDACTED}`],
  // Authorization header values written into text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, `$1 ${REDACTED}`],
  // fnqueue API keys (the id stays, for tracing) and webhook secrets.
  [/\b(fnq_[A-Za-z0-9]+_)[A-Za-z0-9_-]+/g, `$1${REDACTED}`],
  [/\bwhsec_[A-Za-z0-9+/=]+/g, `whsec_${REDACTED}`],
  // JWTs.
  [/\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
];

/** A path segment that may be a credential (a Slack-style `/services/T0/B0/<secret>`): long, or with digits and 6+ characters. */
const SECRET_SEGMENT = /^(?=.{24,}$)|^(?=.*\d)[^/]{6,}$/;

/**
 * An http(s) URL with everything that may carry a credential masked, whatever its name: the
 * password (or a lone user, often a token), every query value (names kept), the fragment, and
 * credential-like path segments (docs/security.md). `url` when it does not parse.
 */
export function maskUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const user = u.username ? (u.password ? `${u.username}:${REDACTED}@` : `${REDACTED}@`) : '';
  const path = u.pathname
    .split('/')
    .map((segment) => (segment && SECRET_SEGMENT.test(safeDecode(segment)) ? REDACTED : segment))
    .join('/');
  const query = u.search
    ? `?${u.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          return eq === -1 ? pair : `${pair.slice(0, eq)}=${eq === pair.length - 1 ? '' : REDACTED}`;
        })
        .join('&')}`
    : '';
  // Nothing to mask: the URL as written (URL parsing would normalise it, e.g. add a trailing slash).
  if (!user && path === u.pathname && !u.search && !u.hash) return url;
  return `${u.protocol}//${user}${u.host}${path}${query}${u.hash ? `#${REDACTED}` : ''}`;
}

/** `segment` percent-decoded, or as it is when it does not decode. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** http(s) URLs inside free text: up to whitespace, a quote or an angle bracket. */
const HTTP_URL = /\bhttps?:\/\/[^\s"'<>]+/gi;

/** `text` with credentials in URLs ({@link maskUrl} for http(s) ones), bearer tokens, API keys, webhook secrets and JWTs masked. */
export function redactText(text: string): string {
  let out = text.replace(HTTP_URL, (m) => maskUrl(m));
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement as string);
  return out;
}

/**
 * A copy of `value` safe to log: values of secret-looking keys masked at any depth, secrets in
 * strings masked ({@link redactText}), Errors as `{name, message, stack}`. Never mutates `value`.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_REDACT_DEPTH) return '[truncated]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
    if (value instanceof Error) {
      const err = value as Error & Record<string, unknown>;
      const out: Record<string, unknown> = { name: err.name, message: redactText(err.message) };
      if (err.stack) out.stack = redactText(err.stack);
      for (const [k, v] of Object.entries(err)) out[k] = SECRET_KEYS.test(k) ? REDACTED : redact(v, depth + 1, seen);
      return out;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    // Headers objects from node:http have a null prototype; class instances (Buffer, Date, Map) pass as they are.
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) ? REDACTED : redact(v, depth + 1, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Adds the async context to each line. */
const contextFormat = winston.format((info) => {
  const ctx = contextStorage.getStore();
  if (ctx) {
    for (const [k, v] of Object.entries(ctx)) if (v !== undefined && info[k] === undefined) info[k] = v;
  }
  return info;
});

/**
 * Masks secrets in each line (after winston's errors format, so an Error's message and stack are
 * covered): values of secret-looking keys at any depth, and credentials inside strings.
 * Top-level fields are replaced in place (winston keeps its symbols on `info`); nested ones are copied.
 */
const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    info[key] = SECRET_KEYS.test(key) ? REDACTED : redact(info[key], 1);
  }
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
      redactFormat(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports,
  });
}

export type Logger = winston.Logger;
