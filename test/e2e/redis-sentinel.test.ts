import { expect } from 'chai';
import { awaitCompletion, startFailoverLoad, summarize } from '../helpers/failover-load.js';
import { eventually, http } from '../helpers/http.js';
import { startSentinels, type SentinelGroup } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * fnqueue on a real Sentinel group (a master, a replica, 3 sentinels; docs/deployment.md#redis-topologies):
 * killing the master under a steady load of submissions gives 202 and 503 only, the service follows
 * the promoted replica without a restart, and every accepted job completes; with
 * REDIS_WAIT_REPLICAS=1 (and two replicas, so one is left to acknowledge) no accepted job is lost.
 */
describe('on a Redis Sentinel group (REDIS_SENTINELS, real redis-server and sentinels)', function () {
  this.timeout(85_000);

  for (const waitReplicas of ['0', '1']) {
    it(`answers only 202 and 503 while the master is killed, follows the promotion and completes every accepted job (REDIS_WAIT_REPLICAS=${waitReplicas})`, async () => {
      // With REDIS_WAIT_REPLICAS=1 a replica must be left after the promotion: two of them.
      const group: SentinelGroup = await startSentinels({ replicas: waitReplicas === '1' ? 2 : 1, sentinels: 3, password: 'data-secret' });
      let stack: Stack | undefined;
      try {
        stack = await startStack(
          { REDIS_SENTINELS: group.sentinelAddresses, REDIS_SENTINEL_NAME: group.name, REDIS_PASSWORD: 'data-secret' },
          { JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '2000', WORKER_CONCURRENCY: '4', REDIS_WAIT_REPLICAS: waitReplicas },
        );
        const first = await http('POST', `${stack.url}/invoke`, { number: 17 });
        expect(first.status, first.text).to.equal(200);

        const load = startFailoverLoad(stack.url, { intervalMs: 25, inFlight: 4, maxSubmissions: 1200, maxMs: 40_000 });
        await new Promise((r) => setTimeout(r, 2000));
        const killedAt = load.elapsed();
        const old = await group.killMaster();
        await group.waitForPromotion(old.port, 30_000);
        const promotedAt = load.elapsed();
        await eventually(async () => load.submissions.some((s) => s.at > promotedAt && s.status === 202), 20_000, 100);
        await new Promise((r) => setTimeout(r, 2000));
        const submissions = await load.stop();
        const { byStatus, windowMs, accepted } = summarize(submissions);
        const outcome = await awaitCompletion(stack.url, accepted, 40_000);
        console.log(`      sentinel failover (REDIS_WAIT_REPLICAS=${waitReplicas}): killed at ${killedAt} ms, promoted at ${promotedAt} ms; answers ${JSON.stringify(byStatus)}; 503 window ${windowMs} ms; accepted ${accepted.length}, lost ${outcome.lost.length}, unfinished ${outcome.unfinished.length}`);
        expect(Object.keys(byStatus).map(Number).filter((s) => s !== 202 && s !== 503), JSON.stringify(submissions.filter((s) => s.status !== 202 && s.status !== 503).slice(0, 5))).to.deep.equal([]);
        for (const s of submissions.filter((x) => x.status === 503)) expect(s.retryAfter, 'Retry-After on every 503').to.match(/^\d+$/);
        expect(accepted.length).to.be.greaterThan(50);
        expect(outcome.lost, 'lost').to.deep.equal([]);
        expect(outcome.unfinished, 'unfinished').to.deep.equal([]);
        expect((await http('GET', `${stack.url}/readyz`)).status).to.equal(200);
        expect((await http('GET', `http://127.0.0.1:${stack.worker.port}/readyz`)).status).to.equal(200);
      } finally {
        await stack?.close();
        await group.destroy();
      }
    });
  }
});
