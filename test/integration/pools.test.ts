import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { eventually, expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * Pools come from the workers' `pool` labels (docs/operations.md#pools): junk pools named by one
 * caller cannot use up the pools another caller's job needs, and a job to a pool no worker serves
 * is refused with 409 naming the pool.
 */
describe('pools (api and a pool=gpu worker in-process, real Redis)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  const JUNK = 150;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_HEARTBEAT_MS: '200', WORKER_LABELS: 'pool=gpu' });
    conn = new Redis(redis.url);
    await eventually(async () => (await http('GET', `${stack.url}/workers?label=pool=gpu&status=online`)).body?.items?.length);
  });
  after(async () => {
    await stack?.close();
    await conn?.quit();
    await redis?.destroy();
  });

  it(`keeps a served pool usable after ${JUNK} jobs and ${JUNK} schedules to junk pools`, async () => {
    for (let i = 0; i < JUNK; i++) {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, pool: `junk-${i}` });
      expectError(res, 409, 'CONFLICT');
      expect(res.body.details).to.deep.equal({ reason: 'pool_not_served', pool: `junk-${i}` });
      expect(res.body.message).to.include(`no worker serves pool 'junk-${i}'`);
    }
    const scheduled: string[] = [];
    let refused = 0;
    for (let i = 0; i < JUNK; i++) {
      const res = await http('POST', `${stack.url}/schedules`, { name: `junk-${i}`, every_ms: 3_600_000, enabled: false, target: { algorithm: 'PrimeChecker', params: { number: 7 }, pool: `junk-s-${i}` } });
      if (res.status === 201) scheduled.push(res.body.schedule_id);
      else {
        expectError(res, 400, 'VALIDATION_ERROR');
        refused++;
      }
    }
    expect(scheduled.length + refused).to.equal(JUNK);

    // Another caller's job and schedule to the served pool are accepted, and the job runs there.
    const job = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, pool: 'gpu' });
    expect(job.status, JSON.stringify(job.body)).to.equal(202);
    const done = await eventually(async () => {
      const r = await http('GET', `${stack.url}/jobs/${job.body.job_id}`);
      return r.body.status === 'completed' ? r : undefined;
    });
    expect(done.body.pool).to.equal('gpu');
    const sched = await http('POST', `${stack.url}/schedules`, { name: 'gpu-nightly', cron: '0 3 * * *', target: { algorithm: 'PrimeChecker', params: { number: 7 }, pool: 'gpu' } });
    expect(sched.status, JSON.stringify(sched.body)).to.equal(201);

    // Junk pools leave the table once their schedules are gone (unserved and empty).
    for (const id of scheduled) expect((await http('DELETE', `${stack.url}/schedules/${id}`)).status).to.equal(204);
    const status = await http('GET', `${stack.url}/status`);
    expect(Object.keys(status.body.queues).filter((q) => q.startsWith('jobs-junk'))).to.deep.equal([]);
    expect(await conn.smembers(keysFor(stack.config.QUEUE_PREFIX).pools)).to.have.members(['gpu']);
  });

  it('answers 409 naming the pool for a job or /invoke to a pool no worker serves; the default pool is always accepted', async () => {
    const res = await http('POST', `${stack.url}/invoke`, { algorithm: 'PrimeChecker', params: { number: 7 }, pool: 'tpu' });
    expectError(res, 409, 'CONFLICT');
    expect(res.body.details).to.deep.equal({ reason: 'pool_not_served', pool: 'tpu' });
    const plain = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } });
    expect(plain.status).to.equal(202);
    expect((await http('POST', `${stack.url}/jobs/${plain.body.job_id}/cancel`)).status).to.equal(200);
  });
});
