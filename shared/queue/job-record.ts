import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redactText } from '../logger.js';
import type { Keys } from './names.js';

/** Seed 002's statuses: pending → running → completed | failed; plus `cancelled` (DESIGN.md: where cancelling exists, issue 4). */
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** Every status, for validation of listing filters. */
export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];

/** Statuses after which a record no longer changes (but for its webhook outcome). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** Most a job's priority may be (issue 4); 0 is the default and the lowest. */
export const MAX_PRIORITY = 1000;

/** How a failed attempt's retry waits (issue 4): the same `retry_interval_ms` each time, or doubling from it. */
export type RetryBackoff = 'fixed' | 'exponential';

/** Job options (issue 4) as a record keeps them; each shows on the record only when it was given. */
export interface JobOptions {
  /** 0 (default) to 1000; higher runs first among waiting jobs. */
  priority?: number;
  /** Wait before the job may start, ms. */
  delay_ms?: number;
  /** When a delayed job may start: created_at + delay_ms (ISO 8601). */
  run_at?: string;
  /** Retries after a failed attempt (0 default: an algorithm failure is final, seed 002). */
  max_retries?: number;
  retry_backoff?: RetryBackoff;
  /** First retry's wait, ms (then the same, or doubled each time when exponential). */
  retry_interval_ms?: number;
  /** Longest one attempt may run, ms, after the server's cap (JOB_TIMEOUT_MAX_MS). */
  timeout_ms?: number;
  /** The pool (worker `pool` label) that runs the job; shown when not `default`. */
  pool?: string;
}

/** Progress an algorithm or function reported (issue 4). */
export interface JobProgress {
  /** 0 to 100. */
  percent: number;
  message: string | null;
  updated_at: string;
}

/**
 * One attempt of a job (issue 4; seed 004's task instance): which worker ran it, when, and how it ended.
 * `lost`: the worker stopped heartbeating the job (killed, or its lock expired) and the job ran again.
 */
export interface AttemptRecord {
  attempt: number;
  worker_id: string;
  status: 'running' | 'completed' | 'failed' | 'timeout' | 'cancelled' | 'lost';
  started_at: string;
  finished_at: string | null;
  /** Wall time of the attempt, ms; null while running. */
  duration_ms: number | null;
  error: string | null;
  error_code: string | null;
  /** The runner process's exit code when it exited (a crash); else null. */
  exit_code: number | null;
}

/** Seed 002's `metadata`: which algorithm ran and how long, in seconds. */
export interface JobMetadata {
  algorithm: string;
  version: string;
  /** Run time of the algorithm in seconds (seed 002: `0.001`). */
  elapsed_time: number;
}

/** The outcome of a job's webhook delivery (ours; not in seed 002's record, shown only when a webhook was given). */
export interface WebhookOutcome {
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  /** Attempts made so far (1 + retries). */
  attempts: number;
  last_error: string | null;
  /** ISO 8601 time of the successful attempt. */
  delivered_at: string | null;
}

/**
 * `GET /jobs/{job_id}`, seed 002's shape to the letter, plus `webhook` when the job has one, and
 * issue 4's options ({@link JobOptions}) and fields below, each present only when it carries
 * something (a plain job's record is seed 002's to the letter).
 */
export interface JobRecord extends JobOptions {
  job_id: string;
  status: JobStatus;
  algorithm: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  result: unknown;
  error: string | null;
  metadata: JobMetadata | null;
  webhook?: WebhookOutcome;
  /** Attempts started so far (shown when the job may retry or ran more than once). */
  attempts?: number;
  progress?: JobProgress;
  schedule_id?: string;
  function_id?: string;
}

/** A record plus what the service keeps for itself: the error's code (to answer /invoke) and the params. */
export interface StoredJob extends JobRecord {
  error_code: string | null;
  params: unknown;
  /** The BullMQ job id when it is not the record's (a schedule's run: `repeat:<scheduler>:<ms>`). */
  queue_job_id?: string;
}

/** A new job's record, as {@link JobStore.create} writes it. */
export interface NewJob extends JobOptions {
  job_id: string;
  algorithm: string;
  params: unknown;
  created_at: string;
  webhook?: string;
  schedule_id?: string;
  function_id?: string;
  queue_job_id?: string;
}

