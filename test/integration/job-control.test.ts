import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { decodeJobEvent, INDEX_REFRESH_MS, isoNow, JobStore, newJobId } from '../../shared/store/job-store.js';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { IDEMPOTENCY_TTL_SECONDS } from '../../shared/store/idempotency-store.js';
import { canonicalJson } from '../../api/services/job-service.js';
import { JOBS_QUEUE } from '../../shared/queue/names.js';
import { eventually, expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Job control (docs/api.md) against an in-process API and worker on a real redis-server: options
 * (priority, delay, retries with backoff, timeout), Idempotency-Key, attempts history,
 * cancellation, listing, progress and live events (SSE).
 */

const ms = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));

async function submit(stack: Stack, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await http('POST', `${stack.url}/jobs`, body, headers);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.job_id as string;
}

async function ended(stack: Stack, jobId: string, timeoutMs = 15_000) {
  return eventually(async () => {
    const res = await http('GET', `${stack.url}/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
  }, timeoutMs, 20);
}

async function attemptsOf(stack: Stack, jobId: string) {
  const res = await http('GET', `${stack.url}/jobs/${jobId}/attempts`);
  expect(res.status).to.equal(200);
  return res.body.attempts as any[];
}

/** Reads a Server-Sent Events stream until it ends (or `timeoutMs`). */
async function readEvents(url: string, timeoutMs = 15_000): Promise<{ status: number; contentType: string | null; events: Array<{ event: string; data: any }> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const events = text
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      return event && data ? { event, data: JSON.parse(data) } : undefined;
    })
    .filter((e): e is { event: string; data: any } => e !== undefined);
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

describe('job control (api and worker in-process, real Redis)', () => {
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    // One job at a time, so order and timing are observable.
    stack = await startStack(redis.url, { WORKER_CONCURRENCY: '1', JOB_TIMEOUT_MAX_MS: '5000', JOB_DELAY_MAX_MS: '60000', JOB_MAX_RETRIES: '5' });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  describe('options on POST /jobs', () => {
    it('answers 202 with the job, its Location and a JSON body as the FunctionalScaffold API reference shows it', async () => {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: {} });
      expect(res.status).to.equal(202);
      expect(res.body).to.have.all.keys('job_id', 'status', 'message', 'created_at');
      expect(res.text).to.equal(JSON.stringify({ job_id: res.body.job_id, status: 'pending', message: 'job created', created_at: res.body.created_at }));
      expect(res.body.created_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      expect(res.headers.get('location')).to.equal(`/jobs/${res.body.job_id}`);
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(res.headers.get('content-length')).to.equal(String(Buffer.byteLength(res.text)));
      expect(res.headers.get('x-request-id')).to.be.a('string');
    });

    it('shows the options given on the record, caps timeout_ms at JOB_TIMEOUT_MAX_MS, and keeps a plain record as the FunctionalScaffold API reference shows it', async () => {
      const id = await submit(stack, { algorithm: 'Echo', params: {}, priority: 7, max_retries: 2, retry_interval_ms: 100, timeout_ms: 999_999 });
      const record = await ended(stack, id);
      expect(record).to.include({ status: 'completed', priority: 7, max_retries: 2, retry_backoff: 'fixed', retry_interval_ms: 100, timeout_ms: 5000, attempts: 1 });
      const plain = await ended(stack, await submit(stack, { algorithm: 'Echo', params: {} }));
      expect(plain).to.have.all.keys('job_id', 'status', 'algorithm', 'created_at', 'started_at', 'completed_at', 'result', 'error', 'metadata');
    });

    it('refuses bad options with 400 naming the field, and enqueues nothing', async () => {
      const before = await http('GET', `${stack.url}/jobs?limit=1`);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ priority: 1001 }, 'priority'],
        [{ priority: -1 }, 'priority'],
        [{ priority: 1.5 }, 'priority'],
        [{ delay_ms: 60_001 }, 'delay_ms'],
        [{ delay_ms: 'soon' }, 'delay_ms'],
        [{ max_retries: 6 }, 'max_retries'],
        [{ retry_backoff: 'linear', max_retries: 1 }, 'retry_backoff'],
        [{ retry_backoff: 'fixed' }, 'retry_backoff'],
        [{ retry_interval_ms: 10 }, 'retry_interval_ms'],
        [{ timeout_ms: 0 }, 'timeout_ms'],
        [{ pool: 'GPU!' }, 'pool'],
      ];
      for (const [options, field] of cases) {
        const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: {}, ...options });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, JSON.stringify(options)).to.equal(field);
      }
      const after = await http('GET', `${stack.url}/jobs?limit=1`);
      expect(after.body.total).to.equal(before.body.total);
    });

    it('runs waiting jobs by priority, higher first, equal ones in submission order', async () => {
      const blocker = await submit(stack, { algorithm: 'Sleep', params: { ms: 600 } });
      await eventually(async () => (await http('GET', `${stack.url}/jobs/${blocker}`)).body.status === 'running');
      const priorities = [1, 5, 3, 0, 10, 5];
      const ids: string[] = [];
      for (const p of priorities) ids.push(await submit(stack, { algorithm: 'Sleep', params: { ms: 5 }, priority: p }));
      const records = await Promise.all(ids.map((id) => ended(stack, id)));
      const order = records
        .map((r, i) => ({ i, p: priorities[i]!, start: ms(r.started_at) }))
        .sort((a, b) => a.start - b.start)
        .map((x) => x.i);
      // 10, then the two 5s in submission order (indexes 1 and 5), then 3, 1, 0.
      expect(order).to.deep.equal([4, 1, 5, 2, 0, 3]);
    });

    it('honours delay_ms (never early, not late by more than a loaded machine schedules), shows run_at, and the job waits as pending', async () => {
      const id = await submit(stack, { algorithm: 'Echo', params: {}, delay_ms: 1000 });
      const waiting = await http('GET', `${stack.url}/jobs/${id}`);
      expect(waiting.body).to.include({ status: 'pending', delay_ms: 1000 });
      expect(ms(waiting.body.run_at) - ms(waiting.body.created_at)).to.equal(1000);
      const record = await ended(stack, id);
      const lateBy = ms(record.started_at) - ms(record.created_at) - 1000;
      // BullMQ promotes a delayed job by its own timer; 400 ms of slack covers a CI machine under the whole suite.
      expect(lateBy, `started ${lateBy} ms after run_at`).to.be.within(0, 400);
    });

    it('retries a failing job max_retries times at a fixed interval, keeping every attempt', async () => {
      const id = await submit(stack, { algorithm: 'Crash', params: { throw: true }, max_retries: 2, retry_interval_ms: 300 });
      const record = await ended(stack, id);
      expect(record).to.include({ status: 'failed', attempts: 3, max_retries: 2 });
      expect(record.error).to.contain('threw on purpose');
      const attempts = await attemptsOf(stack, id);
      expect(attempts.map((a) => a.attempt)).to.deep.equal([1, 2, 3]);
      for (const a of attempts) {
        expect(a).to.include({ status: 'failed', error_code: 'ALGORITHM_ERROR', worker_id: stack.worker.id, exit_code: null });
        expect(a.error).to.contain('threw on purpose');
        expect(ms(a.finished_at)).to.be.at.least(ms(a.started_at));
      }
      const gaps = [1, 2].map((i) => ms(attempts[i].started_at) - ms(attempts[i - 1].finished_at));
      // At least the interval; the upper bound leaves room for a loaded 2-core CI machine.
      for (const gap of gaps) expect(gap, `gaps ${gaps}`).to.be.within(290, 700);
    });

    it('doubles the wait with exponential backoff', async () => {
      const id = await submit(stack, { algorithm: 'Crash', params: { throw: true }, max_retries: 2, retry_backoff: 'exponential', retry_interval_ms: 200 });
      await ended(stack, id);
      const attempts = await attemptsOf(stack, id);
      const gaps = [1, 2].map((i) => ms(attempts[i].started_at) - ms(attempts[i - 1].finished_at));
      expect(gaps[0], `gaps ${gaps}`).to.be.within(190, 390);
      expect(gaps[1], `gaps ${gaps}`).to.be.within(390, 790);
    });

    it('records the exit code of a crashed runner, and a timeout per attempt', async () => {
      const crashed = await submit(stack, { algorithm: 'Crash', params: { code: 3 } });
      const crashRecord = await ended(stack, crashed);
      expect(crashRecord.status).to.equal('failed');
      const [crash] = await attemptsOf(stack, crashed);
      expect(crash).to.include({ attempt: 1, status: 'failed', exit_code: 3 });

      const slow = await submit(stack, { algorithm: 'Sleep', params: { ms: 3000 }, timeout_ms: 300 });
      const record = await ended(stack, slow);
      expect(record).to.include({ status: 'failed', timeout_ms: 300 });
      expect(record.error).to.contain('timed out after 300 ms');
      const [attempt] = await attemptsOf(stack, slow);
      expect(attempt).to.include({ status: 'timeout', error_code: 'TIMEOUT' });
      expect(attempt.duration_ms).to.be.within(250, 5000); // killed at 300 ms; the rest is a loaded machine
    });

    it('answers 404 for the attempts of an unknown job', async () => {
      expectError(await http('GET', `${stack.url}/jobs/ffffffffffff/attempts`), 404, 'JOB_NOT_FOUND');
      expectError(await http('GET', `${stack.url}/jobs/nope/attempts`), 404, 'JOB_NOT_FOUND');
    });
  });

  describe('Idempotency-Key', () => {
    it('returns the same job for the same key and body (200), refuses another body (409), and scopes keys', async () => {
      const body = { algorithm: 'Echo', params: { value: { n: 1 } }, priority: 2 };
      const first = await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'order-42' });
      expect(first.status).to.equal(202);
      // Same body with keys in another order: the same request.
      const again = await http('POST', `${stack.url}/jobs`, { priority: 2, params: { value: { n: 1 } }, algorithm: 'Echo' }, { 'Idempotency-Key': 'order-42' });
      expect(again.status).to.equal(200);
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(again.body.job_id).to.equal(first.body.job_id);
      expect(again.body).to.include.keys('status', 'algorithm', 'created_at', 'result');

      const other = await http('POST', `${stack.url}/jobs`, { ...body, params: { value: { n: 2 } } }, { 'Idempotency-Key': 'order-42' });
      expectError(other, 409, 'CONFLICT');
      expect(other.body.details.job_id).to.equal(first.body.job_id);

      const fresh = await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'order-43' });
      expect(fresh.status).to.equal(202);
      expect(fresh.body.job_id).not.to.equal(first.body.job_id);

      expectError(await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'x'.repeat(256) }), 400, 'VALIDATION_ERROR');
    });

    it('takes over a claim whose job was never written once it is a minute old, whatever its body; a younger one is still in progress or a reuse (409)', async () => {
      const body = { algorithm: 'Echo', params: { value: 'stale' } };
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      const claimKey = (key: string) => keysFor(stack.config.QUEUE_PREFIX).idempotency(sha(`anonymous\n${key}`));
      // The claim of a request that never wrote its record (its process died, or its release was lost).
      const stale = `${newJobId()} ${sha(canonicalJson(body))}`;
      const conn = new Redis(redis.url);
      try {
        await conn.set(claimKey('stale-1'), stale, 'EX', IDEMPOTENCY_TTL_SECONDS - 61);
        const taken = await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'stale-1' });
        expect(taken.status, JSON.stringify(taken.body)).to.equal(202);
        expect(taken.body.job_id).not.to.equal(stale.split(' ')[0]);
        const replay = await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'stale-1' });
        expect(replay.status).to.equal(200);
        expect(replay.body.job_id).to.equal(taken.body.job_id);
        // 5 s old: its request may still be writing the job.
        await conn.set(claimKey('young-1'), stale, 'EX', IDEMPOTENCY_TTL_SECONDS - 5);
        const young = await http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'young-1' });
        expectError(young, 409, 'CONFLICT');
        expect(await conn.get(claimKey('young-1'))).to.equal(stale);
        // A stale claim of another body names no job either: the key is free for this request.
        const otherBody = { algorithm: 'Echo', params: { value: 'another' } };
        await conn.set(claimKey('stale-2'), stale, 'EX', IDEMPOTENCY_TTL_SECONDS - 61);
        const other = await http('POST', `${stack.url}/jobs`, otherBody, { 'Idempotency-Key': 'stale-2' });
        expect(other.status, JSON.stringify(other.body)).to.equal(202);
        expect((await http('POST', `${stack.url}/jobs`, otherBody, { 'Idempotency-Key': 'stale-2' })).body.job_id).to.equal(other.body.job_id);
        // A young one of another body is a reuse of the key (409), and stays.
        await conn.set(claimKey('young-2'), stale, 'EX', IDEMPOTENCY_TTL_SECONDS - 5);
        expectError(await http('POST', `${stack.url}/jobs`, otherBody, { 'Idempotency-Key': 'young-2' }), 409, 'CONFLICT');
        expect(await conn.get(claimKey('young-2'))).to.equal(stale);
      } finally {
        conn.disconnect();
      }
    });

    it('lets concurrent requests with one key create one job', async () => {
      const body = { algorithm: 'Echo', params: {} };
      const answers = await Promise.all(Array.from({ length: 8 }, () => http('POST', `${stack.url}/jobs`, body, { 'Idempotency-Key': 'burst-1' })));
      const ids = new Set(answers.map((a) => a.body.job_id));
      expect(ids.size, JSON.stringify(answers.map((a) => a.body))).to.equal(1);
      expect(answers.filter((a) => a.status === 202)).to.have.length(1);
      expect(answers.filter((a) => a.status === 200)).to.have.length(7);
    });
  });

  describe('cancellation', () => {
    it('removes a delayed job from the queue and shows it cancelled; a second cancel is 409', async () => {
      const receiver = await startHookReceiver(answerWith(200));
      try {
        const id = await submit(stack, { algorithm: 'Echo', params: {}, delay_ms: 30_000, webhook: receiver.url });
        const res = await http('POST', `${stack.url}/jobs/${id}/cancel`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body).to.include({ job_id: id, status: 'cancelled', error: 'cancelled by request' });
        expect(res.body.completed_at).to.be.a('string');
        const conn = new Redis(redis.url);
        const queue = new Queue(JOBS_QUEUE, { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
        try {
          expect(await queue.getJob(id)).to.equal(undefined);
        } finally {
          await queue.close();
          await conn.quit();
        }
        const hook = await eventually(async () => receiver.received[0], 10_000);
        expect(hook.body).to.include({ job_id: id, status: 'cancelled', algorithm: 'Echo', error: 'cancelled by request' });
        const again = await http('POST', `${stack.url}/jobs/${id}/cancel`);
        expectError(again, 409, 'CONFLICT');
        expect(again.body.details.status).to.equal('cancelled');
      } finally {
        await receiver.close();
      }
    });

    it('stops a running job (its runner process is killed), and the worker goes on serving', async () => {
      const id = await submit(stack, { algorithm: 'Sleep', params: { ms: 20_000 } });
      await eventually(async () => (await http('GET', `${stack.url}/jobs/${id}`)).body.status === 'running');
      const t0 = Date.now();
      const res = await http('POST', `${stack.url}/jobs/${id}/cancel`);
      expect(res.body.status).to.equal('cancelled');
      const attempt = await eventually(async () => (await attemptsOf(stack, id)).find((a) => a.status === 'cancelled'), 5000);
      expect(attempt.error_code).to.equal('CANCELLED');
      expect(Date.now() - t0).to.be.below(5000);
      // The next job runs at once: the slot is free again (the Sleep would have held it 20 s).
      const next = await ended(stack, await submit(stack, { algorithm: 'Echo', params: { value: 1 } }), 5000);
      expect(next.status).to.equal('completed');
      expect((await http('GET', `${stack.url}/jobs/${id}`)).body.status).to.equal('cancelled');
    });

    it('answers 409 for a finished job and 404 for an unknown one', async () => {
      const id = await submit(stack, { algorithm: 'Echo', params: {} });
      await ended(stack, id);
      const res = await http('POST', `${stack.url}/jobs/${id}/cancel`);
      expectError(res, 409, 'CONFLICT');
      expect(res.body.details.status).to.equal('completed');
      expectError(await http('POST', `${stack.url}/jobs/ffffffffffff/cancel`), 404, 'JOB_NOT_FOUND');
      expectError(await http('GET', `${stack.url}/jobs/${id}/cancel`), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  describe('GET /jobs', () => {
    it('filters by status, algorithm and creation time, newest first, with total and paging', async () => {
      const from = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      const echo = [];
      for (let i = 0; i < 5; i++) echo.push(await submit(stack, { algorithm: 'Echo', params: { value: i } }));
      const crash = await submit(stack, { algorithm: 'Crash', params: { throw: true } });
      await Promise.all([...echo, crash].map((id) => ended(stack, id)));

      const all = await http('GET', `${stack.url}/jobs?created_after=${from}&limit=100`);
      expect(all.status).to.equal(200);
      expect(all.body.total).to.equal(6);
      expect(all.body.jobs.map((j: any) => j.job_id)).to.deep.equal([crash, ...[...echo].reverse()]);

      const echoes = await http('GET', `${stack.url}/jobs?algorithm=Echo&created_after=${from}&limit=2&offset=1`);
      expect(echoes.body).to.include({ total: 5, limit: 2, offset: 1 });
      expect(echoes.body.jobs.map((j: any) => j.job_id)).to.deep.equal([echo[3], echo[2]]);

      const failed = await http('GET', `${stack.url}/jobs?status=failed&created_after=${from}`);
      expect(failed.body.total).to.equal(1);
      expect(failed.body.jobs[0].job_id).to.equal(crash);
      const failedEcho = await http('GET', `${stack.url}/jobs?status=failed&algorithm=Echo&created_after=${from}`);
      expect(failedEcho.body.total).to.equal(0);
      const completedEcho = await http('GET', `${stack.url}/jobs?status=completed&algorithm=Echo&created_after=${from}`);
      expect(completedEcho.body.total).to.equal(5);

      const none = await http('GET', `${stack.url}/jobs?created_before=${from}&algorithm=Crash&status=pending`);
      expect(none.body).to.include({ total: 0 });
    });

    it('refuses bad filters with 400', async () => {
      for (const q of ['status=done', 'limit=0', 'limit=101', 'offset=-1', 'created_after=yesterday', 'colour=red']) {
        expectError(await http('GET', `${stack.url}/jobs?${q}`), 400, 'VALIDATION_ERROR');
      }
    });

    it('reads integers and times only in their written forms: not hexadecimal, exponents, empty values or bare numbers as times', async () => {
      for (const [q, field, message] of [
        ['offset=0x10', 'offset', 'must be an integer'],
        ['limit=1e2', 'limit', 'must be an integer'],
        ['offset=', 'offset', 'must be an integer'],
        ['limit=%205', 'limit', 'must be an integer'],
        ['created_after=0', 'created_after', 'must be an ISO 8601 time'],
        ['created_before=-1', 'created_before', 'must be an ISO 8601 time'],
      ] as const) {
        const res = await http('GET', `${stack.url}/jobs?${q}`);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, q).to.equal(field);
        expect(res.body.message, q).to.include(message);
      }
      const page = await http('GET', `${stack.url}/jobs?limit=3&offset=0&created_after=2026-01-01T00:00:00.123456Z&created_before=2999-01`);
      expect(page.status, JSON.stringify(page.body)).to.equal(200);
      expect(page.body).to.include({ limit: 3, offset: 0 });
    });

    it('names the parameter refused: an unknown one, or one with a bad value', async () => {
      const unknown = await http('GET', `${stack.url}/jobs?colour=red`);
      expectError(unknown, 400, 'VALIDATION_ERROR');
      expect(unknown.body.details.field).to.equal('colour');
      expect(unknown.body.message).to.match(/^unknown query parameter 'colour' \(known: status, /);
      expect((await http('GET', `${stack.url}/jobs?limit=0`)).body.details.field).to.equal('limit');
    });

    it('refuses a query parameter on a route with a body that declares none, and writes nothing', async () => {
      const conn = new Redis(redis.url);
      try {
        const records = async () => (await conn.keys(keysFor(stack.config.QUEUE_PREFIX).job('*'))).length;
        const before = await records();
        const body = { algorithm: 'Echo', params: {} };
        for (const [path, sent] of [['/jobs', body], ['/invoke', body], ['/jobs/batch', { jobs: [body] }]] as const) {
          const res = await http('POST', `${stack.url}${path}?colour=red`, sent);
          expectError(res, 400, 'VALIDATION_ERROR');
          expect(res.body.details.field, path).to.equal('colour');
          expect(res.body.message).to.equal("unknown query parameter 'colour' (this route takes none)");
        }
        expect(await records()).to.equal(before);
        expect((await http('POST', `${stack.url}/jobs?`, body)).status).to.equal(202);
      } finally {
        conn.disconnect();
      }
    });
  });

  describe('progress and live events', () => {
    it('shows progress on the record and streams a job from pending to completed as SSE', async () => {
      const blocker = await submit(stack, { algorithm: 'Sleep', params: { ms: 300 } });
      const id = await submit(stack, { algorithm: 'Sleep', params: { ms: 800, steps: 3 } });
      const stream = readEvents(`${stack.url}/jobs/${id}/events`);
      const progressed = await eventually(async () => (await http('GET', `${stack.url}/jobs/${id}`)).body.progress, 10_000, 20);
      expect(progressed.percent).to.be.within(25, 100);
      expect(progressed.message).to.match(/^step \d of 4$|^done$/);
      const { status, contentType, events } = await stream;
      await ended(stack, blocker);
      expect(status).to.equal(200);
      expect(contentType).to.match(/^text\/event-stream/);
      const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
      expect(statuses).to.deep.equal(['pending', 'running', 'completed']);
      const percents = events.filter((e) => e.event === 'progress').map((e) => e.data.percent);
      expect(percents.length, JSON.stringify(events)).to.be.at.least(2);
      expect([...percents].sort((a, b) => a - b)).to.deep.equal(percents);
      const last = events.at(-1)!;
      expect(last.event).to.equal('status');
      expect(last.data).to.include({ job_id: id, status: 'completed' });
      expect(last.data.progress).to.include({ percent: 100, message: 'done' });
    });

    it('sends one event and closes at once for an ended job; 404 before streaming for an unknown one', async () => {
      const id = await submit(stack, { algorithm: 'Echo', params: {} });
      await ended(stack, id);
      const t0 = Date.now();
      const { events } = await readEvents(`${stack.url}/jobs/${id}/events`);
      expect(Date.now() - t0).to.be.below(1000);
      expect(events).to.have.length(1);
      expect(events[0]!.data.status).to.equal('completed');
      expectError(await http('GET', `${stack.url}/jobs/ffffffffffff/events`), 404, 'JOB_NOT_FOUND');
    });
  });

  describe('records and indexes in Redis', () => {
    it('keeps a delayed job past its wait, and prunes every index, status ones included, as records expire', async () => {
      const conn = new Redis(redis.url);
      try {
        const keys = keysFor(`idx${Math.random().toString(36).slice(2, 8)}`);
        const store = new JobStore(conn, keys, 1);
        const delayed = newJobId();
        await store.create({ job_id: delayed, algorithm: 'Echo', params: {}, created_at: isoNow(), delay_ms: 30_000 });
        expect(await conn.ttl(keys.job(delayed))).to.be.within(30, 31);

        // Pruning is done by one write in eight (ids ending in 0 or 8): `pruning` picks such an id.
        const finishOne = async (pruning = false) => {
          const id = pruning ? `${newJobId().slice(0, 11)}8` : newJobId();
          const created_at = isoNow();
          await store.create({ job_id: id, algorithm: 'Echo', params: {}, created_at });
          await store.finish({ job_id: id, status: 'completed', algorithm: 'Echo', created_at, started_at: created_at, completed_at: isoNow(), result: null, error: null, error_code: null, metadata: null, params: {} });
          return id;
        };
        for (let i = 0; i < 5; i++) await finishOne();
        expect(await conn.zcard(keys.shard(0).jobIndex('status:completed'))).to.equal(5);
        await new Promise((r) => setTimeout(r, 1300));
        const last = await finishOne(true);
        expect(await conn.zrange(keys.shard(0).jobIndex('status:completed'), '0', '-1')).to.deep.equal([last]);
        // Index entries go by creation time: the delayed job (created past the TTL) is no longer listed,
        // though its record lives on (hence delay_ms ≤ RESULT_TTL_SECONDS in the service).
        expect(await conn.zrange(keys.shard(0).jobIndex('algorithm:Echo'), '0', '-1')).to.deep.equal([last]);
        expect(await conn.exists(keys.job(delayed))).to.equal(1);
        const listed = await store.list({ status: 'completed' }, { limit: 10, offset: 0 });
        expect(listed.total).to.equal(1);
      } finally {
        await conn.quit();
      }
    });

    it('publishes the events of a watched job only: one created watched (a sync job), or marked by watch, which reads it in the same step', async () => {
      const conn = new Redis(redis.url);
      const sub = new Redis(redis.url);
      try {
        const keys = keysFor(`evt${Math.random().toString(36).slice(2, 8)}`);
        const store = new JobStore(conn, keys, 60);
        const heard: string[] = [];
        const messages: string[] = [];
        sub.on('message', (_ch: string, message: string) => {
          heard.push(message.slice(0, message.indexOf(' ')));
          messages.push(message);
        });
        await sub.subscribe(keys.jobEvents);
        // As the worker calls it: an async job's end is sent only when the script finds it watched.
        const finish = (id: string, created_at: string, surelyWatched = false) =>
          store.finish({ job_id: id, status: 'completed', algorithm: 'Echo', created_at, started_at: created_at, completed_at: isoNow(), result: 1, error: null, error_code: null, metadata: null, params: {} }, undefined, [], undefined, surelyWatched);
        const job = async (watched?: boolean) => {
          const id = newJobId();
          const created_at = isoNow();
          await store.create({ job_id: id, algorithm: 'Echo', params: {}, created_at, ...(watched ? { watched } : {}) });
          return { id, created_at };
        };
        const unwatched = await job();
        await store.setProgress(unwatched.id, { percent: 10, message: null, updated_at: isoNow() });
        await finish(unwatched.id, unwatched.created_at);
        const sync = await job(true);
        await finish(sync.id, sync.created_at, true);
        const followed = await job();
        expect((await store.watch(followed.id))?.status).to.equal('pending');
        await store.setProgress(followed.id, { percent: 50, message: null, updated_at: isoNow() });
        await finish(followed.id, followed.created_at);
        // An ended job is read as ended; an unknown one is not written.
        expect((await store.watch(unwatched.id))?.status).to.equal('completed');
        const unknown = newJobId();
        expect(await store.watch(unknown)).to.equal(null);
        expect(await conn.exists(keys.job(unknown))).to.equal(0);
        await eventually(async () => heard.length >= 3, 2000);
        await new Promise((r) => setTimeout(r, 100));
        expect(heard).to.deep.equal([sync.id, followed.id, followed.id]);
        // The followed job's end carries its whole record, as a sync job's does.
        for (const message of [messages[0]!, messages[2]!]) expect(decodeJobEvent(message).record).to.include({ status: 'completed', result: 1 });
      } finally {
        sub.disconnect();
        await conn.quit();
      }
    });

    it('gives every index a TTL: a new one, and one re-created after a removal emptied it, though a store refreshes it once per window', async () => {
      const conn = new Redis(redis.url);
      try {
        const keys = keysFor(`idx${Math.random().toString(36).slice(2, 8)}`);
        const store = new JobStore(conn, keys, 3600);
        const index = (name: string) => keys.shard(0).jobIndex(name);
        const create = (algorithm: string, namespace?: string) => {
          const id = newJobId();
          return store.create({ job_id: id, algorithm, params: {}, created_at: isoNow(), ...(namespace ? { namespace } : {}) }).then(() => id);
        };
        const ttls = async (names: string[]) => Promise.all(names.map((n) => conn.ttl(index(n))));
        await create('Echo');
        for (const ttl of await ttls(['all', 'algorithm:Echo', 'namespace:default', 'status:pending'])) expect(ttl).to.be.within(3600, 7200);
        // Within the same window: a new index still gets its TTL.
        await create('PrimeChecker', 'team-a');
        for (const ttl of await ttls(['algorithm:PrimeChecker', 'namespace:team-a'])) expect(ttl).to.be.within(3600, 7200);
        // A removal empties an index (Redis deletes it); the next job re-creates it, with a TTL.
        const only = await create('Crash');
        await store.remove(only, 'Crash');
        expect(await conn.exists(index('algorithm:Crash'))).to.equal(0);
        await create('Crash');
        expect(await conn.ttl(index('algorithm:Crash'))).to.be.within(3600, 7200);
        // Once refreshed in this window, this store leaves an index's TTL alone; another store (another
        // process) refreshes it once. Repeated when the window turned meanwhile, which refreshes again.
        for (let tries = 0; ; tries++) {
          const window = Math.floor(Date.now() / INDEX_REFRESH_MS);
          await create('Echo');
          await conn.expire(index('algorithm:Echo'), 100);
          await create('Echo');
          const kept = await conn.ttl(index('algorithm:Echo'));
          await new JobStore(conn, keys, 3600).create({ job_id: newJobId(), algorithm: 'Echo', params: {}, created_at: isoNow() });
          const refreshed = await conn.ttl(index('algorithm:Echo'));
          if (Math.floor(Date.now() / INDEX_REFRESH_MS) !== window && tries === 0) continue;
          expect(kept).to.be.within(1, 100);
          expect(refreshed).to.be.within(3600, 7200);
          break;
        }
        // In the next window the same store refreshes again.
        await conn.expire(index('algorithm:Echo'), 100);
        const realNow = Date.now;
        Date.now = () => realNow() + INDEX_REFRESH_MS;
        try {
          await create('Echo');
        } finally {
          Date.now = realNow;
        }
        expect(await conn.ttl(index('algorithm:Echo'))).to.be.within(3600, 7200);
      } finally {
        await conn.quit();
      }
    });
  });
});
