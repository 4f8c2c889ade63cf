/**
 * User functions in Redis (the function API reference): the records behind /functions, their immutable
 * versions (what a worker runs), unique names, per-project indexes (the project FaaS API reference), the env layers a
 * function runs with, and the measured run statistics behind GET /functions/{function_id}/metrics.
 *
 * Keys (all under the queues' hash tag, see keysFor in ./keys.ts):
 * - `fn(id)` hash: the current record (the newest version's fields, status, build_log, name, project...).
 * - `fnVersion(id, n)` hash: version n's spec, written once; only its `status`, `build_log` and
 *   `deps_dir` change afterwards (the dependency installer). A replaced or deleted version expires
 *   after `retainSeconds`, so jobs already queued or running on it still find its code.
 * - `functions` sorted set (ids by created ms), `projectFunctions(project)` sorted sets,
 *   `functionNames` hash (name → id; claimed with HGET + HSET in one script, so names are unique).
 * - `fnStats(id)` hash and `fnDurations(id)` list (the last {@link DURATION_SAMPLES} run durations).
 * - `systemEnv` and `projectEnv(project)` hashes: env layers under the function's own env.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import {
  type ExecutionType,
  type FunctionRecord,
  type FunctionRuntimeName,
  type FunctionSpecFields,
  type FunctionStatus,
  type FunctionVersion,
  type NewFunction,
} from '../schemas/function-record.js';
import type { FunctionMetrics } from '../schemas/function-metrics.js';
import type { Keys } from './keys.js';
import { EnvStore } from './project-store.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';
import { pipelineReplies } from './pipeline.js';


/** The project of a function that names none (the project FaaS API reference). */
export const DEFAULT_PROJECT = 'default';
/** The handler's name when none is given (the function API reference's examples define `handler`). */
export const DEFAULT_HANDLER = 'handler';
/** Run durations kept per function for the p95 figure (the most recent ones). */
export const DURATION_SAMPLES = 1000;

export type { FunctionRecord, FunctionSpecFields, FunctionVersion, NewFunction };

/** A merged update: the whole new record's user fields (the service merges PUT onto the current record). */
export type FunctionUpdate = Omit<NewFunction, 'function_id' | 'created_at'> & { updated_at: string };

/** How {@link FunctionStore.update} went. */
export type UpdateResult =
  | { kind: 'updated'; record: FunctionRecord; new_version: boolean }
  | { kind: 'gone' }
  | { kind: 'name_taken'; holder: string };

/** What one finished run adds to a function's statistics (the worker's measurements; FunctionRunReport). */
export interface RunSample {
  ok: boolean;
  /** Wall time of the run, ms (parent clock). */
  duration_ms: number;
  /** CPU time (user + system) of the run, ms; null when not measured. */
  cpu_ms: number | null;
  /** Peak resident memory of the process during the run, bytes; null when not measured. */
  peak_rss_bytes: number | null;
}

/** Fields of {@link FunctionSpecFields} kept as JSON in hashes. */
const JSON_FIELDS = new Set(['env', 'dependencies']);
const SPEC_FIELDS = ['runtime', 'code', 'handler', 'env', 'dependencies', 'timeout_ms', 'memory_mb', 'max_output_bytes'] as const;

function specArgs(spec: FunctionSpecFields): string[] {
  const out: string[] = [];
  for (const f of SPEC_FIELDS) out.push(f, JSON_FIELDS.has(f) ? JSON.stringify(spec[f]) : String(spec[f]));
  return out;
}

function specFrom(h: Record<string, string>): FunctionSpecFields {
  return {
    runtime: h.runtime as FunctionRuntimeName,
    code: h.code ?? '',
    handler: h.handler || DEFAULT_HANDLER,
    env: h.env ? (JSON.parse(h.env) as Record<string, string>) : {},
    dependencies: h.dependencies ? (JSON.parse(h.dependencies) as string[]) : [],
    timeout_ms: Number(h.timeout_ms),
    memory_mb: Number(h.memory_mb),
    max_output_bytes: Number(h.max_output_bytes),
  };
}

function recordFrom(h: Record<string, string>): FunctionRecord {
  const id = h.function_id!;
  const spec = specFrom(h);
  const record: FunctionRecord = {
    function_id: id,
    id,
    name: h.name!,
    runtime: spec.runtime,
    code: spec.code,
    execution_type: h.execution_type as ExecutionType,
    created_at: h.created_at!,
    updated_at: h.updated_at!,
    handler: spec.handler,
    version: Number(h.version),
    timeout_ms: spec.timeout_ms,
    memory_mb: spec.memory_mb,
    max_output_bytes: spec.max_output_bytes,
    env: spec.env,
    dependencies: spec.dependencies,
    project: h.project || DEFAULT_PROJECT,
    status: (h.status || 'active') as FunctionStatus,
    build_log: h.build_log ? h.build_log : null,
  };
  if (h.pool) record.pool = h.pool;
  return record;
}