/** Filters of {@link JobStore.list} (issue 4, seed 001 paging); times in ms since the epoch, inclusive. */
export interface JobListFilter {
  status?: JobStatus;
  algorithm?: string;
  function_id?: string;
  schedule_id?: string;
  created_after?: number;
  created_before?: number;
}

/**
 * A new 12-lowercase-hex job id (seed 002: `a1b2c3d4e5f6`), 48 random bits. Ids of digits only
 * (0.4% of draws) are drawn again: BullMQ refuses custom ids that look like integers.
 */
export function newJobId(): string {
  for (;;) {
    const id = randomBytes(6).toString('hex');
    if (!/^\d+$/.test(id)) return id;
  }
}

/** Seed 002's timestamp form, `2026-02-02T10:00:00.123+00:00`. */
export function isoNow(date = new Date()): string {
  return date.toISOString().replace('Z', '+00:00');
}

const JOB_ID_PATTERN = /^[0-9a-f]{12}$/;

/** True when `id` has the form of a job id. */
export function isJobId(id: string): boolean {
  return JOB_ID_PATTERN.test(id);
}

/**
 * The record id of a BullMQ job: its own id when that is a job id, else (a schedule's run, whose
 * BullMQ id is `repeat:<scheduler>:<ms>`) 12 hex characters of its SHA-256, so every run gets a
 * stable id of the usual form (issue 4).
 */
export function recordIdOf(queueJobId: string): string {
  if (isJobId(queueJobId)) return queueJobId;
  const hex = createHash('sha256').update(queueJobId).digest('hex');
  // An all-digit id is possible (0.4 %): take a later window, as newJobId draws again.
  for (let i = 0; i + 12 <= hex.length; i++) if (!/^\d+$/.test(hex.slice(i, i + 12))) return hex.slice(i, i + 12);
  return `f${hex.slice(1, 12)}`;
}

/**
 * Shared Lua: moves a record's id between status indexes and refreshes the target's TTL. Pruning
 * (entries older than the TTL, whose records have expired) is done by about one write in eight
 * (`maintain`: ids ending in 0 or 8), which keeps every index bounded at a fraction of the cost.
 * Index keys are built here from ARGV's index prefix (all under the record's hash tag, so a
 * cluster keeps them in one slot).
 */
const LUA_HELPERS = `
local function maintain(id)
  return string.byte(id, -1) % 8 == 0
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function move_status(prefix, id, old, new_status, score, ttl)
  if old and old ~= new_status then redis.call('ZREM', prefix .. 'status:' .. old, id) end
  if new_status ~= '' then
    local key = prefix .. 'status:' .. new_status
    redis.call('ZADD', key, score, id)
    if maintain(id) then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now_ms() - ttl * 1000)) end
    redis.call('EXPIRE', key, ttl + 3600)
  end
end
local terminal = { completed = true, failed = true, cancelled = true }
-- The record's status and created ms; nil, with what the script returns, when it is gone (0) or ended (its status).
local function live(rec)
  local cur = redis.call('HMGET', rec, 'status', 'created_ms')
  if not cur[1] then return nil, 0 end
  if terminal[cur[1]] then return nil, cur[1] end
  return cur[1], tonumber(cur[2] or '0')
end
-- Counts a new attempt on the record and writes its entry (JSON without its number). Returns the number.
local function new_attempt(rec, attempts, json, ttl)
  local n = redis.call('HINCRBY', rec, 'attempts', 1)
  local attempt = cjson.decode(json)
  attempt['attempt'] = n
  redis.call('HSET', attempts, tostring(n), cjson.encode(attempt))
  redis.call('EXPIRE', attempts, ttl)
  return n
end
`;

/**
 * Writes a new record (unless one exists: a schedule's run re-run after a stall keeps its record),
 * its TTL, and its index entries (score = created ms). KEYS[1] record, KEYS[2..] index keys (not
 * the status one); ARGV[1] TTL s, ARGV[2] created ms, ARGV[3] job id, ARGV[4] index prefix,
 * ARGV[5..] field, value pairs.
 */
const CREATE_LUA = `${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local score = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ttl)
local prune = maintain(ARGV[3])
local cutoff = score - ttl * 1000
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], score, ARGV[3])
  if prune then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff) end
  redis.call('EXPIRE', KEYS[i], ttl + 3600)
end
move_status(ARGV[4], ARGV[3], nil, 'pending', score, ttl)
return 1
`;

