/**
 * Paging and filters of the hetuflow scheduler API (docs/compat-hetuflow.md#paging-and-filters):
 * a body `{filter: {<field>: {eq, gte, lte, in}}, page: {page, page_size}}`, answered
 * `{data, total, page, page_size}`. Each list declares its fields and their kinds; a status field
 * takes the reference's names or its integer codes. Filters apply to the whole list before paging.
 */
import { AppError, fieldError } from '../../shared/errors/index.js';

/** Default page size (the reference's examples use 20). */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest page size. */
export const MAX_PAGE_SIZE = 500;
/** Most values of one `in` condition. */
export const MAX_IN_VALUES = 100;

/** How a field's values compare: text, time (ISO 8601), number, boolean, or an enum with integer codes. */
export type FieldKind = { type: 'string' } | { type: 'time' } | { type: 'number' } | { type: 'boolean' } | { type: 'enum'; codes: Readonly<Record<string, number>> };

/** One condition of a field: every operator given must hold. */
export interface Condition {
  eq?: unknown;
  gte?: unknown;
  lte?: unknown;
  in?: unknown[];
}

/** A parsed list request. */
export interface ListRequest {
  filter: Record<string, Condition>;
  page: number;
  page_size: number;
}

const OPERATORS = ['eq', 'gte', 'lte', 'in'] as const;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses a list body against the fields `fields` allows. A missing body, filter or page is allowed
 * (no filter; page 1 of {@link DEFAULT_PAGE_SIZE}).
 * @throws AppError VALIDATION_ERROR naming the field (`filter.status.eq`, `page.page_size`, an unknown field or operator).
 */
export function parseListRequest(body: unknown, fields: Readonly<Record<string, FieldKind>>): ListRequest {
  if (body === undefined) body = {};
  if (!isObject(body)) throw new AppError('VALIDATION_ERROR', 'request body must be a JSON object', { field: 'body' });
  const unknown = Object.keys(body).find((k) => k !== 'filter' && k !== 'page');
  if (unknown !== undefined) throw fieldError(unknown.slice(0, 100), 'is not a known field (filter, page)');
  const filter: Record<string, Condition> = {};
  if (body.filter !== undefined && body.filter !== null) {
    if (!isObject(body.filter)) throw fieldError('filter', 'must be an object of field conditions');
    for (const [name, raw] of Object.entries(body.filter)) {
      const kind = fields[name];
      const at = `filter.${name.slice(0, 100)}`;
      if (!kind) throw fieldError(at, `is not a filterable field (${Object.keys(fields).join(', ')})`);
      if (raw === null) continue;
      if (!isObject(raw)) throw fieldError(at, 'must be an object of operators (eq, gte, lte, in)');
      const cond: Condition = {};
      for (const [op, value] of Object.entries(raw)) {
        if (!(OPERATORS as readonly string[]).includes(op)) throw fieldError(`${at}.${op.slice(0, 20)}`, 'is not an operator (eq, gte, lte, in)');
        if (value === null || value === undefined) continue;
        if (op === 'in') {
          if (!Array.isArray(value)) throw fieldError(`${at}.in`, 'must be an array');
          if (value.length > MAX_IN_VALUES) throw fieldError(`${at}.in`, `must have at most ${MAX_IN_VALUES} values`);
          cond.in = value.map((v, i) => normalize(v, kind, `${at}.in.${i}`));
        } else {
          if ((op === 'gte' || op === 'lte') && (kind.type === 'boolean' || kind.type === 'string')) throw fieldError(`${at}.${op}`, 'applies to times and numbers only');
          cond[op as 'eq' | 'gte' | 'lte'] = normalize(value, kind, `${at}.${op}`);
        }
      }
      filter[name] = cond;
    }
  }
  let page = 1;
  let pageSize = DEFAULT_PAGE_SIZE;
  if (body.page !== undefined && body.page !== null) {
    if (!isObject(body.page)) throw fieldError('page', 'must be an object {page, page_size}');
    const extra = Object.keys(body.page).find((k) => k !== 'page' && k !== 'page_size');
    if (extra !== undefined) throw fieldError(`page.${extra.slice(0, 100)}`, 'is not a known field (page, page_size)');
    if (body.page.page !== undefined) page = positiveInt(body.page.page, 'page.page', 1_000_000);
    if (body.page.page_size !== undefined) pageSize = positiveInt(body.page.page_size, 'page.page_size', MAX_PAGE_SIZE);
  }
  return { filter, page, page_size: pageSize };
}

function positiveInt(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw fieldError(field, 'must be an integer', { value: v });
  if (v < 1) throw fieldError(field, 'must be at least 1', { value: v });
  if (v > max) throw fieldError(field, `must be at most ${max}`, { value: v });
  return v;
}

/** A filter value in the form values of the field compare as: times in ms, enum names (codes mapped). */
function normalize(v: unknown, kind: FieldKind, field: string): unknown {
  switch (kind.type) {
    case 'string':
      if (typeof v !== 'string') throw fieldError(field, 'must be a string');
      return v;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw fieldError(field, 'must be a number');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw fieldError(field, 'must be true or false');
      return v;
    case 'time': {
      const ms = typeof v === 'string' ? Date.parse(v) : NaN;
      if (Number.isNaN(ms)) throw fieldError(field, 'must be an ISO 8601 time, e.g. 2024-01-01T00:00:00Z');
      return ms;
    }
    case 'enum': {
      const names = Object.keys(kind.codes);
      if (typeof v === 'string' && names.includes(v)) return v;
      if (typeof v === 'number') {
        const name = names.find((n) => kind.codes[n] === v);
        if (name !== undefined) return name;
      }
      throw fieldError(field, `must be one of ${names.map((n) => `${n} (${kind.codes[n]})`).join(', ')}`);
    }
  }
}

/** The value of `item`'s field as conditions compare it (times in ms). */
function valueOf(item: Record<string, unknown>, name: string, kind: FieldKind): unknown {
  const v = item[name];
  if (kind.type === 'time') return typeof v === 'string' ? Date.parse(v) : null;
  return v;
}

/** True when `item` meets every condition of `filter`. A missing (null) value meets no condition. */
export function matches(item: Record<string, unknown>, filter: Record<string, Condition>, fields: Readonly<Record<string, FieldKind>>): boolean {
  for (const [name, cond] of Object.entries(filter)) {
    const kind = fields[name]!;
    const v = valueOf(item, name, kind);
    if (cond.eq !== undefined && v !== cond.eq) return false;
    if (cond.in !== undefined && !cond.in.includes(v)) return false;
    if (cond.gte !== undefined && !(v !== null && v !== undefined && (v as number) >= (cond.gte as number))) return false;
    if (cond.lte !== undefined && !(v !== null && v !== undefined && (v as number) <= (cond.lte as number))) return false;
  }
  return true;
}

/** One page of `items` (already filtered and sorted) in the reference's answer shape. */
export function pageOf<T>(items: readonly T[], req: Pick<ListRequest, 'page' | 'page_size'>): { data: T[]; total: number; page: number; page_size: number } {
  const start = (req.page - 1) * req.page_size;
  return { data: items.slice(start, start + req.page_size), total: items.length, page: req.page, page_size: req.page_size };
}

/** The single value a condition pins a field to (`eq`, or an `in` of one), for lookups by index; else undefined. */
export function pinned(cond: Condition | undefined): unknown {
  if (!cond) return undefined;
  if (cond.eq !== undefined) return cond.eq;
  if (cond.in?.length === 1) return cond.in[0];
  return undefined;
}
