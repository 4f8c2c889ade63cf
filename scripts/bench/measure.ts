/** Measuring and printing helpers shared by the bench phases: latency statistics, autocannon, tables. */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The `q` quantile (0..1) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Latencies in ms and the rate they came at. */
export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  perSecond: number;
}

/** p50 / p99 of `latencies` (ms) and their count per second over `seconds`. */
export function stats(latencies: number[], seconds: number): LatencyStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), perSecond: sorted.length / seconds };
}

/** Monotonic time in µs (CLOCK_MONOTONIC, the clock of V8's profile timestamps). */
export const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** `x` with `digits` decimals, or 'n/a' when unmeasured. */
export const fmt = (x: number | undefined, digits = 2): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
/** `x` rounded, with thousands separators, or 'n/a' when unmeasured. */
export const fmtInt = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));

/** A markdown table; the first column (and those in `left`) left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][], left: number[] = []): string {
  const isLeft = (i: number) => i === 0 || left.includes(i);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (isLeft(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (isLeft(i) ? ':' : '-') + '-'.repeat(w) + (isLeft(i) ? '-' : ':')).join('|') + '|';
  return [line(header), sep, ...rows.map(line)].join('\n');
}

/** A progress line on stderr (stdout holds the results). */
export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The 1-, 5- and 15-minute load averages, or 'n/a'. */
export function readLoad(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** One autocannon run: 2xx latencies, other statuses by code, connection errors. */
export interface CannonRun {
  stats: LatencyStats;
  /** The 2xx latencies, ms, in the order they came. */
  latencies: number[];
  /** The run's measured seconds (autocannon's duration). */
  seconds: number;
  non2xx: Record<number, number>;
  errors: number;
  timeouts: number;
}

/**
 * POSTs `body` as JSON to `url` (always 127.0.0.1 here) over `connections` connections for
 * `durationS` seconds, each request timing out after 10 s; at `overallRate` req/s when given.
 */
export function cannon(url: string, body: object, connections: number, durationS: number, overallRate?: number): Promise<CannonRun> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const non2xx: Record<number, number> = {};
    const instance = autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        connections,
        duration: durationS,
        timeout: 10,
        ...(overallRate ? { overallRate } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        resolve({ stats: stats(lat, result.duration), latencies: lat, seconds: result.duration, non2xx, errors: result.errors, timeouts: result.timeouts });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) lat.push(responseTime);
      else non2xx[statusCode] = (non2xx[statusCode] ?? 0) + 1;
    });
  });
}

/** `3×429, 2 connection errors (1 timeouts)`, or `none`. */
export function describeErrors(run: CannonRun): string {
  const parts = Object.entries(run.non2xx).map(([code, n]) => `${n}×${code}`);
  if (run.errors) parts.push(`${run.errors} connection errors (${run.timeouts} timeouts)`);
  return parts.length ? parts.join(', ') : 'none';
}
