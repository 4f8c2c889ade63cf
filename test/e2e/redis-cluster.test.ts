import { expect } from 'chai';
import { redisInfo } from '../../scripts/lib/redis-server.js';
import { keysFor } from '../../shared/store/keys.js';
import { awaitCompletion, startFailoverLoad, summarize } from '../helpers/failover-load.js';
import { eventually, http } from '../helpers/http.js';
import { startCluster, type RedisCluster } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startHookReceiver, answerWith, type HookReceiver } from '../helpers/webhook-receiver.js';

/**
 * fnqueue on a real Redis Cluster (3 masters, 3 replicas; docs/deployment.md#redis-topologies):
 * REDIS_CLUSTER_NODES names a node that does not hold fnqueue's slot, and everything still works
 * (the connections follow MOVED); killing the master that holds the keys under load gives 2xx and
 * 503 only, and every accepted job completes.
 */
describe('on a Redis Cluster (REDIS_CLUSTER_NODES, real redis-server cluster)', function () {
  this.timeout(85_000);
  let cluster: RedisCluster;
  let stack: Stack;
  let hooks: HookReceiver;
  const prefix = `tc${Math.random().toString(36).slice(2, 8)}`;
  const probeKey = keysFor(prefix).readinessProbe;

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    hooks = await startHookReceiver(answerWith(200));
    // Any node will do: a replica of another master, so every first command of a connection is redirected.
    const owner = await cluster.masterOf(probeKey);
    const roles = await Promise.all(cluster.nodes.map(async (n) => ({ n, role: await n.role() })));
    const seed = roles.find(({ n, role }) => role === 'replica' && n.port !== owner.port)!.n;
    stack = await startStack({ REDIS_CLUSTER_NODES: seed.address }, { QUEUE_PREFIX: prefix, JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '2000', WORKER_CONCURRENCY: '4' });
  });
  after(async () => {
    await stack?.close();
    await hooks?.close();
    await cluster?.destroy();
  });

  it('runs /invoke, POST /jobs with polling and a webhook, GET /jobs, schedules and functions through a node that does not hold the keys', async () => {
    expect((await http('GET', `${stack.url}/readyz`)).body.checks.redis).to.equal(true);
    const invoked = await http('POST', `${stack.url}/invoke`, { number: 17 });
    expect(invoked.status, invoked.text).to.equal(200);
    expect(invoked.body.result).to.include({ is_prime: true });

    const job = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 12 }, webhook: hooks.url });
    expect(job.status, job.text).to.equal(202);
    const done = await eventually(async () => {
      const r = await http('GET', `${stack.url}/jobs/${job.body.job_id}`);
      return r.body.status === 'completed' && r.body;
    });
    expect(done.result).to.include({ is_prime: false });
    await eventually(async () => hooks.received.find((h) => h.body?.job_id === job.body.job_id));

    const listed = await http('GET', `${stack.url}/jobs?limit=10`);
    expect(listed.status).to.equal(200);
    expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).to.include(job.body.job_id);

    const schedule = await http('POST', `${stack.url}/schedules`, { name: `every-${prefix}`, target: { algorithm: 'PrimeChecker', params: { number: 7 } }, every_ms: 500 });
    expect(schedule.status, schedule.text).to.equal(201);
    const runs = await eventually(async () => {
      const r = await http('GET', `${stack.url}/schedules/${schedule.body.schedule_id}/jobs`);
      return r.body.jobs?.some((j: { status: string }) => j.status === 'completed') && r.body.jobs;
    }, 15_000);
    expect(runs.length).to.be.greaterThan(0);
    expect((await http('DELETE', `${stack.url}/schedules/${schedule.body.schedule_id}`)).status).to.be.oneOf([200, 204]);

    const fn = await http('POST', `${stack.url}/functions`, { name: `double-${prefix}`, runtime: 'python', code: 'def handler(e):\n    return e["n"] * 2\n' });
    expect(fn.status, fn.text).to.equal(201);
    const ran = await http('POST', `${stack.url}/functions/${fn.body.function_id}/invoke`, { n: 21 });
    expect(ran.status, ran.text).to.equal(200);
    expect(JSON.stringify(ran.body), ran.text).to.contain("42");

    // Every key sits on the one master of the hash tag's slot.
    const owner = await cluster.masterOf(probeKey);
    expect(owner.port).to.equal((await cluster.masterOf(keysFor(prefix).job(job.body.job_id))).port);
  });

  it('answers only 2xx and 503 while the master holding the keys is killed, recovers by itself, and completes every accepted job', async () => {
    const owner = await cluster.masterOf(probeKey);
    const load = startFailoverLoad(stack.url, { intervalMs: 25, inFlight: 4, maxSubmissions: 1200, maxMs: 40_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const killedAt = load.elapsed();
    await owner.kill();
    await cluster.waitHealthy({ key: probeKey, notPort: owner.port, timeoutMs: 30_000 });
    const healthyAt = load.elapsed();
    // Until the API answers 202 again, and 2 s of steady service after that.
    await eventually(async () => load.submissions.some((s) => s.at > healthyAt && s.status === 202), 20_000, 100);
    await new Promise((r) => setTimeout(r, 2000));
    const submissions = await load.stop();
    const { byStatus, windowMs, accepted } = summarize(submissions);
    const outcome = await awaitCompletion(stack.url, accepted, 40_000);
    console.log(`      cluster failover: killed :${owner.port} at ${killedAt} ms, healthy at ${healthyAt} ms; answers ${JSON.stringify(byStatus)}; 503 window ${windowMs} ms; accepted ${accepted.length}, lost ${outcome.lost.length}, unfinished ${outcome.unfinished.length}`);
    expect(Object.keys(byStatus).map(Number).filter((s) => s !== 202 && s !== 503), JSON.stringify(submissions.filter((s) => s.status !== 202 && s.status !== 503).slice(0, 5))).to.deep.equal([]);
    for (const s of submissions.filter((x) => x.status === 503)) expect(s.retryAfter, 'Retry-After on every 503').to.match(/^\d+$/);
    expect(accepted.length).to.be.greaterThan(50);
    expect(outcome.unfinished, `unfinished (lost: ${outcome.lost.join(',')})`).to.deep.equal([]);
    expect((await http('GET', `${stack.url}/readyz`)).status).to.equal(200);
    await owner.restart();
  });

  it('with REDIS_WAIT_REPLICAS=1 answers 202 only while the replica of the master holding the keys acknowledges, else 503 naming the job', async () => {
    await cluster.waitHealthy({ timeoutMs: 30_000 });
    const owner = await cluster.masterOf(probeKey);
    let replica: (typeof cluster.nodes)[number] | undefined;
    for (const n of cluster.nodes) if ((await n.role()) === 'replica' && Number((await redisInfo(n.port, 'replication')).master_port) === owner.port) replica = n;
    expect(replica, 'the owner has a replica').to.not.equal(undefined);
    const waiting = await startStack({ REDIS_CLUSTER_NODES: cluster.seeds }, { QUEUE_PREFIX: prefix, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '500' });
    try {
      const accepted = await http('POST', `${waiting.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 97 } });
      expect(accepted.status, accepted.text).to.equal(202);
      // The other masters keep their replicas: a WAIT sent anywhere but the owner would still count one.
      await replica!.kill();
      const refused = await http('POST', `${waiting.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 98 } });
      expect(refused.status, refused.text).to.equal(503);
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(refused.body.details).to.include({ replicas_required: 1, replicas_acknowledged: 0 });
      // Written to the master, so it may run: the caller can look it up.
      expect((await http('GET', `${waiting.url}/jobs/${refused.body.details.job_id}`)).status).to.equal(200);
      await replica!.restart();
      await cluster.waitHealthy({ timeoutMs: 30_000 });
      const again = await eventually(async () => {
        const r = await http('POST', `${waiting.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 99 } });
        return r.status === 202 && r;
      }, 20_000, 200);
      expect(again.body.job_id).to.match(/^[0-9a-f]{12}$/);
    } finally {
      await waiting.close();
    }
  });
});