/**
 * Updates a live record: only while it exists (an expired or removed job is not brought back as a
 * fragment) and has not ended (a job cancelled or finished elsewhere keeps its end), refreshes the
 * TTL, moves it between status indexes, optionally writes one attempt entry, and publishes.
 * KEYS[1] record, KEYS[2] attempts hash; ARGV[1] TTL s, ARGV[2] channel or '', ARGV[3] message,
 * ARGV[4] index prefix, ARGV[5] job id, ARGV[6] new status or '', ARGV[7] attempt number, `+` (the
 * next one: an attempt that was not started on the record, being short) or '', ARGV[8] attempt
 * JSON, ARGV[9..] field, value pairs.
 * Returns 1 when updated, 0 when the record is gone, or the status it already ended with.
 */
const UPDATE_LIVE_LUA = `${LUA_HELPERS}
local status, score = live(KEYS[1])
if not status then return score end
local ttl = tonumber(ARGV[1])
if ARGV[6] ~= '' then move_status(ARGV[4], ARGV[5], status, ARGV[6], score, ttl) end
if #ARGV >= 9 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
if ARGV[7] == '+' then
  new_attempt(KEYS[1], KEYS[2], ARGV[8], ttl)
elseif ARGV[7] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[7], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('EXPIRE', KEYS[1], ttl)
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`;

/**
 * Starts an attempt: bumps the record's attempt counter, writes the attempt entry as running and
 * (when ARGV[5] is 1) marks the record running. KEYS[1] record, KEYS[2] attempts hash;
 * ARGV[1] TTL s, ARGV[2] channel, ARGV[3] index prefix, ARGV[4] job id, ARGV[5] mark running 1|0,
 * ARGV[6] started_at, ARGV[7] attempt JSON without its number.
 * Returns the attempt number, 0 when the record is gone, or the status it already ended with.
 */
const START_ATTEMPT_LUA = `${LUA_HELPERS}
local status, score = live(KEYS[1])
if not status then return score end
local ttl = tonumber(ARGV[1])
local n = new_attempt(KEYS[1], KEYS[2], ARGV[7], ttl)
if ARGV[5] == '1' then
  move_status(ARGV[3], ARGV[4], status, 'running', score, ttl)
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[6])
  redis.call('PUBLISH', ARGV[2], ARGV[4] .. ' {"job_id":"' .. ARGV[4] .. '","status":"running"}')
end
redis.call('EXPIRE', KEYS[1], ttl)
return n
`;

/**
 * Job listing (issue 4): one index, or the intersection of several (into KEYS[#KEYS], a scratch key
 * deleted before returning), within a created-ms range, newest first. Prunes entries past the TTL first.
 * KEYS[1..n] indexes, KEYS[n+1] scratch; ARGV[1] min ms, ARGV[2] max ms, ARGV[3] offset, ARGV[4] limit, ARGV[5] cutoff ms.
 * Returns {total, id...}.
 */
const LIST_LUA = `
local n = #KEYS - 1
for i = 1, n do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[5]) end
local key = KEYS[1]
if n > 1 then
  local args = { KEYS[#KEYS], n }
  for i = 1, n do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MAX'
  redis.call('ZINTERSTORE', unpack(args))
  key = KEYS[#KEYS]
end
local total = redis.call('ZCOUNT', key, ARGV[1], ARGV[2])
local ids = redis.call('ZREVRANGEBYSCORE', key, ARGV[2], ARGV[1], 'LIMIT', ARGV[3], ARGV[4])
if n > 1 then redis.call('DEL', KEYS[#KEYS]) end
table.insert(ids, 1, total)
return ids
`;

