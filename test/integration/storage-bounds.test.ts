import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { isJobId } from '../../shared/store/job-store.js';
import { QUEUED_GRACE_MS, QueuedBytesStore } from '../../shared/store/queued-bytes-store.js';
import { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

async function usedMemory(conn: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await conn.info('memory'))![1]);
}

/** Fills Redis with junk strings until `target` bytes are used, or until it refuses with OOM. @returns the keys written. */
async function fill(conn: Redis, target: number, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  const chunk = 'j'.repeat(256 * 1024);
  for (let i = 0; i < 10_000 && (await usedMemory(conn)) < target; i++) {
    try {
      await conn.set(`${prefix}:${i}`, chunk);
      keys.push(`${prefix}:${i}`);
    } catch (err) {
      if (/OOM/.test(String(err))) break;
      throw err;
    }
  }
  return keys;
}

/**
 * A pool whose only worker stopped: its registry entry (labelled with the pool) stays until
 * WORKER_FORGET_AFTER_MS, so the API still takes jobs for it (docs/operations.md#pools), and nothing
 * consumes them: their payloads wait in the queue.
 */
async function abandonedPool(conn: Redis, queuePrefix: string, pool: string): Promise<string> {
  const now = new Date().toISOString().replace('Z', '+00:00');
  await new WorkerRegistry(conn, keysFor(queuePrefix), 600_000).heartbeat({
    id: `gone-${pool}:1`,
    host: 'gone',
    pid: 1,
    state: 'stopped',
    labels: { pool },
    concurrency: 1,
    runners: 1,
    active_jobs: [],
    jobs_processed: { completed: 0, failed: 0 },
    resources: { cpu_usage: 0, memory_usage: 0, runners_memory_usage: null },
    started_at: now,
    last_heartbeat: now,
    heartbeat_interval_ms: 5000,
    offline_after_ms: 15_000,
  });
  return pool;
}

