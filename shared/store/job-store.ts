import { createHash, randomBytes } from 'node:crypto';
import type { RedisConnection as Redis } from '../queue/redis.js';
import { redactText } from '../logger.js';
import {
  JOB_OPTION_FIELDS,
  type AttemptRecord,
  type JobMetadata,
  type JobProgress,
  type JobRecord,
  type JobStatus,
  type NewJob,
  type StoredJob,
  type WebhookOutcome,
} from '../schemas/job-record.js';
import type { CommandView, FailedDependency } from '../schemas/command.js';
import type { Keys, ShardKeys } from './keys.js';
import { DEFAULT_NAMESPACE } from '../schemas/namespace.js';
import { DEFAULT_POOL } from '../queue/names.js';
import { QUEUED_GRACE_MS, shardBound } from './queued-bytes-store.js';
import { AttemptStore } from './attempt-store.js';
import { runScript, withScripts, type ScriptedRedis } from './scripts.js';
import { pipelineReplies } from './pipeline.js';

/** Default LIST_PAGE_MAX_BYTES: stored bytes of one listing page's records (8 MiB). */
export const LIST_PAGE_MAX_BYTES_DEFAULT = 8 * 1024 * 1024;


/** Statuses after which a record no longer changes (but for its webhook outcome). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** Filters of {@link JobStore.list} (the container management API reference paging); times in ms since the epoch, inclusive. */
export interface JobListFilter {
  status?: JobStatus;
  algorithm?: string;
  function_id?: string;
  schedule_id?: string;
  /** Jobs without one are in `default`. */
  namespace?: string;
  definition_id?: string;
  /** Only jobs that run a job definition (the hetuflow-compatible API's tasks). */
  any_definition?: boolean;
  created_after?: number;
  created_before?: number;
}

/**
 * A new 12-lowercase-hex job id (the FunctionalScaffold API reference: `a1b2c3d4e5f6`), 48 random bits. Ids of digits only
 * (0.4% of draws) are drawn again: BullMQ refuses custom ids that look like integers.
 * @param accept drawn again until it accepts the id: a job pinned to one shard (keys.ts shardOf) takes ~QUEUE_SHARDS draws.
 */
export function newJobId(accept: (id: string) => boolean = () => true): string {
  for (;;) {
    if (randomAt + 6 > randomPool.length) {
      randomPool = randomBytes(RANDOM_POOL_BYTES);
      randomAt = 0;
    }
    const id = randomPool.toString('hex', randomAt, (randomAt += 6));
    if (!/^\d+$/.test(id) && accept(id)) return id;
  }
}

/** Random bytes drawn at once for {@link newJobId} (one draw per id cost ~3 µs, a batch of 1,000 ids 3 ms). */
const RANDOM_POOL_BYTES = 6 * 512;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

/** The FunctionalScaffold API reference's timestamp form, `2026-02-02T10:00:00.123+00:00`. */
export function isoNow(date = new Date()): string {
  return date.toISOString().replace('Z', '+00:00');
}

const JOB_ID_PATTERN = /^[0-9a-f]{12}$/;

/** A UTF-16 surrogate, paired or not. */
const SURROGATE = /[\ud800-\udfff]/;

/**
 * `s` with each lone surrogate replaced by U+FFFD, as writing it as UTF-8 does (what a record field
 * sent as a command argument becomes): Lua's cjson refuses the `\u` escape JSON.stringify writes
 * for one, so a field that goes to a script inside a JSON argument is made well-formed first.
 */
