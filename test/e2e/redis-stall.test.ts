import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { eventually, expectError, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * A frozen Redis (redis-server paused with SIGSTOP: its TCP connections stay open, nothing answers):
 * real api and worker processes answer 503 SERVICE_UNAVAILABLE with Retry-After within
 * REDIS_COMMAND_TIMEOUT_MS, and serve again by themselves once Redis answers (SIGCONT).
 */

const BOUND_MS = 1000;
/** Slack over the bound for a loaded 2-core machine: process scheduling, the HTTP round trip. */
const SLACK_MS = 1500;

async function timed(what: string, call: () => Promise<JsonResponse>): Promise<JsonResponse & { ms: number }> {
  const t0 = Date.now();
  const res = await call();
  const ms = Date.now() - t0;
  if (process.env.FNQUEUE_TEST_LOGS) process.stderr.write(`${what}: ${res.status} in ${ms} ms\n`);
  expectError(res, 503, 'SERVICE_UNAVAILABLE');
  expect(res.headers.get('retry-after'), `${what}: Retry-After`).to.match(/^\d+$/);
  expect(ms, `${what} answered within the bound`).to.be.below(BOUND_MS + SLACK_MS);
  return { ...res, ms };
}

describe('a frozen Redis (SIGSTOP) and its return (SIGCONT)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  const procs: ServiceProcess[] = [];
  const prefix = `stall${Math.random().toString(36).slice(2, 8)}`;

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    redis.child.kill('SIGCONT');
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
    await redis.destroy();
  });

  it('answers POST /jobs, GET /jobs/{id}, POST /invoke and GET /jobs with 503 and Retry-After within REDIS_COMMAND_TIMEOUT_MS, then recovers without a restart', async () => {
    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '1', REDIS_COMMAND_TIMEOUT_MS: String(BOUND_MS), SHUTDOWN_GRACE_MS: '1000' };
    const [api, worker] = await Promise.all([startService('api', env), startService('worker', env)]);
    procs.push(api, worker);
    const first = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
    expect(first.status, JSON.stringify(first.body)).to.equal(202);
    const jobId = first.body.job_id as string;
    await eventually(async () => (await http('GET', `${api.url}/jobs/${jobId}`)).body?.status === 'completed', 15_000);

    redis.child.kill('SIGSTOP');
    try {
      // The first submission reaches Redis's socket before anything knows it is frozen: its writes
      // land when Redis resumes, and its undo lands right after them.
      const timedOut = await timed('POST /jobs (its writes pending)', () => http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } }));
      const later = [
        await timed('GET /jobs/{id}', () => http('GET', `${api.url}/jobs/${jobId}`)),
        await timed('POST /invoke', () => http('POST', `${api.url}/invoke`, { number: 19 })),
        await timed('GET /jobs', () => http('GET', `${api.url}/jobs`)),
        await timed('POST /jobs', () => http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 11 } })),
      ];
      // Once the stall is seen, requests answer at once.
      expect(later.at(-1)!.ms, 'once Redis is known to be stalled').to.be.below(500);
      expect(timedOut.body.message).to.match(/unavailable/);
      const ready = await http('GET', `${api.url}/readyz`);
      expect(ready.status).to.equal(503);
      // The hetuflow-compatible system health answers the stall itself, in its documented body.
      const health = await http('GET', `${api.url}/api/v1/system/health`);
      expect(health.status, JSON.stringify(health.body)).to.equal(503);
      expect(health.body.status).to.equal('unhealthy');
      expect((await http('GET', `${api.url}/healthz`)).status).to.equal(200);
      // Frozen for a while longer than the bound, as a stall does.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      redis.child.kill('SIGCONT');
    }

    const accepted = await eventually(async () => {
      const r = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 13 } });
      return r.status === 202 && r;
    }, 10_000);
    const done = await eventually(async () => {
      const r = await http('GET', `${api.url}/jobs/${accepted.body.job_id}`);
      return r.status === 200 && r.body.status === 'completed' && r;
    }, 15_000);
    expect(done.body.result).to.include({ number: 13, is_prime: true });
    expect((await http('GET', `${api.url}/readyz`)).status).to.equal(200);

    // A 503 means not accepted: only the two accepted jobs have records, and their queue holds no other job.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const records = (await client.keys(keysFor(prefix).job('*'))).filter((k) => /:job:[0-9a-f]{12}$/.test(k));
      expect(records.map((k) => k.split(':').at(-1)).sort()).to.deep.equal([jobId, accepted.body.job_id as string].sort());
      const queued = (await client.keys(`*${prefix}*`)).filter((k) => /:jobs:[0-9a-f]{12}$/.test(k)).map((k) => k.split(':').at(-1));
      expect(queued.filter((id) => id !== jobId && id !== accepted.body.job_id)).to.deep.equal([]);
    } finally {
      client.disconnect();
    }
    expect(api.proc.exitCode).to.equal(null);
    expect(worker.proc.exitCode).to.equal(null);
  });

  it('answers a POST /invoke whose job ended while the API process was paused past INVOKE_TIMEOUT_MS with its result, not 504', async () => {
    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '1', INVOKE_TIMEOUT_MS: '1000', SHUTDOWN_GRACE_MS: '1000', RATE_LIMIT_PER_SECOND: '0' };
    const [api, worker] = await Promise.all([startService('api', env), startService('worker', env)]);
    procs.push(api, worker);
    expect((await http('POST', `${api.url}/invoke`, { algorithm: 'Sleep', params: { ms: 10 } })).status).to.equal(200);
    const answer = http('POST', `${api.url}/invoke`, { algorithm: 'Sleep', params: { ms: 300 } });
    await new Promise((r) => setTimeout(r, 150));
    api.proc.kill('SIGSTOP');
    try {
      // The job ends in the worker meanwhile; its end waits in the paused API's socket.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      api.proc.kill('SIGCONT');
    }
    const res = await answer;
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.status).to.equal('success');
  });

  it('frees the Idempotency-Key of a POST /jobs answered 503 while its claim waited on the frozen Redis: a retry once Redis answers creates the job', async () => {
    // No rate limit: its own command would meet the stall first, before the claim.
    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '1', REDIS_COMMAND_TIMEOUT_MS: String(BOUND_MS), SHUTDOWN_GRACE_MS: '1000', RATE_LIMIT_PER_SECOND: '0' };
    const [api, worker] = await Promise.all([startService('api', env), startService('worker', env)]);
    procs.push(api, worker);
    const body = { algorithm: 'PrimeChecker', params: { number: 23 } };
    const headers = { 'Idempotency-Key': 'stalled-order-1' };
    expect((await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } })).status).to.equal(202);
    redis.child.kill('SIGSTOP');
    try {
      // The claim (SET NX) reaches Redis' socket and times out unanswered; it lands on SIGCONT.
      await timed('POST /jobs with an Idempotency-Key', () => http('POST', `${api.url}/jobs`, body, headers));
    } finally {
      redis.child.kill('SIGCONT');
    }
    // The release sent behind the claim frees the key: a retry is a new submission (202), not 409.
    const accepted = await eventually(async () => {
      const r = await http('POST', `${api.url}/jobs`, body, headers);
      expect(r.status, JSON.stringify(r.body)).to.be.oneOf([202, 503]);
      return r.status === 202 && r;
    }, 5000);
    const replay = await http('POST', `${api.url}/jobs`, body, headers);
    expect(replay.status).to.equal(200);
    expect(replay.body.job_id).to.equal(accepted.body.job_id);
    await eventually(async () => (await http('GET', `${api.url}/jobs/${accepted.body.job_id}`)).body?.status === 'completed', 15_000);
  });
});
