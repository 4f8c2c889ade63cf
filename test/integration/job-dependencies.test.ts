import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { JobRecordSchema } from '../../shared/schemas/job-record.js';
import { checkDependencies } from '../../shared/jobs/submit.js';
import { JobStore } from '../../shared/store/job-store.js';
import { eventually, expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Job dependencies (docs/api.md#job-dependencies) against an in-process API and worker on a real
 * redis-server: the request contract, a diamond run in order, and failed or cancelled jobs failing
 * the jobs that wait for them (record and webhook).
 */

const ms = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));

async function submit(stack: Stack, body: Record<string, unknown>) {
  const res = await http('POST', `${stack.url}/jobs`, body);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.job_id as string;
}

async function ended(stack: Stack, jobId: string, timeoutMs = 20_000) {
  return eventually(async () => {
    const res = await http('GET', `${stack.url}/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
  }, timeoutMs, 20);
}

const sleep = (ms: number) => ({ algorithm: 'Sleep', params: { ms } });

describe('job dependencies (api and worker in-process, real Redis)', () => {
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    // The dependencies sweep runs every STALLED_INTERVAL_MS.
    stack = await startStack(redis.url, { WORKER_CONCURRENCY: '4', STALLED_INTERVAL_MS: '1000' });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  describe('the request', () => {
    it('refuses a depends_on naming a job that does not exist, naming it, and writes nothing', async () => {
      const a = await submit(stack, { algorithm: 'Echo', params: {} });
      const before = (await http('GET', `${stack.url}/jobs?limit=1`)).body.total;
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: {}, depends_on: [a, 'abcdefabcdef'] });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details).to.include({ field: 'depends_on', job_id: 'abcdefabcdef' });
      expect(res.body.message).to.contain('abcdefabcdef');
      expect((await http('GET', `${stack.url}/jobs?limit=1`)).body.total).to.equal(before);
    });

    it('refuses a job the caller may not see as missing (the visibility hook of the submit path)', async () => {
      const a = await submit(stack, { algorithm: 'Echo', params: {} });
      const conn = new Redis(redis.url);
      try {
        const store = new JobStore(conn, keysFor(stack.config.QUEUE_PREFIX), 60);
        await checkDependencies(store, [a]);
        const err = await checkDependencies(store, [a], (id) => id !== a).catch((e: unknown) => e);
        expect(err).to.include({ code: 'VALIDATION_ERROR' });
        expect((err as { details: Record<string, unknown> }).details).to.include({ field: 'depends_on', job_id: a });
      } finally {
        conn.disconnect();
      }
    });

    it('refuses malformed, duplicate, empty and too many ids, and delay_ms with depends_on', async () => {
      const a = await submit(stack, { algorithm: 'Echo', params: {} });
      for (const depends_on of ['x', ['nothex'], [a, a], [], Array.from({ length: 101 }, (_, i) => i.toString(16).padStart(12, '0'))]) {
        const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: {}, depends_on });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, JSON.stringify(depends_on)).to.match(/^depends_on/);
      }
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: {}, depends_on: [a], delay_ms: 100 });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details.field).to.equal('delay_ms');
    });
  });

  it('runs a diamond in order (A → B, C → D), showing waiting_for while pending', async () => {
    const a = await submit(stack, sleep(400));
    const b = await submit(stack, { ...sleep(300), depends_on: [a] });
    const c = await submit(stack, { ...sleep(100), depends_on: [a] });
    const d = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [b, c] });
    const pending = (await http('GET', `${stack.url}/jobs/${d}`)).body;
    expect(pending).to.include({ status: 'pending' });
    expect(pending.depends_on).to.deep.equal([b, c]);
    expect(pending.waiting_for).to.have.members([b, c]);
    expect(JobRecordSchema.strict().parse(pending)).to.deep.equal(pending);
    const [ra, rb, rc, rd] = await Promise.all([a, b, c, d].map((id) => ended(stack, id)));
    for (const r of [ra, rb, rc, rd]) expect(r.status, JSON.stringify(r)).to.equal('completed');
    expect(ms(rb.started_at)).to.be.at.least(ms(ra.completed_at));
    expect(ms(rc.started_at)).to.be.at.least(ms(ra.completed_at));
    expect(ms(rd.started_at)).to.be.at.least(Math.max(ms(rb.completed_at), ms(rc.completed_at)));
    expect(rd).to.not.have.property('waiting_for');
    expect(rd.depends_on).to.deep.equal([b, c]);
  });

  it('starts at once when every job it names has already completed', async () => {
    const a = await submit(stack, { algorithm: 'Echo', params: {} });
    await ended(stack, a);
    const b = await ended(stack, await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a] }));
    expect(b.status).to.equal('completed');
  });

  it('fails the jobs waiting for a failed job, naming it, down the chain, and their webhooks say so', async () => {
    const hooks = await startHookReceiver(answerWith(200));
    try {
      const a = await submit(stack, { algorithm: 'Crash', params: { throw: true } });
      const b = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a], webhook: `${hooks.url}/b` });
      const c = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [b] });
      const [ra, rb, rc] = await Promise.all([a, b, c].map((id) => ended(stack, id)));
      expect(ra.status).to.equal('failed');
      expect(rb).to.include({ status: 'failed', started_at: null });
      expect(rb.error).to.contain('DEPENDENCY_FAILED').and.contain(a);
      expect(rb.failed_dependency).to.deep.equal({ job_id: a, status: 'failed' });
      expect(rc.failed_dependency).to.deep.equal({ job_id: b, status: 'failed' });
      for (const r of [rb, rc]) expect(JobRecordSchema.strict().parse(r)).to.deep.equal(r);
      const hook = await eventually(async () => hooks.received.find((h) => h.url === '/hook/b' && h.body));
      expect(hook.body).to.include({ job_id: b, status: 'failed' });
      expect(hook.body.failed_dependency).to.deep.equal({ job_id: a, status: 'failed' });
      expect(hook.body.error).to.contain(a);
      const attempts = (await http('GET', `${stack.url}/jobs/${b}/attempts`)).body;
      expect(attempts.total).to.equal(0);
    } finally {
      await hooks.close();
    }
  });

  describe('the sweep', () => {
    let conn: Redis;
    before(() => {
      conn = new Redis(redis.url);
    });
    after(() => conn.disconnect());

    it('fails a job whose dependency expired while it waited (its record gone)', async () => {
      const a = await submit(stack, sleep(4000));
      const b = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a] });
      await conn.del(keysFor(stack.config.QUEUE_PREFIX).job(a));
      const rb = await ended(stack, b, 15_000);
      expect(rb).to.include({ status: 'failed' });
      expect(rb.failed_dependency).to.deep.equal({ job_id: a, status: 'expired' });
      expect(rb.error).to.contain('expired');
    });

    it('enqueues a ready job whose enqueue did not happen, and drops the kept job data (its env) once enqueued', async () => {
      const keys = keysFor(stack.config.QUEUE_PREFIX);
      const a = await submit(stack, sleep(3000));
      const b = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a] });
      expect(await conn.hexists(keys.job(b), 'queue_data')).to.equal(1);
      // As if the last dependency's completion was counted but the process died before the add.
      await conn.hdel(keys.job(b), 'waiting_for');
      const rb = await ended(stack, b, 15_000);
      expect(rb.status).to.equal('completed');
      expect(await conn.hexists(keys.job(b), 'queue_data')).to.equal(0);
    });

    it("starts a job whose dependency's end nobody told it (the process that ended it was killed first)", async () => {
      const a = await submit(stack, sleep(800));
      const b = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a] });
      // As if the worker ending A died before reading A's dependents.
      await conn.srem(keysFor(stack.config.QUEUE_PREFIX).jobDependents(a), b);
      const ra = await ended(stack, a);
      expect(ra.status).to.equal('completed');
      const rb = await ended(stack, b, 15_000);
      expect(rb.status).to.equal('completed');
      expect(ms(rb.started_at)).to.be.at.least(ms(ra.completed_at));
    });
  });

  it('fails the jobs waiting for a cancelled job, and one naming an already failed job at once', async () => {
    const a = await submit(stack, sleep(5000));
    const b = await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [a] });
    expect((await http('POST', `${stack.url}/jobs/${a}/cancel`)).status).to.equal(200);
    const rb = await ended(stack, b);
    expect(rb).to.include({ status: 'failed' });
    expect(rb.failed_dependency).to.deep.equal({ job_id: a, status: 'cancelled' });
    expect(rb.error).to.contain('cancelled');
    const late = await ended(stack, await submit(stack, { algorithm: 'Echo', params: {}, depends_on: [b] }));
    expect(late.failed_dependency).to.deep.equal({ job_id: b, status: 'failed' });
  });
});
