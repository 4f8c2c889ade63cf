import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createClient, FnqueueError, isFnqueueError, verifyWebhook, Webhook, WebhookVerificationError, type FnqueueClient, type JobProgress, type JobRecord } from '@fnqueue/client';
import { eventually, http } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A consumer's program: what it may write compiles under strict, what it may not does not. */
const CONSUMER = `
import { createClient, FnqueueError, verifyWebhook, type JobRecord, type Schemas } from '@fnqueue/client';
const fnq = createClient({ baseUrl: 'http://127.0.0.1:1' });
export async function use(): Promise<number> {
  const { job_id } = await fnq.submit('PrimeChecker', { number: 17 }, { priority: 1, idempotencyKey: 'k' });
  const record: JobRecord = await fnq.wait(job_id, { timeoutMs: 1000, onProgress: (p) => p.percent.toFixed(0) });
  const seconds: number | undefined = record.metadata?.elapsed_time;
  const status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' = record.status;
  for await (const job of fnq.jobs.list({ status: 'failed' })) job.job_id.toUpperCase();
  const fn: Schemas['Function'] = await fnq.functions.deploy({ name: 'f', runtime: 'python', code: 'x', execution_type: 'sync' });
  const { data } = await fnq.api.GET('/jobs/{job_id}', { params: { path: { job_id } } });
  const payload = verifyWebhook('whsec_x', '{}', {});
  try { await fnq.invoke('X', {}); } catch (err) { if (err instanceof FnqueueError) return (err.status ?? 0) + err.code.length + Object.keys(err.details).length; }
  // @ts-expect-error: not a route of the API
  await fnq.api.GET('/no-such-route');
  // @ts-expect-error: not a runtime
  await fnq.functions.deploy({ name: 'f', runtime: 'ruby', code: 'x', execution_type: 'sync' });
  // @ts-expect-error: not a job option
  await fnq.submit('PrimeChecker', {}, { priorty: 1 });
  return (seconds ?? 0) + status.length + fn.version + (data?.job_id.length ?? 0) + payload.job_id.length;
}
`;

/**
 * The TypeScript client (clients/typescript, built by `npm test`'s pretest) against a real API and
 * worker on a real redis-server (docs/clients/typescript.md).
 */
