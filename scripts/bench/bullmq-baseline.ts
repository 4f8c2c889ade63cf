/**
 * Phase A of `npm run bench`: plain BullMQ (the bullmq package directly, its own prefix), with the
 * no-op Worker in a separate process (bullmq-worker.ts).
 */
import { performance } from 'node:perf_hooks';
import { Queue, QueueEvents } from 'bullmq';
import { BASE_JOB_OPTIONS, BASE_PREFIX, type WorkerCmd, type WorkerMsg } from './bullmq-protocol.js';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type BenchContext } from './context.js';
import { cpuDiff, type Roles } from './cpu.js';
import { log, sleep, stats } from './measure.js';
import { stopProc, type Managed } from './processes.js';

/** The bench's handle on the worker process (bullmq-worker.ts). */
class BullmqWorkerProcess {
  private readonly waiting: Array<{ type: string; resolve: (m: WorkerMsg) => void }> = [];
  readonly m: Managed;

  constructor(ctx: BenchContext) {
    this.m = ctx.procs.node('bullmq-worker', 'scripts/bench/bullmq-worker.ts', ctx.opts.childEnv, { args: [String(ctx.redis.port)], ipc: true });
    this.m.proc.on('message', (msg: WorkerMsg) => {
      const i = this.waiting.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(msg);
    });
  }