function wellFormed(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/** True when `id` has the form of a job id. */
export function isJobId(id: string): boolean {
  return JOB_ID_PATTERN.test(id);
}

/**
 * The record id of a BullMQ job: its own id when that is a job id, else (a schedule's run, whose
 * BullMQ id is `repeat:<scheduler>:<ms>`) 12 hex characters of its SHA-256, so every run gets a
 * stable id of the usual form.
 * @param accept which derived ids may be taken: a schedule's run lives in the shard of its job
 *   scheduler's queue (shard 0), so its record id must map there (keys.ts shardOf). Windows of the
 *   SHA-256 (then of its re-hashes) are tried in order until one is accepted.
 */
export function recordIdOf(queueJobId: string, accept: (id: string) => boolean = () => true): string {
  if (isJobId(queueJobId)) return queueJobId;
  let hex = createHash('sha256').update(queueJobId).digest('hex');
  for (;;) {
    // An all-digit id is possible (0.4 %): take a later window, as newJobId draws again.
    for (let i = 0; i + 12 <= hex.length; i++) {
      const id = hex.slice(i, i + 12);
      if (!/^\d+$/.test(id) && accept(id)) return id;
    }
    const fallback = `f${hex.slice(1, 12)}`;
    if (accept(fallback)) return fallback;
    hex = createHash('sha256').update(hex).digest('hex');
  }
}

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

/**
 * How an update of a live record went: written (`dependents`: jobs wait for this one, see
 * {@link JobStore.addDependent}), record gone, or the job had already ended (with that status).
 */
export type UpdateOutcome = { kind: 'updated'; dependents?: boolean } | { kind: 'gone' } | { kind: 'ended'; status: JobStatus };

function toOutcome(n: number | string): UpdateOutcome {
  if (typeof n === 'string') return { kind: 'ended', status: n as JobStatus };
  return n === 0 ? { kind: 'gone' } : n === 2 ? { kind: 'updated', dependents: true } : { kind: 'updated' };
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
 * RESULT_TTL_SECONDS), their attempts and listing indexes (sorted sets by created time,
 * pruned past the TTL, so they expire with the records). Our own store rather than BullMQ's job
 * hash, because BullMQ removes finished jobs only when a later one completes (removeOnComplete),
 * which is no TTL, and keeps no attempts history or indexes by algorithm.
 */
export class JobStore {
  private readonly redis: ScriptedRedis;
  private readonly attemptStore: AttemptStore;
  /**
   * The index keys this store refreshed the TTL of in window `refreshWindow` (Date.now() /
   * {@link INDEX_REFRESH_MS}), so that {@link createCounted} asks job-create.lua to refresh an
   * index once per window and process rather than with every job. Our own rather than a marker in
   * Redis: a marker cost every create one more command. Cleared when the window changes, so it
   * holds at most the indexes written to in one window.
   */
  private readonly refreshedIndexes = new Set<string>();
  private refreshWindow = -1;
  /**
   * Per pool and shard (its total's key), the queued bytes (MAX_QUEUED_BYTES) this store's create
   * scripts last answered, and when (performance.now() ms), for {@link claimQueuedRoom}. Cleared past
   * {@link QUEUED_READINGS_MAX} keys; it holds one per pool and shard written to.
   */
  private readonly queuedReadings = new Map<string, { total: number; atMs: number }>();

  /**
   * @param redis a connection for commands (not a subscriber).
   * @param ttlSeconds RESULT_TTL_SECONDS.
   * @param listPageMaxBytes LIST_PAGE_MAX_BYTES: a {@link list} page stops before its records' stored bytes pass it (at least one record). Default 8 MiB.
   */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    private readonly listPageMaxBytes = LIST_PAGE_MAX_BYTES_DEFAULT,
  ) {
    this.redis = withScripts(redis);
    this.attemptStore = new AttemptStore(redis, keys, ttlSeconds);
  }

  /**
   * The record id of a BullMQ job ({@link recordIdOf}): a schedule's run maps into shard 0, where
   * the job schedulers' queues are (docs/architecture.md#key-layout).
   */
  recordIdOf(queueJobId: string): string {
    return recordIdOf(queueJobId, (id) => this.keys.shardOfJob(id).shard === 0);
  }

  /** The shard (QUEUE_SHARDS) that holds job `jobId`'s keys. */
  shardOf(jobId: string): number {
    return this.keys.shardOfJob(jobId).shard;
  }

  /** Writes a new pending record and its index entries. @returns false when a record with this id already exists (then nothing is written). */
  async create(job: NewJob): Promise<boolean> {
    return (await this.createCounted(job)) === true;
  }

  /**
   * {@link create}, counting the job's payload against its pool's MAX_QUEUED_BYTES in the same
   * script when `queued` is given (as QueuedBytesStore.reserve does, in the record's shard). The
   * script is sent before this returns (nothing is awaited before it), so a command sent on the
   * same connection after the call reaches Redis after it (submit.ts relies on that).
   * @returns true when written, false when a record with this id exists, `{refused: total}` when
   *   the payload would pass the bound (then nothing is written).
   */
  async createCounted(job: NewJob, queued?: QueuedCount): Promise<boolean | { refused: number }> {
    const shard = this.keys.shardOfJob(job.job_id);
    const createdMs = Date.parse(job.created_at.replace('+00:00', 'Z'));
    const now = Date.now();
    // KEYS: the record, its index keys, then the queued-bytes keys.
    const keys = [this.keys.job(job.job_id), shard.jobIndex('status:pending')];
    for (const name of this.indexNames(job)) keys.push(shard.jobIndex(name));
    const indexEnd = keys.length;
    // The indexes' TTL is refreshed when one is new (job-create.lua), else once per window by this
    // store: an index this store adds an entry to got its TTL (the record's TTL + 1 h) at most one
    // window (10 min) before, so it outlives the entry's listing period. Listings index a job by
    // creation time for RESULT_TTL_SECONDS, and a delay never passes that (config.ts JOB_DELAY_MAX_MS).
    const window = Math.floor(now / INDEX_REFRESH_MS);
    if (window !== this.refreshWindow) {
      this.refreshWindow = window;
      this.refreshedIndexes.clear();
    }
    let refresh = false;
    for (let i = 1; i < indexEnd && !refresh; i++) refresh = !this.refreshedIndexes.has(keys[i]!);
    if (queued) keys.push(shard.queued(queued.pool), shard.queuedSizes(queued.pool), shard.queuedTotal(queued.pool));
    if (queued?.aheadOf) keys.push(queued.aheadOf);
    const args: (string | number)[] = [keys.length, ...keys, this.ttlOf(job), createdMs, job.job_id, queued ? (queued.aheadOf ? '2' : '1') : '0', refresh ? '1' : '0'];
    if (queued) args.push(now, QUEUED_GRACE_MS, shardBound(queued.maxBytes, this.keys.shards), queued.bytes, queued.expiresAtMs);
    for (const f of this.recordFields(job, createdMs)) args.push(f);
    const n = await runScript<number | [number, number]>(this.redis, 'job-create', ...args);
    const written = n === 1 || (Array.isArray(n) && n[0] === 1);
    // Written: the script refreshed what was asked (a record that existed or a refusal refreshes nothing).
    if (written && refresh && window === this.refreshWindow) for (let i = 1; i < indexEnd; i++) this.refreshedIndexes.add(keys[i]!);
    if (!Array.isArray(n)) return n === 1;
    if (this.queuedReadings.size >= QUEUED_READINGS_MAX) this.queuedReadings.clear();
    this.queuedReadings.set(shard.queuedTotal(queued!.pool), { total: n[1], atMs: performance.now() });
    return written || { refused: n[1] };
  }

  /** The bound of one shard's part of a pool for MAX_QUEUED_BYTES `maxBytes` (shardBound); 0: no bound. */
  queuedShardBound(maxBytes: number): number {
    return shardBound(maxBytes, this.keys.shards);
  }

  /**
   * Whether counting `queued` for job `jobId` ({@link createCounted}) may be taken as accepted before
   * the script answers: true without a bound (maxBytes 0, never refused), else when this store's
   * last answer for the pool in the job's shard is at most {@link QUEUED_READING_MAX_AGE_MS} old and,
   * with the job's bytes added, leaves the shard's share of the bound ({@link shardBound}) at least
   * half free. When true, the bytes are added to that reading, so that a burst of this process's own
   * submits counts before their answers come. Only a guess, as other processes count too: the
   * script still decides (see {@link QueuedCount.aheadOf}).
   */
  claimQueuedRoom(jobId: string, queued: QueuedCount): boolean {
    if (queued.maxBytes <= 0) return true;
    const reading = this.queuedReadings.get(this.keys.shardOfJob(jobId).queuedTotal(queued.pool));
    if (!reading || performance.now() - reading.atMs > QUEUED_READING_MAX_AGE_MS) return false;
    if ((reading.total + queued.bytes) * 2 > shardBound(queued.maxBytes, this.keys.shards)) return false;
    reading.total += queued.bytes;
    return true;
  }

  /**
   * Writes the pending records of a batch (POST /jobs/batch) as {@link createCounted} writes each:
   * one job-create-many script call per shard (every key of a call in that shard, as Redis Cluster
   * needs). With `queued`, each job's payload is counted against its pool's MAX_QUEUED_BYTES (its
   * `pool`, else `default`) in the same call, in order; a job it refuses is not written.
   * @param jobs new records of one batch: they share one created_at, the score of their index entries.
   * @param queued per job, in the order of `jobs`, its payload bytes; the records' expiry (ms) and MAX_QUEUED_BYTES (0: no bound).
   * @returns per job, in order: true when written, false when a record with its id existed,
   *   `{refused: total}` when its payload would pass the bound (nothing of it written).
   * @throws the first Redis error of any call (the caller undoes the batch with {@link removeMany}).
   */
  async createMany(jobs: readonly NewJob[], queued?: { bytes: readonly number[]; expiresAtMs: number; maxBytes: number }): Promise<Array<boolean | { refused: number }>> {
    const written = new Array<boolean | { refused: number }>(jobs.length);
    // Indexed loops throughout: this runs once per batch, seldom enough to stay unoptimized, where
    // each step of a for...of over ~30,000 arguments allocates an iterator result.
    const byShard = new Map<ShardKeys, number[]>();
    for (let i = 0; i < jobs.length; i++) {
      const shard = this.keys.shardOfJob(jobs[i]!.job_id);
      const positions = byShard.get(shard);
      if (positions) positions.push(i);
      else byShard.set(shard, [i]);
    }
    const now = Date.now();
    const bound = queued ? shardBound(queued.maxBytes, this.keys.shards) : 0;
    await Promise.all(
      [...byShard].map(async ([shard, positions]) => {
        const pools = new Map<string, number>();
        const indexes = new Map<string, number>();
        // The jobs go as one JSON argument (job-create-many.lua): ioredis builds a command's bytes
        // argument by argument, which for some 25 per job cost the API about 3.4 ms per 1,000
        // jobs, against 0.7 ms to stringify and write one.
        const entries: Array<[string, string, number, number, number[], string[]]> = new Array(positions.length);
        for (let p = 0; p < positions.length; p++) {
          const i = positions[p]!;
          const job = jobs[i]!;
          let pool = 0;
          if (queued) {
            const name = job.pool ?? DEFAULT_POOL;
            pool = pools.get(name) ?? 0;
            if (pool === 0) pools.set(name, (pool = pools.size + 1));
          }
          const names = this.indexNames(job);
          const at = new Array<number>(names.length);
          for (let n = 0; n < names.length; n++) {
            let position = indexes.get(names[n]!);
            if (position === undefined) indexes.set(names[n]!, (position = indexes.size + 1));
            at[n] = position;
          }
          const fields = this.recordFields(job);
          for (let f = 0; f < fields.length; f++) if (SURROGATE.test(fields[f]!)) fields[f] = wellFormed(fields[f]!);
          entries[p] = [job.job_id, String(this.ttlOf(job)), pool, queued ? queued.bytes[i]! : 0, at, fields];
        }
        // numkeys, KEYS (the pending index, the pools' counts, the indexes, the records), the head, argv.
        const args: (string | number)[] = [0, shard.jobIndex('status:pending')];
        for (const name of pools.keys()) {
          args.push(shard.queued(name), shard.queuedSizes(name), shard.queuedTotal(name));
          // This batch moves the pool's total: claimQueuedRoom waits for the next single answer.
          this.queuedReadings.delete(shard.queuedTotal(name));
        }
        for (const name of indexes.keys()) args.push(shard.jobIndex(name));
        for (let p = 0; p < positions.length; p++) args.push(this.keys.job(jobs[positions[p]!]!.job_id));
        args[0] = args.length - 1;
        const createdMs = Date.parse(jobs[positions[0]!]!.created_at.replace('+00:00', 'Z'));
        args.push(pools.size, indexes.size, createdMs, now, QUEUED_GRACE_MS, bound, queued?.expiresAtMs ?? 0, JSON.stringify(entries));
        const replies = await runScript<number[]>(this.redis, 'job-create-many', ...args);
        for (let p = 0; p < positions.length; p++) {
          const state = replies[2 * p];
          written[positions[p]!] = state === -1 ? { refused: replies[2 * p + 1]! } : state === 1;
        }
      }),
    );
    return written;
  }

  /** Deletes the records of a batch and their index entries (its writes failed): one pipeline per shard. */
  async removeMany(jobs: ReadonlyArray<{ job_id: string; algorithm: string }>): Promise<void> {
    const byShard = new Map<number, Array<{ job_id: string; algorithm: string }>>();
    for (const job of jobs) {
      const shard = this.keys.shardOfJob(job.job_id).shard;
      const group = byShard.get(shard);
      if (group) group.push(job);
      else byShard.set(shard, [job]);
    }
    await Promise.all(
      [...byShard].map(async ([n, group]) => {
        const shard = this.keys.shard(n);
        const pipeline = this.redis.pipeline();
        for (const { job_id, algorithm } of group) {
          pipeline.del(this.keys.job(job_id), this.keys.jobAttempts(job_id)).zrem(shard.jobIndex('all'), job_id).zrem(shard.jobIndex('status:pending'), job_id).zrem(shard.jobIndex(`algorithm:${algorithm}`), job_id);
        }
        await pipelineReplies(pipeline);
      }),
    );
  }

  /** The record's TTL, s: a delayed job's record must outlive its wait, so its TTL counts from when it may run. */
  private ttlOf(job: NewJob): number {
    return job.delay_ms ? this.ttlSeconds + Math.ceil(job.delay_ms / 1000) : this.ttlSeconds;
  }

  /** The listing indexes of a new record but its pending status index (names for ShardKeys.jobIndex). */
  private indexNames(job: NewJob): string[] {
    const names = ['all', `algorithm:${job.algorithm}`, `namespace:${job.namespace ?? DEFAULT_NAMESPACE}`];
    if (job.definition_id) names.push(`definition:${job.definition_id}`, 'definitions');
    if (job.schedule_id) names.push(`schedule:${job.schedule_id}`);
    if (job.function_id) names.push(`function:${job.function_id}`);
    return names;
  }

  /** A new record's field, value pairs. */
  private recordFields(job: NewJob, createdMs = Date.parse(job.created_at.replace('+00:00', 'Z'))): string[] {
    const fields = ['job_id', job.job_id, 'status', 'pending', 'algorithm', job.algorithm, 'created_at', job.created_at, 'created_ms', String(createdMs), 'params', JSON.stringify(job.params)];
    // A caller waits for this job's end (/invoke): its events are published (job-update-live.lua).
    if (job.watched) fields.push('watched', '1');
    if (job.webhook) fields.push('webhook_url', job.webhook, 'webhook_status', 'pending', 'webhook_attempts', '0');
    for (const name of OPTION_FIELDS) if (job[name] !== undefined) fields.push(name, String(job[name]));
    for (const name of RECORD_ID_FIELDS) if (job[name]) fields.push(name, job[name]);
    if (job.command) fields.push('command', JSON.stringify(job.command));
    if (job.project) fields.push('project', job.project);
    if (job.depends_on?.length) fields.push('depends_on', JSON.stringify(job.depends_on), 'waiting_for', JSON.stringify(job.depends_on));
    if (job.queue_data) fields.push('queue_data', job.queue_data);
    return fields;
  }

  /** Deletes a record and its index entries (used when its enqueue failed). */
  async remove(jobId: string, algorithm?: string): Promise<void> {
    const shard = this.keys.shardOfJob(jobId);
    const pipeline = this.redis.pipeline().del(this.keys.job(jobId), this.keys.jobAttempts(jobId)).zrem(shard.jobIndex('all'), jobId).zrem(shard.jobIndex('status:pending'), jobId);
    if (algorithm) pipeline.zrem(shard.jobIndex(`algorithm:${algorithm}`), jobId);
    await pipelineReplies(pipeline);
  }

  /**
   * Starts an attempt: counts it and writes its entry as running; with `markRunning`, also sets the
   * record's status to running (published when the job is watched: {@link watch}).
   * @returns the attempt number, or the outcome when the record is gone or the job already ended.
   */
  async startAttempt(jobId: string, attempt: { worker_id: string; started_at: string }, markRunning: boolean, releasePool?: string): Promise<number | UpdateOutcome> {
    const entry: Omit<AttemptRecord, 'attempt'> = { worker_id: attempt.worker_id, status: 'running', started_at: attempt.started_at, finished_at: null, duration_ms: null, error: null, error_code: null, exit_code: null };
    const shard = this.keys.shardOfJob(jobId);
    const n = await runScript<number | string>(this.redis, 'job-start-attempt', this.keys.job(jobId), this.keys.jobAttempts(jobId), ...shard.statusIndexes, ...queuedKeys(shard, releasePool), this.ttlSeconds, this.keys.jobEvents, jobId, markRunning ? '1' : '0', attempt.started_at, JSON.stringify(entry), releasePool === undefined ? '0' : '1', this.ttlSeconds + INDEX_TTL_MARGIN_S);
    return typeof n === 'number' && n > 0 ? n : toOutcome(n);
  }

  /** Marks a job running (its attempt already started). @returns the outcome (ended: cancelled meanwhile). */
  async markRunning(jobId: string, startedAt: string): Promise<UpdateOutcome> {
    return this.updateLive(jobId, 'running', null, encodeJobEvent(jobId, { job_id: jobId, status: 'running' }), ['status', 'running', 'started_at', startedAt]);
  }

  /**
   * Writes a terminal state and the attempt's end in one script, unless the job already ended
   * (cancelled meanwhile: its end stands), and, when the job is watched ({@link watch}, or a sync
   * job), publishes the record on the job events channel: in the script, or right after it when
   * `surelyWatched` is false. When the record is gone, publishes `gone` so no
   * waiter hangs.
   * @param counters run counters (runCounterField) counted in the same script, only when this end lands.
   * @param releasePool a worker's run: also stops counting the job's payload against this pool's MAX_QUEUED_BYTES.
   * @param surelyWatched true (the default) when a caller is known to wait (a sync job, watched from
   *   its creation): the event goes with the script. False for an async job, which is seldom watched:
   *   the record's JSON is built and published (PUBLISH, right after the script) only when the script
   *   finds the record watched, not sent with every finish to be dropped.
   */
  async finish(record: StoredJob, attempt?: AttemptEnd, counters: readonly string[] = [], releasePool?: string, surelyWatched = true): Promise<UpdateOutcome> {
    const fields = [
      'status', record.status,
      'started_at', record.started_at ?? '',
      'completed_at', record.completed_at ?? '',
      'result', JSON.stringify(record.result ?? null),
      'error', record.error ?? '',
      'error_code', record.error_code ?? '',
      'metadata', JSON.stringify(record.metadata),
    ];
    const event = () => encodeJobEvent(record.job_id, record);
    const outcome = await this.updateLive(record.job_id, record.status, attempt ?? null, surelyWatched ? event() : event, fields, 0, counters, releasePool);
    if (outcome.kind === 'gone') await this.redis.publish(this.keys.jobEvents, encodeJobEvent(record.job_id, null));
    return outcome;
  }

  /**
   * An attempt failed and the job will run again after its backoff: the record goes back to pending,
   * and lives at least `waitMs` longer than usual, so a long backoff does not outlast it.
   * @param counters run counters (runCounterField) counted in the same script, only when this lands.
   * @param releasePool also stops counting the job's payload against this pool's MAX_QUEUED_BYTES.
   */
  async retryLater(jobId: string, attempt: AttemptEnd, waitMs: number, counters: readonly string[] = [], releasePool?: string): Promise<UpdateOutcome> {
    return this.updateLive(jobId, 'pending', attempt, encodeJobEvent(jobId, { job_id: jobId, status: 'pending' }), ['status', 'pending'], Math.ceil(waitMs / 1000), counters, releasePool);
  }

  /**
   * Writes an attempt's end on its own, whether or not the record has ended: for a run
   * stopped by a cancel, whose record already shows `cancelled`.
   */
  async endAttempt(jobId: string, attempt: AttemptEnd): Promise<void> {
    if (attempt.attempt <= 0) return; // never started on the record: nothing to end
    await this.attemptStore.write(jobId, attempt);
  }

  /** Records progress, published when the job is watched ({@link watch}). Ignored once the job ended. */
  async setProgress(jobId: string, progress: JobProgress): Promise<UpdateOutcome> {
    return this.updateLive(jobId, '', null, encodeJobEvent(jobId, { job_id: jobId, status: 'running' }), ['progress', JSON.stringify(progress)]);
  }

  /**
   * Cancels a job that has not ended: status `cancelled`, completed_at now, error set.
   * @param counters run counters (runCounterField) counted in the same script, only when the cancel lands.
   * @returns the outcome: `ended` with the status when it had already ended.
   */
  async cancel(jobId: string, reason: string, counters: readonly string[] = []): Promise<UpdateOutcome> {
    const now = isoNow();
    const fields = ['status', 'cancelled', 'completed_at', now, 'error', reason, 'error_code', 'CANCELLED', 'result', 'null', 'metadata', 'null'];
    const outcome = await this.updateLive(jobId, 'cancelled', null, '', fields, 0, counters);
    if (outcome.kind === 'updated') {
      const job = await this.get(jobId);
      if (job) await this.redis.publish(this.keys.jobEvents, encodeJobEvent(jobId, job));
    }
    return outcome;
  }

  /**
   * Marks a job failed (INTERNAL_ERROR) unless its record already ended or is gone: for jobs BullMQ
   * failed without our processor finishing them.
   * @param countersOf the run counters (runCounterField) its failed end counts in.
   * @returns true when the record changed.
   */
  async failIfUnfinished(jobId: string, error: string, countersOf: (job: StoredJob) => readonly string[] = () => []): Promise<boolean> {
    const job = await this.get(jobId);
    if (!job || TERMINAL_STATUSES.has(job.status)) return false;
    const outcome = await this.finish({ ...job, status: 'failed', completed_at: isoNow(), result: null, error, error_code: 'INTERNAL_ERROR', metadata: null }, undefined, countersOf(job));
    return outcome.kind === 'updated';
  }

  /**
   * Counts a webhook attempt on the record before its request is sent (so an attempt cut short by
   * a crash is counted: `webhook.attempts` is every attempt the receiver may have seen).
   * @returns the attempt's number (1-based); `gone` when the record is gone (the delivery still
   * goes out); `ended` when the outcome is already delivered or failed (send nothing more).
   */
  async startWebhookAttempt(jobId: string): Promise<number | 'gone' | 'ended'> {
    const n = await runScript<number>(this.redis, 'webhook-start-attempt', this.keys.job(jobId), this.ttlSeconds);
    return n > 0 ? n : n === 0 ? 'gone' : 'ended';
  }

  /**
   * Records a webhook outcome on the job while it is pending (delivered and failed are final).
   * Attempts are counted by {@link startWebhookAttempt}, not here.
   * @returns `updated`; `gone` when the record is gone; `ended` when the outcome had already ended.
   */
  async setWebhookOutcome(jobId: string, outcome: Omit<WebhookOutcome, 'url' | 'attempts'>): Promise<'updated' | 'gone' | 'ended'> {
    const fields = [
      'webhook_status', outcome.status,
      'webhook_last_error', outcome.last_error ?? '',
      'webhook_delivered_at', outcome.delivered_at ?? '',
    ];
    // Not updateLive: the record has ended by the time its webhook is delivered.
    const n = await runScript<number>(this.redis, 'webhook-set-outcome', this.keys.job(jobId), this.ttlSeconds, ...fields);
    return n === 1 ? 'updated' : n === 0 ? 'gone' : 'ended';
  }

  /** The status of each job (null when unknown or expired), in the order given: one round trip. */
  async statuses(jobIds: readonly string[]): Promise<Array<JobStatus | null>> {
    if (jobIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.hget(this.keys.job(id), 'status');
    return (await pipelineReplies(pipeline)).map((v) => (v as JobStatus | null) ?? null);
  }

  /**
   * Registers `dependentId` as waiting for `jobId` (docs/api.md#job-dependencies), unless that job
   * ended or is gone (one script on `jobId`'s keys).
   * @returns `registered`, `gone`, or the status it already ended with.
   */
  async addDependent(jobId: string, dependentId: string): Promise<'registered' | 'gone' | JobStatus> {
    const r = await runScript<number | string>(this.redis, 'job-add-dependent', this.keys.job(jobId), this.keys.jobDependents(jobId), dependentId, this.ttlSeconds);
    return r === 1 ? 'registered' : r === 0 ? 'gone' : (r as JobStatus);
  }

  /** Notes a job with depends_on for the dependencies sweep (its own call: not in the record's script, the set is the deployment's). */
  async addWaiting(jobId: string, createdMs: number): Promise<void> {
    await this.redis.zadd(this.keys.jobsWaiting, createdMs, jobId);
  }

  /** Up to `count` jobs of the sweep's set, oldest first. */
  async waiting(count: number): Promise<string[]> {
    return this.redis.zrange(this.keys.jobsWaiting, '0', String(count - 1));
  }

  /** Drops jobs from the sweep's set (no longer waiting, or gone). */
  async dropWaiting(jobIds: readonly string[]): Promise<void> {
    if (jobIds.length) await this.redis.zrem(this.keys.jobsWaiting, ...jobIds);
  }

  /** Drops a dependent's kept BullMQ job (`queue_data`, which holds its env) once it is enqueued. */
  async clearQueueData(jobId: string): Promise<void> {
    await this.redis.hdel(this.keys.job(jobId), 'queue_data');
  }

  /** The ids of the jobs waiting for `jobId`. */
  async dependents(jobId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.jobDependents(jobId));
  }

  /**
   * `completedId`, which pending `jobId` waits for, completed: takes it off `jobId`'s waiting_for
   * (one script on `jobId`'s record).
   * @returns `ready` when that was the last (only one call answers it: enqueue `jobId` then),
   *   `waiting` when others remain, `counted` when it was not waited for, `gone`, or `ended` (no longer pending).
   */
  async dependencyDone(jobId: string, completedId: string): Promise<'ready' | 'waiting' | 'counted' | 'gone' | 'ended'> {
    const r = await runScript<number | string>(this.redis, 'job-dependency-done', this.keys.job(jobId), completedId, this.ttlSeconds);
    return r === 2 ? 'ready' : r === 1 ? 'waiting' : r === -1 ? 'counted' : r === 0 ? 'gone' : 'ended';
  }

  /**
   * Fails a job that has not ended because a job it waits for failed, was cancelled or expired:
   * status `failed`, error_code DEPENDENCY_FAILED, `failed_dependency`; the record is published.
   * @param counters run counters (runCounterField) counted in the same script, only when this lands.
   * @param releasePool the job's pool: its payload, counted against the pool's MAX_QUEUED_BYTES
   *   when it was submitted, stops counting in the same script (the job will never run).
   */
  async failDependency(jobId: string, failed: FailedDependency, counters: readonly string[] = [], releasePool?: string): Promise<UpdateOutcome> {
    const how = failed.status === 'expired' ? 'expired before it completed' : failed.status === 'cancelled' ? 'was cancelled' : 'failed';
    const error = `DEPENDENCY_FAILED: job '${failed.job_id}' that this job depends on ${how}; this job did not run`;
    const fields = ['status', 'failed', 'completed_at', isoNow(), 'error', error, 'error_code', 'DEPENDENCY_FAILED', 'result', 'null', 'metadata', 'null', 'failed_dependency', JSON.stringify(failed)];
    const outcome = await this.updateLive(jobId, 'failed', null, '', fields, 0, counters, releasePool);
    if (outcome.kind === 'updated') {
      const job = await this.get(jobId);
      if (job) await this.redis.publish(this.keys.jobEvents, encodeJobEvent(jobId, job));
    }
    return outcome;
  }

  /**
   * Marks a job watched and reads it, in one script: from then on the job scripts publish its
   * events (status changes, progress, the end) on the job events channel, which they publish only
   * for watched jobs. Subscribe (listen for the job's events) before calling it: a change after the
   * mark is published, one before it is in the record returned. The TTL is left as it was.
   * @returns the stored job, or null when unknown or expired (then nothing is written).
   */
  async watch(jobId: string): Promise<StoredJob | null> {
    const flat = await runScript<string[]>(this.redis, 'job-watch', this.keys.job(jobId));
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    return h.job_id ? fromHash(h) : null;
  }

  /** The stored job, or null when unknown or expired. */
  async get(jobId: string): Promise<StoredJob | null> {
    const h = await this.redis.hgetall(this.keys.job(jobId));
    return h.job_id ? fromHash(h) : null;
  }

  /**
   * A job's attempts, oldest first. A `running` attempt followed by a later one is shown
   * `lost`: its worker died or lost the job's lock, and the job ran again.
   */
  async attempts(jobId: string): Promise<AttemptRecord[]> {
    return this.attemptStore.list(jobId);
  }

  /**
   * Jobs matching every filter, newest first, from the indexes (no keyspace scan). Records are read
   * a few at a time, and the page ends before their stored bytes (field values, as JSON text) pass
   * listPageMaxBytes: it may hold fewer than `page.limit` records (at least one), `total` unchanged;
   * callers page on by offset (docs/operations.md#listing-jobs).
   *
   * With several shards (QUEUE_SHARDS), each shard's indexes give their newest `offset + limit`
   * ids with their created ms; the ids are merged newest first (equal times: larger id first, as one
   * sorted set orders them), the page cut from the merge, and `total` is the sum of the shards'.
   * @returns one page of records and the total number matching.
   */
  async list(filter: JobListFilter, page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const cutoff = Date.now() - this.ttlSeconds * 1000;
    const min = Math.max(filter.created_after ?? -Infinity, cutoff);
    const max = filter.created_before ?? '+inf';
    const scratchId = newJobId();
    const sharded = this.keys.shards > 1;
    const answers = await Promise.all(
      this.keys.allShards.map((shard) => {
        const indexes: string[] = [];
        if (filter.status) indexes.push(shard.jobIndex(`status:${filter.status}`));
        if (filter.algorithm) indexes.push(shard.jobIndex(`algorithm:${filter.algorithm}`));
        if (filter.function_id) indexes.push(shard.jobIndex(`function:${filter.function_id}`));
        if (filter.schedule_id) indexes.push(shard.jobIndex(`schedule:${filter.schedule_id}`));
        if (filter.namespace) indexes.push(shard.jobIndex(`namespace:${filter.namespace}`));
        if (filter.definition_id) indexes.push(shard.jobIndex(`definition:${filter.definition_id}`));
        if (filter.any_definition) indexes.push(shard.jobIndex('definitions'));
        if (indexes.length === 0) indexes.push(shard.jobIndex('all'));
        const scratch = shard.jobIndex(`scratch:${scratchId}`);
        // One shard: the script skips `offset` itself. Several: the merge does, from each shard's top.
        const [offset, limit] = sharded ? [0, page.offset + page.limit] : [page.offset, page.limit];
        return runScript<[number, ...string[]]>(this.redis, 'job-list', indexes.length + 1, ...indexes, scratch, min, max, offset, limit, cutoff, sharded ? '1' : '0');
      }),
    );
    let total = 0;
    let ids: string[];
    if (!sharded) {
      const [count, ...found] = answers[0]!;
      total = Number(count);
      ids = found;
    } else {
      const merged: { id: string; ms: number }[] = [];
      for (const [count, ...flat] of answers) {
        total += Number(count);
        for (let i = 0; i + 1 < flat.length; i += 2) merged.push({ id: flat[i]!, ms: Number(flat[i + 1]) });
      }
      merged.sort((a, b) => b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      ids = merged.slice(page.offset, page.offset + page.limit).map((e) => e.id);
    }
    if (ids.length === 0) return { jobs: [], total };
    const jobs: StoredJob[] = [];
    let bytes = 0;
    for (let i = 0; i < ids.length; i += LIST_READ_CHUNK) {
      for (const h of await this.readRecords(ids.slice(i, i + LIST_READ_CHUNK))) {
        if (!h?.job_id) continue;
        let size = 0;
        for (const k in h) size += k.length + h[k]!.length;
        if (jobs.length > 0 && bytes + size > this.listPageMaxBytes) return { jobs, total };
        bytes += size;
        jobs.push(fromHash(h));
      }
    }
    return { jobs, total };
  }

  /**
   * The hashes of `ids`, in their order, one pipeline per shard (a Redis Cluster client takes a
   * pipeline only when all its keys live on one node).
   */
  private async readRecords(ids: readonly string[]): Promise<(Record<string, string> | null)[]> {
    const byShard = new Map<number, number[]>();
    ids.forEach((id, i) => {
      const shard = this.keys.shardOfJob(id).shard;
      byShard.set(shard, [...(byShard.get(shard) ?? []), i]);
    });
    const out: (Record<string, string> | null)[] = ids.map(() => null);
    await Promise.all(
      [...byShard.values()].map(async (positions) => {
        const pipeline = this.redis.pipeline();
        for (const i of positions) pipeline.hgetall(this.keys.job(ids[i]!));
        const replies = await pipelineReplies(pipeline);
        positions.forEach((i, n) => (out[i] = (replies[n] as Record<string, string> | undefined) ?? null));
      }),
    );
    return out;
  }

  /**
   * @param counters run counters (runCounterField) to add 1 to when the update lands.
   * @param releasePool stops counting the job's payload against this pool's MAX_QUEUED_BYTES, in the same script.
   * @param message the event published when the record is watched ('' for none); a function builds it
   *   only when the script finds the record watched, and it is published right after the script.
   */
  private async updateLive(jobId: string, status: JobStatus | '', attempt: AttemptEnd | null, message: string | (() => string), fields: string[], extraTtlSeconds = 0, counters: readonly string[] = [], releasePool?: string): Promise<UpdateOutcome> {
    const late = typeof message === 'function';
    const channel = late || message ? this.keys.jobEvents : '';
    const shard = this.keys.shardOfJob(jobId);
    const n = await runScript<number | string>(
      this.redis, 'job-update-live',
      this.keys.job(jobId), this.keys.jobAttempts(jobId), ...shard.statusIndexes, shard.runCounters, ...queuedKeys(shard, releasePool),
      this.ttlSeconds + extraTtlSeconds, channel, late ? '' : message, jobId, status,
      attempt ? (attempt.attempt > 0 ? String(attempt.attempt) : '+') : '',
      // The next attempt's entry goes without its number, which the script puts in front (JSON.stringify leaves out an undefined field).
      attempt ? JSON.stringify(attempt.attempt > 0 ? attempt : { ...attempt, attempt: undefined }) : '',
      releasePool === undefined ? '0' : '1', this.ttlSeconds + extraTtlSeconds + INDEX_TTL_MARGIN_S,
      counters.length, ...counters,
      ...fields,
    );
    if (late && typeof n === 'number' && n >= PUBLISH_LATE) {
      // The end is written; a lost event only delays watchers until their re-read of the record.
      await this.redis.publish(this.keys.jobEvents, message()).catch(() => undefined);
      return toOutcome(n - PUBLISH_LATE);
    }
    return toOutcome(n);
  }
}

/** Added to job-update-live's answer when the record is watched and its event was left for the caller to publish. */
const PUBLISH_LATE = 10;

/** How old a pool's queued total read from a create script's answer may be for {@link JobStore.claimQueuedRoom}, ms. */
export const QUEUED_READING_MAX_AGE_MS = 1000;
/** Keys (pool and shard) {@link JobStore.claimQueuedRoom} remembers before it starts over. */
const QUEUED_READINGS_MAX = 1000;

/** A job's payload to count against its pool's MAX_QUEUED_BYTES as its record is written ({@link JobStore.createCounted}). */
export interface QueuedCount {
  pool: string;
  /** The job data's JSON bytes. */
  bytes: number;
  /** When the job's record expires, ms since the epoch. */
  expiresAtMs: number;
  /** MAX_QUEUED_BYTES (0: no bound); each shard holds its share ({@link shardBound}). */
  maxBytes: number;
  /**
   * BullMQ's key of the job (`Queue.toKey(jobId)`) when its add is sent right behind the record's
   * script, on the same connection, before the script's answer ({@link JobStore.claimQueuedRoom}):
   * a refusal then leaves a placeholder hash at that key for 60 s, and the add, finding the job id
   * taken, queues nothing (BullMQ's add scripts treat an existing job id as a duplicate).
   */
  aheadOf?: string;
}

/** The queued-bytes keys of `pool` in `shard` (the default pool's, unread, when none is released). */
function queuedKeys(shard: ShardKeys, pool = DEFAULT_POOL): [string, string, string] {
  return [shard.queued(pool), shard.queuedSizes(pool), shard.queuedTotal(pool)];
}

/**
 * The window of the listing indexes' TTL refresh, ms: a JobStore has job-create.lua refresh an index's
 * TTL once per window (and whenever an index is new). 10 min, well within the indexes' margin of
 * 1 h over the TTL.
 */
export const INDEX_REFRESH_MS = 10 * 60_000;
/** An index's TTL over its records' (the job scripts' `ttl + 3600`), s: each index outlives its entries. */
const INDEX_TTL_MARGIN_S = 3600;

/** Records read per round trip by {@link JobStore.list}: the bytes held beyond the page bound are at most this many records. */
const LIST_READ_CHUNK = 8;

/** Option fields kept on the record as strings (numbers parsed back by {@link fromHash}). */
/** The record's option fields (JobOptionsSchema's keys, in the record's order). */
const OPTION_FIELDS = JOB_OPTION_FIELDS;
/** A new record's id fields, written when set. */
const RECORD_ID_FIELDS = ['schedule_id', 'function_id', 'queue_job_id', 'namespace', 'definition_id'] as const;
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
  for (const name of ['schedule_id', 'function_id', 'queue_job_id', 'namespace', 'definition_id'] as const) if (h[name]) record[name] = h[name];
  if (h.command) record.command = JSON.parse(h.command) as CommandView;
  if (h.project) record.project = h.project;
  if (h.depends_on) record.depends_on = JSON.parse(h.depends_on) as string[];
  if (h.waiting_for) record.waiting_for = JSON.parse(h.waiting_for) as string[];
  if (h.failed_dependency) record.failed_dependency = JSON.parse(h.failed_dependency) as FailedDependency;
  if (h.queue_data) record.queue_data = h.queue_data;
  return record;
}

/**
 * The public view of a stored job: the FunctionalScaffold API reference's fields in its order, then, only when they
 * carry something, `webhook` and options, attempts, progress and origin.
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
  // Any read-scoped caller may read the record: credentials in the webhook URL (user:pass@, ?token=) are masked.
  if (job.webhook) out.webhook = { ...job.webhook, url: redactText(job.webhook.url) };
  for (const name of OPTION_FIELDS) if (job[name] !== undefined) (out as unknown as Record<string, unknown>)[name] = job[name];
  if (job.attempts !== undefined && (job.attempts > 1 || job.max_retries !== undefined)) out.attempts = job.attempts;
  if (job.progress) out.progress = job.progress;
  if (job.schedule_id) out.schedule_id = job.schedule_id;
  if (job.function_id) out.function_id = job.function_id;
  if (job.command) out.command = job.command;
  if (job.project) out.project = job.project;
  if (job.depends_on) out.depends_on = job.depends_on;
  if (job.waiting_for?.length && job.status === 'pending') out.waiting_for = job.waiting_for;
  if (job.failed_dependency) out.failed_dependency = job.failed_dependency;
  if (job.namespace) out.namespace = job.namespace;
  if (job.definition_id) out.definition_id = job.definition_id;
  return out;
}