describe('the TypeScript client @fnqueue/client (api and worker in-process, real Redis)', function () {
  this.timeout(60_000);
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let redis: TestRedis;
  let stack: Stack;
  let fnq: FnqueueClient;
  let receiver: HookReceiver | undefined;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WEBHOOK_SECRET: secret });
    fnq = createClient({ baseUrl: stack.url });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  /** Rejects with what `p` rejected with (fails when it resolves). */
  async function rejection(p: Promise<unknown>): Promise<unknown> {
    try {
      await p;
    } catch (err) {
      return err;
    }
    throw new Error('expected a rejection');
  }

  it('ships types a consumer compiles against under strict, generated from the OpenAPI document', async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-consumer-'));
    try {
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
      writeFileSync(path.join(dir, 'app.ts'), CONSUMER);
      const options = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] };
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['app.ts'] }));
      const out = await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', dir]).catch((err: { stdout?: string }) => ({ stdout: `failed: ${err.stdout}` }));
      expect(out.stdout).to.equal('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('invoke', () => {
    it('answers the result of POST /invoke', async () => {
      const answer = await fnq.invoke('PrimeChecker', { number: 17 });
      expect(answer.status).to.equal('success');
      expect(answer.result).to.deep.include({ number: 17, is_prime: true });
      expect(answer.metadata.algorithm).to.equal('PrimeChecker');
    });

    it("rejects with one FnqueueError carrying the API's code, message, details, request_id and status", async () => {
      const err = await rejection(fnq.invoke('NoSuchAlgorithm', {}));
      expect(err).to.be.instanceOf(FnqueueError);
      const e = err as FnqueueError;
      expect(e).to.include({ code: 'ALGORITHM_NOT_FOUND', status: 404, message: "algorithm 'NoSuchAlgorithm' not found" });
      expect(e.details).to.deep.include({ algorithm: 'NoSuchAlgorithm' });
      expect(e.details.available_algorithms).to.include('PrimeChecker');
      expect(e.requestId).to.match(/^[0-9a-f-]{36}$/);
      expect(isFnqueueError(e)).to.equal(true);
      expect(e.toJSON()).to.deep.include({ error: 'ALGORITHM_NOT_FOUND', request_id: e.requestId, status: 404 });

      const bad = (await rejection(fnq.invoke('PrimeChecker', { number: 'abc' }))) as FnqueueError;
      expect(bad).to.include({ code: 'VALIDATION_ERROR', status: 400 });
      expect(bad.details.field).to.equal('params.number');
    });

    it('rejects with UNREACHABLE (no status) when nothing listens', async () => {
      const port = await freePort();
      const err = (await rejection(createClient({ baseUrl: `http://127.0.0.1:${port}` }).status())) as FnqueueError;
      expect(err).to.be.instanceOf(FnqueueError);
      expect(err.code).to.equal('UNREACHABLE');
      expect(err.status).to.equal(undefined);
      expect(err.message).to.include(`127.0.0.1:${port}`);
    });
  });

  describe('submit and wait', () => {
    it('follows the event stream: each progress report in order, then the completed record', async () => {
      const accepted = await fnq.submit('Sleep', { ms: 1200, steps: 3 });
      expect(accepted).to.include({ status: 'pending' });
      const progress: JobProgress[] = [];
      const statuses: string[] = [];
      const record = await fnq.wait(accepted.job_id, { transport: 'sse', onProgress: (p) => progress.push(p), onStatus: (r) => statuses.push(r.status) });
      expect(record).to.include({ job_id: accepted.job_id, status: 'completed' });
      expect((record.result as { slept_ms: number }).slept_ms).to.be.at.least(1200);
      expect(progress.map((p) => p.percent)).to.deep.equal([25, 50, 75, 100]);
      expect(progress.map((p) => p.message)).to.deep.equal(['step 1 of 4', 'step 2 of 4', 'step 3 of 4', 'done']);
      expect(statuses[0]).to.be.oneOf(['pending', 'running']);
      expect(statuses.at(-1)).to.equal('completed');
    });

    it('polls with backoff when the event stream is not served (503), with the same outcome', async () => {
      // The real server, with GET /jobs/{id}/events answered 503 as an API without live events does.
      const requests: string[] = [];
      const noEvents = createClient({
        baseUrl: stack.url,
        fetch: async (input, init) => {
          const url = input instanceof Request ? input.url : String(input);
          requests.push(new URL(url).pathname);
          if (url.endsWith('/events')) {
            return new Response(JSON.stringify({ error: 'SERVICE_UNAVAILABLE', message: 'live events are not available', details: {}, request_id: 'x' }), { status: 503, headers: { 'content-type': 'application/json' } });
          }
          return fetch(input, init);
        },
      });
      const { job_id } = await noEvents.submit('Sleep', { ms: 1500, steps: 2 });
      const progress: number[] = [];
      const record = await noEvents.wait(job_id, { onProgress: (p) => progress.push(p.percent), pollIntervalMs: 50 });
      expect(record.status).to.equal('completed');
      expect(progress.at(-1)).to.equal(100);
      expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
      expect(requests.filter((p) => p.endsWith('/events'))).to.have.length(1);
      expect(requests.filter((p) => p === `/jobs/${job_id}`).length).to.be.at.least(3);
      // transport 'sse' refuses to fall back.
      const err = (await rejection(noEvents.wait(job_id, { transport: 'sse' }))) as FnqueueError;
      expect(err).to.include({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    });

    it('submits a batch: per job, in order, its id or its error; a bad envelope and an all-refused batch reject', async () => {
      const batch = await fnq.jobs.submitBatch([{ algorithm: 'PrimeChecker', params: { number: 17 } }, { algorithm: 'PrimeChecker', params: { number: 'x' } }, { algorithm: 'Echo', params: { value: 1 }, priority: 3 }]);
      expect(batch).to.include({ accepted: 2, refused: 1 });
      const [first, second, third] = batch.results;
      if (!first || !('job_id' in first) || !third || !('job_id' in third)) throw new Error(`not accepted: ${JSON.stringify(batch)}`);
      expect(second).to.have.nested.property('error.code', 'VALIDATION_ERROR');
      expect((await fnq.wait(first.job_id, { timeoutMs: 20_000 })).result).to.include({ is_prime: true });
      expect((await fnq.wait(third.job_id, { timeoutMs: 20_000 })).status).to.equal('completed');
      const tooMany = (await rejection(fnq.jobs.submitBatch(Array.from({ length: 1001 }, () => ({ algorithm: 'Echo', params: {} }))))) as FnqueueError;
      expect(tooMany).to.include({ code: 'VALIDATION_ERROR', status: 400 });
      const none = (await rejection(fnq.jobs.submitBatch([{ algorithm: 'Nope', params: {} }]))) as FnqueueError;
      expect(none).to.include({ code: 'ALGORITHM_NOT_FOUND', status: 404 });
      expect(none.details.results).to.have.length(1);
    });

    it('resolves with the failed record of a failed job, and JOB_NOT_FOUND for an unknown one', async () => {
      const { job_id } = await fnq.jobs.submit('Crash', { throw: true });
      const record = await fnq.jobs.wait(job_id, { timeoutMs: 20_000 });
      expect(record.status).to.equal('failed');
      expect(record.error).to.include('Crash algorithm threw on purpose');
      for (const transport of ['sse', 'poll'] as const) {
        const err = (await rejection(fnq.wait('a1b2c3d4e5f6', { transport }))) as FnqueueError;
        expect(err, transport).to.include({ code: 'JOB_NOT_FOUND', status: 404 });
      }
    });

    it('rejects with WAIT_TIMEOUT after timeoutMs, and with the reason of an aborted signal; the job goes on', async () => {
      const { job_id } = await fnq.submit('Sleep', { ms: 2500 });
      const started = Date.now();
      const err = (await rejection(fnq.wait(job_id, { timeoutMs: 400 }))) as FnqueueError;
      expect(err).to.be.instanceOf(FnqueueError);
      expect(err.code).to.equal('WAIT_TIMEOUT');
      expect(err.details).to.deep.include({ job_id, timeout_ms: 400 });
      expect(err.details.status).to.be.oneOf(['pending', 'running']);
      expect(Date.now() - started).to.be.below(2000);

      const controller = new AbortController();
      const reason = new Error('caller gave up');
      setTimeout(() => controller.abort(reason), 200);
      expect(await rejection(fnq.wait(job_id, { signal: controller.signal, transport: 'poll' }))).to.equal(reason);
      expect((await fnq.wait(job_id, { timeoutMs: 20_000 })).status).to.equal('completed');
    });

    it('sees a cancellation: wait resolves with the cancelled record', async () => {
      const { job_id } = await fnq.submit('Sleep', { ms: 10_000 });
      const waiting = fnq.wait(job_id, { timeoutMs: 20_000 });
      await eventually(async () => (await fnq.jobs.get(job_id)).status === 'running', 10_000, 50);
      const cancelled = await fnq.jobs.cancel(job_id);
      expect(cancelled.status).to.equal('cancelled');
      expect((await waiting).status).to.equal('cancelled');
      const conflict = (await rejection(fnq.jobs.cancel(job_id))) as FnqueueError;
      expect(conflict).to.include({ code: 'CONFLICT', status: 409 });
    });

    it('sends an Idempotency-Key: a second submit answers the first job', async () => {
      const key = `k-${randomBytes(6).toString('hex')}`;
      const first = await fnq.submit('Echo', { value: 1 }, { idempotencyKey: key });
      const second = await fnq.submit('Echo', { value: 1 }, { idempotencyKey: key });
      expect(second.job_id).to.equal(first.job_id);
    });

    it('jobs.events yields the status and progress events until the end', async () => {
      const { job_id } = await fnq.submit('Sleep', { ms: 600, steps: 1 });
      const events = [];
      for await (const event of fnq.jobs.events(job_id)) events.push(event);
      const last = events.at(-1)!;
      expect(last.type).to.equal('status');
      expect(last.type === 'status' && last.record.status).to.equal('completed');
      expect(events.some((e) => e.type === 'progress' && e.progress.percent === 50)).to.equal(true);
    });
  });

  describe('jobs.list', () => {
    it('iterates over every page, newest first, each job once; max stops early', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await fnq.submit('Echo', { value: i })).job_id);
      await Promise.all(ids.map((id) => fnq.wait(id, { timeoutMs: 20_000 })));
      const listed: JobRecord[] = [];
      for await (const job of fnq.jobs.list({ algorithm: 'Echo' }, { pageSize: 2 })) listed.push(job);
      const mine = listed.map((j) => j.job_id).filter((id) => ids.includes(id));
      expect(mine).to.deep.equal([...ids].reverse());
      expect(new Set(listed.map((j) => j.job_id)).size).to.equal(listed.length);
      const few: string[] = [];
      for await (const job of fnq.jobs.list({ algorithm: 'Echo' }, { pageSize: 2, max: 3 })) few.push(job.job_id);
      expect(few).to.have.length(3);
      const bad = (await rejection(fnq.jobs.list({ status: 'nope' as never }).next())) as FnqueueError;
      expect(bad).to.include({ code: 'VALIDATION_ERROR', status: 400 });
    });
  });

  describe('functions', () => {
    it('deploys, invokes (sync and async), reads logs and removes a function', async function () {
      this.timeout(120_000);
      const name = `client-${randomBytes(3).toString('hex')}`;
      const fn = await fnq.functions.deploy({ name, runtime: 'python', code: 'def handler(event):\n    print("got", event["n"])\n    return {"double": event["n"] * 2}', execution_type: 'sync' });
      expect(fn).to.include({ name, status: 'active', runtime: 'python', version: 1 });
      const record = await fnq.functions.invoke(fn.function_id, { n: 21 });
      expect(record, JSON.stringify(record)).to.include({ status: "completed", function_id: fn.function_id });
      expect(record.result).to.deep.equal({ double: 42 });
      const [logs] = await fnq.functions.logs(fn.function_id);
      expect(logs!.job_id).to.equal(record.job_id);
      expect(logs!.logs.map((l) => l.line)).to.deep.equal(['got 21']);

      const asyncFn = await fnq.functions.deploy({ name: `${name}-a`, runtime: 'python', code: 'def handler(e):\n    return {"seen": e["v"]}', execution_type: 'async' });
      const pending = await fnq.functions.invoke(asyncFn.function_id, { v: 'x' });
      expect(pending.status).to.be.oneOf(['pending', 'running']);
      const done = await fnq.functions.invoke(asyncFn.function_id, { v: 'y' }, { wait: { timeoutMs: 60_000 } });
      expect(done, done.error ?? '').to.include({ status: 'completed' });
      expect(done.result).to.deep.equal({ seen: 'y' });

      const syntax = (await rejection(fnq.functions.deploy({ name: `${name}-bad`, runtime: 'python', code: 'def handler(:', execution_type: 'sync' }))) as FnqueueError;
      expect(syntax).to.include({ code: 'VALIDATION_ERROR', status: 400 });

      await fnq.functions.remove(fn.function_id);
      await fnq.functions.remove(asyncFn.function_id);
      const gone = (await rejection(fnq.functions.get(fn.function_id))) as FnqueueError;
      expect(gone).to.include({ code: 'FUNCTION_NOT_FOUND', status: 404 });
    });
  });

  describe('schedules and workers', () => {
    it('creates, lists, disables and removes a schedule whose runs go through the queue', async () => {
      const s = await fnq.schedules.create({ name: 'client-every', every_ms: 500, target: { algorithm: 'Echo', params: { value: 'tick' } } });
      expect(s).to.include({ name: 'client-every', enabled: true, every_ms: 500 });
      expect((await fnq.schedules.list()).schedules.map((x) => x.schedule_id)).to.include(s.schedule_id);
      const runs = await eventually(async () => {
        const page = await fnq.schedules.runs(s.schedule_id);
        return page.jobs.length >= 1 && page;
      }, 15_000, 100);
      expect(runs.jobs[0]!.algorithm).to.equal('Echo');
      expect((await fnq.schedules.disable(s.schedule_id)).enabled).to.equal(false);
      expect((await fnq.schedules.enable(s.schedule_id)).enabled).to.equal(true);
      await fnq.schedules.remove(s.schedule_id);
      expect(((await rejection(fnq.schedules.get(s.schedule_id))) as FnqueueError).status).to.equal(404);
    });

    it('lists the workers and reads the status', async () => {
      const workers = await fnq.workers.list();
      expect(workers.items.length).to.be.at.least(1);
      expect(workers.items[0]!.status).to.equal('online');
      const status = await fnq.status();
      expect(status.status).to.equal('running');
      expect(status.workers.online).to.be.at.least(1);
      expect(await fnq.ready()).to.equal(true);
    });
  });

  describe('webhook verification', () => {
    it('verifies a delivery the real webhook sender signed, and refuses a changed body, another secret or an old timestamp', async () => {
      receiver = await startHookReceiver(answerWith(200));
      const submitted = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });
      const jobId = submitted.body.job_id as string;
      const hook = await eventually(async () => receiver!.received.find((h) => h.body?.job_id === jobId), 15_000, 50);
      const headers = hook.headers as Record<string, string>;

      const payload = verifyWebhook(secret, hook.raw, headers);
      expect(payload).to.deep.include({ job_id: jobId, status: 'completed', algorithm: 'PrimeChecker' });
      // The fetch Headers form, and the re-exported reference verifier, agree.
      expect(verifyWebhook(secret, hook.raw.toString('utf8'), new Headers(headers)).job_id).to.equal(jobId);
      expect((new Webhook(secret).verify(hook.raw.toString('utf8'), headers) as { job_id: string }).job_id).to.equal(jobId);
      // A plain object whose header names are not lowercase (a proxy's or a framework's spelling).
      const spelled = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase()), v]));
      expect(spelled).to.have.property('Webhook-Signature');
      expect(verifyWebhook(secret, hook.raw, spelled).job_id).to.equal(jobId);

      const changed = hook.raw.toString('utf8').replace('"number":17', '"number":18');
      expect(() => verifyWebhook(secret, changed, headers)).to.throw(WebhookVerificationError);
      expect(() => verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, hook.raw, headers)).to.throw(WebhookVerificationError);
      // A replay ten minutes later: the same signature over the same timestamp is out of tolerance.
      const old = { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 600) };
      expect(() => verifyWebhook(secret, hook.raw, old)).to.throw(WebhookVerificationError);
      // A secret that is no secret is the receiver's configuration mistake: a plain Error, as documented.
      for (const bad of ['', 'whsec_!!!']) {
        const thrown = (() => {
          try {
            verifyWebhook(bad, hook.raw, headers);
          } catch (err) {
            return err;
          }
          return undefined;
        })();
        expect(thrown, bad).to.be.instanceOf(Error).and.not.instanceOf(WebhookVerificationError);
      }
    });
  });
});
