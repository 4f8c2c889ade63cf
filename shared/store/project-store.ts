/**
 * Projects in Redis (docs/functions.md#projects): `project(name)` hash `{name, status, dependencies
 * (JSON), created_at, updated_at, started_at?, stopped_at?}`, the `projects` sorted set (names by
 * creation ms), and reads of the functions' `projectFunctions(name)` index for counts.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';
import { pipelineReplies } from './pipeline.js';

/** A project's record as stored: hash fields, strings. */
export type StoredProject = Record<string, string>;

/** Project records. */
export class ProjectStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Creates the project's record if it has none (status running, times `nowIso`). Idempotent. */
  async ensure(name: string, nowIso: string): Promise<void> {
    const key = this.keys.project(name);
    await this.redis
      .multi()
      .zadd(this.keys.projects, 'NX', Date.now(), name)
      .hsetnx(key, 'name', name)
      .hsetnx(key, 'status', 'running')
      .hsetnx(key, 'created_at', nowIso)
      .hsetnx(key, 'updated_at', nowIso)
      .exec();
  }

  /** The project's record (empty when it has none) and its number of functions. */
  async readWithCount(name: string): Promise<{ record: StoredProject; functionCount: number }> {
    const [h, count] = (await pipelineReplies(this.redis.pipeline().hgetall(this.keys.project(name)).zcard(this.keys.projectFunctions(name)))) as [StoredProject, number];
    return { record: h, functionCount: count };
  }

  /** Names of projects with a record, oldest first. */
  recordedNames(): Promise<string[]> {
    return this.redis.zrange(this.keys.projects, '0', '-1');
  }

  /** The records and function counts of `names`, in order. */
  async readMany(names: readonly string[]): Promise<{ record: StoredProject; functionCount: number }[]> {
    if (names.length === 0) return [];
    const p = this.redis.pipeline();
    for (const n of names) p.hgetall(this.keys.project(n)).zcard(this.keys.projectFunctions(n));
    const rows = await pipelineReplies(p);
    return names.map((_, i) => ({ record: (rows[i * 2] ?? {}) as StoredProject, functionCount: Number(rows[i * 2 + 1] ?? 0) }));
  }

  /** The `status` field of each of `names` (null without a record), in order. */
  async statuses(names: readonly string[]): Promise<(string | null)[]> {
    if (names.length === 0) return [];
    const p = this.redis.pipeline();
    for (const n of names) p.hget(this.keys.project(n), 'status');
    return (await pipelineReplies(p)).map((v) => (typeof v === 'string' ? v : null));
  }

  /** Sets fields of the record (e.g. status and its time, dependencies, updated_at). */
  async setFields(name: string, fields: Record<string, string>): Promise<void> {
    await this.redis.hset(this.keys.project(name), fields);
  }

  /** One field of the record, or null. */
  field(name: string, field: string): Promise<string | null> {
    return this.redis.hget(this.keys.project(name), field);
  }

  /** Whether the project's functions may be invoked: true unless it was stopped (an unknown project counts as running). One HGET. */
  async isRunning(name: string): Promise<boolean> {
    return (await this.field(name, 'status')) !== 'stopped';
  }
}

/** The env layers in Redis: the deployment's system env hash and each project's env hash. */
export class EnvStore {
  /** @param redis a command connection (not a subscriber). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** A project's env (empty when none). */
  project(name: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.projectEnv(name));
  }

  /** The system env hash and a project's env, read together. */
  async layers(project: string): Promise<{ system: Record<string, string>; project: Record<string, string> }> {
    const [sys, proj] = (await pipelineReplies(this.redis.pipeline().hgetall(this.keys.systemEnv).hgetall(this.keys.projectEnv(project)))) as [Record<string, string>, Record<string, string>];
    return { system: sys, project: proj };
  }

  /** Replaces a project's env with `env` and stamps the project's updated_at, in one transaction. */
  async replaceProject(name: string, env: Record<string, string>, updatedAt: string): Promise<void> {
    const key = this.keys.projectEnv(name);
    const tx = this.redis.multi().del(key);
    if (Object.keys(env).length) tx.hset(key, env);
    await tx.hset(this.keys.project(name), 'updated_at', updatedAt).exec();
  }
}
