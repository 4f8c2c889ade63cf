/**
 * Job definitions of the hetuflow scheduler API (docs/compat-hetuflow.md) in Redis: configuration,
 * so hashes without TTL (`keys.jobDefinition(id)`, the definition as JSON in `doc`), indexed by
 * creation time (`keys.jobDefinitions`), and the links of the schedules that run each one
 * (`keys.jobDefinitionSchedules(id)`, `keys.scheduleDefinitions`). Writes that must be atomic are
 * one script each (lua/job-definition-*.lua).
 */
import type { RedisConnection } from '../queue/redis.js';
import { StoredJobDefinitionSchema, type StoredJobDefinition } from '../schemas/job-definition.js';
import type { Keys } from './keys.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';
import { pipelineReplies } from './pipeline.js';

/** How {@link JobDefinitionStore.create} went. */
export type DefinitionCreateOutcome = { kind: 'created' } | { kind: 'limit'; count: number } | { kind: 'exists' };

/** How {@link JobDefinitionStore.replace} went: written, gone, or another writer came first. */
export type DefinitionReplaceOutcome = 'ok' | 'gone' | 'stale';

/** A definition as read, with the JSON it was read from (the version a replace compares against). */
export interface ReadDefinition {
  definition: StoredJobDefinition;
  raw: string;
}

/** Job definitions, their index, and their schedules' links. */
export class JobDefinitionStore {
  private readonly redis: ScriptedRedis;

  /** @param redis a command connection (not a subscriber). */
  constructor(
    redis: RedisConnection,
    private readonly keys: Keys,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * Writes a new definition unless `max` exist (0: no bound).
   * @returns created, the count at the bound, or `exists` (an id clash: draw another).
   */
  async create(def: StoredJobDefinition, createdMs: number, max: number): Promise<DefinitionCreateOutcome> {
    const [outcome, count] = await runScript<[string, number?]>(this.redis, 'job-definition-create', this.keys.jobDefinition(def.id), this.keys.jobDefinitions, def.id, createdMs, max, JSON.stringify(def));
    if (outcome === 'limit') return { kind: 'limit', count: Number(count) };
    if (outcome === 'exists') return { kind: 'exists' };
    return { kind: 'created' };
  }

  /** One definition, or null when unknown. */
  async get(id: string): Promise<ReadDefinition | null> {
    const raw = await this.redis.hget(this.keys.jobDefinition(id), 'doc');
    return raw === null ? null : parse(raw);
  }

  /** Replaces a definition when its stored JSON is still `expectedRaw` (optimistic concurrency). */
  async replace(def: StoredJobDefinition, expectedRaw: string): Promise<DefinitionReplaceOutcome> {
    return runScript<DefinitionReplaceOutcome>(this.redis, 'job-definition-update', this.keys.jobDefinition(def.id), expectedRaw, JSON.stringify(def));
  }

  /** Deletes a definition and its schedule links. @returns false when it was gone. */
  async delete(id: string): Promise<boolean> {
    const { keys } = this;
    return (await runScript<number>(this.redis, 'job-definition-delete', keys.jobDefinition(id), keys.jobDefinitions, keys.jobDefinitionSchedules(id), keys.scheduleDefinitions, id)) === 1;
  }

  /** Every definition, oldest first (bounded by MAX_JOB_DEFINITIONS); entries that do not parse are left out. */
  async all(): Promise<StoredJobDefinition[]> {
    const ids = await this.redis.zrange(this.keys.jobDefinitions, '0', '-1');
    const out: StoredJobDefinition[] = [];
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + READ_CHUNK)) pipeline.hget(this.keys.jobDefinition(id), 'doc');
      for (const raw of await pipelineReplies(pipeline)) {
        const read = typeof raw === 'string' ? parse(raw) : null;
        if (read) out.push(read.definition);
      }
    }
    return out;
  }

  /** Links schedule `scheduleId` to definition `id`; `link` (JSON: the definition id and the schedule's description) is what {@link scheduleLinks} returns. */
  async linkSchedule(id: string, scheduleId: string, link: string): Promise<void> {
    await this.redis.multi().sadd(this.keys.jobDefinitionSchedules(id), scheduleId).hset(this.keys.scheduleDefinitions, scheduleId, link).exec();
  }

  /** Removes schedule `scheduleId`'s link to definition `id`. */
  async unlinkSchedule(id: string, scheduleId: string): Promise<void> {
    await this.redis.multi().srem(this.keys.jobDefinitionSchedules(id), scheduleId).hdel(this.keys.scheduleDefinitions, scheduleId).exec();
  }

  /** The schedule ids linked to definition `id`. */
  schedulesOf(id: string): Promise<string[]> {
    return this.redis.smembers(this.keys.jobDefinitionSchedules(id));
  }

  /** Every link: schedule id → its link JSON (see {@link linkSchedule}). */
  scheduleLinks(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.scheduleDefinitions);
  }
}

/** Definitions read per round trip by {@link JobDefinitionStore.all}. */
const READ_CHUNK = 256;

function parse(raw: string): ReadDefinition | null {
  try {
    const parsed = StoredJobDefinitionSchema.safeParse(JSON.parse(raw));
    return parsed.success ? { definition: parsed.data, raw } : null;
  } catch {
    return null;
  }
}