/** Updates a record while it exists, ended or not (webhook outcomes). KEYS[1] record; ARGV[1] TTL s; ARGV[2..] field, value pairs. */
const UPDATE_IF_EXISTS_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`;

type RedisWithScripts = Redis & {
  fnqUpdateIfExists(key: string, ttl: number, ...fields: string[]): Promise<number>;
  fnqCreate(...args: (string | number)[]): Promise<number>;
  fnqUpdateLive(...args: (string | number)[]): Promise<number | string>;
  fnqStartAttempt(...args: (string | number)[]): Promise<number | string>;
  fnqList(...args: (string | number)[]): Promise<[number, ...string[]]>;
};

/** What a job event carries: the job's id, then (after one space) the record as JSON, or `gone`. */
export type JobEvent = { job_id: string; record: StoredJob | null };

/**
 * Encodes an event as `<job_id> <json>` so a listener can skip jobs it does not wait for without
 * parsing. Terminal events carry the whole record; others (running, progress, a retry's wait) carry
 * `{job_id, status}` only: listeners that need more re-read the record.
 */
export function encodeJobEvent(jobId: string, record: Pick<StoredJob, 'job_id' | 'status'> | null): string {
  return `${jobId} ${record ? JSON.stringify(record) : 'gone'}`;
}

/** The job id of an encoded event. */
export function jobIdOfEvent(message: string): string {
  const space = message.indexOf(' ');
  return space < 0 ? message : message.slice(0, space);
}

/** Decodes {@link encodeJobEvent}. */
export function decodeJobEvent(message: string): JobEvent {
  const space = message.indexOf(' ');
  const body = message.slice(space + 1);
  return { job_id: message.slice(0, space), record: body === 'gone' ? null : (JSON.parse(body) as StoredJob) };
}

/** How an update of a live record went: written, record gone, or the job had already ended (with that status). */
export type UpdateOutcome = { kind: 'updated' } | { kind: 'gone' } | { kind: 'ended'; status: JobStatus };

function toOutcome(n: number | string): UpdateOutcome {
  if (typeof n === 'string') return { kind: 'ended', status: n as JobStatus };
  return n === 0 ? { kind: 'gone' } : { kind: 'updated' };
}

/** The end of one attempt, for {@link JobStore.finish} and {@link JobStore.retryLater}. */
export interface AttemptEnd {
  /** From {@link JobStore.startAttempt}; 0 when the attempt was not started on the record (a run shorter than the running mark): the next number is taken as it ends. */
  attempt: number;
  worker_id: string;
  status: AttemptRecord['status'];
  started_at: string;
  finished_at: string;
  duration_ms: number;
  error: string | null;
  error_code: string | null;
  exit_code: number | null;
}

/**
 * Job records in Redis hashes with a true TTL (EXPIRE, refreshed on each change; DESIGN.md:
 * RESULT_TTL_SECONDS), their attempts (issue 4) and listing indexes (sorted sets by created time,
 * pruned past the TTL, so they expire with the records). Our own store rather than BullMQ's job
 * hash, because BullMQ removes finished jobs only when a later one completes (removeOnComplete),
 * which is no TTL, and keeps no attempts history or indexes by algorithm.
 */
export class JobStore {
  private readonly redis: RedisWithScripts;
  private readonly indexPrefix: string;

  /**
   * @param redis a connection for commands (not a subscriber).
   * @param ttlSeconds RESULT_TTL_SECONDS.
   */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {
    // Scripts, not MULTI: ioredis copies every script defined on a connection (BullMQ defines ~64 on
    // the API's shared one) into each new transaction, which made multi() the API's hottest call.
    if (!('fnqUpdateLive' in redis)) {
      redis.defineCommand('fnqCreate', { lua: CREATE_LUA });
      redis.defineCommand('fnqUpdateLive', { numberOfKeys: 2, lua: UPDATE_LIVE_LUA });
      redis.defineCommand('fnqStartAttempt', { numberOfKeys: 2, lua: START_ATTEMPT_LUA });
      redis.defineCommand('fnqList', { lua: LIST_LUA });
      redis.defineCommand('fnqUpdateIfExists', { numberOfKeys: 1, lua: UPDATE_IF_EXISTS_LUA });
    }
    this.redis = redis as RedisWithScripts;
    this.indexPrefix = keys.jobIndex('');
  }

  /** Writes a new pending record and its index entries. @returns false when a record with this id already exists (then nothing is written). */
  async create(job: NewJob): Promise<boolean> {
    const key = this.keys.job(job.job_id);
    const createdMs = Date.parse(job.created_at.replace('+00:00', 'Z'));
    const fields: Record<string, string> = {
      job_id: job.job_id,
      status: 'pending',
      algorithm: job.algorithm,
      created_at: job.created_at,
      created_ms: String(createdMs),
      params: JSON.stringify(job.params),
    };
    if (job.webhook) Object.assign(fields, { webhook_url: job.webhook, webhook_status: 'pending', webhook_attempts: '0' });
    for (const name of OPTION_FIELDS) if (job[name] !== undefined) fields[name] = String(job[name]);
    for (const name of ['schedule_id', 'function_id', 'queue_job_id'] as const) if (job[name]) fields[name] = job[name];
    const indexes = [this.keys.jobIndex('all'), this.keys.jobIndex(`algorithm:${job.algorithm}`)];
    if (job.schedule_id) indexes.push(this.keys.jobIndex(`schedule:${job.schedule_id}`));
    if (job.function_id) indexes.push(this.keys.jobIndex(`function:${job.function_id}`));
    // A delayed job's record must outlive its wait (issue 4): its TTL counts from when it may run.
    const ttl = this.ttlSeconds + Math.ceil((job.delay_ms ?? 0) / 1000);
    return 1 === await this.redis.fnqCreate(1 + indexes.length, key, ...indexes, ttl, createdMs, job.job_id, this.indexPrefix, ...Object.entries(fields).flat());
  }

  /** Deletes a record and its index entries (used when its enqueue failed). */
  async remove(jobId: string, algorithm?: string): Promise<void> {
    const pipeline = this.redis.pipeline().del(this.keys.job(jobId), this.keys.jobAttempts(jobId)).zrem(this.keys.jobIndex('all'), jobId).zrem(this.keys.jobIndex('status:pending'), jobId);
    if (algorithm) pipeline.zrem(this.keys.jobIndex(`algorithm:${algorithm}`), jobId);
    await pipeline.exec();
  }

  /**
   * Starts an attempt: counts it and writes its entry as running; with `markRunning`, also sets the
   * record's status to running (published for live events).
   * @returns the attempt number, or the outcome when the record is gone or the job already ended.
   */
  async startAttempt(jobId: string, attempt: { worker_id: string; started_at: string }, markRunning: boolean): Promise<number | UpdateOutcome> {
    const entry: Omit<AttemptRecord, 'attempt'> = { worker_id: attempt.worker_id, status: 'running', started_at: attempt.started_at, finished_at: null, duration_ms: null, error: null, error_code: null, exit_code: null };
    const n = await this.redis.fnqStartAttempt(this.keys.job(jobId), this.keys.jobAttempts(jobId), this.ttlSeconds, this.keys.jobEvents, this.indexPrefix, jobId, markRunning ? '1' : '0', attempt.started_at, JSON.stringify(entry));
    return typeof n === 'number' && n > 0 ? n : toOutcome(n);
  }

  /** Marks a job running (its attempt already started). @returns the outcome (ended: cancelled meanwhile). */
  async markRunning(jobId: string, startedAt: string): Promise<UpdateOutcome> {
    return this.updateLive(jobId, 'running', null, encodeJobEvent(jobId, { job_id: jobId, status: 'running' }), ['status', 'running', 'started_at', startedAt]);
  }

  /**
   * Writes a terminal state, the attempt's end, and publishes the record on the job events channel,
   * in one script, unless the job already ended (cancelled meanwhile: its end stands). When the
   * record is gone, publishes `gone` so no waiter hangs.
   */
  async finish(record: StoredJob, attempt?: AttemptEnd): Promise<UpdateOutcome> {
    const fields = [
      'status', record.status,
      'started_at', record.started_at ?? '',
      'completed_at', record.completed_at ?? '',
      'result', JSON.stringify(record.result ?? null),
      'error', record.error ?? '',
      'error_code', record.error_code ?? '',
      'metadata', JSON.stringify(record.metadata),
    ];
    const outcome = await this.updateLive(record.job_id, record.status, attempt ?? null, encodeJobEvent(record.job_id, record), fields);
    if (outcome.kind === 'gone') await this.redis.publish(this.keys.jobEvents, encodeJobEvent(record.job_id, null));
    return outcome;
  }

  /**
   * An attempt failed and the job will run again after its backoff: the record goes back to pending,
   * and lives at least `waitMs` longer than usual, so a long backoff does not outlast it.
   */
  async retryLater(jobId: string, attempt: AttemptEnd, waitMs: number): Promise<UpdateOutcome> {
    return this.updateLive(jobId, 'pending', attempt, encodeJobEvent(jobId, { job_id: jobId, status: 'pending' }), ['status', 'pending'], Math.ceil(waitMs / 1000));
  }

  /**
   * Writes an attempt's end on its own (issue 4), whether or not the record has ended: for a run
   * stopped by a cancel, whose record already shows `cancelled`.
   */
  async endAttempt(jobId: string, attempt: AttemptEnd): Promise<void> {
    if (attempt.attempt <= 0) return; // never started on the record: nothing to end
    await this.redis.fnqUpdateIfExists(this.keys.jobAttempts(jobId), this.ttlSeconds, String(attempt.attempt), JSON.stringify(attempt));
  }

  /** Records progress (issue 4), published for live events. Ignored once the job ended. */
  async setProgress(jobId: string, progress: JobProgress): Promise<UpdateOutcome> {
    return this.updateLive(jobId, '', null, encodeJobEvent(jobId, { job_id: jobId, status: 'running' }), ['progress', JSON.stringify(progress)]);
  }

  /**
   * Cancels a job that has not ended (issue 4): status `cancelled`, completed_at now, error set.
   * @returns the outcome: `ended` with the status when it had already ended.
   */
  async cancel(jobId: string, reason: string): Promise<UpdateOutcome> {
    const now = isoNow();
    const fields = ['status', 'cancelled', 'completed_at', now, 'error', reason, 'error_code', 'CANCELLED', 'result', 'null', 'metadata', 'null'];
    const outcome = await this.updateLive(jobId, 'cancelled', null, '', fields);
    if (outcome.kind === 'updated') {
      const job = await this.get(jobId);
      if (job) await this.redis.publish(this.keys.jobEvents, encodeJobEvent(jobId, job));
    }
    return outcome;
  }

  /**
   * Marks a job failed (INTERNAL_ERROR) unless its record already ended or is gone: for jobs BullMQ
   * failed without our processor finishing them.
   * @returns true when the record changed.
   */
  async failIfUnfinished(jobId: string, error: string): Promise<boolean> {
    const job = await this.get(jobId);
    if (!job || TERMINAL_STATUSES.has(job.status)) return false;
    const outcome = await this.finish({ ...job, status: 'failed', completed_at: isoNow(), result: null, error, error_code: 'INTERNAL_ERROR', metadata: null });
    return outcome.kind === 'updated';
  }

  /** Records a webhook outcome on the job. @returns false when the record is gone. */
  async setWebhookOutcome(jobId: string, outcome: Omit<WebhookOutcome, 'url'>): Promise<boolean> {
    const fields = [
      'webhook_status', outcome.status,
      'webhook_attempts', String(outcome.attempts),
      'webhook_last_error', outcome.last_error ?? '',
      'webhook_delivered_at', outcome.delivered_at ?? '',
    ];
    // Not updateLive: the record has ended by the time its webhook is delivered.
    return (await this.redis.fnqUpdateIfExists(this.keys.job(jobId), this.ttlSeconds, ...fields)) === 1;
  }

  /** The stored job, or null when unknown or expired. */
  async get(jobId: string): Promise<StoredJob | null> {
    const h = await this.redis.hgetall(this.keys.job(jobId));
    return h.job_id ? fromHash(h) : null;
  }

  /**
   * A job's attempts, oldest first (issue 4). A `running` attempt followed by a later one is shown
   * `lost`: its worker died or lost the job's lock, and the job ran again.
   */
  async attempts(jobId: string): Promise<AttemptRecord[]> {
    const h = await this.redis.hgetall(this.keys.jobAttempts(jobId));
    const list = Object.values(h).map((v) => JSON.parse(v) as AttemptRecord).sort((a, b) => a.attempt - b.attempt);
    for (let i = 0; i < list.length - 1; i++) {
      const a = list[i]!;
      if (a.status === 'running') Object.assign(a, { status: 'lost', error: 'the worker stopped holding the job (killed or stalled); it ran again' });
    }
    return list;
  }

  /**
   * Jobs matching every filter, newest first, from the indexes (no keyspace scan).
   * @returns one page of records and the total number matching.
   */
  async list(filter: JobListFilter, page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const indexes: string[] = [];
    if (filter.status) indexes.push(this.keys.jobIndex(`status:${filter.status}`));
    if (filter.algorithm) indexes.push(this.keys.jobIndex(`algorithm:${filter.algorithm}`));
    if (filter.function_id) indexes.push(this.keys.jobIndex(`function:${filter.function_id}`));
    if (filter.schedule_id) indexes.push(this.keys.jobIndex(`schedule:${filter.schedule_id}`));
    if (indexes.length === 0) indexes.push(this.keys.jobIndex('all'));
    const scratch = this.keys.jobIndex(`scratch:${newJobId()}`);
    const cutoff = Date.now() - this.ttlSeconds * 1000;
    const min = Math.max(filter.created_after ?? -Infinity, cutoff);
    const max = filter.created_before ?? '+inf';
    const [total, ...ids] = await this.redis.fnqList(indexes.length + 1, ...indexes, scratch, min, max, page.offset, page.limit, cutoff);
    if (ids.length === 0) return { jobs: [], total: Number(total) };
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.job(id));
    const results = (await pipeline.exec()) ?? [];
    const jobs = results.map(([, h]) => h as Record<string, string>).filter((h) => h?.job_id).map(fromHash);
    return { jobs, total: Number(total) };
  }

  private async updateLive(jobId: string, status: JobStatus | '', attempt: AttemptEnd | null, message: string, fields: string[], extraTtlSeconds = 0): Promise<UpdateOutcome> {
    const channel = message ? this.keys.jobEvents : '';
    const n = await this.redis.fnqUpdateLive(
      this.keys.job(jobId), this.keys.jobAttempts(jobId),
      this.ttlSeconds + extraTtlSeconds, channel, message, this.indexPrefix, jobId, status,
      attempt ? (attempt.attempt > 0 ? String(attempt.attempt) : '+') : '', attempt ? JSON.stringify(attempt) : '',
      ...fields,
    );
    return toOutcome(n);
  }
}

/** Option fields kept on the record as strings (numbers parsed back by {@link fromHash}). */
const OPTION_FIELDS = ['priority', 'delay_ms', 'run_at', 'max_retries', 'retry_backoff', 'retry_interval_ms', 'timeout_ms', 'pool'] as const;
const NUMERIC_OPTIONS = new Set(['priority', 'delay_ms', 'max_retries', 'retry_interval_ms', 'timeout_ms']);

const parseJson = (s: string | undefined): unknown => (s ? JSON.parse(s) : null);
const orNull = (s: string | undefined): string | null => (s ? s : null);

/** A stored hash as a StoredJob. */
function fromHash(h: Record<string, string>): StoredJob {
  const record: StoredJob = {
    job_id: h.job_id!,
    status: h.status as JobStatus,
    algorithm: h.algorithm!,
    created_at: h.created_at!,
    started_at: orNull(h.started_at),
    completed_at: orNull(h.completed_at),
    result: parseJson(h.result),
    error: orNull(h.error),
    metadata: parseJson(h.metadata) as JobMetadata | null,
    error_code: orNull(h.error_code),
    params: parseJson(h.params),
  };
  if (h.webhook_url) {
    record.webhook = {
      url: h.webhook_url,
      status: (h.webhook_status ?? 'pending') as WebhookOutcome['status'],
      attempts: Number(h.webhook_attempts ?? 0),
      last_error: orNull(h.webhook_last_error),
      delivered_at: orNull(h.webhook_delivered_at),
    };
  }
  const extra = record as unknown as Record<string, unknown>;
  for (const name of OPTION_FIELDS) if (h[name] !== undefined && h[name] !== '') extra[name] = NUMERIC_OPTIONS.has(name) ? Number(h[name]) : h[name];
  if (h.attempts) record.attempts = Number(h.attempts);
  if (h.progress) record.progress = JSON.parse(h.progress) as JobProgress;
  for (const name of ['schedule_id', 'function_id', 'queue_job_id'] as const) if (h[name]) record[name] = h[name];
  return record;
}

/**
 * The public view of a stored job: seed 002's fields in seed 002's order, then, only when they
 * carry something, `webhook` and issue 4's options, attempts, progress and origin.
 */
export function toPublicRecord(job: StoredJob): JobRecord {
  const out: JobRecord = {
    job_id: job.job_id,
    status: job.status,
    algorithm: job.algorithm,
    created_at: job.created_at,
    started_at: job.started_at,
    completed_at: job.completed_at,
    result: job.result ?? null,
    error: job.error,
    metadata: job.metadata,
  };
  // Any read-scoped caller may read the record: credentials in the webhook URL (user:pass@, ?token=) are masked (issue 5).
  if (job.webhook) out.webhook = { ...job.webhook, url: redactText(job.webhook.url) };
  for (const name of OPTION_FIELDS) if (job[name] !== undefined) (out as unknown as Record<string, unknown>)[name] = job[name];
  if (job.attempts !== undefined && (job.attempts > 1 || job.max_retries !== undefined)) out.attempts = job.attempts;
  if (job.progress) out.progress = job.progress;
  if (job.schedule_id) out.schedule_id = job.schedule_id;
  if (job.function_id) out.function_id = job.function_id;
  return out;
}
