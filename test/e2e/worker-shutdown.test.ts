import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { alive } from '../helpers/processes.js';
import { eventually, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * A worker stops on time (docs/deployment.md, "Stopping on time"): SIGTERM ends it within
 * SHUTDOWN_GRACE_MS + 5 s whatever Redis does, and a job still running then is stopped and left to
 * stalled-job recovery, which hands it to another worker. Real processes, a real redis-server.
 */

/** The bound the platform gives past the grace period (terminationGracePeriodSeconds, stop_grace_period). */
const PAST_GRACE_MS = 5000;

/** Sends SIGTERM and resolves with the exit code and the time to exit, ms; rejects past `limitMs`. */
async function terminate(proc: ServiceProcess, limitMs: number): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  proc.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise<'still running'>((resolve) => (timer = setTimeout(resolve, limitMs + 10_000, 'still running')))]);
  clearTimeout(timer);
  return { code: code === 'still running' ? -1 : code, ms: Date.now() - t0 };
}

describe('worker SIGTERM within SHUTDOWN_GRACE_MS + 5 s', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  const procs: ServiceProcess[] = [];
  let env: Record<string, string>;

  beforeEach(async () => {
    redis = await startRedis();
    env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `stop${Math.random().toString(36).slice(2, 8)}`,
      DIAGNOSTIC_ALGORITHMS: 'true',
      WORKER_CONCURRENCY: '1',
      // Short locks and checks, so the stopped job is recovered within the test.
      JOB_LOCK_MS: '2000',
      STALLED_INTERVAL_MS: '1000',
    };
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
    await redis.destroy();
  });

  const start = async (kind: 'api' | 'worker', extra: Record<string, string> = {}) => {
    const p = await startService(kind, { ...env, ...extra });
    procs.push(p);
    return p;
  };
  const submitRunning = async (api: ServiceProcess, ms: number): Promise<string> => {
    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'Sleep', params: { ms } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const jobId = res.body.job_id as string;
    await eventually(async () => (await http('GET', `${api.url}/jobs/${jobId}`)).body?.status === 'running', 15_000);
    return jobId;
  };

  it('exits 0 within the bound while its Redis is stopped, with a job running', async () => {
    const grace = 2000;
    const [api, worker] = await Promise.all([start('api'), start('worker', { SHUTDOWN_GRACE_MS: String(grace) })]);
    await submitRunning(api, 30_000);
    await api.stop('SIGKILL');
    await redis.stop();
    await eventually(async () => (await http('GET', `${worker.url}/readyz`)).status === 503, 5000);

    const { code, ms } = await terminate(worker, grace + PAST_GRACE_MS);
    console.log(`      SIGTERM to exit, Redis stopped, SHUTDOWN_GRACE_MS=${grace}: ${ms} ms`);
    expect(code, 'the worker exits 0 although Redis is gone').to.equal(0);
    expect(ms).to.be.below(grace + PAST_GRACE_MS);
    expect(unhandledErrors(worker), 'every connection has an error listener (the throttled log)').to.deep.equal([]);
  });

  it('exits 0 within the bound while Redis is stopped and it is idle', async () => {
    const grace = 3000;
    const worker = await start('worker', { SHUTDOWN_GRACE_MS: String(grace) });
    await redis.stop();
    await eventually(async () => (await http('GET', `${worker.url}/readyz`)).status === 503, 5000);
    const { code, ms } = await terminate(worker, grace + PAST_GRACE_MS);
    console.log(`      SIGTERM to exit, Redis stopped, idle, SHUTDOWN_GRACE_MS=${grace}: ${ms} ms`);
    expect(code).to.equal(0);
    expect(ms).to.be.below(grace + PAST_GRACE_MS);
    expect(unhandledErrors(worker)).to.deep.equal([]);
  });

  it('stops a job longer than the grace period at its end, exits, and another worker recovers and completes it', async () => {
    const grace = 3000;
    const api = await start('api');
    const first = await start('worker', { SHUTDOWN_GRACE_MS: String(grace) });
    const jobId = await submitRunning(api, 12_000);
    const runnerPids = childrenOf(first);
    expect(runnerPids, 'its runner children').to.have.length.at.least(1);
    const second = await start('worker');

    const { code, ms } = await terminate(first, grace + PAST_GRACE_MS);
    console.log(`      SIGTERM to exit, a 12 s job, SHUTDOWN_GRACE_MS=${grace}: ${ms} ms`);
    expect(code).to.equal(0);
    expect(ms, 'it waited out the grace period').to.be.at.least(grace - 200);
    expect(ms, 'then it stopped the job instead of waiting for its end').to.be.below(grace + PAST_GRACE_MS);
    expect(first.logs.some((l) => l.message === 'grace period over; stopping the jobs still running and leaving them to stalled-job recovery')).to.equal(true);
    for (const pid of runnerPids) expect(alive(pid), `runner ${pid} of the stopped worker`).to.equal(false);

    // Not failed by the stopped worker: still running for the API until the lock expires, then
    // moved back to wait by the other worker's stalled check, run again from the start and completed.
    const afterStop = await http('GET', `${api.url}/jobs/${jobId}`);
    expect(afterStop.body.status, JSON.stringify(afterStop.body)).to.be.oneOf(['running', 'pending']);
    const done = await eventually(async () => {
      const r = await http('GET', `${api.url}/jobs/${jobId}`);
      return ['completed', 'failed'].includes(r.body?.status) && r;
    }, 30_000);
    expect(done.body.status, JSON.stringify(done.body)).to.equal('completed');
    expect(done.body.result.slept_ms).to.be.at.least(12_000);
    const attempts = (await http('GET', `${api.url}/jobs/${jobId}/attempts`)) as JsonResponse;
    const list = attempts.body.attempts as Array<Record<string, unknown>>;
    expect(list.map((a) => [a.status, a.worker_id])).to.deep.equal([
      ['lost', first.id],
      ['completed', second.id],
    ]);
    expect(second.logs.some((l) => l.message === 'stalled job moved back to wait' && l.job_id === jobId), 'recovered by the stalled check').to.equal(true);
  });
});

/** The lines where ioredis reported an error no listener took ("[ioredis] Unhandled error event: …", on stderr). */
function unhandledErrors(proc: ServiceProcess): string[] {
  return proc.logs.map((l) => String(l.raw ?? '')).filter((line) => line.includes('Unhandled error event'));
}

/** Pids of the processes whose parent is `worker` (its runner children), from /proc. */
function childrenOf(worker: ServiceProcess): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the command (field 2) is in parentheses.
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === worker.pid) found.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}
