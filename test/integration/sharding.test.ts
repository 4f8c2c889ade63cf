import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors/index.js';
import { memoryLogger } from '../helpers/stack.js';
import { startApi } from '../../api/server.js';
import { keysFor, shardOf, shardTags } from '../../shared/store/keys.js';
import { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver } from '../helpers/webhook-receiver.js';

/**
 * QUEUE_SHARDS=3 on one redis-server (docs/deployment.md#cluster-with-shards): the job API works as
 * with one shard while records, queues and indexes are spread over three hash tags; listings merge
 * the shards; the shard count of a deployment cannot change under it.
 */

const SHARDS = 3;
const ms = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));

describe('sharded queues (QUEUE_SHARDS=3, api and worker in-process, real Redis)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let keys: ReturnType<typeof keysFor>;
  let tags: string[];

  const submit = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await http('POST', `${stack.url}/jobs`, body, headers);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 202]);
    return res.body.job_id as string;
  };
  const ended = (jobId: string) =>
    eventually(async () => {
      const res = await http('GET', `${stack.url}/jobs/${jobId}`);
      return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
    }, 20_000, 25);
  const tagOfKey = (key: string) => key.slice(0, key.indexOf('}') + 1);

  before(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url);
    // WORKER_CONCURRENCY below QUEUE_SHARDS: each shard's Worker still runs 1 at once (3 in all).
    stack = await startStack(redis.url, { QUEUE_SHARDS: String(SHARDS), WORKER_CONCURRENCY: '2', JOB_MAX_RETRIES: '3', JOB_DELAY_MAX_MS: '60000' });
    keys = keysFor(stack.config.QUEUE_PREFIX, SHARDS);
    tags = shardTags(stack.config.QUEUE_PREFIX, SHARDS);
  });
  after(async () => {
    await stack?.close();
    conn?.disconnect();
    await redis?.destroy();
  });

  it('runs jobs of every shard, each record, queue and index in its own shard', async () => {
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => submit({ algorithm: 'Echo', params: { value: i } })));
    const perShard = [0, 0, 0];
    for (const id of ids) perShard[shardOf(id, SHARDS)]! += 1;
    expect(perShard.every((n) => n > 0), `jobs per shard ${perShard}`).to.equal(true);
    for (const id of ids) expect((await ended(id)).status).to.equal('completed');
    for (const id of ids) {
      const tag = tags[shardOf(id, SHARDS)]!;
      expect(await conn.exists(`${tag}:job:${id}`), id).to.equal(1);
      expect(await conn.zscore(`${tag}:job-index:all`, id)).to.not.equal(null);
      expect(await conn.zscore(`${tag}:job-index:status:completed`, id)).to.not.equal(null);
      // Nowhere else.
      for (const other of tags.filter((t) => t !== tag)) expect(await conn.exists(`${other}:job:${id}`)).to.equal(0);
    }
    // Every shard's BullMQ queue got its jobs (ids seen by each shard's `jobs` queue events stream).
    for (const tag of tags) expect(await conn.exists(`${tag}:${jobsQueueName()}:meta`), tag).to.equal(1);
    // Attempts and the run counters sit in the job's shard; /metrics sums them.
    const metrics = await http('GET', `${stack.url}/metrics`);
    const completed = /jobs_completed_total\{algorithm="Echo",status="completed"\} (\d+)/.exec(metrics.text)?.[1];
    expect(Number(completed)).to.be.at.least(30);
    for (const tag of tags) expect(await conn.exists(`${tag}:metrics:run-counters`), tag).to.equal(1);
    // The worker reports what it runs at once: one per shard here.
    const workers = await eventually(async () => (await http('GET', `${stack.url}/workers`)).body.items?.[0], 10_000);
    expect(workers.concurrency).to.equal(3);
  });

  it('lists across shards newest first, with totals and paging that match one ordered list', async () => {
    const algorithm = 'Echo';
    const all = await http('GET', `${stack.url}/jobs?algorithm=${algorithm}&limit=100`);
    expect(all.status).to.equal(200);
    const records = all.body.jobs as Array<{ job_id: string; created_at: string }>;
    expect(all.body.total).to.equal(records.length);
    expect(records.length).to.be.at.least(30);
    // Newest first, equal times by larger id, as one sorted set orders them.
    for (let i = 1; i < records.length; i++) {
      const [a, b] = [records[i - 1]!, records[i]!];
      expect(ms(a.created_at) > ms(b.created_at) || (ms(a.created_at) === ms(b.created_at) && a.job_id > b.job_id), `${a.job_id} before ${b.job_id}`).to.equal(true);
    }
    // Pages of 7 at every offset put together are the same list.
    const paged: string[] = [];
    for (let offset = 0; offset < records.length; offset += 7) {
      const page = await http('GET', `${stack.url}/jobs?algorithm=${algorithm}&limit=7&offset=${offset}`);
      expect(page.body).to.include({ total: records.length, limit: 7, offset });
      paged.push(...(page.body.jobs as Array<{ job_id: string }>).map((j) => j.job_id));
    }
    expect(paged).to.deep.equal(records.map((r) => r.job_id));
    // Past the end: empty, total unchanged. Filters intersect in every shard.
    const past = await http('GET', `${stack.url}/jobs?algorithm=${algorithm}&limit=5&offset=${records.length}`);
    expect(past.body).to.deep.include({ jobs: [], total: records.length });
    const both = await http('GET', `${stack.url}/jobs?algorithm=${algorithm}&status=completed&limit=100`);
    expect(both.body.total).to.equal(records.length);
    const since = records[9]!.created_at;
    const after = await http('GET', `${stack.url}/jobs?algorithm=${algorithm}&created_after=${encodeURIComponent(since)}&limit=100`);
    expect((after.body.jobs as Array<{ job_id: string }>).map((j) => j.job_id)).to.deep.equal(records.filter((r) => ms(r.created_at) >= ms(since)).map((r) => r.job_id));
  });

  it('cancels a delayed job in any shard: it leaves its shard queue; GET /status counts every shard', async () => {
    const delayed: string[] = [];
    while (new Set(delayed.map((id) => shardOf(id, SHARDS))).size < SHARDS || delayed.length < 6) delayed.push(await submit({ algorithm: 'Echo', params: {}, delay_ms: 60_000 }));
    const status = await http('GET', `${stack.url}/status`);
    expect(status.body.queues.jobs.delayed).to.equal(delayed.length);
    const metrics = await http('GET', `${stack.url}/metrics`);
    const lines = metrics.text.split('\n').filter((l: string) => l.startsWith('bullmq_job_count{queue="jobs", state="delayed"}'));
    expect(lines, 'one summed series').to.deep.equal([`bullmq_job_count{queue="jobs", state="delayed"} ${delayed.length}`]);
    for (const id of delayed) {
      const res = await http('POST', `${stack.url}/jobs/${id}/cancel`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.status).to.equal('cancelled');
    }
    for (const tag of tags) {
      const q = new Queue(jobsQueueName(), { connection: conn, prefix: tag });
      expect(await q.getDelayedCount(), tag).to.equal(0);
      await q.close();
    }
    expect((await http('GET', `${stack.url}/status`)).body.queues.jobs.delayed).to.equal(0);
    // The dashboard shows each shard's queue, the first by its plain name, the others by their tag.
    const board = await eventually(async () => {
      const res = await http('GET', `${stack.url}/admin/queues/api/queues`);
      const names = ((res.body?.queues ?? []) as Array<{ name: string }>).map((q) => q.name);
      return names.length >= SHARDS + 1 ? names : undefined;
    }, 10_000, 250);
    expect(board).to.include.members(['jobs', `${tags[1]}:jobs`, `${tags[2]}:jobs`, 'webhooks']);
    expect((await http('GET', `${stack.url}/jobs?status=cancelled&limit=100`)).body.total).to.equal(delayed.length);
  });

  it('replays an Idempotency-Key from its shard, the job minted in the same shard; keeps attempts of retries', async () => {
    const headers = { 'Idempotency-Key': 'shard-replay-1' };
    const first = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: 1 } }, headers);
    expect(first.status).to.equal(202);
    const again = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: 1 } }, headers);
    expect(again.status).to.equal(200);
    expect(again.body.job_id).to.equal(first.body.job_id);
    const other = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: 2 } }, headers);
    expect(other.status).to.equal(409);
    const idemKeys = (await Promise.all(tags.map((t) => conn.keys(`${t}:idempotency:*`)))).flat();
    expect(idemKeys).to.have.length(1);
    expect(tagOfKey(idemKeys[0]!)).to.equal(tags[shardOf(first.body.job_id, SHARDS)]);

    const crashing = await submit({ algorithm: 'Crash', params: { throw: true }, max_retries: 2, retry_interval_ms: 50 });
    const record = await ended(crashing);
    expect(record).to.include({ status: 'failed', attempts: 3 });
    const attempts = await http('GET', `${stack.url}/jobs/${crashing}/attempts`);
    expect((attempts.body.attempts as Array<{ status: string }>).map((a) => a.status)).to.deep.equal(['failed', 'failed', 'failed']);
    expect(await conn.exists(keys.jobAttempts(crashing))).to.equal(1);
  });

  it('delivers webhooks and wakes /invoke for jobs of every shard', async () => {
    const receiver = await startHookReceiver(answerWith(200));
    try {
      const ids: string[] = [];
      while (new Set(ids.map((id) => shardOf(id, SHARDS))).size < SHARDS) ids.push(await submit({ algorithm: 'Echo', params: {}, webhook: receiver.url }));
      await eventually(async () => receiver.received.length >= ids.length, 20_000);
      expect(receiver.received.map((h) => h.body.job_id).sort()).to.deep.equal([...ids].sort());
      for (const id of ids) await eventually(async () => (await http('GET', `${stack.url}/jobs/${id}`)).body.webhook?.status === 'delivered', 10_000);
    } finally {
      await receiver.close();
    }
    const invoked = await Promise.all(Array.from({ length: 6 }, () => http('POST', `${stack.url}/invoke`, { algorithm: 'Echo', params: { value: 'x' } })));
    for (const res of invoked) expect(res.body, JSON.stringify(res.body)).to.include({ status: 'success' });
  });

  it("keeps a function job's logs in its shard and lists its runs across shards", async () => {
    const created = await http('POST', `${stack.url}/functions`, { name: 'sharded-logs', runtime: 'python', code: "def handler(e):\n    print('hello %d' % e['n'])\n    return e['n']\n" });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const fn = created.body.function_id as string;
    const ids: string[] = [];
    for (let n = 0; n < 12 && new Set(ids.map((id) => shardOf(id, SHARDS))).size < SHARDS; n++) {
      const res = await http('POST', `${stack.url}/functions/${fn}/invoke`, { n });
      expect(res.body, JSON.stringify(res.body)).to.include({ status: 'completed', result: n });
      ids.push(res.body.job_id);
      const logs = await eventually(async () => {
        const got = await http('GET', `${stack.url}/jobs/${res.body.job_id}/logs`);
        return got.body.logs?.length ? got : undefined;
      }, 10_000);
      expect((logs.body.logs as Array<{ line: string }>).map((l) => l.line)).to.deep.equal([`hello ${n}`]);
      expect(await conn.exists(`${tags[shardOf(res.body.job_id, SHARDS)]}:job:${res.body.job_id}:logs`)).to.equal(1);
    }
    expect(new Set(ids.map((id) => shardOf(id, SHARDS))).size).to.equal(SHARDS);
    const runs = await http('GET', `${stack.url}/functions/${fn}/jobs?limit=100`);
    expect(runs.status, JSON.stringify(runs.body)).to.equal(200);
    expect(runs.body.total).to.equal(ids.length);
    expect((runs.body.jobs as Array<{ job_id: string }>).map((j) => j.job_id)).to.deep.equal([...ids].reverse());
  });

  it('runs a schedule from shard 0 and lists its runs', async () => {
    const created = await http('POST', `${stack.url}/schedules`, { name: 'sharded-every', target: { algorithm: 'Echo', params: {} }, every_ms: 300 });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const id = created.body.schedule_id as string;
    const runs = await eventually(async () => {
      const res = await http('GET', `${stack.url}/schedules/${id}/jobs?limit=10`);
      const done = (res.body.jobs ?? []).filter((j: { status: string }) => j.status === 'completed');
      return done.length >= 2 ? done : undefined;
    }, 20_000, 100);
    for (const run of runs) expect(shardOf(run.job_id, SHARDS)).to.equal(0);
    expect((await http('DELETE', `${stack.url}/schedules/${id}`)).status).to.be.oneOf([200, 204]);
  });

  it('bounds a pool\'s queued payloads over all shards (MAX_QUEUED_BYTES / QUEUE_SHARDS each) and sweeps expired ones from every shard', async () => {
    const bounded = await startStack(redis.url, { QUEUE_SHARDS: String(SHARDS), MAX_QUEUED_BYTES: '30000', RESULT_TTL_SECONDS: '3', QUEUE_SWEEP_INTERVAL_MS: '200' });
    try {
      const pool = 'nobody';
      const now = new Date().toISOString().replace('Z', '+00:00');
      // A pool whose only worker is gone: the API takes its jobs and nothing runs them.
      await new WorkerRegistry(conn, keysFor(bounded.config.QUEUE_PREFIX, SHARDS), 600_000).heartbeat({
        id: 'gone:1', host: 'gone', pid: 1, state: 'stopped', labels: { pool }, concurrency: 1, runners: 1, active_jobs: [],
        jobs_processed: { completed: 0, failed: 0 }, resources: { cpu_usage: 0, memory_usage: 0, runners_memory_usage: null },
        started_at: now, last_heartbeat: now, heartbeat_interval_ms: 5000, offline_after_ms: 15_000,
      });
      const value = 'x'.repeat(2000);
      const accepted: string[] = [];
      let refused: any;
      for (let i = 0; i < 40 && !refused; i++) {
        const res = await http('POST', `${bounded.url}/jobs`, { algorithm: 'Echo', params: { value }, pool });
        if (res.status === 202) accepted.push(res.body.job_id);
        else refused = res;
      }
      expect(refused?.status, 'a submission refused before 40').to.equal(503);
      expect(refused.body.details).to.include({ pool, max_queued_bytes: 30000 });
      const bk = keysFor(bounded.config.QUEUE_PREFIX, SHARDS);
      const totals = await Promise.all(bk.allShards.map(async (sh) => Number((await conn.get(sh.queuedTotal(pool))) ?? 0)));
      for (const t of totals) expect(t).to.be.at.most(10_000);
      expect(totals.reduce((a, b) => a + b, 0)).to.be.at.most(30_000);
      expect(accepted.length).to.be.at.least(4);
      // Past the records' TTL the sweep removes every shard's queued jobs and stops counting them.
      const queues = bk.allShards.map((sh) => new Queue(jobsQueueName(pool), { connection: conn, prefix: sh.bullPrefix }));
      try {
        expect((await Promise.all(queues.map((q) => q.getJobCountByTypes('waiting', 'prioritized')))).reduce((x, y) => x + y, 0)).to.equal(accepted.length);
        await eventually(async () => {
          const left = await Promise.all(bk.allShards.map(async (sh, i) => Number((await conn.get(sh.queuedTotal(pool))) ?? 0) + (await queues[i]!.getJobCountByTypes('waiting', 'prioritized'))));
          return left.every((n) => n === 0);
        }, 20_000, 250);
      } finally {
        await Promise.all(queues.map((q) => q.close()));
      }
    } finally {
      await bounded.close();
    }
  });

  it('refuses to start with another QUEUE_SHARDS than the deployment was written with, naming the procedure', async () => {
    const { logger } = memoryLogger();
    const base = { REDIS_URL: redis.url, PORT: '0', HOST: '127.0.0.1', QUEUE_PREFIX: stack.config.QUEUE_PREFIX };
    const err = await startApi(loadConfig({ ...base, QUEUE_SHARDS: '2' }), logger).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/QUEUE_SHARDS is 2 but this deployment's jobs were written with QUEUE_SHARDS=3/).and.match(/Changing QUEUE_SHARDS/);
    expect(await conn.get(keys.shardCount)).to.equal('3');
    // A deployment from before sharding (records under {QUEUE_PREFIX}, no count stored) is QUEUE_SHARDS=1.
    const old = await startStack(redis.url);
    try {
      const res = await http('POST', `${old.url}/jobs`, { algorithm: 'Echo', params: {} });
      expect(res.status).to.equal(202);
      await conn.del(keysFor(old.config.QUEUE_PREFIX).shardCount);
    } finally {
      await old.close();
    }
    const refused = await startApi(loadConfig({ ...base, QUEUE_PREFIX: old.config.QUEUE_PREFIX, QUEUE_SHARDS: '3' }), logger).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(ConfigError);
    expect((refused as Error).message).to.match(/written with QUEUE_SHARDS=1/);
  });
});