describe('What a job may store in Redis (docs/security.md#limits-and-hostile-input)', function () {
  this.timeout(90_000);
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

  describe('job logs and queued payloads', () => {
    let redis: TestRedis;
    let stack: Stack;
    let conn: Redis;
    before(async () => {
      redis = await startRedis();
      stack = await startStack(redis.url, {
        FUNCTION_SANDBOX: 'auto',
        JOB_LOGS_MAX_BYTES: String(256 * 1024),
        JOB_LOGS_MAX_LINES: '1000',
        MAX_QUEUED_BYTES: String(300 * 1024),
        INVOKE_TIMEOUT_MS: '30000',
      });
      conn = new Redis(redis.url);
    });
    after(async () => {
      conn?.disconnect();
      await stack?.close();
      await redis?.destroy();
    });
    const post = (path: string, body?: unknown) => http('POST', `${stack.url}${path}`, body);
    const get = (path: string) => http('GET', `${stack.url}${path}`);

    it('caps the stored logs of a function printing 100 MB at JOB_LOGS_MAX_BYTES with the marker, whatever its max_output_bytes', async () => {
      const created = await post('/functions', {
        name: unique('loud'),
        runtime: 'nodejs',
        max_output_bytes: 64 * 1024 * 1024,
        timeout_ms: 30_000,
        code: "function handler() { const mb = 'x'.repeat(1024 * 1024 - 1); for (let i = 0; i < 100; i++) console.log(mb); return 'done' }",
      });
      expect(created.status, created.text).to.equal(201);
      await conn.call('MEMORY', 'PURGE');
      const before = await usedMemory(conn);
      const res = await post(`/functions/${created.body.function_id}/invoke`, {});
      expect(res.body.status, res.text).to.equal('completed');
      const after = await usedMemory(conn);
      if (process.env.FNQUEUE_TEST_FIGURES) console.log(`redis used_memory ${before} -> ${after} (+${after - before} bytes)`);
      expect(after - before, 'Redis memory growth, bytes').to.be.below(2 * 1024 * 1024);
      const logs = await get(`/jobs/${res.body.job_id}/logs`);
      expect(logs.body.truncated).to.equal(true);
      const lines: any[] = logs.body.logs;
      expect(lines.at(-1).line).to.equal(`[output truncated at ${256 * 1024} bytes]`);
      expect(lines.length).to.be.at.least(2);
      const stored = lines.slice(0, -1).reduce((n: number, l: any) => n + Buffer.byteLength(l.line) + 32, 0);
      expect(stored).to.be.within(200 * 1024, 256 * 1024);
      const keys = keysFor(stack.config.QUEUE_PREFIX);
      expect(Number(await conn.call('MEMORY', 'USAGE', keys.jobLogs(res.body.job_id)))).to.be.below(400 * 1024);
    });

    it('keeps at most JOB_LOGS_MAX_LINES lines per job, then the marker', async () => {
      const created = await post('/functions', { name: unique('lines'), runtime: 'nodejs', code: "function handler() { for (let i = 0; i < 50000; i++) console.log('l' + i); return 1 }" });
      expect(created.status, created.text).to.equal(201);
      const res = await post(`/functions/${created.body.function_id}/invoke`, {});
      expect(res.body.status, res.text).to.equal('completed');
      const logs = await get(`/jobs/${res.body.job_id}/logs`);
      expect(logs.body.truncated).to.equal(true);
      expect(logs.body.logs).to.have.length(1001);
      expect(logs.body.logs.at(-1).line).to.equal('[output truncated at 1000 lines]');
    });

    it('answers 503 SERVICE_UNAVAILABLE with Retry-After once a pool holds MAX_QUEUED_BYTES of waiting payloads', async () => {
      const pool = await abandonedPool(conn, stack.config.QUEUE_PREFIX, unique('abandoned'));
      const value = 'p'.repeat(100 * 1024);
      const answers: number[] = [];
      const accepted: string[] = [];
      let refused: Awaited<ReturnType<typeof post>> | undefined;
      for (let i = 0; i < 4; i++) {
        const res = await post('/jobs', { algorithm: 'Echo', params: { value }, pool });
        answers.push(res.status);
        if (res.status === 202) accepted.push(res.body.job_id);
        else refused ??= res;
      }
      expect(answers).to.deep.equal([202, 202, 503, 503]);
      // A refused job was never enqueued (past half the bound, the add waits for the count in its
      // record's script): the pool's queue holds the accepted jobs and nothing else.
      const queueName = jobsQueueName(pool);
      const prefix = keysFor(stack.config.QUEUE_PREFIX).shard(0).bullPrefix;
      const queue = new Queue(queueName, { connection: conn, prefix });
      try {
        expect(await queue.getJobCountByTypes('wait', 'prioritized', 'active', 'delayed')).to.equal(2);
      } finally {
        await queue.close();
      }
      const jobKeys = (await conn.keys(`${prefix}:${queueName}:*`)).map((k) => k.slice(`${prefix}:${queueName}:`.length)).filter(isJobId);
      expect(jobKeys.sort()).to.deep.equal([...accepted].sort());
      expect(refused!.body.error).to.equal('SERVICE_UNAVAILABLE');
      expect(refused!.headers.get('retry-after')).to.equal('5');
      expect(refused!.body.details.max_queued_bytes).to.equal(300 * 1024);
      // Cancelling a queued job frees its bytes at once.
      const cancelled = await post(`/jobs/${accepted[0]}/cancel`);
      expect(cancelled.status, cancelled.text).to.equal(200);
      const after = await post('/jobs', { algorithm: 'Echo', params: { value }, pool });
      expect(after.status, after.text).to.equal(202);
      // Another pool (served) is not affected, and its started jobs stop counting.
      for (let i = 0; i < 6; i++) {
        const res = await post('/invoke', { algorithm: 'Echo', params: { value } });
        expect(res.status, res.text).to.equal(200);
      }
      // The worker's script that ends a run released its payload: nothing of the served pool counts.
      await eventually(async () => (await new QueuedBytesStore(conn, keysFor(stack.config.QUEUE_PREFIX)).total('default')) === 0, 5000, 50);
      // A refused job left no record behind; the pool's count is what the two accepted jobs hold.
      expect(await new QueuedBytesStore(conn, keysFor(stack.config.QUEUE_PREFIX)).total(pool)).to.be.within(200 * 1024, 300 * 1024);
    });

    it('refuses with 413 PAYLOAD_TOO_LARGE, writing nothing, a job whose data alone is more than its pool may hold waiting', async () => {
      const queued = new QueuedBytesStore(conn, keysFor(stack.config.QUEUE_PREFIX));
      await eventually(async () => (await queued.total('default')) === 0, 5000, 50);
      const recordsBefore = (await conn.keys(keysFor(stack.config.QUEUE_PREFIX).job('*'))).length;
      const huge = { algorithm: 'Echo', params: { value: 'h'.repeat(310 * 1024) } };
      for (const path of ['/jobs', '/invoke']) {
        const res = await post(path, huge);
        expect(res.status, res.text).to.equal(413);
        expect(res.body.error).to.equal('PAYLOAD_TOO_LARGE');
        expect(res.body.details).to.include({ pool: 'default', max_queued_bytes: 300 * 1024, max_payload_bytes: 300 * 1024 });
        expect(res.body.details.payload_bytes).to.be.above(310 * 1024);
      }
      const batch = await post('/jobs/batch', { jobs: [huge, { algorithm: 'Echo', params: { value: 'small' } }] });
      expect(batch.status, batch.text).to.equal(202);
      expect(batch.body.results[0].error.code).to.equal('PAYLOAD_TOO_LARGE');
      expect(batch.body.results[1].job_id).to.be.a('string');
      // Only the batch's small job was written.
      expect((await conn.keys(keysFor(stack.config.QUEUE_PREFIX).job('*'))).length).to.equal(recordsBefore + 1);
      await eventually(async () => (await get(`/jobs/${batch.body.results[1].job_id}`)).body.status === 'completed', 10_000, 50);
      expect(await queued.total('default')).to.equal(0);
    });

    it('stops counting the payload of a job that fails because a job it depends on did not complete', async () => {
      const queued = new QueuedBytesStore(conn, keysFor(stack.config.QUEUE_PREFIX));
      await eventually(async () => (await queued.total('default')) === 0, 5000, 50);
      const statusOf = async (id: string) => (await get(`/jobs/${id}`)).body.status as string;
      const value = 'd'.repeat(100 * 1024);
      // A dependent registered while the job it waits for is pending, which is then cancelled.
      const parent = await post('/jobs', { algorithm: 'Echo', params: {}, pool: await abandonedPool(conn, stack.config.QUEUE_PREFIX, unique('parked')) });
      expect(parent.status, parent.text).to.equal(202);
      const waiting = await post('/jobs', { algorithm: 'Echo', params: { value }, depends_on: [parent.body.job_id] });
      expect(waiting.status, waiting.text).to.equal(202);
      expect(await queued.total('default')).to.be.at.least(100 * 1024);
      expect((await post(`/jobs/${parent.body.job_id}/cancel`)).status).to.equal(200);
      await eventually(async () => (await statusOf(waiting.body.job_id)) === 'failed', 10_000, 50);
      expect((await get(`/jobs/${waiting.body.job_id}`)).body.error).to.contain('DEPENDENCY_FAILED');
      expect(await queued.total('default')).to.equal(0);
      // A dependent of a job that had already failed fails as it registers.
      const crashed = await post('/jobs', { algorithm: 'Crash', params: { throw: true } });
      await eventually(async () => (await statusOf(crashed.body.job_id)) === 'failed', 10_000, 50);
      const late = await post('/jobs', { algorithm: 'Echo', params: { value }, depends_on: [crashed.body.job_id] });
      expect(late.status, late.text).to.equal(202);
      await eventually(async () => (await statusOf(late.body.job_id)) === 'failed', 10_000, 50);
      expect(await queued.total('default')).to.equal(0);
    });
  });

  describe('the queued bytes of a pool (QueuedBytesStore)', () => {
    let redis: TestRedis;
    let conn: Redis;
    before(async () => {
      redis = await startRedis();
      conn = new Redis(redis.url);
    });
    after(async () => {
      conn?.disconnect();
      await redis?.destroy();
    });

    it('counts, refuses past the bound, releases, and stops counting an entry whose release was lost once its record expired', async () => {
      const store = new QueuedBytesStore(conn, keysFor(unique('qb')));
      const now = Date.now();
      expect(await store.reserve('p', 'a', 600, now + 60_000, 1000)).to.deep.equal({ ok: true, total: 600 });
      expect(await store.reserve('p', 'b', 500, now + 60_000, 1000)).to.deep.equal({ ok: false, total: 600 });
      expect(await store.reserve('p', 'a', 600, now + 60_000, 1000)).to.deep.equal({ ok: true, total: 600 });
      expect(await store.release('p', ['a', 'missing'])).to.equal(600);
      expect(await store.total('p')).to.equal(0);
      // A lost release: the entry's record expired past the grace, so the next reserve drops it.
      await store.reserve('p', 'lost', 900, now - QUEUED_GRACE_MS - 1, 1000);
      expect(await store.expired('p')).to.deep.equal(['lost']);
      expect(await store.reserve('p', 'c', 900, now + 60_000, 1000)).to.deep.equal({ ok: true, total: 900 });
      expect(await store.expired('p')).to.deep.equal([]);
      await store.release('p', ['c']);
      expect(await conn.keys('*qb*')).to.deep.equal([]);
    });

    it('counts a payload of 2 MiB or more in the sizes hash, and a re-count of a job replaces its bytes', async () => {
      const keys = keysFor(unique('qbl'));
      const store = new QueuedBytesStore(conn, keys);
      const now = Date.now();
      const big = 3 * 1024 * 1024;
      expect(await store.reserve('p', 'big', big, now + 60_000, 0)).to.deep.equal({ ok: true, total: big });
      expect(await conn.hget(keys.shard(0).queuedSizes('p'), 'big')).to.equal(String(big));
      expect(await store.reserve('p', 'small', 100, now + 60_000, 0)).to.deep.equal({ ok: true, total: big + 100 });
      // Re-counted with other bytes, in either direction between the two forms.
      expect(await store.reserve('p', 'small', big, now + 60_000, 0)).to.deep.equal({ ok: true, total: 2 * big });
      expect(await store.reserve('p', 'big', 50, now + 60_000, 0)).to.deep.equal({ ok: true, total: big + 50 });
      expect(await conn.hkeys(keys.shard(0).queuedSizes('p'))).to.deep.equal(['small']);
      expect(await store.release('p', ['big', 'small', 'big'])).to.equal(big + 50);
      expect(await conn.keys(`*${keys.shard(0).queued('p')}*`)).to.deep.equal([]);
    });

    it('releases and sweeps the entries an older build wrote (scored by expiry ms, bytes in the sizes hash)', async () => {
      const keys = keysFor(unique('qbo'));
      const sh = keys.shard(0);
      const store = new QueuedBytesStore(conn, keys);
      const now = Date.now();
      await conn.zadd(sh.queued('p'), now + 60_000, 'old-live', now - QUEUED_GRACE_MS - 1, 'old-lost');
      await conn.hset(sh.queuedSizes('p'), 'old-live', 300, 'old-lost', 400);
      await conn.set(sh.queuedTotal('p'), 700);
      expect(await store.expired('p')).to.deep.equal(['old-lost']);
      expect(await store.reserve('p', 'new', 200, now + 60_000, 1000)).to.deep.equal({ ok: true, total: 900 });
      // Past the bound: the lost entry is dropped first, and the job fits.
      expect(await store.reserve('p', 'next', 300, now + 60_000, 1000)).to.deep.equal({ ok: true, total: 800 });
      expect(await store.release('p', ['old-live'])).to.equal(300);
      expect(await store.total('p')).to.equal(500);
      await store.release('p', ['new', 'next']);
      expect(await conn.keys(`*${sh.queued('p')}*`)).to.deep.equal([]);
    });
  });

  describe('a job to a pool whose workers are gone', () => {
    let redis: TestRedis;
    let stack: Stack;
    let conn: Redis;
    before(async () => {
      redis = await startRedis();
      stack = await startStack(redis.url, { RESULT_TTL_SECONDS: '2', QUEUE_SWEEP_INTERVAL_MS: '200' });
      conn = new Redis(redis.url);
    });
    after(async () => {
      conn?.disconnect();
      await stack?.close();
      await redis?.destroy();
    });

    it('leaves no BullMQ job hash and no payload in Redis after RESULT_TTL_SECONDS and a sweep', async () => {
      const pool = await abandonedPool(conn, stack.config.QUEUE_PREFIX, unique('abandoned'));
      const marker = `payload-${process.pid}-`.padEnd(200 * 1024, 'q');
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: marker }, pool });
      expect(res.status, res.text).to.equal(202);
      const jobKey = `${bullPrefix(stack.config.QUEUE_PREFIX)}:${jobsQueueName(pool)}:${res.body.job_id}`;
      expect(await conn.exists(jobKey)).to.equal(1);
      await eventually(async () => (await conn.exists(jobKey)) === 0, 6000, 100);
      await sleep(300);
      let found = '';
      let cursor = '0';
      do {
        const [next, keys] = await conn.scan(cursor, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const dump = await conn.dumpBuffer(key);
          if (dump && dump.includes(`payload-${process.pid}-`)) found = key;
          if (key.includes(res.body.job_id)) found = key;
        }
      } while (cursor !== '0');
      expect(found, 'a key still holding the job or its payload').to.equal('');
    });
  });

  describe('Redis at its maxmemory', () => {
    let redis: TestRedis;
    let stack: Stack;
    let conn: Redis;
    const MAXMEMORY_MB = 32;
    before(async () => {
      redis = await startRedis({ maxmemoryMb: MAXMEMORY_MB });
      stack = await startStack(redis.url, { FUNCTION_SANDBOX: 'auto', INVOKE_TIMEOUT_MS: '20000' });
      conn = new Redis(redis.url);
    });
    after(async () => {
      conn?.disconnect();
      await stack?.close();
      await redis?.destroy();
    });

    it('answers 503 SERVICE_UNAVAILABLE with Retry-After (never 500) while Redis refuses writes, and runs jobs again once memory is freed', async () => {
      const junk = await fill(conn, MAXMEMORY_MB * 1024 * 1024 + 1, 'junk-oom');
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: 1 } });
      expect(res.status, res.text).to.equal(503);
      expect(res.body.error).to.equal('SERVICE_UNAVAILABLE');
      expect(res.headers.get('retry-after')).to.equal('5');
      await conn.del(...junk);
      const again = await http('POST', `${stack.url}/invoke`, { algorithm: 'Echo', params: { value: 2 } });
      expect(again.status, again.text).to.equal(200);
    });

    it('stores only a marker for a job\'s logs when Redis is near its maxmemory; the job itself completes', async () => {
      const created = await http('POST', `${stack.url}/functions`, { name: unique('near'), runtime: 'nodejs', code: "function handler() { const kb = 'y'.repeat(1023); for (let i = 0; i < 1024; i++) console.log(kb); return 'ok' }" });
      expect(created.status, created.text).to.equal(201);
      const junk = await fill(conn, MAXMEMORY_MB * 1024 * 1024 * 0.88, 'junk-near');
      try {
        const res = await http('POST', `${stack.url}/functions/${created.body.function_id}/invoke`, {});
        expect(res.body.status, res.text).to.equal('completed');
        const logs = await http('GET', `${stack.url}/jobs/${res.body.job_id}/logs`);
        expect(logs.body.truncated).to.equal(true);
        expect(logs.body.logs.map((l: any) => l.line)).to.deep.equal(['[output not stored: the store is near its memory limit]']);
      } finally {
        await conn.del(...junk);
      }
    });
  });
});
