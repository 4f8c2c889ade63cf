/**
 * The records phase of `npm run bench`: what fnqueue's own job record layer costs Redis per job,
 * with BullMQ's `Queue.add` of the same job as the baseline in the same run, on the bench's
 * redis-server and a fresh key prefix. No service runs: the bench process calls the store itself,
 * BENCH_RECORD_JOBS jobs with 50 calls in flight through each of
 *   1. BullMQ `Queue.add` with the options fnqueue gives a default job (`bullJobOptions`: the prioritized path);
 *   2. `JobStore.createCounted` with the job's MAX_QUEUED_BYTES count, as the API writes a record (POST /jobs);
 *   3. `JobStore.finish` of those records, completed, as a worker ends a short async PrimeChecker run.
 * Each after an unmeasured warm-up of 2,000 jobs. Per job it reads the Redis CPU (INFO cpu,
 * used_cpu_sys + used_cpu_user) and the commands Redis ran (INFO commandstats, the bench's own INFO
 * and CONFIG calls left out), also as a row of the CPU tables.
 */
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../shared/config.js';
import { jobDataOf, newJobRecord, type JobSubmission } from '../../shared/jobs/submit.js';
import { runEndCounters } from '../../shared/metrics.js';
import { bullJobOptions } from '../../shared/queue/job-options.js';
import { DEFAULT_POOL, jobsQueueName } from '../../shared/queue/names.js';
import type { StoredJob } from '../../shared/schemas/job-record.js';
import { isoNow, JobStore, newJobId, type AttemptEnd } from '../../shared/store/job-store.js';
import { keysFor } from '../../shared/store/keys.js';
import type { BenchContext } from './context.js';
import { cpuDiff, redisCpuSeconds, type Roles } from './cpu.js';
import { fmt, fmtInt, log, table } from './measure.js';

/** Calls in flight in each run (as the 50 connections of POST /jobs). */
export const IN_FLIGHT = 50;
/** Unmeasured jobs before each measured run (scripts loaded, connections and Redis warm). */
const WARM_UP_JOBS = 2000;
/** How long one run (warm-up or measured) may take, ms; a run cut short is measured over the jobs it did. */
const RUN_LIMIT_MS = 30_000;
/** The bench's own commands (the meter's and this phase's INFO, any CONFIG), left out of the counts. */
const OWN_COMMANDS = new Set(['info', 'config']);

/** What one run cost Redis. */
export interface RecordCost {
  /** Jobs done in the run (BENCH_RECORD_JOBS unless the run hit its time limit). */
  jobs: number;
  seconds: number;
  /** Redis CPU per job, µs (INFO cpu, sys + user). */
  redisCpuUs: number;
  /** Commands Redis ran per job (INFO commandstats, also those inside scripts). */
  commands: number;
}

/** The records phase's figures: BullMQ's add (the baseline), fnqueue's record create, and its finish. */
export interface RecordsResult {
  add: RecordCost;
  create: RecordCost;
  finish: RecordCost;
}

/** Runs `op(0..count-1)`, IN_FLIGHT at a time, for at most RUN_LIMIT_MS. @returns how many were done. */
export async function drive(count: number, op: (i: number) => Promise<void>): Promise<number> {
  const until = performance.now() + RUN_LIMIT_MS;
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count && performance.now() < until) {
        await op(next++);
        done++;
      }
    }),
  );
  return done;
}

/** The three calls the records phase measures, on one Redis and a fresh key prefix, and their cleanup. */
export interface RecordCalls {
  /** BullMQ's `Queue.add` of a default PrimeChecker job with fnqueue's options (`bullJobOptions`). */
  add(jobId: string): Promise<void>;
  /** `JobStore.createCounted` of its record with its MAX_QUEUED_BYTES count, as the API writes it (POST /jobs: sent ahead of its add while the pool has room). */
  create(jobId: string): Promise<void>;
  /** `JobStore.finish` of a record `create` wrote, completed, as a worker ends a short async run. */
  finish(jobId: string): Promise<void>;
  /** Removes the records of `jobIds` and the queue, then closes the connections. */
  cleanup(jobIds: readonly string[]): Promise<void>;
}

