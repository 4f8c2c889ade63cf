import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redactText } from '../logger.js';
import type { Keys } from './names.js';

/** Seed 002's statuses: pending → running → completed | failed. */
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed';

/** Statuses after which a record no longer changes (but for its webhook outcome). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed']);

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

/** `GET /jobs/{job_id}`, seed 002's shape to the letter, plus `webhook` when the job has one. */
export interface JobRecord {
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
}

/** A record plus what the service keeps for itself: the error's code (to answer /invoke) and the params. */
export interface StoredJob extends JobRecord {
  error_code: string | null;
  params: unknown;
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
 * Updates a record only while it exists (a job whose record expired or was removed is not brought
 * back as a fragment), refreshes its TTL, and publishes `ARGV[3]` on channel `ARGV[2]` when given.
 * KEYS[1] record; ARGV[1] TTL seconds; ARGV[2] channel or ''; ARGV[3] message; ARGV[4..] field, value pairs.
 * Returns 1 when updated, 0 when the record is gone.
 */
const UPDATE_IF_EXISTS_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`;

/** Writes a new record and its TTL. KEYS[1] record; ARGV[1] TTL seconds; ARGV[2..] field, value pairs. */
const CREATE_LUA = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`;

type RedisWithScripts = Redis & {
  fnqCreate(key: string, ttl: number, ...fields: string[]): Promise<number>;
  fnqUpdateIfExists(key: string, ttl: number, channel: string, message: string, ...fields: string[]): Promise<number>;
};

/** What a job event carries: the job's id, then (after one space) the record as JSON, or `gone`. */
export type JobEvent = { job_id: string; record: StoredJob | null };

/** Encodes an event as `<job_id> <json>` so a listener can skip jobs it does not wait for without parsing. */
export function encodeJobEvent(jobId: string, record: StoredJob | null): string {
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
 * Job records in Redis hashes with a true TTL (EXPIRE, refreshed on each change; DESIGN.md:
 * RESULT_TTL_SECONDS). Our own store rather than BullMQ's job hash, because BullMQ removes finished
 * jobs only when a later one completes (removeOnComplete), which is no TTL.
 */
export class JobStore {
  private readonly redis: RedisWithScripts;

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
    if (!('fnqUpdateIfExists' in redis)) {
      redis.defineCommand('fnqUpdateIfExists', { numberOfKeys: 1, lua: UPDATE_IF_EXISTS_LUA });
      redis.defineCommand('fnqCreate', { numberOfKeys: 1, lua: CREATE_LUA });
    }
    this.redis = redis as RedisWithScripts;
  }

  /** Writes a new pending record. */
  async create(job: { job_id: string; algorithm: string; params: unknown; created_at: string; webhook?: string }): Promise<void> {
    const key = this.keys.job(job.job_id);
    const fields: Record<string, string> = {
      job_id: job.job_id,
      status: 'pending',
      algorithm: job.algorithm,
      created_at: job.created_at,
      params: JSON.stringify(job.params),
    };
    if (job.webhook) Object.assign(fields, { webhook_url: job.webhook, webhook_status: 'pending', webhook_attempts: '0' });
    await this.redis.fnqCreate(key, this.ttlSeconds, ...Object.entries(fields).flat());
  }

  /** Deletes a record (used when its enqueue failed). */
  async remove(jobId: string): Promise<void> {
    await this.redis.del(this.keys.job(jobId));
  }

  /** Marks a job running. @returns false when its record is gone. */
  async markRunning(jobId: string, startedAt: string): Promise<boolean> {
    const n = await this.redis.fnqUpdateIfExists(this.keys.job(jobId), this.ttlSeconds, '', '', 'status', 'running', 'started_at', startedAt);
    return n === 1;
  }

  /**
   * Writes a terminal state and publishes it on the job events channel in one script.
   * When the record is gone, publishes `gone` so no waiter hangs.
   * @returns false when the record was gone.
   */
  async finish(record: StoredJob): Promise<boolean> {
    const fields = [
      'status', record.status,
      'started_at', record.started_at ?? '',
      'completed_at', record.completed_at ?? '',
      'result', JSON.stringify(record.result ?? null),
      'error', record.error ?? '',
      'error_code', record.error_code ?? '',
      'metadata', JSON.stringify(record.metadata),
    ];
    const message = encodeJobEvent(record.job_id, record);
    const n = await this.redis.fnqUpdateIfExists(this.keys.job(record.job_id), this.ttlSeconds, this.keys.jobEvents, message, ...fields);
    if (n === 0) await this.redis.publish(this.keys.jobEvents, encodeJobEvent(record.job_id, null));
    return n === 1;
  }

  /**
   * Marks a job failed (INTERNAL_ERROR) unless its record already ended or is gone: for jobs BullMQ
   * failed without our processor finishing them.
   * @returns true when the record changed.
   */
  async failIfUnfinished(jobId: string, error: string): Promise<boolean> {
    const job = await this.get(jobId);
    if (!job || TERMINAL_STATUSES.has(job.status)) return false;
    return this.finish({ ...job, status: 'failed', completed_at: isoNow(), result: null, error, error_code: 'INTERNAL_ERROR', metadata: null });
  }

  /** Records a webhook outcome on the job. @returns false when the record is gone. */
  async setWebhookOutcome(jobId: string, outcome: Omit<WebhookOutcome, 'url'>): Promise<boolean> {
    const n = await this.redis.fnqUpdateIfExists(
      this.keys.job(jobId), this.ttlSeconds, '', '',
      'webhook_status', outcome.status,
      'webhook_attempts', String(outcome.attempts),
      'webhook_last_error', outcome.last_error ?? '',
      'webhook_delivered_at', outcome.delivered_at ?? '',
    );
    return n === 1;
  }

  /** The stored job, or null when unknown or expired. */
  async get(jobId: string): Promise<StoredJob | null> {
    const h = await this.redis.hgetall(this.keys.job(jobId));
    return h.job_id ? fromHash(h) : null;
  }
}

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
  return record;
}

/** The public view of a stored job: seed 002's fields in seed 002's order, `webhook` when present. */
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
  return out;
}
