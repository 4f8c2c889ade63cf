import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/** Sum of every sample of `family` in a Prometheus text exposition. */
function familySum(text: string, family: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${family}{`) || line.startsWith(`${family} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * The run counters of /metrics count every finished run exactly once although workers are killed
 * with SIGKILL between their metrics pushes (docs/operations.md#metrics): real api and worker
 * processes, a real redis-server.
 */
describe('run counters across SIGKILLed workers (real api and worker processes)', function () {
  this.timeout(240_000);
  const N = 200;
  const KILLS = 3;
  let redis: TestRedis;
  const procs: ServiceProcess[] = [];
  let env: Record<string, string>;
  const start = async (kind: 'api' | 'worker') => {
    const p = await startService(kind, env, 60_000);
    procs.push(p);
    return p;
  };

  before(async () => {
    redis = await startRedis();
    env = { REDIS_URL: redis.url, QUEUE_PREFIX: `rc${process.pid}`, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '2', JOB_LOCK_MS: '2000', STALLED_INTERVAL_MS: '1000', SHUTDOWN_GRACE_MS: '2000' };
  });
  afterEach(async () => {
    for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
    await redis?.destroy();
  });

  it(`counts ${N} jobs' finished runs exactly once while a worker is killed ${KILLS} times`, async () => {
    const api = await start('api');
    await start('worker');
    let victim = await start('worker');
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const body = i % 4 === 0 ? { algorithm: 'Echo', params: { value: i } } : { algorithm: 'Sleep', params: { ms: 150 } };
      const res = await http('POST', `${api.url}/jobs`, body);
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      ids.push(res.body.job_id as string);
    }
    const ended = async () => {
      let n = 0;
      for (const id of ids) if (['completed', 'failed'].includes((await http('GET', `${api.url}/jobs/${id}`)).body.status as string)) n++;
      return n;
    };
    // Kill the victim while it runs jobs (its counts since its last push are lost with it), and start another.
    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, 1000));
      expect(await victim.stop('SIGKILL')).to.equal(null);
      victim = await start('worker');
    }
    await eventually(async () => (await ended()) === N, 120_000, 500);

    let finishedAttempts = 0;
    let lostAttempts = 0;
    for (const id of ids) {
      const { attempts } = (await http('GET', `${api.url}/jobs/${id}/attempts`)).body as { attempts: Array<{ status: string }> };
      finishedAttempts += attempts.filter((a) => ['completed', 'failed', 'timeout'].includes(a.status)).length;
      lostAttempts += attempts.filter((a) => a.status === 'lost').length;
    }
    const metrics = (await http('GET', `${api.url}/metrics`)).text;
    expect(familySum(metrics, 'jobs_completed_total'), 'jobs_completed_total').to.equal(N);
    expect(familySum(metrics, 'algorithm_executions_total'), 'algorithm_executions_total').to.equal(finishedAttempts);
    if (process.env.FNQUEUE_TEST_LOGS) console.log({ finishedAttempts, lostAttempts, executions: familySum(metrics, 'algorithm_executions_total') });
    expect(finishedAttempts).to.be.at.least(N - 10);
  });
});
