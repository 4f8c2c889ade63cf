import type { ZodError } from 'zod';
import { AppError } from './app-error.js';

/** The dotted path of a zod issue, `body` when it is the whole value. */
function issuePath(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : 'body';
}

/** Reads the value at a zod issue's path from the input, for details.value. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** A key as shown in a message or `details.field` (at most 100 characters). */
const shownKey = (key: string) => key.slice(0, 100);

/**
 * The issues of `err`, each "unrecognized keys" issue (zod reports it on the enclosing object,
 * which would be named `body`) split into one issue per key at that key's path, so the answer
 * names the key: field `colour`, message `colour is not a known field`.
 */
function namedIssues(err: ZodError): Array<{ path: readonly PropertyKey[]; message: string }> {
  return err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: [...i.path, shownKey(key)], message: 'is not a known field' })) : [{ path: i.path, message: i.message }],
  );
}

/**
 * A ZodError as VALIDATION_ERROR: message `"<field> <reason>"` as in the FunctionalScaffold API
 * reference (`number must be an integer`), details `{field, value, issues}`; an unknown key is
 * named by its own path (`colour is not a known field`).
 * @param input the validated value, for details.value (a scalar only).
 * @param prefix path segments before the issues' own (e.g. `['params']`).
 */
export function validationError(err: ZodError, input?: unknown, prefix: readonly PropertyKey[] = []): AppError {
  const named = namedIssues(err);
  const issues = named.map((i) => ({ field: issuePath([...prefix, ...i.path]), message: i.message }));
  const first = named[0];
  const field = first ? issuePath([...prefix, ...first.path]) : 'body';
  // Env values are write-only (docs/security.md): a refused one is named, never echoed.
  const secret = first !== undefined && [...prefix, ...first.path].includes('env');
  const value = first && !secret ? valueAt(input, first.path) : undefined;
  const message = first ? `${field} ${first.message}` : 'invalid request';
  const details: Record<string, unknown> = { field, issues };
  if (value !== undefined && (typeof value !== 'object' || value === null)) details.value = value;
  return new AppError('VALIDATION_ERROR', message, details);
}

/** A VALIDATION_ERROR for one field: message `"<field> <reason>"`, details `{field, issues, ...extra}`. */
export function fieldError(field: string, reason: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('VALIDATION_ERROR', `${field} ${reason}`, { field, issues: [{ field, message: reason }], ...extra });
}
