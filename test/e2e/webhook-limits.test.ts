import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Webhook deliveries under a hostile receiver and under crashes (docs/api.md#webhooks): real api
 * and worker processes, a real redis-server on a free port, receivers on 127.0.0.1 port 0.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msOf = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));

/** A receiver that takes every request and never answers, counting the attempts it holds at once. */
async function blackHole(counter = { open: 0, max: 0 }): Promise<HookReceiver & { inFlight: () => number; maxInFlight: () => number }> {
  const receiver = await startHookReceiver((_n, _hook, _res, req) => {
    counter.open++;
    counter.max = Math.max(counter.max, counter.open);
    // An attempt ends for the receiver when its connection's end is read ('end', in the poll phase
    // of the loop turn that reads it), not at 'close' (the close phase after it): a loaded loop turn
    // may read a new attempt's request, sent after the worker aborted this one and released its slot,
    // before this socket's close callbacks run, and count both at once.
    let ended = false;
    const end = () => {
      if (!ended) counter.open--;
      ended = true;
    };
    req.socket.once('end', end);
    req.socket.once('close', end);
  });
  return Object.assign(receiver, { inFlight: () => counter.open, maxInFlight: () => counter.max });
}

describe('webhook limits and crash recovery (real api and worker processes, real Redis)', function () {
  let redis: TestRedis;
  const procs: ServiceProcess[] = [];
  const receivers: HookReceiver[] = [];
  let env: Record<string, string>;

  const start = async (kind: 'api' | 'worker', extra: Record<string, string> = {}) => {
    const p = await startService(kind, { ...env, ...extra }, 45_000);
    procs.push(p);
    return p;
  };
  const submit = async (api: ServiceProcess, webhook: string, n = 17): Promise<string> => {
    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: n }, webhook });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.job_id as string;
  };
  const record = async (api: ServiceProcess, jobId: string) => (await http('GET', `${api.url}/jobs/${jobId}`)).body;

  beforeEach(async () => {
    redis = await startRedis();
    env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `whl${Math.random().toString(36).slice(2, 8)}`,
      DIAGNOSTIC_ALGORITHMS: 'true',
      SHUTDOWN_GRACE_MS: '1000',
      WORKER_CONCURRENCY: '2',
      // The receivers listen on 127.0.0.1, which the SSRF guard refuses.
      WEBHOOK_ALLOW_PRIVATE: 'true',
    };
  });
  afterEach(async () => {
    for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
    for (const r of receivers.splice(0)) await r.close();
    await redis?.destroy();
  });

  it('serves a healthy receiver within 1 s while 32 deliveries to black holes on two ports of one host hold at most WEBHOOK_HOST_CONCURRENCY slots across two workers', async function () {
    this.timeout(120_000);
    Object.assign(env, { WEBHOOK_TIMEOUT_MS: '1500', WEBHOOK_RETRY_DELAYS_MS: '200,200,200', WEBHOOK_HOST_CONCURRENCY: '4' });
    // Two worker processes: the limit is per receiver across the deployment, not per process.
    const [api] = await Promise.all([start('api'), start('worker'), start('worker')]);
    // Two black holes on two ports of 127.0.0.1 count as one host; the healthy receiver is another host.
    const counter = { open: 0, max: 0 };
    const hole = await blackHole(counter);
    const hole2 = await blackHole(counter);
    const healthy = await startHookReceiver(answerWith(200), '127.0.0.2');
    receivers.push(hole, hole2, healthy);

    const holeJobs = await Promise.all(Array.from({ length: 32 }, (_, i) => submit(api!, i % 2 ? hole2.url : hole.url, 100 + i)));
    await eventually(async () => hole.inFlight() >= 4, 20_000);
    await sleep(300);
    expect(hole.maxInFlight(), 'attempts held at once by the black-hole receiver').to.be.at.most(4);

    const jobId = await submit(api!, healthy.url);
    const done = await eventually(async () => {
      const r = await record(api!, jobId);
      return r.webhook?.status === 'delivered' && r;
    }, 10_000);
    const delay = healthy.received[0]!.at - msOf(done.completed_at as string);
    expect(delay, `healthy receiver's delivery came ${delay} ms after its job completed`).to.be.below(1000);

    // The black-hole receiver is still served, WEBHOOK_HOST_CONCURRENCY at a time: its attempts time out and retry.
    // More requests than deliveries: some of them are retries.
    await eventually(async () => hole.received.length + hole2.received.length >= 36, 45_000);
    expect(hole.maxInFlight(), 'attempts held at once by the black-hole receiver').to.be.at.most(4);
    const records = await Promise.all(holeJobs.map((id) => record(api!, id)));
    const retried = records.filter((r) => r.webhook.attempts >= 2);
    expect(retried.length, 'black-hole deliveries retried').to.be.at.least(1);
    expect(retried[0].webhook.last_error).to.match(/no answer within 1500 ms/);
    // Deferred deliveries used no attempt: the record counts what the receiver saw.
    const counted = records.reduce((n, r) => n + (r.webhook.attempts as number), 0);
    const seen = hole.received.length + hole2.received.length;
    expect(counted).to.be.within(seen - 4, seen + 4);
  });

  it('delivers after the worker holding the attempt is killed twice, counting every attempt the receiver saw', async function () {
    this.timeout(120_000);
    // The first two attempts hang (the worker is killed while they are in flight); the third gets 200.
    Object.assign(env, { WEBHOOK_TIMEOUT_MS: '60000', JOB_LOCK_MS: '2000', STALLED_INTERVAL_MS: '1000' });
    const receiver = await startHookReceiver((n, hook, res, req) => {
      if (n >= 2) answerWith(200)(n, hook, res, req);
    });
    receivers.push(receiver);
    const [api, first] = await Promise.all([start('api'), start('worker')]);
    const jobId = await submit(api!, receiver.url);

    let holder = first!;
    for (const seen of [1, 2]) {
      await eventually(async () => receiver.received.length >= seen, 20_000);
      expect(receiver.received).to.have.length(seen);
      const spare = await start('worker');
      holder.proc.kill('SIGKILL');
      await holder.exited;
      const killedAt = Date.now();
      holder = spare;
      await eventually(async () => receiver.received.length >= seen + 1, 20_000);
      const redelivery = receiver.received[seen]!.at - killedAt;
      // JOB_LOCK_MS + STALLED_INTERVAL_MS, plus a stall check's period of slack.
      expect(redelivery, `redelivery ${redelivery} ms after the kill`).to.be.below(2000 + 1000 + 2000);
    }

    const done = await eventually(async () => {
      const r = await record(api!, jobId);
      return r.webhook?.status !== 'pending' && r;
    }, 20_000);
    expect(done.webhook).to.include({ status: 'delivered', attempts: 3, last_error: null });
    await sleep(1500);
    expect(receiver.received).to.have.length(3);
    expect(new Set(receiver.received.map((r) => r.body.job_id))).to.deep.equal(new Set([jobId]));
  });
});