function versionFrom(h: Record<string, string>): FunctionVersion {
  const v: FunctionVersion = {
    ...specFrom(h),
    function_id: h.function_id!,
    version: Number(h.version),
    project: h.project || DEFAULT_PROJECT,
    status: (h.status || 'active') as FunctionStatus,
    build_log: h.build_log ? h.build_log : null,
    created_at: h.created_at!,
  };
  if (h.deps_dir) v.deps_dir = h.deps_dir;
  return v;
}

/** Options of a {@link FunctionStore}. */
export interface FunctionStoreOptions {
  /**
   * How long a replaced or deleted version stays readable, seconds, so jobs queued or running on it
   * finish on it. Default 86400 + 3600 (RESULT_TTL_SECONDS' default plus an hour); the service
   * passes RESULT_TTL_SECONDS + 3600 (a job cannot wait longer than its record lives).
   */
  retainSeconds?: number;
}

/**
 * Function records, versions, names, env layers and run statistics in Redis. Every write that must
 * be atomic (name claims, version bumps, deletes) is one Lua script; see the module comment for keys.
 */
export class FunctionStore {
  private readonly redis: ScriptedRedis;
  private readonly retainSeconds: number;

  /** @param redis a command connection (not a subscriber). */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    opts: FunctionStoreOptions = {},
  ) {
    this.redis = withScripts(redis);
    this.retainSeconds = opts.retainSeconds ?? 86_400 + 3600;
  }

  /**
   * Writes a new function with version 1.
   * @returns the record, or `{name_taken: holder id}` when another function has the name.
   * @throws Error when the id is already used (ids are random: practically never).
   */
  async create(fn: NewFunction): Promise<FunctionRecord | { name_taken: string }> {
    const createdMs = Date.parse(fn.created_at.replace('+00:00', 'Z'));
    const record = this.recordArgs({ ...fn, updated_at: fn.created_at }, 1);
    const version = this.versionArgs(fn.function_id, 1, fn.project, fn.status, fn.created_at, fn);
    const out = await runScript<string>(
      this.redis, 'function-create',
      this.keys.functionNames, this.keys.fn(fn.function_id), this.keys.fnVersion(fn.function_id, 1), this.keys.functions, this.keys.projectFunctions(fn.project),
      fn.name, fn.function_id, createdMs, record.length, ...record, ...version,
    );
    if (out === 'ID') throw new Error(`function id ${fn.function_id} already exists`);
    if (out !== 'OK') return { name_taken: out };
    return (await this.get(fn.function_id))!;
  }

  /** The current record, or null when unknown (or deleted). */
  async get(functionId: string): Promise<FunctionRecord | null> {
    const h = await this.redis.hgetall(this.keys.fn(functionId));
    return h.function_id ? recordFrom(h) : null;
  }

  /** The id of the function with this name, or null. */
  async idByName(name: string): Promise<string | null> {
    return this.redis.hget(this.keys.functionNames, name);
  }

  /**
   * One version as stored (what a worker runs), or null when it never existed or has expired
   * (replaced or deleted more than `retainSeconds` ago).
   */
  async getVersion(functionId: string, version: number): Promise<FunctionVersion | null> {
    const h = await this.redis.hgetall(this.keys.fnVersion(functionId, version));
    return h.function_id ? versionFrom(h) : null;
  }

  /**
   * Functions newest first, all or one project's.
   * @returns one page and the total.
   */
  async list(page: { limit: number; offset: number; project?: string }): Promise<{ functions: FunctionRecord[]; total: number }> {
    const index = page.project === undefined ? this.keys.functions : this.keys.projectFunctions(page.project);
    const [total, ids] = (await pipelineReplies(this.redis.pipeline().zcard(index).zrevrange(index, page.offset, page.offset + page.limit - 1))) as [number, string[]];
    if (ids.length === 0) return { functions: [], total };
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.fn(id));
    const rows = (await pipelineReplies(pipeline)) as Array<Record<string, string>>;
    return { functions: rows.filter((h) => h?.function_id).map(recordFrom), total };
  }

  /** How many functions exist. */
  count(): Promise<number> {
    return this.redis.zcard(this.keys.functions);
  }

  /** The project of every function (one HGET per function, pipelined), in creation order. */
  async projectsOfAll(): Promise<string[]> {
    const ids = await this.redis.zrange(this.keys.functions, '0', '-1');
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hget(this.keys.fn(id), 'project');
    return (await pipelineReplies(p)).map((project) => (typeof project === 'string' ? project : '')).filter(Boolean);
  }

  /** Every function id of a project, oldest first (the project FaaS API reference's project views). */
  async idsOfProject(project: string): Promise<string[]> {
    return this.redis.zrange(this.keys.projectFunctions(project), '0', '-1');
  }

  /**
   * Replaces a function's user fields with `next` (already merged and validated), when the record is
   * still at `expectedVersion`. A change of any {@link FunctionSpecFields} field writes version
   * expectedVersion + 1 with `next.status`; otherwise the version, status and build_log stay.
   * @returns `updated` with the new record; `gone`; `name_taken` (holder id); null when the record
   *   moved to another version meanwhile (re-read, merge again and retry).
   */
  async update(functionId: string, expectedVersion: number, current: FunctionRecord, next: FunctionUpdate): Promise<UpdateResult | null> {
    const changed = SPEC_FIELDS.some((f) => JSON.stringify(current[f]) !== JSON.stringify(next[f]));
    const version = changed ? expectedVersion + 1 : expectedVersion;
    const status = changed ? next.status : current.status;
    const fields: Record<string, string> = {
      name: next.name,
      execution_type: next.execution_type,
      project: next.project,
      pool: next.pool ?? '',
      updated_at: next.updated_at,
      version: String(version),
      status,
    };
    if (changed) fields.build_log = '';
    const record = [...Object.entries(fields).flat(), ...specArgs(next)];
    const versionArgs = changed ? this.versionArgs(functionId, version, next.project, status, next.updated_at, next) : [];
    const createdMs = Date.parse(current.created_at.replace('+00:00', 'Z'));
    const out = await runScript<string>(
      this.redis, 'function-update',
      this.keys.fn(functionId), this.keys.functionNames, this.keys.fnVersion(functionId, version), this.keys.fnVersion(functionId, expectedVersion),
      this.keys.projectFunctions(current.project), this.keys.projectFunctions(next.project),
      functionId, String(expectedVersion), next.name, changed ? '1' : '0', this.retainSeconds, createdMs, record.length, ...record, ...versionArgs,
    );
    if (out === 'GONE') return { kind: 'gone' };
    if (out === 'STALE') return null;
    if (out.startsWith('NAME:')) return { kind: 'name_taken', holder: out.slice(5) };
    const updated = await this.get(functionId);
    return updated ? { kind: 'updated', record: updated, new_version: changed } : { kind: 'gone' };
  }

  /**
   * Deletes a function (name freed, record, statistics and index entries removed). Its current
   * version stays readable `retainSeconds` for jobs in flight; its job records expire with their TTL.
   * @returns false when unknown.
   */
  async delete(functionId: string): Promise<boolean> {
    // The project index and version hash are keys the script must be given: read them, and read
    // again when a concurrent update moved the function meanwhile.
    for (;;) {
      const [project, version] = await this.redis.hmget(this.keys.fn(functionId), 'project', 'version');
      if (project === null && version === null) return false;
      const n = await runScript<number | string>(
        this.redis, 'function-delete',
        this.keys.fn(functionId), this.keys.functionNames, this.keys.functions, this.keys.fnStats(functionId), this.keys.fnDurations(functionId),
        this.keys.projectFunctions(project ?? ''), this.keys.fnVersion(functionId, Number(version ?? '1')),
        functionId, project ?? '', version ?? '1', this.retainSeconds,
      );
      if (n !== 'STALE') return n === 1;
    }
  }

  /**
   * Sets the status (and build log) of one version, e.g. by the dependency installer: `building`
   * → `active` or `failed`. The record shows it only while that version is the current one.
   * @param buildLog the install output; undefined leaves the stored one as it is.
   * @returns true when the record (current version) changed.
   */
  async setStatus(functionId: string, version: number, status: FunctionStatus, buildLog?: string): Promise<boolean> {
    const n = await runScript<number>(this.redis, 'function-set-status', this.keys.fn(functionId), this.keys.fnVersion(functionId, version), String(version), status, buildLog ?? '', buildLog === undefined ? '1' : '0');
    return n === 1;
  }

  /** Records where a version's dependencies were installed (the installer), read by workers as FunctionSpec.deps_dir. */
  async setDepsDir(functionId: string, version: number, depsDir: string): Promise<void> {
    const key = this.keys.fnVersion(functionId, version);
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, 'deps_dir', depsDir);
  }

  /**
   * The env a function version runs with, later layers winning: `system` (FUNCTION_SYSTEM_ENV of
   * this process), the `systemEnv` hash (the deployment's system env), its project's `projectEnv`
   * hash, then its own. Never the service's own environment.
   */
  async layeredEnv(project: string, own: Record<string, string>, system: Record<string, string> = {}): Promise<Record<string, string>> {
    const layers = await new EnvStore(this.redis, this.keys).layers(project);
    return { ...system, ...layers.system, ...layers.project, ...own };
  }

  /** Adds one finished run to the function's statistics (the worker, at each run's end). */
  async recordRun(functionId: string, sample: RunSample, at: string): Promise<void> {
    await runScript(
      this.redis, 'function-record-run',
      this.keys.fn(functionId), this.keys.fnStats(functionId), this.keys.fnDurations(functionId),
      sample.ok ? '1' : '0', String(round3(sample.duration_ms)), sample.cpu_ms === null ? '' : String(round3(sample.cpu_ms)),
      sample.peak_rss_bytes === null ? '' : String(Math.round(sample.peak_rss_bytes)), DURATION_SAMPLES, at,
    );
  }

  /** The measured statistics of a function (see {@link FunctionMetrics}). */
  async metrics(functionId: string): Promise<FunctionMetrics> {
    const [h, durations] = (await pipelineReplies(this.redis.pipeline().hgetall(this.keys.fnStats(functionId)).lrange(this.keys.fnDurations(functionId), 0, -1))) as [Record<string, string>, string[]];
    return computeMetrics(functionId, h, durations.map(Number));
  }

  private recordArgs(fn: NewFunction & { updated_at: string }, version: number): string[] {
    const fields: Record<string, string> = {
      function_id: fn.function_id,
      name: fn.name,
      execution_type: fn.execution_type,
      project: fn.project,
      pool: fn.pool ?? '',
      status: fn.status,
      build_log: '',
      version: String(version),
      created_at: fn.created_at,
      updated_at: fn.updated_at,
    };
    return [...Object.entries(fields).flat(), ...specArgs(fn)];
  }

  private versionArgs(functionId: string, version: number, project: string, status: FunctionStatus, createdAt: string, spec: FunctionSpecFields): string[] {
    return ['function_id', functionId, 'version', String(version), 'project', project, 'status', status, 'build_log', '', 'created_at', createdAt, ...specArgs(spec)];
  }
}

