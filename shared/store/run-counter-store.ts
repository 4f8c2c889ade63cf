/**
 * The deployment's counters of finished runs (docs/operations.md#metrics): one hash per shard, `runCounters`,
 * whose fields are a counter's name and label set and whose values are counts. The record scripts
 * (lua/job-update-live.lua) add to them in the same script that writes a run's end on its record, so
 * a run is counted exactly once, whatever process dies afterwards.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';

/** A counter's name and labels (label values come from the code, never from a caller). */
export interface RunCounter {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The hash field of counter `name` with `labels`: `<name>` then the labels as JSON, keys sorted. */
export function runCounterField(name: string, labels: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${name} ${JSON.stringify(sorted)}`;
}

/**
 * The field name of an async algorithm job's final run end: one field (one HINCRBY in the record's
 * script) that counts in two counters, `algorithm_executions_total` with its `status` (`success` or
 * `error`) and `jobs_completed_total` with the record's (`completed` or `failed`). {@link RunCounterStore.all} expands it.
 */
export const ASYNC_RUN_END = 'async_run_end';

/** The counters one field counts in: itself, or the two of an {@link ASYNC_RUN_END}. */
function countersOf(name: string, labels: Record<string, string>): Array<{ name: string; labels: Record<string, string> }> {
  if (name !== ASYNC_RUN_END) return [{ name, labels }];
  const failed = labels.status === 'error';
  return [
    { name: 'algorithm_executions_total', labels },
    { name: 'jobs_completed_total', labels: { ...labels, status: failed ? 'failed' : 'completed' } },
  ];
}

/** Reads the run counters. */
export class RunCounterStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * Every counter with its count, summed over the shards (one hash each) and over the fields that
   * count in it ({@link ASYNC_RUN_END}); fields that do not parse are left out. Rejects when Redis is unreachable.
   */
  async all(): Promise<RunCounter[]> {
    const hashes = await Promise.all(this.keys.allShards.map((shard) => this.redis.hgetall(shard.runCounters)));
    const summed = new Map<string, number>();
    for (const hash of hashes) for (const [field, count] of Object.entries(hash)) summed.set(field, (summed.get(field) ?? 0) + Number(count));
    const byCounter = new Map<string, RunCounter>();
    for (const [field, count] of summed) {
      const space = field.indexOf(' ');
      if (space <= 0) continue;
      let labels: Record<string, string>;
      try {
        labels = JSON.parse(field.slice(space + 1)) as Record<string, string>;
      } catch {
        continue;
      }
      for (const c of countersOf(field.slice(0, space), labels)) {
        const key = runCounterField(c.name, c.labels);
        const seen = byCounter.get(key);
        if (seen) seen.value += count;
        else byCounter.set(key, { name: c.name, labels: c.labels, value: count });
      }
    }
    const out = [...byCounter.values()];
    return out;
  }
}
