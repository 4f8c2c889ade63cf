import { z } from 'zod';

/**
 * The query parameters' value types, one home for every route's query schema. A query value is a
 * string (or an array of them, when the parameter repeats); each type reads only its own written
 * form, where `Number()` or `Date.parse()` would also read others (`0x10`, `1e2`, an empty value,
 * `0` as a date in 2000).
 */

/** An optional minus, then decimal digits (up to 20: a longer value is refused as out of range, not as malformed). */
const INTEGER = /^-?\d{1,20}$/;

/**
 * An integer query parameter from `min` to `max`, as a number.
 * Refused with 400 VALIDATION_ERROR: anything but decimal digits ("must be an integer"), a value
 * out of range ("must be at least min" / "must be at most max").
 */
export function queryInt(min: number, max: number) {
  return z
    .string({ error: 'must be an integer' })
    .regex(INTEGER, { error: 'must be an integer' })
    .transform(Number)
    .pipe(z.number().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));
}

/**
 * ISO 8601's calendar forms, as the API writes its times and takes them: a month or a date, or a
 * date and time (`T`, or a space as RFC 3339 allows) to the minute, second or a fraction of it,
 * with an optional offset (`2026-11`, `2026-11-21`, `2026-11-21T12:00:00Z`,
 * `2026-11-21T12:00:00.5+01:00`). A bare number is no time here (`0` would read as the year 2000).
 */
const ISO_8601 = /^\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?$/i;

/** Whether `s` has one of the forms of {@link ISO_8601} and `Date.parse` reads it (which rolls a day past the month's end over, as `2026-02-30` to March 2). */
export function isIsoTime(s: string): boolean {
  return ISO_8601.test(s) && !Number.isNaN(Date.parse(s));
}

const TIME_RULE = 'must be an ISO 8601 time, e.g. 2026-11-21T12:00:00Z';

/** A time query parameter in ISO 8601, as epoch ms; anything else is refused (400 VALIDATION_ERROR). */
export const queryTime = z
  .string({ error: TIME_RULE })
  .refine(isIsoTime, { error: TIME_RULE })
  .transform((s) => Date.parse(s));
