import { expect } from 'chai';
import { eventually, http, freshGet } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * SIGTERM in of-watchdog's order (docs/operations.md): readiness false first, SHUTDOWN_DELAY_MS of
 * serving on, then the listener closes and the process drains; and the worker's own /readyz, apart
 * from its /healthz. Real processes, a real redis-server of the test's own.
 */


describe('readiness and drain on SIGTERM', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  const procs: ServiceProcess[] = [];
  let env: Record<string, string>;

  beforeEach(async () => {
    redis = await startRedis();
    env = { REDIS_URL: redis.url, QUEUE_PREFIX: `drain${Math.random().toString(36).slice(2, 8)}`, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '1', SHUTDOWN_GRACE_MS: '3000' };
  });
  afterEach(async () => {
    redis.child.kill('SIGCONT');
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
    await redis.destroy();
  });

  it('an API with SHUTDOWN_DELAY_MS=1500 answers /readyz 503 and still serves during the delay, then closes its listener and exits 0', async () => {
    const [api, worker] = await Promise.all([startService('api', { ...env, SHUTDOWN_DELAY_MS: '1500' }), startService('worker', env)]);
    procs.push(api, worker);
    expect((await freshGet(api.port, '/readyz')).status).to.equal(200);

    const signalledAt = Date.now();
    api.proc.kill('SIGTERM');
    await eventually(async () => api.logs.some((l) => l.message === 'api not ready'), 1000, 10);
    const ready = await http('GET', `${api.url}/readyz`);
    expect(ready.status, 'readyz during the delay').to.equal(503);
    expect(ready.body.checks).to.include({ accepting: false, redis: true });
    expect((await freshGet(api.port, '/healthz')).status, 'a new connection during the delay').to.equal(200);
    const accepted = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
    expect(accepted.status, JSON.stringify(accepted.body)).to.equal(202);
    const invoked = await http('POST', `${api.url}/invoke`, { number: 19 });
    expect(invoked.status, JSON.stringify(invoked.body)).to.equal(200);
    expect(Date.now() - signalledAt, 'all of that within the delay').to.be.below(1500);
    expect(api.logs.some((l) => l.message === 'api draining'), 'not draining yet').to.equal(false);

    // After the delay: the listener closes (new connections refused) and the process exits 0.
    const code = await api.exited;
    expect(code).to.equal(0);
    const drainedAt = api.logs.find((l) => l.message === 'api draining');
    expect(drainedAt, 'drained after the delay').to.not.equal(undefined);
    expect(Date.now() - signalledAt).to.be.at.least(1500);
    expect((await freshGet(api.port, '/healthz')).code).to.equal('ECONNREFUSED');
  });

  it("a worker's /readyz answers 200 when ready, 503 while Redis is stopped and while draining; /healthz stays its liveness", async () => {
    const worker = await startService('worker', { ...env, SHUTDOWN_GRACE_MS: '5000' });
    procs.push(worker);
    const ready = await http('GET', `${worker.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(ready.body).to.include({ status: 'ready' });
    expect(ready.body.checks).to.deep.equal({ redis: true, accepting: true });

    await redis.stop();
    const down = await eventually(async () => {
      const r = await http('GET', `${worker.url}/readyz`);
      return r.status === 503 && r;
    }, 5000);
    expect(down.body.checks).to.include({ redis: false });
    expect((await http('GET', `${worker.url}/healthz`)).status, 'live while Redis is down').to.equal(200);
    await redis.start();
    await eventually(async () => (await http('GET', `${worker.url}/readyz`)).status === 200, 15_000);

    // Draining: a job keeps the worker draining for ~2 s; its /readyz says 503 meanwhile.
    const api = await startService('api', env);
    procs.push(api);
    const job = await http('POST', `${api.url}/jobs`, { algorithm: 'Sleep', params: { ms: 2000 } });
    expect(job.status).to.equal(202);
    await eventually(async () => (await http('GET', `${api.url}/jobs/${job.body.job_id}`)).body?.status === 'running', 10_000);
    worker.proc.kill('SIGTERM');
    const draining = await eventually(async () => {
      const r = await http('GET', `${worker.url}/readyz`);
      return r.status === 503 && r;
    }, 1500, 20);
    expect(draining.body.checks).to.include({ accepting: false });
    expect(await worker.exited).to.equal(0);
    const done = await http('GET', `${api.url}/jobs/${job.body.job_id}`);
    expect(done.body.status).to.equal('completed');
  });

  it('a worker answers /readyz 503 while Redis is frozen (SIGSTOP), and a SIGTERM then still ends it with exit 0 within a bound', async () => {
    const worker = await startService('worker', { ...env, SHUTDOWN_GRACE_MS: '2000' });
    procs.push(worker);
    expect((await http('GET', `${worker.url}/readyz`)).status).to.equal(200);
    redis.child.kill('SIGSTOP');
    const t0 = Date.now();
    const frozen = await http('GET', `${worker.url}/readyz`);
    expect(frozen.status).to.equal(503);
    expect(frozen.body.checks).to.include({ redis: false });
    expect(Date.now() - t0, 'readiness answers within its PING bound').to.be.below(2500);
    expect((await http('GET', `${worker.url}/healthz`)).status, 'still live').to.equal(200);

    const signalledAt = Date.now();
    worker.proc.kill('SIGTERM');
    const code = await Promise.race([worker.exited, new Promise((resolve) => setTimeout(resolve, 20_000, 'still running'))]);
    expect(code, 'the worker exits although Redis answers nothing').to.equal(0);
    // Its last heartbeat (1 s), the grace (2 s), two bounded Redis steps (3 s each) and QUIT (1 s).
    expect(Date.now() - signalledAt).to.be.below(12_000);
  });
});
