import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

/** A usage mistake found after parsing (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Params from `key=value` words over an optional `--data` object: a value that parses as JSON is
 * that JSON (`number=17` is the number 17, `flags=[1,2]` an array, `ok=true` a boolean), any other
 * value is a string (`name=ada`); `name='"17"'` forces the string "17". A dotted key nests
 * (`a.b=1` is `{"a": {"b": 1}}`).
 * @throws UsageError for a word without `=` or with an empty key, or --data that is not a JSON object.
 */
export function parseParams(pairs: readonly string[], data?: string): Record<string, unknown> {
  const params: Record<string, unknown> = data === undefined ? {} : parseDataObject(data);
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got '${pair}'`);
    const path = pair.slice(0, eq).split('.');
    if (path.some((p) => p === '')) throw new UsageError(`empty key part in '${pair}'`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* not JSON: the string as written */
    }
    let target = params;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    target[path[path.length - 1]!] = value;
  }
  return params;
}

/** `--data`: JSON text, or `@file` for a file's JSON. @throws UsageError when it is not JSON. */
export function parseData(data: string): unknown {
  let text = data;
  if (data.startsWith('@')) {
    try {
      text = readFileSync(data.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${data.slice(1)}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`--data is not JSON: ${text.slice(0, 80)}`);
  }
}

function parseDataObject(data: string): Record<string, unknown> {
  const value = parseData(data);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--data must be a JSON object');
  return value as Record<string, unknown>;
}

/** A commander argument parser for a non-negative integer (`--timeout 5000`). */
export function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a non-negative integer');
  return Number(value);
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `K=V` words as an env object. @throws UsageError for a word without `=`. */
export function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected NAME=value for --env, got '${pair}'`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** A table of rows, columns padded to their widest cell. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) => row.map((cell, i) => (cell ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
