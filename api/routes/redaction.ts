import { AppError } from '../../shared/errors/index.js';
import { REDACTED, redactText } from '../../shared/logger.js';

/**
 * What every env value reads as through the API. Env values of functions, projects and the system
 * layer are write-only (docs/security.md, Secrets; docs/functions.md, Environment): answers show the
 * names, each with this mask, never a value, whatever the caller's scope and whatever the name.
 */
export const ENV_VALUE_MASK = REDACTED;

/**
 * An env map as answers show it: the same names (in the same order), every value {@link ENV_VALUE_MASK}.
 * @param env names → values (any value, even an already masked one); absent or not an object: `{}`.
 * @returns a new object; `env` is not changed.
 */
export function envNamesOnly(env: unknown): Record<string, string> {
  if (!env || typeof env !== 'object' || Array.isArray(env)) return {};
  return Object.fromEntries(Object.keys(env).map((name) => [name, ENV_VALUE_MASK]));
}

/**
 * A copy of an answer whose `env` field (a function record, a project, `GET /projects/{name}/env`,
 * `GET /env/system`) shows names only ({@link envNamesOnly}). Without an `env` field: as it is.
 */
export function withEnvNamesOnly<T>(answer: T): T {
  if (!answer || typeof answer !== 'object' || !('env' in answer)) return answer;
  return { ...answer, env: envNamesOnly((answer as { env: unknown }).env) };
}

/**
 * Masks a JSON value for a read-scoped caller, generically, at any depth (the dashboard's answers:
 * jobs, job schedulers, job data, options and return values): every string as the logger masks
 * text (credentials in URLs, secret query parameters, `Bearer` values, `fnq_` keys, `whsec_`
 * secrets, JWTs; shared/logger.ts), every `env` object's values as {@link ENV_VALUE_MASK}, every
 * `stacktrace` array emptied (worker stack traces stay in Redis). Walks iteratively (no recursion
 * limit to hit) and changes `value` in place: call it on a freshly parsed or built answer only.
 * @returns `value`, or the masked string when `value` is a string.
 */
export function maskSecretsInPlace(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (!value || typeof value !== 'object') return value;
  const stack: object[] = [value];
  const seen = new WeakSet<object>();
  while (stack.length) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    const entries: Array<[string | number, unknown]> = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, child] of entries) {
      const set = (v: unknown) => ((node as Record<string | number, unknown>)[key] = v);
      if (typeof child === 'string') {
        set(redactText(child));
      } else if (key === 'env' && child && typeof child === 'object' && !Array.isArray(child)) {
        set(envNamesOnly(child));
      } else if (key === 'stacktrace' && Array.isArray(child)) {
        set([]);
      } else if (child && typeof child === 'object') {
        stack.push(child);
      }
    }
  }
  return value;
}

/**
 * Refuses an env whose value is the mask answers show: a client that sends back an env it read
 * would otherwise store `[redacted]` as the value. Anything but an object of names is left to the
 * request's own validation.
 * @param env the `env` of a request body (POST/PUT /functions, PUT /projects/{name}/env, the multipart deploy).
 * @throws AppError VALIDATION_ERROR with `details.field` `env.<NAME>`.
 */
export function refuseMaskedEnv(env: unknown): void {
  if (!env || typeof env !== 'object' || Array.isArray(env)) return;
  for (const [name, value] of Object.entries(env)) {
    if (value === ENV_VALUE_MASK) {
      const field = `env.${name.slice(0, 100)}`;
      throw new AppError('VALIDATION_ERROR', `${field} is ${ENV_VALUE_MASK}, the mask reads show: env values are write-only, send the value itself`, { field });
    }
  }
}
