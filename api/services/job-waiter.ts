import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import { subscribe } from '../../shared/store/channels.js';
import type { Logger } from '../../shared/logger.js';
import { decodeJobEvent, jobIdOfEvent, TERMINAL_STATUSES, type JobEvent, type JobStore } from '../../shared/store/job-store.js';
import { type StoredJob } from '../../shared/schemas/job-record.js';

/** What a wait ends with: the finished record, `gone` (record removed or expired), or `timeout`. */
export type WaitOutcome = { kind: 'finished'; job: StoredJob } | { kind: 'gone' } | { kind: 'timeout' };

interface Waiter {
  resolve(outcome: WaitOutcome): void;
  since: number;
}

/** Waiters older than this are re-checked against their record, in case an event was lost. */
const SWEEP_INTERVAL_MS = 2000;

/**
 * Waits for jobs to finish without polling: one Redis subscription per API process to the job
 * events channel, where workers publish the events of each watched job (in the script that writes
 * them, or right after it for an async job's end): a sync job is watched from its creation (its record's `watched` field), a job
 * followed later by {@link watch} or {@link waitExisting} once JobStore.watch marked it.
 *
 * Race-free: a waiter is registered before its record is read (or, for /invoke, before its job
 * is even enqueued); a finish either happened before the read (seen there) or publishes after
 * registration (seen here). Pub/sub drops messages while the subscriber is disconnected, so on
 * every (re)subscription, and every {@link SWEEP_INTERVAL_MS} for older waiters, records are re-read.
 */
export class JobWaiter {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly watchers = new Map<string, Set<(event: JobEvent) => void>>();
  private readonly stoppers = new Set<() => void>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscriber: Redis,
    private readonly store: JobStore,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {}

  /** Subscribes to the events channel and starts the sweep. */
  async start(): Promise<void> {
    this.subscriber.on('ready', () => void this.recheck(() => true));
    await subscribe(this.subscriber, this.channel, (message) => this.onEvent(message));
    this.sweepTimer = setInterval(() => {
      const cutoff = Date.now() - SWEEP_INTERVAL_MS;
      void this.recheck((w) => w.since < cutoff);
    }, SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /**
   * Registers a wait for `jobId`. Call before enqueueing a new job; for an existing job use
   * {@link waitExisting}. `cancel` drops the wait (e.g. when enqueueing failed).
   */
  register(jobId: string, timeoutMs: number): { promise: Promise<WaitOutcome>; cancel(): void } {
    let waiter!: Waiter;
    let timer: NodeJS.Timeout;
    let settled = false;
    const promise = new Promise<WaitOutcome>((resolve) => {
      waiter = {
        since: Date.now(),
        resolve: (outcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.remove(jobId, waiter);
          resolve(outcome);
        },
      };
      // The timeout waits for the check phase: after this process was paused past it (a long GC
      // pause, a paused VM), the job's end that arrived meanwhile is read first, as a Redis command's
      // timeout waits (shared/queue/redis.ts).
      timer = setTimeout(() => setImmediate(() => waiter.resolve({ kind: 'timeout' })), timeoutMs);
      let set = this.waiters.get(jobId);
      if (!set) this.waiters.set(jobId, (set = new Set()));
      set.add(waiter);
    });
    return { promise, cancel: () => waiter.resolve({ kind: 'timeout' }) };
  }

  /**
   * Waits for a job that may already have finished: subscribe (register), then mark it watched and
   * read its state in one step (JobStore.watch: its end is published from then on).
   */
  async waitExisting(jobId: string, timeoutMs: number): Promise<WaitOutcome> {
    const wait = this.register(jobId, timeoutMs);
    const job = await this.store.watch(jobId).catch(() => undefined);
    if (job === null) this.settle(jobId, { kind: 'gone' });
    else if (job && TERMINAL_STATUSES.has(job.status)) this.settle(jobId, { kind: 'finished', job });
    return wait.promise;
  }

  /**
   * Calls `listener` with every event of `jobId` (status changes, progress, the end) until the
   * returned function is called: for live events (GET /jobs/{job_id}/events). Then mark the job
   * watched (JobStore.watch, which also reads it): only a watched job's events are published. Events carry the
   * whole record only at the end; listeners re-read the record for the rest. `onStop` is called by
   * {@link stopWatchers} (the API is shutting down).
   */
  watch(jobId: string, listener: (event: JobEvent) => void, onStop?: () => void): () => void {
    let set = this.watchers.get(jobId);
    if (!set) this.watchers.set(jobId, (set = new Set()));
    set.add(listener);
    if (onStop) this.stoppers.add(onStop);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
      if (onStop) this.stoppers.delete(onStop);
    };
  }

  /** Ends every watch (live event streams), so a draining API is not held open by them. */
  stopWatchers(): void {
    for (const stop of [...this.stoppers]) stop();
  }

  /** Ends every wait with `timeout` and stops the sweep. */
  close(): void {
    clearInterval(this.sweepTimer);
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.resolve({ kind: 'timeout' });
  }

  private onEvent(message: string): void {
    const jobId = jobIdOfEvent(message);
    const waited = this.waiters.has(jobId);
    const watchers = this.watchers.get(jobId);
    if (!waited && !watchers) return;
    const event = decodeJobEvent(message);
    if (watchers) for (const listener of [...watchers]) listener(event);
    if (!waited) return;
    // Running, progress and retry events carry only {job_id, status}: a wait ends at the end only.
    if (!event.record) this.settle(jobId, { kind: 'gone' });
    else if (TERMINAL_STATUSES.has(event.record.status)) this.settle(jobId, { kind: 'finished', job: event.record });
  }

  private settle(jobId: string, outcome: WaitOutcome): void {
    const set = this.waiters.get(jobId);
    if (set) for (const w of [...set]) w.resolve(outcome);
  }

  private remove(jobId: string, waiter: Waiter): void {
    const set = this.waiters.get(jobId);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.waiters.delete(jobId);
  }

  private async recheck(select: (w: Waiter) => boolean): Promise<void> {
    const ids = [...this.waiters.entries()].filter(([, set]) => [...set].some(select)).map(([id]) => id);
    for (const jobId of ids) {
      try {
        const job = await this.store.get(jobId);
        if (job === null) this.settle(jobId, { kind: 'gone' });
        else if (TERMINAL_STATUSES.has(job.status)) this.settle(jobId, { kind: 'finished', job });
      } catch (err) {
        this.logger.debug('could not re-check a waited job', { job_id: jobId, error: String(err) });
        return;
      }
    }
  }
}
