import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

/** The largest value of one key under the job records' prefix, bytes (MEMORY USAGE). */
async function largestJobKey(conn: Redis, pattern: string): Promise<number> {
  let largest = 0;
  let cursor = '0';
  do {
    const [next, keys] = await conn.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) largest = Math.max(largest, Number((await conn.call('MEMORY', 'USAGE', k)) ?? 0));
  } while (cursor !== '0');
  return largest;
}

describe('The result a job may store (JOB_RESULT_MAX_BYTES, docs/security.md#limits-and-hostile-input)', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { FUNCTION_SANDBOX: 'auto', INVOKE_TIMEOUT_MS: '30000', BODY_LIMIT: '4mb' });
    conn = new Redis(redis.url);
  });
  after(async () => {
    conn?.disconnect();
    await stack?.close();
    await redis?.destroy();
  });
  const post = (path: string, body?: unknown) => http('POST', `${stack.url}${path}`, body);
  const get = (path: string) => http('GET', `${stack.url}${path}`);

  it('fails a function returning 2 MiB with a message naming JOB_RESULT_MAX_BYTES and stores no such record', async () => {
    const created = await post('/functions', { name: `big-${process.pid}`, runtime: 'nodejs', code: "function handler() { return 'r'.repeat(2 * 1048576) }" });
    expect(created.status, created.text).to.equal(201);
    const res = await post(`/functions/${created.body.function_id}/invoke`, {});
    expect(res.body.status, res.text.slice(0, 500)).to.equal('failed');
    expect(res.body.error).to.match(/JOB_RESULT_MAX_BYTES/).and.match(/2097154 bytes/);
    expect(res.body.result).to.equal(null);
    const job = await get(`/jobs/${res.body.job_id}`);
    expect(job.body.status).to.equal('failed');
    expect(job.text.length).to.be.below(64 * 1024);
    const prefix = stack.config.QUEUE_PREFIX;
    expect(Number(await conn.call('MEMORY', 'USAGE', keysFor(prefix).job(res.body.job_id)))).to.be.below(64 * 1024);
    expect(await largestJobKey(conn, `${prefix}*`), 'largest key in Redis, bytes').to.be.below(1024 * 1024);
  });

  it('fails an algorithm whose result passes the bound (checked by the worker before the record is written)', async () => {
    const value = 'e'.repeat(1024 * 1024);
    const res = await post('/invoke', { algorithm: 'Echo', params: { value } });
    expect(res.body.error, res.text.slice(0, 500)).to.equal('ALGORITHM_ERROR');
    expect(res.body.message).to.match(/over JOB_RESULT_MAX_BYTES \(1048576\)/);
    const job = await get(`/jobs/${res.body.details.job_id}`);
    expect(job.body.status).to.equal('failed');
    expect(job.body.result).to.equal(null);
  });

  it('stores a result within the bound', async () => {
    const res = await post('/invoke', { algorithm: 'Echo', params: { value: 'ok'.repeat(1000) } });
    expect(res.body.status, res.text.slice(0, 500)).to.equal('success');
  });
});

describe('A listing page of large records (LIST_PAGE_MAX_BYTES, docs/operations.md#listing-jobs)', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { BODY_LIMIT: '4mb', LIST_PAGE_MAX_BYTES: String(4 * 1024 * 1024) });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  it('answers fewer items than limit once the records pass the bound, with the same total, and pages on by offset', async () => {
    // Each record holds its params and its result: ~1.8 MiB; two fit in 4 MiB, three do not.
    for (let i = 0; i < 5; i++) {
      const res = await http('POST', `${stack.url}/invoke`, { algorithm: 'Echo', params: { value: String(i).repeat(900 * 1024) } });
      expect(res.body.status, res.text.slice(0, 300)).to.equal('success');
    }
    const seen: string[] = [];
    const sizes: number[] = [];
    for (let offset = 0; offset < 5; ) {
      const page = await http('GET', `${stack.url}/jobs?limit=40&offset=${offset}`);
      expect(page.status).to.equal(200);
      expect(page.body.total).to.equal(5);
      expect(page.body.jobs.length).to.be.within(1, 2);
      expect(page.text.length).to.be.below(4 * 1024 * 1024 + 64 * 1024);
      sizes.push(page.body.jobs.length);
      seen.push(...page.body.jobs.map((j: any) => j.job_id));
      offset += page.body.jobs.length;
    }
    expect(sizes).to.deep.equal([2, 2, 1]);
    expect(new Set(seen).size).to.equal(5);
  });
});
