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
function namedIssues(err: ZodError, input: unknown): Array<{ path: readonly PropertyKey[]; message: string }> {
  return err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: [...i.path, shownKey(key)], message: 'is not a known field' })) : [{ path: i.path, message: reasonOf(i, input) }],
  );
}

/** zod's type names as a reason says them (`must be an object`). */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  map: 'an object',
  set: 'an array',
  date: 'a date',
  null: 'null',
};

/** zod's format names as a reason says them (`must be a valid URL`). */
const FORMAT_NAMES: Readonly<Record<string, string>> = { url: 'URL', email: 'email address', uuid: 'UUID', datetime: 'ISO 8601 time', date: 'ISO 8601 date', ipv4: 'IPv4 address', ipv6: 'IPv6 address' };

/**
 * The reason of one zod issue, as the API phrases its messages (the FunctionalScaffold API
 * reference: "number must be an integer"). A schema's own message, which every schema here writes
 * in lower case, is kept; zod's default English one, which starts with a capital ("Too big:
 * expected string to have <=10000 characters"), is said again from the issue's code and bounds
 * ("must be at most 10000 characters"), so no library's phrasing reaches the wire.
 */
function reasonOf(i: ZodError['issues'][number], input: unknown): string {
  if (!/^[A-Z]/.test(i.message)) return i.message;
  switch (i.code) {
    case 'invalid_type':
      // Without the input (a caller that has none) a missing value cannot be told from a wrong one.
      return input !== undefined && valueAt(input, i.path) === undefined ? 'is required' : `must be ${TYPE_NAMES[i.expected] ?? i.expected}`;
    case 'too_big':
    case 'too_small': {
      const big = i.code === 'too_big';
      const bound = big ? i.maximum : i.minimum;
      const edge = i.inclusive === false ? (big ? 'less than' : 'more than') : big ? 'at most' : 'at least';
      const s = Number(bound) === 1 ? '' : 's';
      if (i.origin === 'string') return !big && Number(bound) === 1 ? 'must not be empty' : `must be ${edge} ${bound} character${s} long`;
      if (i.origin === 'array' || i.origin === 'set') return `must hold ${edge} ${bound} item${s}`;
      if (i.origin === 'file') return `must be ${edge} ${bound} byte${s}`;
      return `must be ${edge} ${bound}`;
    }
    case 'invalid_value':
      return `must be one of ${i.values.map(String).join(', ')}`;
    case 'invalid_format':
      return i.format === 'regex' ? `must match ${'pattern' in i && i.pattern ? String(i.pattern) : 'the expected pattern'}` : `must be a valid ${FORMAT_NAMES[i.format] ?? i.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${i.divisor}`;
    case 'invalid_union':
      return 'matches none of the forms it may take';
    case 'invalid_key':
      return 'has a key that is not valid';
    case 'invalid_element':
      return 'has an element that is not valid';
    default:
      return i.message.charAt(0).toLowerCase() + i.message.slice(1);
  }
}

/**
 * A ZodError as VALIDATION_ERROR: message `"<field> <reason>"` as in the FunctionalScaffold API
 * reference (`number must be an integer`), details `{field, value, issues}`; an unknown key is
 * named by its own path (`colour is not a known field`).
 * @param input the validated value, for details.value (a scalar only).
 * @param prefix path segments before the issues' own (e.g. `['params']`).
 */
export function validationError(err: ZodError, input?: unknown, prefix: readonly PropertyKey[] = []): AppError {
  const named = namedIssues(err, input);
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
