import type { Queue } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import type { StoredSchedule as StoredScheduleOf } from '../../shared/schemas/schedule.js';
import { DEFAULT_TIMEZONE, SCHEDULE_OPTION_KEYS, ScheduleStore } from '../../shared/store/schedule-store.js';
import { AppError, functionNotFound, scheduleBusy, scheduleLimit, scheduleNameTaken, scheduleNotFound, toAppError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/logger.js';
import { redactText } from '../../shared/logger.js';
import type { JobData } from '../../shared/queue/job-data.js';
import { isJobId, isoNow, newJobId, toPublicRecord } from '../../shared/store/job-store.js';
import { type JobOptions, type JobRecord, type RetryBackoff, type StoredJob } from '../../shared/schemas/job-record.js';
import { DEFAULT_POOL } from '../../shared/queue/names.js';
import { type Keys } from '../../shared/store/keys.js';
import { commandSubmission, type Submission } from './job-service.js';
import { scheduledRunTemplate } from '../../shared/jobs/submit.js';
import type { AlgorithmTarget, CommandTarget, ScheduleCreate, ScheduleRecord, ScheduleUpdate, Target } from '../schemas/schedules.js';
import type { CommandRequest } from '../schemas/jobs.js';
import { COMMAND_ALGORITHM, type CommandSpec } from '../../shared/schemas/command.js';


/** POST /schedules's body, plus the job definition the runs carry (set by the hetuflow-compatible schedules, docs/compat-hetuflow.md#schedules). */
export type ScheduleInput = ScheduleCreate & { definition_id?: string };
/** PUT /schedules/{schedule_id}'s body, plus the job definition the runs carry. */
export type SchedulePatch = ScheduleUpdate & { definition_id?: string | null };

/** How often a write that lost a race with another writer of the same schedule is tried (and a job scheduler re-applied). */
const MAX_WRITE_ATTEMPTS = 10;

/** A schedule as stored (shared/store/schedule-store.ts): the record without `next_run_at`, the webhook unmasked, and a write counter. */
export type StoredSchedule = StoredScheduleOf<Target>;

/** Lists a schedule's runs: `JobService.list`. Times in ms since the epoch. */
export interface ScheduleRunLister {
  list(filter: { schedule_id?: string }, page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }>;
}

/** The jobs queues of every pool: `JobQueues` (shared/queue/job-queues.ts). */
export interface PoolQueues {
  get(pool?: string): Queue<JobData>;
  remember(pool: string): Promise<void>;
}

/** What {@link ScheduleService} needs. */
export interface ScheduleServiceDeps {
  /** A command connection (not a subscriber). */
  redis: Redis;
  keys: Keys;
  queues: PoolQueues;
  /** Validates algorithm targets and job options exactly as POST /jobs does, and applies the server's caps (`JobService`). */
  jobs: { validate(sub: Submission): unknown; effectiveOptions(options?: JobOptions): JobOptions; commandSpec(command: CommandRequest): CommandSpec };
  /** A schedule's runs (`JobService.list`). */
  runs: ScheduleRunLister;
  /** RESULT_TTL_SECONDS: how long BullMQ keeps a failed run's job. */
  ttlSeconds: number;
  /** Function lookup for `{function_id, event}` targets (FunctionStore); unset: such targets are 404. */
  functions?: { get(functionId: string): Promise<{ name: string; pool?: string | null } | null> };
  logger?: Logger;
  /** MAX_SCHEDULES: most schedules that may exist; 0 or unset: no bound. */
  maxSchedules?: number;
}

/** Largest target params (algorithm) or event (function) of a schedule, bytes of JSON: it is stored without TTL. */
export const SCHEDULE_TARGET_MAX_BYTES = 64 * 1024;


/** Throws {@link scheduleNotFound}, as an expression. */
function throwNotFound(scheduleId: string): never {
  throw scheduleNotFound(scheduleId);
}

/** 400 VALIDATION_ERROR on one field, in the shape of {@link validationError}'s. */
function fieldError(field: string, reason: string, value?: unknown): AppError {
  const details: Record<string, unknown> = { field, issues: [{ field, message: reason }] };
  if (value !== undefined && (typeof value !== 'object' || value === null)) details.value = value;
  return new AppError('VALIDATION_ERROR', `${field} ${reason}`, details);
}

/**
 * Why a cron expression has too few fields, or undefined: docs/operations.md#schedules takes 5 fields, or 6
 * with seconds first, or one of cron-parser's macros (`@daily`). cron-parser itself pads a shorter
 * expression (`5` would fire at second 5 of every minute), so the count is checked here; more than 6
 * the parser refuses with its own message.
 */
export function cronFieldsProblem(cron: string): string | undefined {
  const expr = cron.trim();
  if (expr.startsWith('@')) return undefined;
  const fields = expr.split(/\s+/).length;
  if (fields >= 5) return undefined;
  return `must have 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; '${expr.slice(0, 100)}' has ${fields}`;
}

/**
 * True when `tz` is an IANA time zone this runtime knows (Intl, which cron-parser's luxon uses too).
 * An offset such as `+01:00` is not one, although Intl accepts it since ECMA-402 2024 (Node 22+).
 */
export function isTimeZone(tz: string): boolean {
  if (/^[+-]/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** True for a target that runs a command (docs/commands.md). */
function isCommandTarget(target: Target): target is CommandTarget {
  return 'command' in target;
}

/** True for a target that invokes a function (the function API reference) rather than an algorithm. */
function isFunctionTarget(target: Target): target is Extract<Target, { function_id: string }> {
  return 'function_id' in target;
}

/** The pool a schedule's runs go to. */
function poolOf(s: Pick<StoredSchedule, 'target'>): string {
  return isFunctionTarget(s.target) || isCommandTarget(s.target) ? DEFAULT_POOL : (s.target.pool ?? DEFAULT_POOL);
}

/** What the BullMQ job scheduler is built from: a change here re-upserts it. */
function schedulerSignature(s: StoredSchedule): string {
  const { schedule_id: _id, name: _name, created_at: _created, updated_at: _updated, version: _version, ...rest } = s;
  return JSON.stringify(rest);
}

const OPTION_KEYS = SCHEDULE_OPTION_KEYS;

/** The public view: fields in the documented order, the webhook's credentials masked (as job records). */
function toRecord(s: StoredSchedule, nextRunMs: number | null): ScheduleRecord {
  const out: Record<string, unknown> = {
    schedule_id: s.schedule_id,
    name: s.name,
    cron: s.cron,
    every_ms: s.every_ms,
    timezone: s.timezone,
    target: s.target,
    enabled: s.enabled,
  };
  if (s.webhook !== undefined) out.webhook = redactText(s.webhook);
  for (const key of OPTION_KEYS) if (key !== 'webhook' && s[key] !== undefined) out[key] = s[key];
  out.created_at = s.created_at;
  out.updated_at = s.updated_at;
  out.next_run_at = s.enabled && nextRunMs !== null ? isoNow(new Date(nextRunMs)) : null;
  return out as unknown as ScheduleRecord;
}

/**
 * Schedules (DESIGN.md Operations: cron and interval schedules of algorithms or functions,
 * with enable/disable, on BullMQ job schedulers). A schedule is configuration: a Redis hash without
 * TTL (`keys.schedule(id)`), indexed by creation time (`keys.schedules`) and by name
 * (`keys.scheduleNames`, which keeps names unique across API processes). Each enabled schedule has a
 * BullMQ job scheduler of the same id on its pool's jobs queue; every run it produces is an ordinary
 * async job whose data carries `schedule_id` (the worker writes its record when the run starts).
 *
 * The record is written first, then the job scheduler made to match it; a writer re-reads the
 * record afterwards and applies it again when another writer changed it meanwhile, so concurrent
 * enable/disable/update calls end with the scheduler matching the last record written.
 */
export class ScheduleService {
  private readonly store: ScheduleStore<Target>;

  constructor(private readonly deps: ScheduleServiceDeps) {
    this.store = new ScheduleStore<Target>(deps.redis, deps.keys);
  }

  /**
   * POST /schedules: validates, stores the schedule and (when enabled) upserts its job scheduler.
   * @throws AppError VALIDATION_ERROR (details.field), ALGORITHM_NOT_FOUND, FUNCTION_NOT_FOUND,
   * CONFLICT (details.name) when the name is taken, SERVICE_UNAVAILABLE when Redis is unreachable.
   */
  async create(input: ScheduleInput, requestId: string): Promise<ScheduleRecord> {
    const now = new Date();
    const schedule: StoredSchedule = {
      schedule_id: newJobId(),
      name: input.name,
      cron: input.cron ?? null,
      every_ms: input.every_ms ?? null,
      timezone: input.timezone ?? DEFAULT_TIMEZONE,
      target: input.target,
      enabled: input.enabled ?? true,
      created_at: isoNow(now),
      updated_at: isoNow(now),
      version: 1,
    };
    for (const key of OPTION_KEYS) if (input[key] !== undefined && input[key] !== null) (schedule as unknown as Record<string, unknown>)[key] = input[key];
    this.check(schedule, requestId);
    await this.functionOf(schedule);

    const created = await this.store.create(schedule, now.getTime(), this.deps.maxSchedules ?? 0);
    if (created.kind === 'name_taken') throw scheduleNameTaken(schedule.name, created.holder);
    if (created.kind === 'limit') throw scheduleLimit(this.deps.maxSchedules ?? 0);
    try {
      const record = await this.syncScheduler(schedule.schedule_id, new Set([poolOf(schedule)]), requestId);
      if (!record) throw scheduleNotFound(schedule.schedule_id);
      return record;
    } catch (err) {
      // No schedule half made: without its job scheduler, the record goes too.
      await Promise.allSettled([this.removeScheduler(poolOf(schedule), schedule.schedule_id), this.store.delete(schedule.schedule_id)]);
      throw toAppError(err);
    }
  }

  /** GET /schedules/{schedule_id}. @throws AppError SCHEDULE_NOT_FOUND. */
  async get(scheduleId: string): Promise<ScheduleRecord> {
    const s = await this.mustRead(scheduleId);
    return toRecord(s, await this.nextRunMs(s));
  }

  /** GET /schedules: newest first. */
  async list(page: { limit: number; offset: number }): Promise<{ schedules: ScheduleRecord[]; total: number; limit: number; offset: number }> {
    const { schedules: stored, total } = await this.store.list(page);
    const schedules = await Promise.all(stored.map(async (s) => toRecord(s, await this.nextRunMs(s))));
    return { schedules, total, limit: page.limit, offset: page.offset };
  }

  /**
   * PUT /schedules/{schedule_id}: merges `patch` onto the schedule, validates the result as POST
   * does, and re-upserts the job scheduler when its timing, target or options changed.
   * @throws AppError as {@link create}, and SCHEDULE_NOT_FOUND.
   */
  async update(scheduleId: string, patch: SchedulePatch, requestId: string): Promise<ScheduleRecord> {
    const target = (patch as { target?: unknown }).target;
    if (target && typeof target === 'object' && 'function_id' in target) await this.functionOf({ target } as StoredSchedule);
    const { before, after } = await this.mutate(scheduleId, (cur) => {
      const next = merge(cur, patch);
      this.check(next, requestId);
      return next;
    });
    if (schedulerSignature(before) === schedulerSignature(after)) return toRecord(after, await this.nextRunMs(after));
    return (await this.syncScheduler(scheduleId, new Set([poolOf(before), poolOf(after)]), requestId)) ?? throwNotFound(scheduleId);
  }

  /**
   * POST /schedules/{schedule_id}/enable and /disable: idempotent. Disabling removes the job
   * scheduler (and its next, not yet started run); enabling upserts it again.
   * @throws AppError SCHEDULE_NOT_FOUND; on enable, as {@link create} when the target no longer validates.
   */
  async setEnabled(scheduleId: string, enabled: boolean, requestId: string): Promise<ScheduleRecord> {
    const { before, after } = await this.mutate(scheduleId, (cur) => {
      const next = { ...cur, enabled };
      if (enabled) this.check(next, requestId);
      return next;
    });
    if (before.enabled === after.enabled && enabled) {
      // Already enabled: a no-op, unless its job scheduler went missing (a write cut short); then it is repaired.
      const next = await this.nextRunMs(after);
      if (next !== null || !canFire(after)) return toRecord(after, next);
    }
    return (await this.syncScheduler(scheduleId, new Set([poolOf(after)]), requestId)) ?? throwNotFound(scheduleId);
  }

  /** DELETE /schedules/{schedule_id}: removes the schedule and its job scheduler. @throws AppError SCHEDULE_NOT_FOUND. */
  async remove(scheduleId: string): Promise<void> {
    const s = await this.mustRead(scheduleId);
    const pool = poolOf(s);
    // The job scheduler first: a record without one is harmless, a job scheduler without a record fires forever.
    await this.removeScheduler(pool, scheduleId);
    if (!(await this.store.delete(scheduleId))) throw scheduleNotFound(scheduleId);
    // A concurrent enable may have upserted it again in between.
    await this.syncScheduler(scheduleId, new Set([pool]), '');
  }

  /**
   * GET /schedules/{schedule_id}/jobs: the schedule's runs (job records with `schedule_id`), newest first.
   * @throws AppError SCHEDULE_NOT_FOUND.
   */
  async runs(scheduleId: string, page: { limit: number; offset: number }): Promise<{ jobs: JobRecord[]; total: number; limit: number; offset: number }> {
    await this.mustRead(scheduleId);
    const { jobs, total } = await this.deps.runs.list({ schedule_id: scheduleId }, page);
    return { jobs: jobs.map(toPublicRecord), total, limit: page.limit, offset: page.offset };
  }

  /**
   * Validates a whole schedule (after a merge too): timing, time zone, cron expression, target and
   * options. Nothing is written when it throws.
   * @returns the target's params as the algorithm's schema parsed them.
   * @throws AppError VALIDATION_ERROR (details.field), ALGORITHM_NOT_FOUND, FUNCTION_NOT_FOUND.
   */
  private check(s: StoredSchedule, requestId: string): unknown {
    if (s.cron !== null && s.every_ms !== null) throw fieldError('cron', 'and every_ms are exclusive: give exactly one');
    if (s.cron === null && s.every_ms === null) throw fieldError('cron', 'or every_ms is required (exactly one)');
    if (!isTimeZone(s.timezone)) throw fieldError('timezone', `'${s.timezone.slice(0, 100)}' is not an IANA time zone (e.g. UTC, Europe/Paris)`, s.timezone);
    if (s.cron !== null) {
      const fewer = cronFieldsProblem(s.cron);
      if (fewer) throw fieldError('cron', fewer, s.cron);
      try {
        // As BullMQ reads it (cron-parser 5, its own dependency), in the schedule's zone; next() proves it ever fires.
        CronExpressionParser.parse(s.cron, { tz: s.timezone }).next();
      } catch (err) {
        throw fieldError('cron', `is not a valid cron expression: ${(err as Error).message}`, s.cron);
      }
    }
    const [field, value] = isFunctionTarget(s.target) ? ['target.event', s.target.event] : isCommandTarget(s.target) ? ['target.command', s.target.command] : ['target.params', s.target.params];
    const bytes = Buffer.byteLength(JSON.stringify(value ?? null));
    if (bytes > SCHEDULE_TARGET_MAX_BYTES) throw fieldError(field, `is ${bytes} bytes of JSON, over the ${SCHEDULE_TARGET_MAX_BYTES} byte limit of a schedule's target`);
    // A function target's event is any JSON value; the function itself is looked up by functionOf().
    if (isFunctionTarget(s.target)) return s.target.event ?? {};
    if (isCommandTarget(s.target)) {
      return this.deps.jobs.validate(commandSubmission(s.target.command, { webhook: s.webhook, requestId, options: jobOptionsOf(s), ...(s.target.project ? { project: s.target.project } : {}) }));
    }
    return this.deps.jobs.validate({ algorithm: s.target.algorithm, params: s.target.params, webhook: s.webhook, requestId, paramsPath: ['target', 'params'], options: jobOptionsOf(s) });
  }

  /**
   * The function a `{function_id, event}` target names; null for an algorithm target. Each run uses
   * the function's current version when it starts.
   * @throws AppError FUNCTION_NOT_FOUND.
   */
  private async functionOf(s: StoredSchedule): Promise<{ name: string; pool?: string | null } | null> {
    if (!isFunctionTarget(s.target)) return null;
    const id = s.target.function_id;
    const fn = /^[0-9a-f]{12}$/.test(id) ? await this.deps.functions?.get(id) : null;
    if (!fn) throw functionNotFound(id);
    return fn;
  }

  /** The stored schedule, or null when unknown (ids not of the schedule id form are unknown without a lookup). */
  private async read(scheduleId: string): Promise<StoredSchedule | null> {
    if (!isJobId(scheduleId)) return null;
    return this.store.get(scheduleId);
  }

  /** The stored schedule. @throws AppError SCHEDULE_NOT_FOUND. */
  private async mustRead(scheduleId: string): Promise<StoredSchedule> {
    const s = await this.read(scheduleId);
    if (!s) throw scheduleNotFound(scheduleId);
    return s;
  }

  /**
   * Read, change, write with a version check, tried again when another writer came first.
   * `change` returns the new schedule (it may throw to refuse); an unchanged one is not written.
   */
  private async mutate(scheduleId: string, change: (cur: StoredSchedule) => StoredSchedule): Promise<{ before: StoredSchedule; after: StoredSchedule }> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const before = await this.mustRead(scheduleId);
      const changed = change(before);
      const same = JSON.stringify({ ...changed, updated_at: '', version: 0 }) === JSON.stringify({ ...before, updated_at: '', version: 0 });
      if (same) return { before, after: before };
      const after: StoredSchedule = { ...changed, updated_at: isoNow(), version: before.version + 1 };
      const outcome = await this.store.replace(after, before.version);
      if (outcome.kind === 'ok') return { before, after };
      if (outcome.kind === 'gone') throw scheduleNotFound(scheduleId);
      if (outcome.kind === 'name_taken') throw scheduleNameTaken(after.name, outcome.holder);
      // Another writer came first: read again after a short random pause, so racing writers spread out.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
    throw scheduleBusy(scheduleId);
  }

  /**
   * Makes the BullMQ job scheduler match the stored schedule: upserted on its pool's queue when
   * enabled, removed when disabled or gone, and removed from any other pool in `pools` (a pool
   * change). Applies the record again if another writer changed it meanwhile.
   * @returns the schedule as it stands, with its next run; null when it is gone.
   */
  private async syncScheduler(scheduleId: string, pools: Set<string>, requestId: string): Promise<ScheduleRecord | null> {
    for (let round = 1; ; round++) {
      const s = await this.read(scheduleId);
      const pool = s ? poolOf(s) : undefined;
      for (const p of pools) if (p !== pool || !s?.enabled) await this.removeScheduler(p, scheduleId);
      if (s?.enabled) await this.upsertScheduler(s, requestId);
      if (pool) pools.add(pool);
      const version = await this.store.version(scheduleId);
      if (version === (s ? s.version : null) || round >= MAX_WRITE_ATTEMPTS) {
        return s ? toRecord(s, await this.nextRunMs(s)) : null;
      }
    }
  }

  /** Upserts the job scheduler of an enabled schedule: repeat options and the template of each run. */
  private async upsertScheduler(s: StoredSchedule, requestId: string): Promise<void> {
    const params = this.check(s, requestId);
    const fn = await this.functionOf(s);
    const target = s.target as AlgorithmTarget;
    const command = isCommandTarget(s.target) ? s.target : undefined;
    const pool = poolOf(s);
    // The same submission as POST /jobs builds (shared/jobs/submit.ts), capped by the same options; a
    // function run takes the function's current version when it starts (no version here).
    const template = scheduledRunTemplate(
      {
        algorithm: fn ? fn.name : command ? COMMAND_ALGORITHM : target.algorithm,
        params,
        mode: 'async',
        options: this.deps.jobs.effectiveOptions(jobOptionsOf(s)),
        webhook: s.webhook,
        schedule_id: s.schedule_id,
        ...(command ? { command: this.deps.jobs.commandSpec(command.command), ...(command.project ? { project: command.project } : {}) } : {}),
        ...(s.namespace ? { namespace: s.namespace } : {}),
        ...(s.definition_id ? { definition_id: s.definition_id } : {}),
        ...(fn && isFunctionTarget(s.target) ? { function: { function_id: s.target.function_id } } : {}),
      },
      this.deps.ttlSeconds,
    );
    const repeat = s.cron !== null ? { pattern: s.cron, tz: s.timezone } : { every: s.every_ms! };
    const queue = this.deps.queues.get(pool);
    await this.deps.queues.remember(pool);
    await queue.upsertJobScheduler(s.schedule_id, repeat, template);
  }

  /**
   * Removes a job scheduler and its next run, unless that run already started: BullMQ removes the
   * next run only while it is delayed, so one already due (waiting) is removed here.
   */
  private async removeScheduler(pool: string, scheduleId: string): Promise<void> {
    const queue = this.deps.queues.get(pool);
    const current = await queue.getJobScheduler(scheduleId);
    await queue.removeJobScheduler(scheduleId);
    if (current?.next !== undefined && current.next !== null) {
      // 0 when the run is active (locked): it finishes, and the removed scheduler adds no next one.
      await queue.remove(`repeat:${scheduleId}:${current.next}`).catch((err: unknown) => this.deps.logger?.debug('could not remove a schedule run', { schedule_id: scheduleId, error: String(err) }));
    }
  }

  /** The job scheduler's next run (ms since the epoch), or null when disabled or it has none. */
  private async nextRunMs(s: StoredSchedule): Promise<number | null> {
    if (!s.enabled) return null;
    const scheduler = await this.deps.queues.get(poolOf(s)).getJobScheduler(s.schedule_id);
    return typeof scheduler?.next === 'number' ? scheduler.next : null;
  }

}

/** False for a cron that has no future run (BullMQ then keeps no job scheduler), else true. */
function canFire(s: StoredSchedule): boolean {
  if (s.cron === null) return true;
  try {
    CronExpressionParser.parse(s.cron, { tz: s.timezone }).next();
    return true;
  } catch {
    return false;
  }
}

/** Schedule fields of {@link OPTION_KEYS} that are not job options: the webhook, and the namespace and definition the runs carry. */
const NOT_JOB_OPTIONS: ReadonlySet<string> = new Set(['webhook', 'namespace', 'definition_id']);

/** The job options of a schedule's runs, as JobService takes them (the pool is the target's). */
function jobOptionsOf(s: StoredSchedule): JobOptions {
  const options: JobOptions = {};
  if (!isFunctionTarget(s.target) && !isCommandTarget(s.target) && s.target.pool !== undefined) options.pool = s.target.pool;
  for (const key of OPTION_KEYS) if (!NOT_JOB_OPTIONS.has(key) && s[key] !== undefined) (options as Record<string, unknown>)[key] = s[key];
  return options;
}

/**
 * PUT's merge: fields given replace the stored ones; `cron` or `every_ms` given replaces the timing
 * (the other cleared unless also given); `null` clears an optional field, `timezone` back to UTC.
 */
function merge(cur: StoredSchedule, patch: SchedulePatch): StoredSchedule {
  const next: StoredSchedule = { ...cur };
  if (patch.name !== undefined) next.name = patch.name;
  if (patch.target !== undefined) next.target = patch.target;
  if (patch.enabled !== undefined) next.enabled = patch.enabled;
  if (patch.cron !== undefined || patch.every_ms !== undefined) {
    next.cron = patch.cron ?? null;
    next.every_ms = patch.every_ms ?? null;
  }
  if (patch.timezone !== undefined) next.timezone = patch.timezone ?? DEFAULT_TIMEZONE;
  const extra = next as unknown as Record<string, unknown>;
  for (const key of OPTION_KEYS) {
    if (patch[key] === null) delete extra[key];
    else if (patch[key] !== undefined) extra[key] = patch[key];
  }
  return next;
}