/**
 * {@link RecordCalls} on the Redis at 127.0.0.1:`port`.
 * @throws Error from a call that fails or does not land (a record not written, a finish not applied).
 */
export async function recordCalls(port: number): Promise<RecordCalls> {
  const config = loadConfig({});
  const ttlSeconds = config.RESULT_TTL_SECONDS;
  const keys = keysFor(`benchrec${Date.now().toString(36)}`);
  const redis = new Redis({ host: '127.0.0.1', port });
  redis.on('error', () => undefined);
  const store = new JobStore(redis, keys, ttlSeconds);
  const queue = new Queue(jobsQueueName(DEFAULT_POOL), { connection: { host: '127.0.0.1', port }, prefix: keys.shard(0).bullPrefix });
  // A default POST /jobs of {"algorithm":"PrimeChecker","params":{"number":17}}.
  const sub: JobSubmission = { algorithm: 'PrimeChecker', params: { number: 17 }, mode: 'async', options: {} };
  const counters = runEndCounters({ algorithm: sub.algorithm, mode: sub.mode }, false, 'completed');
  await queue.waitUntilReady();
  return {
    add: async (jobId) => {
      await queue.add(sub.algorithm, jobDataOf(sub, isoNow()), bullJobOptions(ttlSeconds, sub.options, jobId));
    },
    create: async (jobId) => {
      const data = jobDataOf(sub, isoNow());
      const count = { pool: DEFAULT_POOL, bytes: Buffer.byteLength(JSON.stringify(data)), expiresAtMs: Date.now() + ttlSeconds * 1000, maxBytes: config.MAX_QUEUED_BYTES };
      // As submitJob: a count this process's last reading leaves room for goes ahead of its add.
      const queued = store.claimQueuedRoom(jobId, count) ? { ...count, aheadOf: queue.toKey(jobId) } : count;
      const created = await store.createCounted(newJobRecord(sub, jobId, data.created_at), queued);
      if (created !== true) throw new Error(`records: job ${jobId} not written: ${JSON.stringify(created)}`);
    },
    finish: async (jobId) => {
      const at = isoNow();
      const record: StoredJob = {
        job_id: jobId,
        status: 'completed',
        algorithm: sub.algorithm,
        created_at: at,
        started_at: at,
        completed_at: at,
        result: { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' },
        error: null,
        error_code: null,
        metadata: { algorithm: sub.algorithm, version: '1.0.0', elapsed_time: 0.0001 },
        params: sub.params,
      };
      // attempt 0: a run too short for its running mark, numbered by the finish script (worker/processor.ts).
      const attempt: AttemptEnd = { attempt: 0, worker_id: 'bench-records', status: 'completed', started_at: at, finished_at: at, duration_ms: 0.1, error: null, error_code: null, exit_code: null };
      // As the worker ends an async job: its end event is built and sent only if the record is watched.
      const outcome = await store.finish(record, attempt, counters, DEFAULT_POOL, false);
      if (outcome.kind !== 'updated') throw new Error(`records: finish of ${jobId} did not land: ${JSON.stringify(outcome)}`);
    },
    cleanup: async (jobIds) => {
      const written = jobIds.map((job_id) => ({ job_id, algorithm: sub.algorithm }));
      try {
        for (let i = 0; i < written.length; i += 1000) await store.removeMany(written.slice(i, i + 1000));
        await queue.obliterate({ force: true });
      } catch (err) {
        log(`records: cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      await queue.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}

/**
 * Measures BullMQ's add, the record create and the record finish in turn (each after its warm-up),
 * into `ctx.res.records` and one row each of `ctx.cpuRows`; then removes what it wrote.
 * @throws Error when a call fails or a store call does not land (a record not written, a finish not applied).
 */
export async function runRecords(ctx: BenchContext): Promise<void> {
  const { opts: cfg, meter } = ctx;
  const roles = (): Roles => ({ bench: [process.pid], redis: [ctx.redis.pid] });

  /** A measured run of `count` calls of `op`: Redis CPU and commands per job, and its CPU row. */
  const measure = async (label: string, count: number, op: (i: number) => Promise<void>): Promise<RecordCost> => {
    const a = await meter.snap(roles());
    const cpu0 = await redisCpuSeconds(ctx.redis.port);
    const t0 = performance.now();
    const jobs = await drive(count, op);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = await redisCpuSeconds(ctx.redis.port);
    const row = cpuDiff(label, a, await meter.snap(roles()), jobs);
    row.cmds = row.cmds.filter((c) => !OWN_COMMANDS.has(c.name.split('|')[0]!));
    ctx.cpuRows.push(row);
    if (jobs < count) log(`records: ${label}: only ${jobs}/${count} jobs within ${RUN_LIMIT_MS / 1000} s; measured over those`);
    const calls = row.cmds.reduce((n, c) => n + c.calls, 0);
    return { jobs, seconds, redisCpuUs: jobs ? ((cpu1 - cpu0) * 1e6) / jobs : NaN, commands: jobs ? calls / jobs : NaN };
  };

  const { add, create, finish, cleanup } = await recordCalls(ctx.redis.port);
  const n = cfg.recordJobs;
  const warmIds = Array.from({ length: WARM_UP_JOBS }, () => newJobId());
  const ids = Array.from({ length: n }, () => newJobId());
  const bullIds = Array.from({ length: WARM_UP_JOBS + n }, () => newJobId());
  try {
    log(`records: BullMQ Queue.add, fnqueue's JobStore.createCounted, then JobStore.finish: warm-up ${WARM_UP_JOBS} each, then ${n}, ${IN_FLIGHT} in flight`);
    await drive(WARM_UP_JOBS, (i) => add(bullIds[i]!));
    const addCost = await measure('records: BullMQ Queue.add', n, (i) => add(bullIds[WARM_UP_JOBS + i]!));
    const warmCreated = await drive(WARM_UP_JOBS, (i) => create(warmIds[i]!));
    const createCost = await measure('records: JobStore.createCounted', n, (i) => create(ids[i]!));
    await drive(warmCreated, (i) => finish(warmIds[i]!));
    const finishCost = await measure('records: JobStore.finish', createCost.jobs, (i) => finish(ids[i]!));
    ctx.res.records = { add: addCost, create: createCost, finish: finishCost };
  } finally {
    // Also on a failure: leave nothing behind for the later phases, and no client past its redis-server.
    await cleanup([...warmIds, ...ids]);
  }
}

/** The phase's table: Redis CPU and commands per job of each call, against BullMQ's add; then create + finish together. */
export function reportRecords(r: RecordsResult | undefined): string {
  if (!r) return '';
  const ratio = (x: number, base: number) => (base > 0 ? `${fmt(x / base)}×` : 'n/a');
  const row = (label: string, c: RecordCost) => [label, fmtInt(c.jobs), fmt(c.redisCpuUs, 1), ratio(c.redisCpuUs, r.add.redisCpuUs), fmt(c.commands, 1), ratio(c.commands, r.add.commands), fmtInt(c.jobs / c.seconds)];
  const cpu = r.create.redisCpuUs + r.finish.redisCpuUs;
  const cmds = r.create.commands + r.finish.commands;
  return (
    `\nfnqueue's job record layer against BullMQ's add, on the bench's redis-server (${IN_FLIGHT} calls in flight, after a warm-up of ${fmtInt(WARM_UP_JOBS)}):\n` +
    table(
      ['call', 'jobs', 'Redis CPU µs/job', 'vs add', 'commands/job', 'vs add', 'calls/s'],
      [
        row('BullMQ Queue.add (fnqueue default job options)', r.add),
        row('JobStore.createCounted (record + MAX_QUEUED_BYTES count)', r.create),
        row('JobStore.finish (completed, attempt, counters, release)', r.finish),
      ],
    ) +
    `\nfnqueue's record layer per async job: create + finish = ${fmt(cpu, 1)} µs of Redis CPU, ${fmt(cmds, 1)} commands (BullMQ add alone: ${fmt(r.add.redisCpuUs, 1)} µs)\n`
  );
}