/** Nearest-rank percentile of unsorted values (`p` in 0-100); null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The metrics figures from the stats hash and the duration samples (pure; see {@link FunctionMetrics}). */
export function computeMetrics(functionId: string, h: Record<string, string>, durations: readonly number[]): FunctionMetrics {
  const total = Number(h.total ?? 0);
  const successful = Number(h.successful ?? 0);
  const failed = Number(h.failed ?? 0);
  const avg = total > 0 ? round3(Number(h.duration_ms_total ?? 0) / total) : null;
  const cpuSamples = Number(h.cpu_samples ?? 0);
  const cpuTotal = round3(Number(h.cpu_ms_total ?? 0));
  const cpuWall = Number(h.cpu_wall_ms_total ?? 0);
  const peakSamples = Number(h.peak_samples ?? 0);
  const peakMax = peakSamples > 0 ? Number(h.peak_rss_max ?? 0) : null;
  const cpuPercent = cpuSamples > 0 && cpuWall > 0 ? Math.round((cpuTotal / cpuWall) * 1000) / 10 : null;
  return {
    function_id: functionId,
    invocations: { total, successful, failed },
    success_rate: total > 0 ? Math.round((successful / total) * 10_000) / 100 : 0,
    avg_execution_time: `${avg ?? 0}ms`,
    avg_execution_time_ms: avg,
    p95_execution_time_ms: percentile(durations, 95),
    duration_samples: durations.length,
    cpu_usage: `${cpuPercent ?? 0}%`,
    cpu_time_ms: { avg: cpuSamples > 0 ? round3(cpuTotal / cpuSamples) : null, total: cpuTotal },
    memory_usage: `${peakMax === null ? 0 : Math.round((peakMax / 1024 / 1024) * 10) / 10}MB`,
    peak_memory_bytes: { max: peakMax, avg: peakSamples > 0 ? Math.round(Number(h.peak_rss_total ?? 0) / peakSamples) : null },
    last_invoked_at: h.last_invoked_at || null,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
