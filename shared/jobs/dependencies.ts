/**
 * Job dependencies (docs/api.md#job-dependencies): a job with `depends_on` starts only after every
 * job it names completed; when one of them fails, is cancelled or has expired, it fails with
 * DEPENDENCY_FAILED naming that job, its webhook says so, and its own dependents fail in turn.
 *
 * Record-based rather than BullMQ flows: a flow's parent waits for children added with it, a job has
 * at most one parent, and a failed child fails its parent only through `failParentOnFailure` (not a
 * cancel, which removes the job): our dependents are added after the jobs they wait for, a diamond
 * gives one job several dependents, and a cancel must fail them too. Every Redis call here touches
 * one job's keys (its record, or its dependents set): cross-job steps are separate calls, so job keys
 * can be spread over Redis Cluster slots by job id.
 *
 * The mechanism: a dependent's record is written first (pending, `waiting_for` = depends_on, its
 * BullMQ job kept as `queue_data`), then it registers on each job it waits for (a set per job,
 * {@link JobStore.addDependent}); a job that already ended answers its status instead. Whoever ends
 * a job (the worker's finishing path, the API's cancel, the worker's sweep of jobs BullMQ failed) calls
 * {@link JobDependencies.jobEnded}, which reads that set: a completion takes the job off each
 * dependent's `waiting_for` (the last one enqueues the dependent), a failure fails them. The
 * registration also marks the record (`has_dependents`): the worker's finishing script answers
 * whether it is set, and the worker calls jobEnded only then (no read for a job nobody waits for).
 *
 * A sweep ({@link JobDependencies.sweep}, run by every worker) catches what these calls missed: a job
 * waited for whose record expired, one whose end was written by a process killed before it told
 * its dependents, and a ready dependent whose enqueue did not happen (`queue_data` is dropped only
 * after it).
 */
import type { Logger } from '../logger.js';
import { failedOutsideRunCounters } from '../metrics.js';
import type { JobData, WebhookPayload } from '../queue/job-data.js';
import { DEFAULT_POOL } from '../queue/names.js';
import type { FailedDependency } from '../schemas/command.js';
import type { JobStatus } from '../schemas/job-record.js';
import type { JobStore } from '../store/job-store.js';
import { webhookPayloadOf } from './webhook-payload.js';

/** A dependent's BullMQ job, kept on its record (`queue_data`) until every job it waits for completed. */
export interface DeferredJob {
  name: string;
  data: JobData;
  opts: Record<string, unknown>;
}

/** What {@link JobDependencies} writes to. */
export interface JobDependenciesDeps {
  store: JobStore;
  /** The jobs queue of a pool that holds job `jobId` (its shard's: JobQueues.forJob). */
  queue: (pool: string | undefined, jobId: string) => { add(name: string, data: JobData, opts: Record<string, unknown>): Promise<unknown> };
  webhooks: { enqueue(jobId: string, url: string, payload: WebhookPayload): Promise<void> };
  logger?: Pick<Logger, 'warn' | 'info'>;
}

/** Most dependents failed or enqueued by one {@link JobDependencies.jobEnded} call, chains included (a bound on a pathological graph). */
const MAX_CASCADE = 10_000;

/** See the module comment. */
export class JobDependencies {
  constructor(private readonly deps: JobDependenciesDeps) {}

  /**
   * Registers a new dependent (its record already written, pending, with waiting_for) on each job it
   * waits for. Jobs already completed count at once; one that already failed, was cancelled or is
   * gone fails the dependent. When none is left to wait for, the dependent is enqueued here.
   * @throws Error from Redis (the caller undoes the dependent's record).
   */
  async register(jobId: string, dependsOn: readonly string[], createdMs = Date.now()): Promise<void> {
    await this.deps.store.addWaiting(jobId, createdMs);
    for (const parent of dependsOn) {
      const r = await this.deps.store.addDependent(parent, jobId);
      if (r === 'registered' || r === 'pending' || r === 'running') continue;
      if (r === 'completed') {
        if ((await this.deps.store.dependencyDone(jobId, parent)) === 'ready') await this.enqueue(jobId);
        continue;
      }
      await this.failAll([[jobId, { job_id: parent, status: r === 'gone' ? 'expired' : r }]]);
      return;
    }
  }