  request<T extends WorkerMsg['type']>(cmd: WorkerCmd | undefined, reply: T, timeoutMs = 20_000): Promise<Extract<WorkerMsg, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bullmq worker: no '${reply}' within ${timeoutMs} ms: ${this.m.tail.join('\n')}`)), timeoutMs);
      this.waiting.push({
        type: reply,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<WorkerMsg, { type: T }>);
        },
      });
      if (cmd) this.m.proc.send(cmd);
    });
  }
}

/** A no-op job's data, shaped like fnqueue's. */
function jobPayload() {
  return { algorithm: 'Echo', params: {}, mode: 'sync', created_at: new Date().toISOString(), request_id: '00000000-0000-4000-8000-000000000000' };
}

/**
 * Plain BullMQ, no fnqueue code: sequential and 50-concurrent `add` + `waitUntilFinished` round
 * trips, `addBulk` throughput, and async completions/s, against the no-op worker process.
 * @throws Error when the async jobs do not all complete within the limits.
 */
export async function runBullmq(ctx: BenchContext): Promise<void> {
  const { res, cpuRows, opts: cfg, meter } = ctx;
  const connection = { host: '127.0.0.1', port: ctx.redis.port };
  const worker = new BullmqWorkerProcess(ctx);
  await worker.request(undefined, 'ready');
  /** Polls the worker's completion count (every 10 ms, bounded) until BENCH_ASYNC_JOBS more than `before` have completed. */
  const completedSince = async (before: Extract<WorkerMsg, { type: 'count' }>) => {
    const deadline = Date.now() + ASYNC_FINISH_LIMIT_MS;
    let last = before;
    while (Date.now() < deadline) {
      last = await worker.request({ type: 'count' }, 'count');
      if (last.completed - before.completed >= cfg.asyncJobs) break;
      await sleep(10);
    }
    return last;
  };
  await worker.request({ type: 'start', queue: 'rt', concurrency: cfg.baseConcurrency }, 'started');

  const roles = (): Roles => ({ bench: [process.pid], 'bullmq-worker': [worker.m.proc.pid!], redis: [ctx.redis.pid] });
  const queue = new Queue('rt', { connection, prefix: BASE_PREFIX });
  const events = new QueueEvents('rt', { connection, prefix: BASE_PREFIX });
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    // waitUntilFinished adds a 'closing' listener to the queue per waiting job (50 at once below).
    queue.setMaxListeners(200);
    const roundTrip = async (): Promise<number> => {
      const t = performance.now();
      const job = await queue.add('noop', jobPayload(), BASE_JOB_OPTIONS);
      await job.waitUntilFinished(events, 30_000);
      return performance.now() - t;
    };

    // (1) sequential round trips
    log(`bullmq: sequential round trips (warm-up 200, then ${cfg.seqJobs})`);
    const warmUntil = performance.now() + 30_000;
    for (let i = 0; i < 200 && performance.now() < warmUntil; i++) await roundTrip();
    {
      const lat: number[] = [];
      const a = await meter.snap(roles());
      const t0 = performance.now();
      const deadline = t0 + 30_000;
      while (lat.length < cfg.seqJobs && performance.now() < deadline) lat.push(await roundTrip());
      const secs = (performance.now() - t0) / 1000;
      res.baseSeq = stats(lat, secs);
      cpuRows.push(cpuDiff('bullmq: round trip, 1 at a time', a, await meter.snap(roles()), lat.length));
    }

    // (2) 50 concurrent round trips, duration-bounded
    log(`bullmq: 50 concurrent round trips for ${cfg.durationS} s`);
    {
      const loop = async (until: number, into?: number[]) => {
        while (performance.now() < until) {
          const ms = await roundTrip();
          into?.push(ms);
        }
      };
      const warm = performance.now() + 1000;
      await Promise.all(Array.from({ length: 50 }, () => loop(warm)));
      const lat: number[] = [];
      const a = await meter.snap(roles());
      const t0 = performance.now();
      const until = t0 + cfg.durationS * 1000;
      await Promise.all(Array.from({ length: 50 }, () => loop(until, lat)));
      const secs = (performance.now() - t0) / 1000;
      res.baseConc = stats(lat, secs);
      cpuRows.push(cpuDiff('bullmq: round trip, 50 concurrent', a, await meter.snap(roles()), lat.length));
    }
    await events.close();

    // (3) addBulk to a queue no worker reads, 2 calls in flight (as the batch phase's accept rate, its workers paused)
    const bulkTotal = 20_000;
    log(`bullmq: addBulk ${bulkTotal} jobs in batches of 1000, 2 in flight, no worker`);
    {
      const bulk = new Queue('bulk', { connection, prefix: BASE_PREFIX });
      await bulk.waitUntilReady();
      const batch = () => Array.from({ length: 1000 }, () => ({ name: 'noop', data: jobPayload(), opts: BASE_JOB_OPTIONS }));
      await bulk.addBulk(batch()); // warm-up
      const a = await meter.snap(roles());
      const t0 = performance.now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (sent < bulkTotal) {
            sent += 1000;
            await bulk.addBulk(batch());
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      res.baseBulk = bulkTotal / secs;
      cpuRows.push(cpuDiff('bullmq: addBulk', a, await meter.snap(roles()), bulkTotal));
      await bulk.obliterate({ force: true });
      await bulk.close();
    }

    // (4) async completions: add N jobs (50 adds in flight, as POST /jobs below), time to the last completion
    log(`bullmq: async completions, ${cfg.asyncJobs} jobs`);
    {
      await worker.request({ type: 'start', queue: 'async', concurrency: cfg.baseConcurrency }, 'started');
      const q = new Queue('async', { connection, prefix: BASE_PREFIX });
      await q.waitUntilReady();
      const before = await worker.request({ type: 'count' }, 'count');
      const a = await meter.snap(roles());
      const t0 = Date.now();
      const submitUntil = t0 + ASYNC_SUBMIT_LIMIT_MS;
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < cfg.asyncJobs && Date.now() < submitUntil) {
            next++;
            await q.add('noop', { ...jobPayload(), mode: 'async' }, BASE_JOB_OPTIONS);
          }
        }),
      );
      const submitSeconds = (Date.now() - t0) / 1000;
      const last = await completedSince(before);
      cpuRows.push(cpuDiff('bullmq: async add + complete', a, await meter.snap(roles()), cfg.asyncJobs));
      const done = last.completed - before.completed;
      if (done < cfg.asyncJobs) throw new Error(`bullmq async: only ${done}/${cfg.asyncJobs} completed within the limits`);
      const seconds = (last.lastAt - t0) / 1000;
      res.baseAsync = { perSecond: cfg.asyncJobs / seconds, seconds, submitSeconds };
      await q.close();
    }

    // (5) async completions with addBulk of 1,000 (2 in flight, as the batch phase posts them)
    log(`bullmq: async completions via addBulk, ${cfg.asyncJobs} jobs`);
    {
      await worker.request({ type: 'start', queue: 'bulk-async', concurrency: cfg.baseConcurrency }, 'started');
      const q = new Queue('bulk-async', { connection, prefix: BASE_PREFIX });
      await q.waitUntilReady();
      const before = await worker.request({ type: 'count' }, 'count');
      const a = await meter.snap(roles());
      const t0 = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (next < cfg.asyncJobs && Date.now() < t0 + ASYNC_SUBMIT_LIMIT_MS) {
            const n = Math.min(1000, cfg.asyncJobs - next);
            next += n;
            await q.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: { ...jobPayload(), mode: 'async' }, opts: BASE_JOB_OPTIONS })));
          }
        }),
      );
      const last = await completedSince(before);
      cpuRows.push(cpuDiff('bullmq: async addBulk + complete', a, await meter.snap(roles()), cfg.asyncJobs));
      const done = last.completed - before.completed;
      if (done < cfg.asyncJobs) throw new Error(`bullmq async via addBulk: only ${done}/${cfg.asyncJobs} completed within the limits`);
      const seconds = (last.lastAt - t0) / 1000;
      res.baseBulkAsync = { perSecond: cfg.asyncJobs / seconds, seconds };
      await q.close();
    }
  } finally {
    // Also on a failure: no client of the bench outlives its redis-server.
    await Promise.allSettled([events.close(), queue.close()]);
  }
  await worker.request({ type: 'stop' }, 'stopped').catch(() => undefined);
  await stopProc(worker.m, 5000);
}

