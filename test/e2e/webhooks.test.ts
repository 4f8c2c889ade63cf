import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';
import { answerWith as answer, startHookReceiver as startReceiver, type HookReceiver as Receiver, type ReceivedHook as Received } from '../helpers/webhook-receiver.js';

/** An api and `workers` worker processes on `redis` with a queue prefix of their own. */
async function startServices(redis: TestRedis, env: Record<string, string>, workers = 1): Promise<{ api: ServiceProcess; workers: ServiceProcess[] }> {
  const common = {
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `wh${Math.random().toString(36).slice(2, 10)}`,
    DIAGNOSTIC_ALGORITHMS: 'true',
    SHUTDOWN_GRACE_MS: '2000',
    // The receivers listen on 127.0.0.1, which the SSRF guard refuses.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  };
  // Generous start timeout: tsx compiles on start, which is slow on a loaded machine.
  const started = await Promise.all([startService('api', common, 45_000), ...Array.from({ length: workers }, () => startService('worker', common, 45_000))]);
  return { api: started[0]!, workers: started.slice(1) };
}

async function stopServices(s: { api: ServiceProcess; workers: ServiceProcess[] } | undefined): Promise<void> {
  if (!s) return;
  await Promise.all([s.api.stop(), ...s.workers.map((w) => w.stop())]);
}

/** POSTs a job and returns its id. */
async function submit(apiUrl: string, body: Record<string, unknown>): Promise<string> {
  const res = await http('POST', `${apiUrl}/jobs`, body);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.job_id as string;
}

/** Polls GET /jobs/{id} until its webhook outcome satisfies `done`. */
async function webhookOutcome(apiUrl: string, jobId: string, done: (w: any) => boolean, timeoutMs = 10_000): Promise<any> {
  return eventually(async () => {
    const r = await http('GET', `${apiUrl}/jobs/${jobId}`);
    return r.status === 200 && r.body.webhook && done(r.body.webhook) && r.body;
  }, timeoutMs, 50);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gaps between consecutive receipts, in ms. */
const gaps = (received: Received[]) => received.slice(1).map((r, i) => r.at - received[i]!.at);

const PRIME_17 = { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' };
const SEED_PAYLOAD_KEYS = ['job_id', 'status', 'algorithm', 'result', 'error', 'metadata', 'completed_at'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/;

describe('webhook delivery (real api and worker processes, real Redis)', function () {
  let redis: TestRedis;
  let receiver: Receiver | undefined;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.destroy();
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  describe('with the default retry schedule (1 s, 5 s, 15 s)', () => {
    let services: { api: ServiceProcess; workers: ServiceProcess[] } | undefined;

    before(async function () {
      this.timeout(60_000);
      services = await startServices(redis, {});
    });
    after(async () => {
      await stopServices(services);
    });

    it('makes exactly 4 attempts to a receiver that always answers 500, 1 s, 5 s and 15 s apart, then records the failure', async function () {
      this.timeout(40_000);
      const api = services!.api.url;
      receiver = await startReceiver(answer(500));
      const jobId = await submit(api, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'failed', 30_000);
      expect(receiver.received).to.have.length(4);
      const delays = [1000, 5000, 15_000];
      gaps(receiver.received).forEach((gap, i) => {
        expect(gap, `gap before retry ${i + 1}: ${gap} ms`).to.be.at.least(delays[i]! - 100).and.at.most(delays[i]! + 1500);
      });
      expect(record.status).to.equal('completed');
      expect(record.webhook).to.include({ url: receiver.url, status: 'failed', attempts: 4, delivered_at: null });
      expect(record.webhook.last_error).to.be.a('string').and.match(/\b500\b/);

      // No fifth attempt.
      await sleep(2000);
      expect(receiver.received).to.have.length(4);

      const text = await eventually(async () => {
        const r = await http('GET', `${api}/metrics`);
        const failed = Number(/^webhook_deliveries_total\{status="failed"\} (\d+)/m.exec(r.text)?.[1] ?? 0);
        const retry = Number(/^webhook_deliveries_total\{status="retry"\} (\d+)/m.exec(r.text)?.[1] ?? 0);
        return failed >= 1 && retry >= 3 && r.text;
      }, 5000);
      expect(text).to.match(/^webhook_deliveries_total\{status="failed"\} [1-9]\d*$/m);
    });

    it('POSTs the payload of the FunctionalScaffold API reference once, as JSON with exactly the seed keys, and records the delivery', async () => {
      const api = services!.api.url;
      receiver = await startReceiver(answer(200));
      const jobId = await submit(api, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'delivered');
      expect(record.webhook).to.include({ url: receiver.url, status: 'delivered', attempts: 1, last_error: null });
      expect(record.webhook.delivered_at).to.match(ISO);

      await sleep(500);
      expect(receiver.received).to.have.length(1);
      const hook = receiver.received[0]!;
      expect(hook.method).to.equal('POST');
      expect(hook.url).to.equal('/hook');
      expect(hook.headers['content-type']).to.match(/^application\/json\b/);
      expect(hook.body).to.have.all.keys(...SEED_PAYLOAD_KEYS);
      expect(hook.body).to.deep.include({ job_id: jobId, status: 'completed', algorithm: 'PrimeChecker', error: null, result: PRIME_17 });
      expect(hook.body.metadata).to.include({ algorithm: 'PrimeChecker', version: '1.0.0' });
      expect(hook.body.metadata.elapsed_time).to.be.a('number');
      expect(hook.body.completed_at).to.match(ISO);
      // The payload agrees with the job record.
      expect(hook.body.completed_at).to.equal(record.completed_at);
      expect(hook.body.metadata).to.deep.equal(record.metadata);
    });

    it('POSTs status failed with the error and a null result for a failed job', async () => {
      const api = services!.api.url;
      receiver = await startReceiver(answer(204));
      const jobId = await submit(api, { algorithm: 'Crash', params: { throw: true }, webhook: receiver.url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'delivered');
      expect(record.status).to.equal('failed');
      expect(record.webhook).to.include({ status: 'delivered', attempts: 1 });
      await sleep(300);
      expect(receiver.received).to.have.length(1);
      const body = receiver.received[0]!.body;
      expect(body).to.have.all.keys(...SEED_PAYLOAD_KEYS);
      expect(body).to.include({ job_id: jobId, status: 'failed', algorithm: 'Crash', result: null, metadata: null });
      expect(body.error).to.be.a('string').and.contain('threw on purpose');
      expect(body.error).to.equal(record.error);
      expect(body.completed_at).to.match(ISO);
    });
  });

  describe('with WEBHOOK_RETRY_DELAYS_MS=100,200,300', () => {
    let services: { api: ServiceProcess; workers: ServiceProcess[] } | undefined;

    before(async function () {
      this.timeout(60_000);
      services = await startServices(redis, { WEBHOOK_RETRY_DELAYS_MS: '100,200,300' });
    });
    after(async () => {
      await stopServices(services);
    });

    it('delivers on the third attempt to a receiver that answers 500, then cuts the connection, then answers 200', async () => {
      const api = services!.api.url;
      receiver = await startReceiver((n, hook, res, req) => {
        if (n === 0) answer(500)(n, hook, res, req);
        else if (n === 1) req.socket.destroy();
        else answer(200)(n, hook, res, req);
      });
      const jobId = await submit(api, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'delivered');
      expect(record.webhook).to.include({ status: 'delivered', attempts: 3, last_error: null });
      await sleep(500);
      expect(receiver.received).to.have.length(3);
      receiver.received.forEach((r) => expect(r.body).to.include({ job_id: jobId, status: 'completed' }));
      const [g1, g2] = gaps(receiver.received);
      expect(g1, `first gap ${g1} ms`).to.be.at.least(100 - 50);
      expect(g2, `second gap ${g2} ms`).to.be.at.least(200 - 50);
    });

    it('makes 4 attempts to a receiver that is down, records the failure, and leaves the job completed', async () => {
      const api = services!.api.url;
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/hook`;
      const jobId = await submit(api, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'failed');
      expect(record.status).to.equal('completed');
      expect(record.result).to.deep.equal(PRIME_17);
      expect(record.webhook).to.include({ url, status: 'failed', attempts: 4, delivered_at: null });
      expect(record.webhook.last_error).to.match(/ECONNREFUSED/);
      // Give up means give up: the outcome stays as recorded.
      await sleep(1000);
      const later = await http('GET', `${api}/jobs/${jobId}`);
      expect(later.body.webhook).to.deep.equal(record.webhook);
    });
  });

  describe('with WEBHOOK_TIMEOUT_MS=300 and WEBHOOK_RETRY_DELAYS_MS=100,100,100', () => {
    let services: { api: ServiceProcess; workers: ServiceProcess[] } | undefined;

    before(async function () {
      this.timeout(60_000);
      services = await startServices(redis, { WEBHOOK_TIMEOUT_MS: '300', WEBHOOK_RETRY_DELAYS_MS: '100,100,100' });
    });
    after(async () => {
      await stopServices(services);
    });

    it('gives up after 4 attempts to a receiver that never answers, recording the timeout', async () => {
      const api = services!.api.url;
      receiver = await startReceiver(() => {
        /* holds the request: never answers */
      });
      const jobId = await submit(api, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });

      const record = await webhookOutcome(api, jobId, (w) => w.status === 'failed');
      expect(record.status).to.equal('completed');
      expect(record.webhook).to.include({ status: 'failed', attempts: 4, delivered_at: null });
      expect(record.webhook.last_error).to.match(/300 ms/);
      expect(receiver.received).to.have.length(4);
      // Each attempt waited for the timeout before the next one (timeout 300 ms + delay 100 ms).
      gaps(receiver.received).forEach((gap) => expect(gap, `gap ${gap} ms`).to.be.at.least(400 - 50));
      await sleep(800);
      expect(receiver.received).to.have.length(4);
    });
  });

  describe('with two workers', () => {
    let services: { api: ServiceProcess; workers: ServiceProcess[] } | undefined;

    before(async function () {
      this.timeout(60_000);
      services = await startServices(redis, {}, 2);
    });
    after(async () => {
      await stopServices(services);
    });

    it('delivers exactly one POST per job for 20 jobs', async () => {
      const api = services!.api.url;
      receiver = await startReceiver(answer(200));
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => submit(api, { algorithm: 'PrimeChecker', params: { number: 100 + i }, webhook: receiver!.url })));
      for (const id of ids) await webhookOutcome(api, id, (w) => w.status === 'delivered');
      // Longer than a retry delay: a duplicate would have arrived by now.
      await sleep(1500);
      const got = receiver.received.map((r) => r.body.job_id as string);
      expect(got).to.have.length(20);
      expect([...got].sort()).to.deep.equal([...ids].sort());
      for (const id of ids) {
        const record = (await http('GET', `${api}/jobs/${id}`)).body;
        expect(record.webhook).to.include({ status: 'delivered', attempts: 1 });
      }
    });
  });
});
