/**
 * Schedules in Redis (docs/operations.md#schedules): configuration, so hashes without TTL
 * (`keys.schedule(id)`), indexed by creation time (`keys.schedules`) and by name
 * (`keys.scheduleNames`, which keeps names unique across API processes). Every write that must be
 * atomic (name claims, versioned replaces, deletes) is one script (lua/schedule-*.lua).
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { StoredSchedule } from '../schemas/schedule.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';
import { pipelineReplies } from './pipeline.js';

/** The time zone of a schedule that names none: cron times are read in UTC, never the server's local zone. */
export const DEFAULT_TIMEZONE = 'UTC';

/** Optional fields, stored only when set: the webhook, the job options of each run, and the namespace and job definition its runs carry. */
export const SCHEDULE_OPTION_KEYS = ['webhook', 'max_retries', 'retry_backoff', 'retry_interval_ms', 'timeout_ms', 'priority', 'namespace', 'definition_id'] as const;
const NUMERIC_OPTION_KEYS = new Set<string>(['max_retries', 'retry_interval_ms', 'timeout_ms', 'priority']);

/** How {@link ScheduleStore.replace} went: written, gone, another writer came first (`stale`), or the name is another schedule's. */
export type ScheduleReplaceOutcome = { kind: 'ok' } | { kind: 'gone' } | { kind: 'stale' } | { kind: 'name_taken'; holder: string };

/** How {@link ScheduleStore.create} went: written, the name is another schedule's, or MAX_SCHEDULES exist (`count`). */
export type ScheduleCreateOutcome = { kind: 'created' } | { kind: 'name_taken'; holder: string } | { kind: 'limit'; count: number };

/** Schedule records, their index and unique names. */
export class ScheduleStore<T = unknown> {
  private readonly redis: ScriptedRedis;

  /** @param redis a command connection (not a subscriber). */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * Writes a new schedule unless its name is taken or `maxSchedules` exist (0: no bound), in one script.
   * @returns created, the id of the schedule holding the name, or the count at the bound.
   */
  async create(s: StoredSchedule<T>, createdMs: number, maxSchedules = 0): Promise<ScheduleCreateOutcome> {
    const { keys } = this;
    const [outcome, arg] = await runScript<[string, (string | number)?]>(this.redis, 'schedule-create', keys.scheduleNames, keys.schedule(s.schedule_id), keys.schedules, s.name, s.schedule_id, createdMs, maxSchedules, ...toFields(s));
    if (outcome === 'name') return { kind: 'name_taken', holder: String(arg ?? '') };
    if (outcome === 'limit') return { kind: 'limit', count: Number(arg) };
    return { kind: 'created' };
  }

  /** Replaces a schedule's fields when it is still at `expectedVersion`, moving its name when it changed. */
  async replace(s: StoredSchedule<T>, expectedVersion: number): Promise<ScheduleReplaceOutcome> {
    const { keys } = this;
    const [outcome, holder] = await runScript<[string, string?]>(this.redis, 'schedule-update', keys.scheduleNames, keys.schedule(s.schedule_id), s.schedule_id, s.name, String(expectedVersion), ...toFields(s));
    if (outcome === 'name') return { kind: 'name_taken', holder: holder ?? '' };
    return { kind: outcome as 'ok' | 'gone' | 'stale' };
  }

  /** Deletes a schedule, its index entry and its name. @returns false when it was gone. */
  async delete(scheduleId: string): Promise<boolean> {
    const { keys } = this;
    return (await runScript<number>(this.redis, 'schedule-delete', keys.scheduleNames, keys.schedule(scheduleId), keys.schedules, scheduleId)) === 1;
  }

  /** The stored schedule, or null when unknown. */
  async get(scheduleId: string): Promise<StoredSchedule<T> | null> {
    const h = await this.redis.hgetall(this.keys.schedule(scheduleId));
    return h.schedule_id ? fromHash<T>(h) : null;
  }

  /** The stored write counter of a schedule, or null when it is gone. */
  async version(scheduleId: string): Promise<number | null> {
    const v = await this.redis.hget(this.keys.schedule(scheduleId), 'version');
    return v === null ? null : Number(v);
  }

  /** Schedules newest first. @returns one page and the total. */
  async list(page: { limit: number; offset: number }): Promise<{ schedules: StoredSchedule<T>[]; total: number }> {
    const { keys } = this;
    const [total, ids] = await Promise.all([this.redis.zcard(keys.schedules), this.redis.zrevrange(keys.schedules, page.offset, page.offset + page.limit - 1)]);
    if (ids.length === 0) return { schedules: [], total };
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(keys.schedule(id));
    const hashes = (await pipelineReplies(pipeline)) as Array<Record<string, string>>;
    return { schedules: hashes.filter((h) => h?.schedule_id).map((h) => fromHash<T>(h)), total };
  }
}

/** A schedule as Redis hash fields (optional fields absent when unset). */
function toFields(s: StoredSchedule<unknown>): string[] {
  const fields: Record<string, string> = {
    schedule_id: s.schedule_id,
    name: s.name,
    cron: s.cron ?? '',
    every_ms: s.every_ms === null ? '' : String(s.every_ms),
    timezone: s.timezone,
    target: JSON.stringify(s.target),
    enabled: s.enabled ? '1' : '0',
    created_at: s.created_at,
    updated_at: s.updated_at,
    version: String(s.version),
  };
  for (const key of SCHEDULE_OPTION_KEYS) if (s[key] !== undefined) fields[key] = String(s[key]);
  return Object.entries(fields).flat();
}

/** A stored hash as a schedule. */
function fromHash<T>(h: Record<string, string>): StoredSchedule<T> {
  const s: StoredSchedule<T> = {
    schedule_id: h.schedule_id!,
    name: h.name!,
    cron: h.cron ? h.cron : null,
    every_ms: h.every_ms ? Number(h.every_ms) : null,
    timezone: h.timezone || DEFAULT_TIMEZONE,
    target: JSON.parse(h.target ?? '{}') as T,
    enabled: h.enabled === '1',
    created_at: h.created_at!,
    updated_at: h.updated_at!,
    version: Number(h.version ?? 0),
  };
  const extra = s as unknown as Record<string, unknown>;
  for (const key of SCHEDULE_OPTION_KEYS) if (h[key] !== undefined && h[key] !== '') extra[key] = NUMERIC_OPTION_KEYS.has(key) ? Number(h[key]) : h[key];
  return s;
}