  /**
   * The sweep (every STALLED_INTERVAL_MS on each worker): each job still waiting is checked against
   * the jobs it waits for. One whose record is gone (expired) fails it; one that ended without its
   * dependents being told (the process that ended it was killed first) is counted now, as
   * {@link jobEnded} would have. Jobs no longer waiting leave the sweep's set. Idempotent: workers
   * sweeping at once count each end once (the scripts decide). Errors are logged, never thrown.
   * @param count most waiting jobs looked at (oldest first).
   */
  async sweep(count = 1000): Promise<void> {
    try {
      const ids = await this.deps.store.waiting(count);
      const done: string[] = [];
      for (const jobId of ids) {
        const job = await this.deps.store.get(jobId);
        if (job?.status === 'pending' && !job.waiting_for?.length && job.queue_data) {
          // Ready, but its enqueue never happened (a failed add, or a killed process): enqueue it now
          // (BullMQ ignores a second add of the same job id).
          await this.enqueue(jobId);
          continue;
        }
        if (!job || job.status !== 'pending' || !job.waiting_for?.length) {
          done.push(jobId);
          continue;
        }
        const statuses = await this.deps.store.statuses(job.waiting_for);
        for (const [i, parent] of job.waiting_for.entries()) {
          const status = statuses[i];
          if (status === null) {
            await this.failAll([[jobId, { job_id: parent, status: 'expired' }]]);
            break;
          }
          if (status === 'completed') {
            if ((await this.deps.store.dependencyDone(jobId, parent)) === 'ready') await this.enqueue(jobId);
          } else if (status === 'failed' || status === 'cancelled') {
            await this.failAll([[jobId, { job_id: parent, status }]]);
            break;
          }
        }
      }
      await this.deps.store.dropWaiting(done);
    } catch (err) {
      this.deps.logger?.warn('the dependencies sweep failed; it runs again later', { error: String(err) });
    }
  }

  /**
   * A job ended: each job waiting for it goes on (completed: the last one it waited for enqueues
   * it) or fails with DEPENDENCY_FAILED, and so on down the chain. Errors are logged, never thrown:
   * the ended job's own outcome stands.
   */
  async jobEnded(jobId: string, status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>): Promise<void> {
    try {
      const dependents = await this.deps.store.dependents(jobId);
      if (dependents.length === 0) return;
      if (status !== 'completed') {
        await this.failAll(dependents.map((d) => [d, { job_id: jobId, status }]));
        return;
      }
      for (const d of dependents) {
        if ((await this.deps.store.dependencyDone(d, jobId)) === 'ready') await this.enqueue(d);
      }
    } catch (err) {
      this.deps.logger?.warn('could not go on with the jobs waiting for a job that ended', { job_id: jobId, status, error: String(err) });
    }
  }

  /** Fails each dependent, sends its webhook, then fails the jobs waiting for it, breadth first. */
  private async failAll(start: Array<[string, FailedDependency]>): Promise<void> {
    const todo = [...start];
    for (let n = 0; todo.length > 0 && n < MAX_CASCADE; n++) {
      const [jobId, failed] = todo.shift()!;
      const before = await this.deps.store.get(jobId);
      if (!before) continue;
      const counted = { algorithm: before.algorithm, function_id: before.function_id, mode: 'async' as const };
      const outcome = await this.deps.store.failDependency(jobId, failed, failedOutsideRunCounters(counted), before.pool ?? DEFAULT_POOL);
      if (outcome.kind !== 'updated') continue;
      this.deps.logger?.info('job failed: a job it depends on did not complete', { job_id: jobId, dependency: failed.job_id, dependency_status: failed.status });
      const record = await this.deps.store.get(jobId);
      if (record?.webhook) await this.deps.webhooks.enqueue(jobId, record.webhook.url, webhookPayloadOf({ ...record, status: 'failed' }));
      for (const d of await this.deps.store.dependents(jobId)) todo.push([d, { job_id: jobId, status: 'failed' }]);
    }
  }

  /** Enqueues a dependent whose last awaited job completed (its BullMQ job from `queue_data`, then dropped). */
  private async enqueue(jobId: string): Promise<void> {
    const record = await this.deps.store.get(jobId);
    if (!record?.queue_data) {
      if (record) this.deps.logger?.warn('a job ready to run has no queued data', { job_id: jobId });
      return;
    }
    const job = JSON.parse(record.queue_data) as DeferredJob;
    await this.deps.queue(job.data.pool, jobId).add(job.name, job.data, job.opts);
    // Kept only until enqueued: it holds the job's env; without it the sweep knows the add happened.
    await this.deps.store.clearQueueData(jobId);
  }
}
