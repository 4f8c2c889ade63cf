import { expect } from 'chai';
import { Redis } from 'ioredis';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { JOBS_QUEUE } from '../../shared/queue/names.js';
import { eventually, http, type JsonResponse, expectError, freshGet } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * End-to-end reliability: real `api/main.ts` and `worker/main.ts` processes against a real
 * redis-server (never the machine's 6379), talked to over HTTP. Each scenario gets its own
 * redis-server and QUEUE_PREFIX; every process and server is closed in afterEach.
 */

const JOB_ID = /^[0-9a-f]{12}$/;
const TERMINAL = ['completed', 'failed'];

type Kind = 'api' | 'worker';

interface Scenario {
  redis: TestRedis;
  prefix: string;
  /** Starts a real api or worker process on this scenario's Redis and prefix; `env` overrides. */
  start(kind: Kind, env?: Record<string, string>): Promise<ServiceProcess>;
}

/** Registers the hooks of one scenario: a fresh redis-server and prefix per test, everything closed after it. */
function scenario(opts: { appendonly?: boolean } = {}): Scenario {
  const procs: ServiceProcess[] = [];
  const s = {} as Scenario;
  beforeEach(async () => {
    s.prefix = `e2e${Math.random().toString(36).slice(2, 8)}`;
    s.redis = await startRedis(opts);
    s.start = async (kind, env = {}) => {
      const proc = await startService(kind, {
        REDIS_URL: s.redis.url,
        QUEUE_PREFIX: s.prefix,
        DIAGNOSTIC_ALGORITHMS: 'true',
        SHUTDOWN_GRACE_MS: '5000',
        // Two warm runners: quicker to start than the default four, still more than one.
        WORKER_CONCURRENCY: '2',
        ...env,
      });
      procs.push(proc);
      return proc;
    };
  });
  afterEach(async () => {
    for (const proc of procs.splice(0).reverse()) await proc.stop('SIGKILL');
    await s.redis?.destroy();
  });
  return s;
}

/** POST /jobs, asserting 202 and a job id. */
async function submit(api: ServiceProcess, algorithm: string, params: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const res = await http('POST', `${api.url}/jobs`, { algorithm, params }, headers);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  expect(res.body.job_id).to.match(JOB_ID);
  return res.body.job_id as string;
}

/** Polls GET /jobs/{job_id} until its status is one of `statuses` (the record is returned). */
async function waitStatus(api: ServiceProcess, jobId: string, statuses: string[], timeoutMs: number): Promise<JsonResponse> {
  return eventually(async () => {
    const res = await http('GET', `${api.url}/jobs/${jobId}`);
    return res.status === 200 && statuses.includes(res.body.status) && res;
  }, timeoutMs);
}

/** Polls until the job has finished, then asserts it `completed`. */
async function waitCompleted(api: ServiceProcess, jobId: string, timeoutMs: number): Promise<JsonResponse> {
  const res = await waitStatus(api, jobId, TERMINAL, timeoutMs);
  expect(res.body.status, JSON.stringify(res.body)).to.equal('completed');
  return res;
}

/** Resolves with `promise`, or rejects when it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}


/** Runs `fn` with a short-lived client of the scenario's Redis (to look, never to change). */
async function withRedis<T>(s: Scenario, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(s.redis.url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** Statuses of every job record under the scenario's prefix. */
function jobStatuses(s: Scenario): Promise<string[]> {
  return withRedis(s, async (client) => {
    const keys = await client.keys(keysFor(s.prefix).job('*'));
    return Promise.all(keys.map(async (key) => (await client.hget(key, 'status')) ?? ''));
  });
}

/** A field of the BullMQ job hash (`<prefix>:jobs:<id>`), e.g. `pb`, processedBy. */
function bullJobField(s: Scenario, jobId: string, field: string): Promise<string | null> {
  return withRedis(s, (client) => client.hget(`${bullPrefix(s.prefix)}:${JOBS_QUEUE}:${jobId}`, field));
}

function logged(proc: ServiceProcess, message: string): Array<Record<string, unknown>> {
  return proc.logs.filter((l) => l.message === message);
}

describe('reliability (real api and worker processes, real redis-server)', function () {
  this.timeout(30_000);

  describe('a worker killed with SIGKILL mid-job', () => {
    const s = scenario();

    it('leaves the job to another worker, which completes it', async function () {
      this.timeout(45_000);
      const workerEnv = { JOB_LOCK_MS: '2000', STALLED_INTERVAL_MS: '1000', WORKER_CONCURRENCY: '1' };
      const [api, ...workers] = await Promise.all([s.start('api'), s.start('worker', workerEnv), s.start('worker', workerEnv)]);
      const jobId = await submit(api, 'Sleep', { ms: 4000 });
      await waitStatus(api, jobId, ['running'], 10_000);
      // BullMQ's processedBy of the active job is its worker's name, the worker id of its start line.
      const holder = await bullJobField(s, jobId, 'pb');
      const victim = workers.find((w) => w.logs.some((l) => l.message === 'worker started' && l.worker === holder));
      const survivor = workers.find((w) => w !== victim)!;
      expect(victim, `the job's worker (processedBy ${holder})`).to.not.equal(undefined);

      const killedAt = Date.now();
      expect(await victim!.stop('SIGKILL')).to.equal(null);
      expect(victim!.proc.signalCode).to.equal('SIGKILL');

      const done = await waitCompleted(api, jobId, 20_000);
      expect(done.body.result.slept_ms).to.be.at.least(4000);
      // The survivor started it again after the kill, from the beginning.
      expect(Date.parse(done.body.started_at)).to.be.at.least(killedAt);
      await eventually(async () => logged(survivor, 'stalled job moved back to wait').some((l) => l.job_id === jobId), 3000);
      expect(survivor.proc.exitCode).to.equal(null);
    });
  });

  describe('SIGTERM to the API', () => {
    const s = scenario();

    it('finishes an in-flight POST /invoke with 200, refuses new connections while draining, and exits 0', async () => {
      const [api] = await Promise.all([s.start('api', { SHUTDOWN_GRACE_MS: '10000' }), s.start('worker')]);
      let settled = false;
      const inflight = http('POST', `${api.url}/invoke`, { algorithm: 'Sleep', params: { ms: 1500 } }, { 'x-request-id': 'drain-invoke' });
      void inflight.finally(() => (settled = true)).catch(() => undefined);
      // The request is in the API: its job is running on the worker.
      await eventually(async () => (await jobStatuses(s)).includes('running'), 5000);
      const signalledAt = Date.now();
      api.proc.kill('SIGTERM');
      expect(settled, 'the /invoke is still in flight at SIGTERM').to.equal(false);
      await eventually(async () => logged(api, 'api draining').length > 0, 3000);

      const ready = await freshGet(api.port, '/readyz');
      if (ready.status !== undefined) expect(ready.status, 'readyz while draining').to.not.equal(200);
      else expect(ready.code).to.equal('ECONNREFUSED');
      expect((await freshGet(api.port, '/healthz')).code, 'a new connection while draining').to.equal('ECONNREFUSED');

      const res = await inflight;
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ status: 'success', request_id: 'drain-invoke' });
      expect(res.body.result.slept_ms).to.be.at.least(1500);

      // Well within SHUTDOWN_GRACE_MS (10 s): the drain ends with the last request.
      const code = await within(api.exited, 5000, 'the API exit after its last request');
      expect(code).to.equal(0);
      expect(Date.now() - signalledAt).to.be.below(8000);
      await eventually(async () => logged(api, 'api stopped').length === 1, 2000);
      expect(logged(api, 'grace period over; closing remaining connections')).to.have.length(0);
      expect((await freshGet(api.port, '/healthz')).code, 'a new connection after exit').to.equal('ECONNREFUSED');
    });
  });

  describe('SIGTERM to a worker', () => {
    const s = scenario();

    it('lets its running job complete, then exits 0', async () => {
      const [api, worker] = await Promise.all([s.start('api'), s.start('worker', { SHUTDOWN_GRACE_MS: '10000' })]);
      const jobId = await submit(api, 'Sleep', { ms: 1500 });
      await waitStatus(api, jobId, ['running'], 5000);

      const signalledAt = Date.now();
      worker.proc.kill('SIGTERM');
      const code = await within(worker.exited, 8000, 'the worker drain');
      expect(code).to.equal(0);
      await eventually(async () => logged(worker, 'worker stopped').length === 1, 2000);
      expect(logged(worker, 'grace period over; leaving active jobs to stalled-job recovery')).to.have.length(0);

      // The record was finished before the process exited.
      const record = await http('GET', `${api.url}/jobs/${jobId}`);
      expect(record.body.status, JSON.stringify(record.body)).to.equal('completed');
      expect(record.body.result.slept_ms).to.be.at.least(1500);
      expect(Date.parse(record.body.completed_at)).to.be.at.least(signalledAt);
    });
  });

  describe('Redis going away and coming back', () => {
    const s = scenario();

    it('answers 503 SERVICE_UNAVAILABLE while Redis is down, stays live, and serves again once Redis is back', async function () {
      this.timeout(40_000);
      const [api, worker] = await Promise.all([s.start('api', { INVOKE_TIMEOUT_MS: '15000' }), s.start('worker')]);
      expect((await http('POST', `${api.url}/invoke`, { number: 17 })).status).to.equal(200);

      await s.redis.stop();
      const notReady = await eventually(async () => {
        const r = await http('GET', `${api.url}/readyz`);
        return r.status === 503 && r;
      }, 5000);
      expect(notReady.body.checks).to.include({ redis: false, algorithm: true });
      expect(notReady.body.error).to.equal('SERVICE_UNAVAILABLE');

      const t0 = Date.now();
      const refused = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
      expectError(refused, 503, 'SERVICE_UNAVAILABLE');
      expect(Date.now() - t0, 'fails fast, does not hang').to.be.below(3000);
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(JSON.stringify(refused.body)).not.to.match(/ECONNREFUSED|at .*\.(ts|js):\d+/);
      // Reads that take several replies in one pipeline, where ioredis fails each command rather
      // than the call: 503 with Retry-After too, never a 500 (the compatible API in its own shape).
      for (const path of ['/functions', '/projects', '/projects/default', '/projects/default/env', '/schedules', '/workers', '/api/v1/projects', '/api/v1/projects/default', '/api/v1/functions/default']) {
        const r = await http('GET', `${api.url}${path}`);
        expect(r.status, `GET ${path}: ${r.text}`).to.equal(503);
        expect(r.headers.get('retry-after'), `GET ${path}: Retry-After`).to.equal('1');
      }

      const health = await http('GET', `${api.url}/healthz`);
      expect(health.status).to.equal(200);
      expect(health.body.status).to.equal('healthy');
      // /metrics still answers, with this process's counts and fnqueue_redis_up 0 (the alert rules' FnqueueRedisUnavailable).
      const metricsDown = await http('GET', `${api.url}/metrics`);
      expect(metricsDown.status).to.equal(200);
      expect(metricsDown.text).to.match(/^fnqueue_redis_up 0$/m);

      await s.redis.start();
      const ready = await eventually(async () => {
        const r = await http('GET', `${api.url}/readyz`);
        return r.status === 200 && r;
      }, 10_000);
      expect(ready.body.checks).to.include({ redis: true, algorithm: true });
      await eventually(async () => /^fnqueue_redis_up 1$/m.test((await http('GET', `${api.url}/metrics`)).text), 10_000);

      const again = await http('POST', `${api.url}/invoke`, { number: 17 });
      expect(again.status, JSON.stringify(again.body)).to.equal(200);
      expect(again.body.result).to.include({ number: 17, is_prime: true });
      expect(api.proc.exitCode).to.equal(null);
      expect(worker.proc.exitCode).to.equal(null);
    });
  });

  describe('job records with RESULT_TTL_SECONDS=1', () => {
    const s = scenario();

    it('answers a completed job with 200, then 404 JOB_NOT_FOUND once its TTL has passed', async () => {
      const env = { RESULT_TTL_SECONDS: '1' };
      const [api] = await Promise.all([s.start('api', env), s.start('worker', env)]);
      const jobId = await submit(api, 'Sleep', { ms: 200 });
      const done = await waitCompleted(api, jobId, 5000);
      const seenAt = Date.now();
      expect(done.body.result.slept_ms).to.be.at.least(200);

      let goneAt = 0;
      const gone = await eventually(async () => {
        const r = await http('GET', `${api.url}/jobs/${jobId}`);
        goneAt = Date.now();
        return r.status === 404 && r;
      }, 2500);
      expectError(gone, 404, 'JOB_NOT_FOUND');
      expect(gone.body.details.job_id).to.equal(jobId);
      // Gone because its TTL (refreshed when it finished) ran out, not before.
      expect(goneAt - Date.parse(done.body.completed_at)).to.be.at.least(950);
      expect(goneAt - seenAt).to.be.below(2500);
    });
  });

  describe('an accepted job across a Redis restart with AOF', () => {
    const s = scenario({ appendonly: true });

    it('is still there after the restart and completes once a worker starts', async () => {
      const api = await s.start('api');
      const jobId = await submit(api, 'PrimeChecker', { number: 17 });

      // SIGTERM: redis-server flushes and fsyncs the AOF as it shuts down.
      await s.redis.stop();
      await s.redis.start();
      await eventually(async () => (await http('GET', `${api.url}/readyz`)).status === 200, 10_000);
      const pending = await http('GET', `${api.url}/jobs/${jobId}`);
      expect(pending.status, JSON.stringify(pending.body)).to.equal(200);
      expect(pending.body.status).to.equal('pending');

      await s.start('worker');
      const done = await waitCompleted(api, jobId, 10_000);
      expect(done.body.result).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
    });
  });

  describe('POST /invoke past INVOKE_TIMEOUT_MS', () => {
    const s = scenario();

    it('answers 504 TIMEOUT with the job_id, and the job completes for whoever polls it', async () => {
      const [api] = await Promise.all([s.start('api', { INVOKE_TIMEOUT_MS: '500' }), s.start('worker')]);
      const t0 = Date.now();
      const res = await http('POST', `${api.url}/invoke`, { algorithm: 'Sleep', params: { ms: 2000 } });
      const took = Date.now() - t0;
      expectError(res, 504, 'TIMEOUT');
      expect(res.body.details.job_id).to.match(JOB_ID);
      expect(took).to.be.at.least(450).and.below(2000);

      const done = await waitCompleted(api, res.body.details.job_id as string, 6000);
      expect(done.body.result.slept_ms).to.be.at.least(2000);
    });
  });

  describe('an algorithm run past ALGORITHM_TIMEOUT_MS', () => {
    const s = scenario();

    it('is killed and answers 504 TIMEOUT, its record failed as timed out, and the worker keeps serving', async () => {
      const [api, worker] = await Promise.all([s.start('api'), s.start('worker', { ALGORITHM_TIMEOUT_MS: '1000', WORKER_CONCURRENCY: '1' })]);
      const t0 = Date.now();
      const res = await http('POST', `${api.url}/invoke`, { algorithm: 'Sleep', params: { ms: 5000, spin: true } });
      expectError(res, 504, 'TIMEOUT');
      expect(Date.now() - t0, 'cut at the algorithm timeout, not at the end of the spin').to.be.below(4500);
      const jobId = res.body.details.job_id as string;
      expect(jobId).to.match(JOB_ID);

      const record = await http('GET', `${api.url}/jobs/${jobId}`);
      expect(record.body).to.include({ status: 'failed', result: null });
      expect(record.body.error).to.match(/timed out/);
      await eventually(async () => logged(worker, 'algorithm run timed out; killing its runner process').some((l) => l.job_id === jobId), 2000);

      const after = await http('POST', `${api.url}/invoke`, { number: 17 });
      expect(after.status, JSON.stringify(after.body)).to.equal(200);
      expect(after.body.result).to.include({ number: 17, is_prime: true });
    });
  });

  describe('a CPU-bound run longer than JOB_LOCK_MS', () => {
    const s = scenario();

    it('keeps its BullMQ lock and completes without ever being seen as stalled', async () => {
      const [api, worker] = await Promise.all([
        s.start('api'),
        s.start('worker', { JOB_LOCK_MS: '1000', STALLED_INTERVAL_MS: '500', ALGORITHM_TIMEOUT_MS: '20000' }),
      ]);
      const jobId = await submit(api, 'Sleep', { ms: 3500, spin: true });
      const running = await waitStatus(api, jobId, ['running', ...TERMINAL], 5000);
      const done = await waitCompleted(api, jobId, 10_000);
      expect(done.body.result.slept_ms).to.be.at.least(3500);
      // Ran once: the start time is the one first seen.
      if (running.body.status === 'running') expect(done.body.started_at).to.equal(running.body.started_at);
      expect(logged(worker, 'stalled job moved back to wait')).to.deep.equal([]);
      expect(logged(worker, 'job failed outside its run')).to.deep.equal([]);
    });
  });

  describe('logs', () => {
    const s = scenario();

    it("carry request_id on every API request line, and job_id, algorithm and attempt (its own job's) on a worker child output line", async () => {
      const [api, worker] = await Promise.all([s.start('api', { LOG_LEVEL: 'http' }), s.start('worker')]);
      const sent: Array<[string, string, string, unknown, number]> = [
        ['POST', '/invoke', 'e2e-log-invoke', { number: 17 }, 200],
        ['GET', '/healthz', 'e2e-log-health', undefined, 200],
        ['POST', '/jobs', 'e2e-log-invalid', { algorithm: 'PrimeChecker', params: { number: 'x' } }, 400],
        ['GET', '/jobs/aaaaaaaaaaaa', 'e2e-log-missing', undefined, 404],
        ['GET', '/no/such/route', 'e2e-log-route', undefined, 404],
      ];
      for (const [method, path, id, body, status] of sent) {
        const res = await http(method, `${api.url}${path}`, body, { 'x-request-id': id });
        expect(res.status, `${method} ${path}`).to.equal(status);
      }
      const jobId = await submit(api, 'Echo', { print: 'hello-from-child' }, { 'x-request-id': 'e2e-log-echo' });
      await waitCompleted(api, jobId, 5000);

      for (const [method, path, id, , status] of [...sent, ['POST', '/jobs', 'e2e-log-echo', undefined, 202] as const]) {
        const lines = await eventually(async () => {
          const found = api.logs.filter((l) => l.request_id === id);
          return found.some((l) => l.message === 'request') && found;
        }, 3000);
        const request = lines.filter((l) => l.message === 'request');
        expect(request, `the request line of ${id}`).to.have.length(1);
        expect(request[0]).to.include({ level: 'http', method, path, http_status: status, service: 'api' });
      }
      // Every request line so far (the polls of GET /jobs included) has a request_id.
      const requestLines = api.logs.filter((l) => l.message === 'request');
      expect(requestLines.length).to.be.at.least(sent.length + 1);
      for (const line of requestLines) expect(line.request_id, JSON.stringify(line)).to.be.a('string').and.not.empty;

      const printed = await eventually(async () => {
        const found = logged(worker, 'hello-from-child');
        return found.length === 2 && found;
      }, 3000);
      for (const line of printed) {
        expect(line, JSON.stringify(line)).to.include({ job_id: jobId, algorithm: 'Echo', attempt: 1, request_id: 'e2e-log-echo', service: 'worker' });
      }
      expect(printed.map((l) => l.source).sort()).to.deep.equal(['runner.stderr', 'runner.stdout']);

      // Runs back to back on the same warm runners: each output line carries its own job's id.
      const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(api, 'Echo', { print: `e2e-print-${i}` })));
      await Promise.all(ids.map((id) => waitCompleted(api, id, 10_000)));
      const prints = await eventually(async () => {
        const found = worker.logs.filter((l) => /^e2e-print-\d+$/.test(String(l.message)));
        return found.length === 2 * ids.length && found;
      }, 3000);
      for (const line of prints) {
        expect(line.job_id, JSON.stringify(line)).to.equal(ids[Number(String(line.message).slice('e2e-print-'.length))]);
      }
    });
  });
});
