import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { eventually, expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startApiOnly, startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver } from '../helpers/webhook-receiver.js';

/**
 * POST /jobs/batch (docs/api.md#many-jobs-at-once-post-jobsbatch) against real API and worker
 * processes' code in-process on real redis-servers: per-job answers in order, the envelope's bounds,
 * MAX_QUEUE_DEPTH over the whole batch, Redis failing mid-batch, QUEUE_SHARDS=3 and webhooks.
 */

const prefix = () => `t${Math.random().toString(36).slice(2, 10)}`;

async function ended(url: string, jobId: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const res = await http('GET', `${url}/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
  }, timeoutMs, 50);
}

async function totalJobs(url: string): Promise<number> {
  return (await http('GET', `${url}/jobs?limit=1`)).body.total as number;
}

const echo = (i: number) => ({ algorithm: 'Echo', params: { value: i } });

describe('POST /jobs/batch (api and worker in-process, real Redis)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_CONCURRENCY: '4' });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  it('answers a mixed batch per job in order, and only the valid jobs are written and run to completion', async () => {
    const existing = (await http('POST', `${stack.url}/jobs`, echo(-1))).body.job_id as string;
    await ended(stack.url, existing);
    const before = await totalJobs(stack.url);
    const jobs = [
      { algorithm: 'PrimeChecker', params: { number: 17 } },
      { algorithm: 'PrimeChecker', params: { number: 'x' } },
      { algorithm: 'NoSuchAlgorithm', params: {} },
      { ...echo(3), pool: 'gpu' },
      { ...echo(4), priority: 5 },
      42,
      { ...echo(6), depends_on: [existing] },
      { ...echo(7), depends_on: ['abcdefabcdef'] },
      { ...echo(8), max_retries: 1000 },
      { algorithm: 'Echo', params: {}, surprise: true },
      { ...echo(10), delay_ms: 200 },
    ];
    const res = await http('POST', `${stack.url}/jobs/batch`, { jobs });
    expect(res.status, res.text).to.equal(202);
    expect(res.body).to.have.all.keys('results', 'accepted', 'refused');
    const { results } = res.body;
    expect(results).to.have.length(jobs.length);
    const codes = results.map((r: any) => r.error?.code ?? r.status);
    expect(codes).to.deep.equal(['pending', 'VALIDATION_ERROR', 'ALGORITHM_NOT_FOUND', 'CONFLICT', 'pending', 'VALIDATION_ERROR', 'pending', 'VALIDATION_ERROR', 'VALIDATION_ERROR', 'VALIDATION_ERROR', 'pending']);
    expect(res.body).to.include({ accepted: 4, refused: 7 });
    // Each refusal is what POST /jobs answers for that body (code, message, details), without request_id.
    for (const i of [1, 2, 3, 7, 8, 9]) {
      const single = await http('POST', `${stack.url}/jobs`, jobs[i]);
      expect(single.body.error, `job ${i}`).to.equal(results[i].error.code);
      expect(results[i].error, `job ${i}`).to.deep.equal({ code: single.body.error, message: single.body.message, details: single.body.details });
    }
    expect(results[1].error.details.field).to.equal('params.number');
    expect(results[3].error.details).to.include({ reason: 'pool_not_served', pool: 'gpu' });
    expect(results[7].error.details).to.include({ field: 'depends_on', job_id: 'abcdefabcdef' });
    const accepted = results.filter((r: any) => r.job_id);
    for (const r of accepted) {
      expect(r).to.have.all.keys('job_id', 'status', 'created_at');
      expect(r.job_id).to.match(/^[0-9a-f]{12}$/);
    }
    const done = await Promise.all(accepted.map((r: any) => ended(stack.url, r.job_id)));
    expect(done.map((d) => d.status)).to.deep.equal(['completed', 'completed', 'completed', 'completed']);
    expect(done[0].result).to.include({ number: 17, is_prime: true });
    // The record of a batch's job is the record POST /jobs writes (the same fields, and listed alike).
    const single = await ended(stack.url, (await http('POST', `${stack.url}/jobs`, jobs[0])).body.job_id);
    expect(Object.keys(done[0]).sort()).to.deep.equal(Object.keys(single).sort());
    const listed = (await http('GET', `${stack.url}/jobs?algorithm=PrimeChecker&status=completed&limit=100`)).body.jobs.map((j: any) => j.job_id);
    expect(listed).to.include.members([done[0].job_id, single.job_id]);
    expect(done[1]).to.include({ priority: 5 });
    expect(done[2].depends_on).to.deep.equal([existing]);
    expect(done[3]).to.include({ delay_ms: 200 });
    // Only the accepted jobs have records (the refused ones checked above went through POST /jobs and were refused too).
    expect(await totalJobs(stack.url)).to.equal(before + 5);
  });

  it('stores a lone surrogate in a job as POST /jobs stores it (U+FFFD, as UTF-8 writes it), not a 500', async () => {
    // The batch's records go to their script as one JSON argument, whose \u escape of a lone
    // surrogate Lua's cjson refuses; one job's string fields go as UTF-8 arguments.
    const body = { algorithm: 'Echo', params: { value: 1 }, webhook: 'http://127.0.0.1:9/hook-\ud800' };
    const single = await http('POST', `${stack.url}/jobs`, body);
    expect(single.status, single.text).to.equal(202);
    const batch = await http('POST', `${stack.url}/jobs/batch`, { jobs: [body] });
    expect(batch.status, batch.text).to.equal(202);
    const [a, b] = await Promise.all([http('GET', `${stack.url}/jobs/${single.body.job_id}`), http('GET', `${stack.url}/jobs/${batch.body.results[0].job_id}`)]);
    expect(b.body.webhook.url).to.equal(a.body.webhook.url).and.to.equal('http://127.0.0.1:9/hook-\ufffd');
  });

  it('accepts 1,000 jobs in one batch, all of which complete', async () => {
    const before = await totalJobs(stack.url);
    const res = await http('POST', `${stack.url}/jobs/batch`, { jobs: Array.from({ length: 1000 }, (_, i) => echo(i)) });
    expect(res.status, res.text.slice(0, 500)).to.equal(202);
    expect(res.body).to.include({ accepted: 1000, refused: 0 });
    const ids = res.body.results.map((r: any) => r.job_id as string);
    expect(new Set(ids).size).to.equal(1000);
    expect(await totalJobs(stack.url)).to.equal(before + 1000);
    await eventually(async () => (await http('GET', `${stack.url}/jobs?status=completed&algorithm=Echo&limit=1`)).body.total >= 1000, 90_000, 250);
    const sample = await Promise.all([ids[0], ids[499], ids[999]].map((id: string) => http('GET', `${stack.url}/jobs/${id}`)));
    expect(sample.map((s) => s.body.status)).to.deep.equal(['completed', 'completed', 'completed']);
    expect(sample.map((s) => s.body.result.value)).to.deep.equal([0, 499, 999]);
  });

  it('writes concurrent batches one at a time: one batch\'s records and queued jobs all land before the next batch\'s', async () => {
    const api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix() });
    const client = new Redis(redis.url);
    const monitor = await client.monitor();
    // Per job hash written (the record's HSET, BullMQ's job HMSET), the job id, in Redis' order.
    const writes: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      const m = /^(hset|hmset)$/i.test(args[0] ?? '') ? /:jobs?:([0-9a-f]{12})$/.exec(args[1] ?? '') : null;
      if (m) writes.push(m[1]!);
    });
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, (_, b) => http('POST', `${api.url}/jobs/batch`, { jobs: Array.from({ length: 20 }, (_, i) => echo(b * 100 + i)) })));
      const batchOf = new Map<string, number>();
      answers.forEach((res, b) => {
        expect(res.status, res.text.slice(0, 300)).to.equal(202);
        for (const r of res.body.results) batchOf.set(r.job_id, b);
      });
      await eventually(async () => writes.filter((id) => batchOf.has(id)).length >= 4 * 20 * 2, 10_000, 50);
      // The batches in the order Redis wrote their jobs, each run of one batch collapsed: no batch comes back.
      const runs = writes.filter((id) => batchOf.has(id)).map((id) => batchOf.get(id)!).filter((b, i, all) => i === 0 || all[i - 1] !== b);
      expect(runs).to.have.length(4);
      expect(new Set(runs).size).to.equal(4);
    } finally {
      monitor.disconnect();
      client.disconnect();
      await api.close();
    }
  });

  it('refuses a bad envelope with 400 and writes nothing: 1,001 jobs, none, not an array, not an object, unknown keys, Idempotency-Key', async () => {
    const before = await totalJobs(stack.url);
    const cases: Array<[unknown, string]> = [
      [{ jobs: Array.from({ length: 1001 }, (_, i) => echo(i)) }, 'jobs'],
      [{ jobs: [] }, 'jobs'],
      [{}, 'jobs'],
      [{ jobs: echo(1) }, 'jobs'],
      [[echo(1)], 'body'],
      [{ jobs: [echo(1)], extra: 1 }, 'extra'],
      [{ jobs: [echo(1)], webhook: 'ftp://example.com' }, 'webhook'],
    ];
    for (const [body, field] of cases) {
      const res = await http('POST', `${stack.url}/jobs/batch`, body);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details.field, JSON.stringify(body).slice(0, 80)).to.equal(field);
    }
    expect((await http('POST', `${stack.url}/jobs/batch`, { jobs: Array.from({ length: 1001 }, (_, i) => echo(i)) })).body.message).to.contain('at most 1000');
    const keyed = await http('POST', `${stack.url}/jobs/batch`, { jobs: [echo(1)] }, { 'idempotency-key': 'k1' });
    expectError(keyed, 400, 'VALIDATION_ERROR');
    expect(keyed.body.details.field).to.equal('Idempotency-Key');
    // A batch none of whose jobs is accepted is an error naming each refusal.
    const none = await http('POST', `${stack.url}/jobs/batch`, { jobs: [{ algorithm: 'Nope', params: {} }, { algorithm: 'Nope2', params: {} }] });
    expectError(none, 404, 'ALGORITHM_NOT_FOUND');
    expect(none.body.details.results.map((r: any) => r.error.code)).to.deep.equal(['ALGORITHM_NOT_FOUND', 'ALGORITHM_NOT_FOUND']);
    expectError(await http('POST', `${stack.url}/jobs/batch`, { jobs: [{ algorithm: 'Nope', params: {} }, 7] }), 400, 'VALIDATION_ERROR');
    expect(await totalJobs(stack.url)).to.equal(before);
  });

  it('sends each job its webhook: its own, or the batch default', async () => {
    const hooks = await startHookReceiver(answerWith(200));
    const own = await startHookReceiver(answerWith(200));
    try {
      const res = await http('POST', `${stack.url}/jobs/batch`, { webhook: hooks.url, jobs: [echo(1), { ...echo(2), webhook: own.url }, echo(3)] });
      expect(res.status, res.text).to.equal(202);
      const [a, b, c] = res.body.results.map((r: any) => r.job_id as string);
      await eventually(async () => hooks.received.length >= 2 && own.received.length >= 1, 30_000);
      expect(hooks.received.map((h) => h.body.job_id).sort()).to.deep.equal([a, c].sort());
      expect(own.received.map((h) => h.body.job_id)).to.deep.equal([b]);
      for (const h of [...hooks.received, ...own.received]) expect(h.body.status).to.equal('completed');
      const record = await eventually(async () => {
        const r = (await http('GET', `${stack.url}/jobs/${a}`)).body;
        return r.webhook?.status === 'delivered' ? r : undefined;
      });
      expect(record.webhook.url).to.equal(hooks.url);
    } finally {
      await hooks.close();
      await own.close();
    }
  });

  it('counts the whole batch against MAX_QUEUE_DEPTH: the jobs past it are refused as POST /jobs refuses them', async () => {
    const api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix(), MAX_QUEUE_DEPTH: '5' });
    try {
      const res = await http('POST', `${api.url}/jobs/batch`, { jobs: Array.from({ length: 8 }, (_, i) => echo(i)) });
      expect(res.status, res.text).to.equal(202);
      expect(res.body).to.include({ accepted: 5, refused: 3 });
      const codes = res.body.results.map((r: any) => r.error?.code ?? r.status);
      expect(codes).to.deep.equal(['pending', 'pending', 'pending', 'pending', 'pending', 'SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
      expect(res.body.results[7].error.details).to.include({ max_queue_depth: 5, retry_after_seconds: 5 });
      const single = await eventually(async () => {
        const r = await http('POST', `${api.url}/jobs`, echo(9));
        return r.status === 503 ? r : undefined;
      });
      expect(single.body.message).to.match(/^the job queue is full/);
      expect(res.body.results[7].error.message).to.match(/^the job queue is full/);
      const full = await http('POST', `${api.url}/jobs/batch`, { jobs: [echo(1), echo(2)] });
      expectError(full, 503, 'SERVICE_UNAVAILABLE');
      expect(full.headers.get('retry-after')).to.equal('5');
      expect(full.body.details.results).to.have.length(2);
      expect(await totalJobs(api.url)).to.equal(5);
    } finally {
      await api.close();
    }
  });

  it('counts the whole batch against MAX_QUEUED_BYTES: the jobs past it are refused as POST /jobs refuses them', async () => {
    const api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix(), MAX_QUEUED_BYTES: '1000' });
    try {
      const big = (i: number) => ({ algorithm: 'Echo', params: { value: `${i}`.padEnd(200, 'x') } });
      const res = await http('POST', `${api.url}/jobs/batch`, { jobs: Array.from({ length: 8 }, (_, i) => big(i)) });
      expect(res.status, res.text).to.equal(202);
      const accepted = res.body.accepted as number;
      expect(accepted).to.be.within(2, 4);
      const codes = res.body.results.map((r: any) => r.error?.code ?? r.status);
      expect(codes).to.deep.equal([...Array(accepted).fill('pending'), ...Array(8 - accepted).fill('SERVICE_UNAVAILABLE')]);
      expect(res.body.results[7].error.details).to.include({ pool: 'default', max_queued_bytes: 1000, retry_after_seconds: 5 });
      const single = await http('POST', `${api.url}/jobs`, big(9));
      expectError(single, 503, 'SERVICE_UNAVAILABLE');
      expect(res.body.results[7].error.message).to.equal(single.body.message);
      // The batch's refusals and the single job's see the same count: the accepted jobs' payloads.
      expect(single.body.details.queued_bytes).to.equal(res.body.results[7].error.details.queued_bytes).and.to.be.within(accepted * 200, 1000);
      expect(await totalJobs(api.url)).to.equal(accepted);
    } finally {
      await api.close();
    }
  });

  it('answers 503 when Redis fails mid-batch, and leaves no record and no queued job once it answers again', async () => {
    const own = await startRedis();
    const env = { QUEUE_PREFIX: prefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' };
    const api = await startApiOnly(own.url, env);
    const conn = new Redis(own.url);
    try {
      const first = await http('POST', `${api.url}/jobs/batch`, { jobs: [echo(0)] });
      expect(first.status, first.text).to.equal(202);
      const keysBefore = (await conn.keys('*:job:*')).length;
      // Writes stall (reads go on): the batch's record and queue writes time out unanswered, then land
      // when the pause ends, and the undo queued after them removes them.
      await conn.call('CLIENT', 'PAUSE', '3000', 'WRITE');
      const res = await http('POST', `${api.url}/jobs/batch`, { jobs: Array.from({ length: 50 }, (_, i) => echo(i)) });
      expectError(res, 503, 'SERVICE_UNAVAILABLE');
      expect(res.headers.get('retry-after')).to.match(/^\d+$/);
      await new Promise((r) => setTimeout(r, 3500));
      expect((await conn.keys('*:job:*')).length).to.equal(keysBefore);
      const waiting = (await conn.keys('*')).filter((k) => /:(wait|prioritized|delayed)$/.test(k));
      const queued = await Promise.all(waiting.map((k) => (k.endsWith(':wait') ? conn.llen(k) : conn.zcard(k))));
      expect(queued.reduce((a, b) => a + b, 0)).to.equal(1);
      // Redis gone: 503 too, never a 500.
      await own.stop();
      expectError(await http('POST', `${api.url}/jobs/batch`, { jobs: [echo(1), echo(2)] }), 503, 'SERVICE_UNAVAILABLE');
    } finally {
      conn.disconnect();
      await api.close();
      await own.destroy();
    }
  });

  it('undoes the records it wrote when the queue write fails, answering one error for the batch', async () => {
    const own = await startRedis();
    const env = { QUEUE_PREFIX: prefix() };
    const api = await startApiOnly(own.url, env);
    const conn = new Redis(own.url);
    try {
      const before = await totalJobs(api.url);
      // BullMQ's lists of waiting jobs hold the wrong type: addBulk fails after the records' pipeline succeeded.
      const queue = `${keysFor(env.QUEUE_PREFIX).shard(0).bullPrefix}:${jobsQueueName()}`;
      await conn.set(`${queue}:wait`, 'not a list');
      await conn.set(`${queue}:prioritized`, 'not a sorted set');
      const res = await http('POST', `${api.url}/jobs/batch`, { jobs: Array.from({ length: 20 }, (_, i) => echo(i)) });
      expectError(res, 500, 'INTERNAL_ERROR');
      expect(await totalJobs(api.url)).to.equal(before);
      expect(await conn.keys('*:job:*')).to.deep.equal([]);
      // Their MAX_QUEUED_BYTES count is released too.
      expect(Number((await conn.get(keysFor(env.QUEUE_PREFIX).shard(0).queuedTotal('default'))) ?? 0)).to.equal(0);
      expect(await conn.hlen(keysFor(env.QUEUE_PREFIX).shard(0).queuedSizes('default'))).to.equal(0);
    } finally {
      conn.disconnect();
      await api.close();
      await own.destroy();
    }
  });
});

describe('POST /jobs/batch with QUEUE_SHARDS=3 (api and worker in-process, real Redis)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { QUEUE_SHARDS: '3', WORKER_CONCURRENCY: '4' });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  it('spreads a batch over the shards, and every job completes', async () => {
    const res = await http('POST', `${stack.url}/jobs/batch`, { jobs: Array.from({ length: 300 }, (_, i) => ({ algorithm: 'PrimeChecker', params: { number: 1000 + i } })) });
    expect(res.status, res.text.slice(0, 300)).to.equal(202);
    expect(res.body.accepted).to.equal(300);
    const ids = res.body.results.map((r: any) => r.job_id as string);
    const perShard = [0, 0, 0];
    for (const id of ids) perShard[keysFor(stack.config.QUEUE_PREFIX, 3).shardOfJob(id).shard]! += 1;
    for (const n of perShard) expect(n, JSON.stringify(perShard)).to.be.greaterThan(50);
    await eventually(async () => (await http('GET', `${stack.url}/jobs?status=completed&limit=1`)).body.total >= 300, 90_000, 250);
    const sample = await Promise.all(ids.slice(0, 10).map((id: string) => http('GET', `${stack.url}/jobs/${id}`)));
    for (const [n, s] of sample.entries()) expect(s.body.result.number, ids[n]).to.equal(1000 + n);
  });
});
