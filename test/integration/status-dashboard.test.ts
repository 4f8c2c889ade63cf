import { readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import { expect } from 'chai';
import express from 'express';
import { Redis } from 'ioredis';
import { DASHBOARD_PAGE_LIMITS, type Dashboard } from '../../api/routes/dashboard.js';
import { dashboardRouter } from '../../api/routes/dashboard-board.js';
import { parseRedisInfo, StatusSchema } from '../../api/routes/status.js';
import { WorkerResourcesReportSchema } from '../../shared/schemas/worker.js';
import { ApiKeyStore } from '../../shared/store/api-key-store.js';
import { JobQueues } from '../../shared/queue/job-queues.js';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { jobsQueueName, WEBHOOKS_QUEUE } from '../../shared/queue/names.js';
import { eventually, expectError, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { track, untrack } from '../helpers/resources.js';
import { startService } from '../helpers/service-process.js';
import { memoryLogger, startStack, type Stack } from '../helpers/stack.js';

/**
 * GET /status, GET /workers/{worker_id}/resources and the Bull Board dashboard at /admin/queues
 * (docs/operations.md): a real redis-server, the API and a worker in-process over real HTTP, a second worker
 * as a real process, and Bull Board's own read-only mode checked on its own.
 */

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** The in-process worker's id, set through WORKER_ID. */
const SELF_WORKER = `${hostname()}:${process.pid}`;
const COUNT_KEYS = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'paused', 'waiting_children'];

/** BullMQ's counts of `queue` in GET /status's names, read directly. */
async function directCounts(queue: Queue): Promise<Record<string, number>> {
  const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children');
  const paused = await queue.isPaused();
  return { waiting: c.waiting!, active: c.active!, delayed: c.delayed!, prioritized: c.prioritized!, completed: c.completed!, failed: c.failed!, paused: paused ? c.waiting! : 0, waiting_children: c['waiting-children']! };
}

/** Submits a job that fails (the Crash algorithm throws) and resolves with its id once it has failed. */
async function failedJob(url: string, queue: Queue, headers: Record<string, string> = {}): Promise<string> {
  const submitted = await http('POST', `${url}/jobs`, { algorithm: 'Crash', params: { throw: true } }, headers);
  expect(submitted.status, submitted.text).to.equal(202);
  const id = submitted.body.job_id as string;
  await eventually(async () => (await http('GET', `${url}/jobs/${id}`, undefined, headers)).body?.status === 'failed', 15_000);
  // The record says failed once the worker's finish script ran; BullMQ moves the job to its failed
  // set just after. Counts taken after this helper must include it.
  await eventually(async () => (await (await queue.getJob(id))?.getState()) === 'failed', 5_000);
  return id;
}

/** Sends a request with node:http, path as is (fetch would normalize `..`). */
function rawGet(base: string, path: string): Promise<{ status: number; contentType: string; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'GET', path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The names of the queues the dashboard API lists, and whether each is read-only. */
function boardQueues(res: JsonResponse): Map<string, boolean> {
  expect(res.status, res.text).to.equal(200);
  return new Map((res.body.queues as Array<{ name: string; readOnlyMode: boolean }>).map((q) => [q.name, q.readOnlyMode]));
}

describe('GET /status, worker resources and the dashboard (auth off; real Redis, HTTP and workers)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let jobs: Queue;
  let webhooks: Queue;
  const extra: Queue[] = [];
  const queueOf = (pool: string) => {
    const q = new Queue(jobsQueueName(pool), { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
    extra.push(q);
    return q;
  };

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_ID: SELF_WORKER, WORKER_HEARTBEAT_MS: '200', WORKER_FORGET_AFTER_MS: '60000' });
    conn = new Redis(redis.url);
    jobs = new Queue(jobsQueueName(), { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
    webhooks = new Queue(WEBHOOKS_QUEUE, { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
  });
  after(async () => {
    await stack?.close();
    await Promise.allSettled([jobs?.close(), webhooks?.close(), ...extra.map((q) => q.close())]);
    conn?.disconnect();
    await redis?.destroy();
  });

  describe('GET /status', () => {
    it('answers the documented shape with this process, Redis INFO and the registry read live', async () => {
      const uptimeBefore = process.uptime();
      const res = await http('GET', `${stack.url}/status`);
      const uptimeAfter = process.uptime();
      expect(res.status, res.text).to.equal(200);
      expect(() => StatusSchema.strict().parse(res.body)).not.to.throw();
      expect(res.body).to.have.all.keys('status', 'version', 'timestamp', 'uptime_seconds', 'queues', 'queue_depth', 'workers', 'redis', 'memory', 'uptime', 'memory_usage', 'active_projects', 'total_functions', 'projects');
      expect(res.body.status).to.equal('running');
      expect(res.body.version).to.equal(VERSION);
      expect(res.body.timestamp).to.be.closeTo(Date.now() / 1000, 5);
      // The API runs in this process: its uptime and memory are ours.
      expect(res.body.uptime_seconds).to.be.within(uptimeBefore, uptimeAfter);
      const rss = process.memoryUsage().rss;
      expect(res.body.memory.rss_bytes).to.be.within(rss / 2, rss * 2);
      expect(res.body.memory.heap_used_bytes).to.be.above(1024 * 1024).and.below(res.body.memory.rss_bytes);

      const info = parseRedisInfo(await conn.info());
      expect(res.body.redis.version).to.equal(info.get('redis_version'));
      expect(res.body.redis.maxmemory_bytes).to.equal(Number((await conn.config('GET', 'maxmemory'))[1]));
      expect(res.body.redis.uptime_seconds).to.be.closeTo(Number(info.get('uptime_in_seconds')), 2);
      expect(res.body.redis.connected_clients).to.be.at.least(3); // the API's, the worker's and this test's connections
      expect(res.body.redis.used_memory_bytes).to.be.above(100_000);
      expect(res.body.redis.used_memory_peak_bytes).to.be.at.least(res.body.redis.used_memory_bytes / 2);

      expect(Object.keys(res.body.queues)).to.include.members(['jobs', 'webhooks']);
      for (const counts of Object.values(res.body.queues)) expect(counts).to.have.all.keys(...COUNT_KEYS);
    });

    it('counts what the queues hold: delayed, waiting and paused jobs, a new pool, queue_depth', async () => {
      const before = (await http('GET', `${stack.url}/status`)).body;
      // Delayed 10 minutes: no worker takes them during the test.
      const delayed = await Promise.all([1, 2, 3].map((i) => jobs.add('status-test', { i }, { delay: 600_000 })));
      // A pool only this test knows: remembered as JobQueues remembers pools, its queue paused, one job waiting.
      await conn.sadd(keysFor(stack.config.QUEUE_PREFIX).pools, 'statustest');
      const pool = queueOf('statustest');
      await pool.pause();
      await pool.add('status-test', {}, {});
      await pool.add('status-test', {}, { delay: 600_000 });

      const after = (await http('GET', `${stack.url}/status`)).body;
      expect(after.queues.jobs.delayed).to.equal(before.queues.jobs.delayed + 3);
      expect(after.queues['jobs-statustest']).to.deep.equal({ waiting: 1, active: 0, delayed: 1, prioritized: 0, completed: 0, failed: 0, paused: 1, waiting_children: 0 });
      expect(after.queue_depth).to.equal(before.queue_depth + 3 + 2);
      // Every figure equals a direct read of the same queue.
      expect(after.queues.jobs).to.deep.equal(await directCounts(jobs));
      expect(after.queues.webhooks).to.deep.equal(await directCounts(webhooks));
      expect(Object.keys(after.queues)).to.deep.equal(['jobs', 'jobs-statustest', 'webhooks']);

      await Promise.all(delayed.map((j) => j.remove()));
      await pool.obliterate({ force: true });
      await conn.srem(keysFor(stack.config.QUEUE_PREFIX).pools, 'statustest');
      const cleaned = (await http('GET', `${stack.url}/status`)).body;
      expect(cleaned.queues.jobs.delayed).to.equal(before.queues.jobs.delayed);
      expect(cleaned.queues).not.to.have.property('jobs-statustest');
    });

    it('counts a job that really failed, and completed jobs as BullMQ keeps them', async () => {
      const before = (await http('GET', `${stack.url}/status`)).body;
      await failedJob(stack.url, jobs);
      expect((await http('POST', `${stack.url}/invoke`, { number: 17 })).status).to.equal(200);
      const after = (await http('GET', `${stack.url}/status`)).body;
      expect(after.queues.jobs.failed).to.equal(before.queues.jobs.failed + 1);
      expect(after.queues.jobs).to.deep.equal(await directCounts(jobs));
    });

    it('counts the workers started: online while they heartbeat, offline once stopped', async () => {
      await eventually(async () => {
        const w = (await http('GET', `${stack.url}/status`)).body.workers;
        return w.online === 1 && w.offline === 0 && w.total === 1;
      });
      const second = await startService('worker', {
        REDIS_URL: redis.url,
        QUEUE_PREFIX: stack.config.QUEUE_PREFIX,
        WORKER_HEARTBEAT_MS: '200',
        WORKER_CONCURRENCY: '1',
        WORKER_FORGET_AFTER_MS: '60000',
        SHUTDOWN_GRACE_MS: '2000',
      });
      try {
        const both = await eventually(async () => {
          const s = (await http('GET', `${stack.url}/status`)).body;
          return s.workers.online === 2 ? s : undefined;
        });
        expect(both.workers).to.deep.equal({ online: 2, offline: 0, total: 2 });
        const listed = await http('GET', `${stack.url}/workers?status=online`);
        expect(listed.body.total).to.equal(2);
      } finally {
        await second.stop('SIGTERM');
      }
      const after = await eventually(async () => {
        const s = (await http('GET', `${stack.url}/status`)).body;
        return s.workers.offline === 1 ? s : undefined;
      });
      expect(after.workers).to.deep.equal({ online: 1, offline: 1, total: 2 });
    });
  });

  describe('GET /workers/{worker_id}/resources', () => {
    it("returns the worker's resource figures from its registry entry", async () => {
      // A pair read within one heartbeat, so both show the same figures.
      const [entry, res] = await eventually(async () => {
        const e = await http('GET', `${stack.url}/workers/${SELF_WORKER}`);
        const r = await http('GET', `${stack.url}/workers/${encodeURIComponent(SELF_WORKER)}/resources`);
        return e.body.last_heartbeat === r.body.last_heartbeat ? ([e, r] as const) : undefined;
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.have.all.keys('worker_id', 'status', 'cpu_usage', 'memory_usage', 'runners_memory_usage', 'disk', 'network', 'last_heartbeat');
      expect(() => WorkerResourcesReportSchema.strict().parse(res.body)).not.to.throw();
      expect(res.body).to.deep.equal({ worker_id: SELF_WORKER, status: 'online', ...entry.body.resources, last_heartbeat: entry.body.last_heartbeat });
      // The worker runs in this process: its RSS is ours.
      expect(res.body.memory_usage).to.be.within(process.memoryUsage().rss / 2, process.memoryUsage().rss * 2);
      expect(res.body.cpu_usage).to.be.a('number').and.at.least(0);
      if (process.platform === 'linux') expect(res.body.runners_memory_usage).to.be.above(1024 * 1024);
    });

    it('answers 404 WORKER_NOT_FOUND for an unknown worker, 405 for another method', async () => {
      const res = await http('GET', `${stack.url}/workers/no-such-host:1/resources`);
      expectError(res, 404, 'WORKER_NOT_FOUND');
      expect(res.body.details.worker_id).to.equal('no-such-host:1');
      const wrong = await http('POST', `${stack.url}/workers/${SELF_WORKER}/resources`);
      expectError(wrong, 405, 'METHOD_NOT_ALLOWED');
      expect(wrong.headers.get('allow')).to.equal('GET');
      expectError(await http('DELETE', `${stack.url}/status`), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  describe('the dashboard at /admin/queues (everyone read-only)', () => {
    it('serves the Bull Board page and its static files', async () => {
      const res = await http('GET', `${stack.url}/admin/queues`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/text\/html/);
      expect(res.headers.get('x-powered-by')).to.equal(null);
      expect(res.text).to.contain('<base href="/admin/queues/"').and.contain('<title>fnqueue (read-only)</title>');
      expect((await http('GET', `${stack.url}/admin/queues/`)).status).to.equal(200);
      expect((await http('GET', `${stack.url}/admin/queues/queue/jobs`)).status).to.equal(200);
      const scripts = [...res.text.matchAll(/src="(static\/js\/[^"]+\.js)"/g)].map((m) => m[1]!);
      expect(scripts.length).to.be.greaterThan(0);
      for (const src of scripts) {
        const asset = await http('GET', `${stack.url}/admin/queues/${src}`);
        expect(asset.status, src).to.equal(200);
        expect(asset.headers.get('content-type')).to.match(/javascript/);
      }
      const css = /href="(static\/css\/[^"]+\.css)"/.exec(res.text)![1]!;
      expect((await http('GET', `${stack.url}/admin/queues/${css}`)).headers.get('content-type')).to.match(/text\/css/);
    });

    it('makes no outside request: /docs, /redoc and /admin/queues reference no other host', async () => {
      const own = new URL(stack.url).host;
      const outside = (text: string) => [...text.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]).filter((u) => new URL(u).host !== own);
      for (const page of ['/docs', '/redoc', '/admin/queues']) {
        const res = await http('GET', `${stack.url}${page}`);
        expect(res.status, page).to.equal(200);
        expect(outside(res.text), page).to.deep.equal([]);
        // Its stylesheets load no font or image from elsewhere either.
        for (const [, href] of res.text.matchAll(/<link\b[^>]*href="([^"]+\.css)"/g)) {
          const css = await http('GET', new URL(href!, `${stack.url}${page.endsWith('/queues') ? `${page}/` : page}`).href);
          expect(css.status, href).to.equal(200);
          expect(outside(css.text.replace(/\/\*[\s\S]*?\*\//g, '')).filter((u) => !u.startsWith('http://www.w3.org/')), href).to.deep.equal([]);
        }
      }
      // The UIs' scripts: ReDoc's menu logo is inlined, and Swagger UI sends nothing to its online validator.
      const redoc = await http('GET', `${stack.url}/redoc/redoc.standalone.js`);
      expect(redoc.text).not.to.contain('cdn.redoc.ly');
      expect((await http('GET', `${stack.url}/docs/init.js`)).text).to.contain('validatorUrl: null');
    });

    it('lists the jobs and webhooks queues in its API, read-only, and a new pool within the refresh time', async () => {
      const queues = boardQueues(await http('GET', `${stack.url}/admin/queues/api/queues`));
      expect([...queues.keys()]).to.include.members(['jobs', 'webhooks']);
      expect([...queues.values()].every((readOnly) => readOnly)).to.equal(true);

      // A remembered pool holding a job (an empty pool no worker serves is forgotten, docs/operations.md#pools).
      await conn.sadd(keysFor(stack.config.QUEUE_PREFIX).pools, 'dashpool');
      const pool = queueOf('dashpool');
      await pool.add('dash-test', {}, { delay: 600_000 });
      await eventually(async () => boardQueues(await http('GET', `${stack.url}/admin/queues/api/queues`)).has('jobs-dashpool'), 10_000, 250);
      await pool.obliterate({ force: true });
      await conn.srem(keysFor(stack.config.QUEUE_PREFIX).pools, 'dashpool');
    });

    it('shows failed jobs without their stack traces', async () => {
      const id = await failedJob(stack.url, jobs);
      // The record says failed once the worker's finish script ran; BullMQ writes its own failure (the stack trace) just after.
      await eventually(async () => ((await jobs.getJob(id))?.stacktrace?.length ?? 0) > 0, 5_000).catch(() => undefined);
      expect((await jobs.getJob(id))?.stacktrace?.length ?? 0, 'BullMQ keeps a stack trace').to.be.above(0);
      const res = await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=jobs&status=failed&jobsPerPage=50`);
      const shown = (res.body.queues as Array<{ name: string; jobs: Array<{ id: string; isFailed: boolean; stacktrace: string[]; failedReason: string }> }>).find((q) => q.name === 'jobs')!.jobs.find((j) => j.id === id)!;
      expect(shown.isFailed).to.equal(true);
      expect(shown.failedReason).to.contain('Crash algorithm threw on purpose');
      expect(shown.stacktrace).to.deep.equal([]);
      const one = await http('GET', `${stack.url}/admin/queues/api/queues/jobs/${id}`);
      expect(one.status).to.equal(200);
      expect(one.body.job.stacktrace).to.deep.equal([]);
      expect(one.text).not.to.match(/\bat .*\.(ts|js):\d+/);
    });

    it('masks secrets in every board answer (job schedulers, job lists, one job): webhook URL credentials and tokens, env values', async () => {
      const secrets = ['s3cret-pass', 'tok-sched-1', 'env-secret-1', 'pw-job-2', 'key-job-2', 'env-secret-2', 'bearer-value-3', 'returned-pass-4'];
      const data = (n: number, webhook: string, extra: Record<string, unknown> = {}) => ({ algorithm: 'Echo', params: { n }, mode: 'async', created_at: new Date().toISOString(), webhook, ...extra });
      await jobs.upsertJobScheduler(
        'mask-sched',
        { pattern: '0 0 1 1 *' },
        { name: 'Echo', data: data(1, 'https://alice:s3cret-pass@hooks.example.com/in?token=tok-sched-1&x=1', { env: { DB_PASSWORD: 'env-secret-1' } }) },
      );
      const job = await jobs.add('Echo', data(2, 'https://bob:pw-job-2@hooks.example.com/h?api_key=key-job-2', { params: { deep: [{ env: { ANY: 'env-secret-2' } }], note: 'Bearer bearer-value-3' } }), { delay: 3_600_000 });
      await job.updateProgress({ url: 'redis://carol:returned-pass-4@cache.internal:6379' });
      try {
        const answers = [
          await http('GET', `${stack.url}/admin/queues/api/job-schedulers`),
          await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=jobs&status=delayed&jobsPerPage=100`),
          await http('GET', `${stack.url}/admin/queues/api/queues/jobs/${job.id}`),
        ];
        for (const res of answers) {
          expect(res.status, res.text).to.equal(200);
          expect(secrets.filter((v) => res.text.includes(v)), res.text.slice(0, 400)).to.deep.equal([]);
        }
        const scheduler = (answers[0]!.body.schedulers as Array<{ id: string; template?: { data?: { webhook?: string; env?: unknown } } }>).find((x) => x.id === 'mask-sched')!;
        expect(scheduler.template?.data?.webhook).to.equal('https://alice:[redacted]@hooks.example.com/in?token=[redacted]&x=[redacted]');
        expect(scheduler.template?.data?.env).to.deep.equal({ DB_PASSWORD: '[redacted]' });
        expect(answers[2]!.body.job.data.webhook).to.equal('https://bob:[redacted]@hooks.example.com/h?api_key=[redacted]');
        expect(answers[2]!.body.job.data.params.deep[0].env).to.deep.equal({ ANY: '[redacted]' });
        // Masked in the answer only: the queue keeps the data as it was given.
        expect((await jobs.getJob(job.id!))?.data.webhook).to.contain('pw-job-2');
      } finally {
        await jobs.removeJobScheduler('mask-sched');
        await job.remove();
      }
    });

    it('refuses every action with 403 FORBIDDEN and changes nothing', async () => {
      await failedJob(stack.url, jobs);
      const failedBefore = (await directCounts(jobs)).failed;
      for (const [method, path, body] of [
        ['PUT', '/admin/queues/api/queues/jobs/retry/failed', undefined],
        ['PUT', '/admin/queues/api/queues/jobs/pause', undefined],
        ['PUT', '/admin/queues/api/queues/pause', undefined],
        ['PUT', '/admin/queues/api/queues/jobs/clean/failed', undefined],
        ['PUT', '/admin/queues/api/queues/jobs/obliterate', {}],
        ['POST', '/admin/queues/api/queues/jobs/add', { name: 'x', data: {} }],
        ['PATCH', '/admin/queues/api/queues/jobs/1/update-data', { data: {} }],
        ['DELETE', '/admin/queues', undefined],
      ] as const) {
        const res = await http(method, `${stack.url}${path}`, body);
        expectError(res, 403, 'FORBIDDEN');
        expect(res.body.details).to.deep.equal({ required_scope: 'admin', granted_scopes: [] });
      }
      expect(await jobs.isPaused()).to.equal(false);
      expect((await directCounts(jobs)).failed).to.equal(failedBefore);
    });

    it("answers the board's errors in the one error shape, without stack traces", async () => {
      const unknownQueue = await http('GET', `${stack.url}/admin/queues/api/queues/nope/metrics`);
      expectError(unknownQueue, 404, 'NOT_FOUND');
      expect(unknownQueue.body.details.dashboard_error).to.equal('ERRORS.QUEUE_NOT_FOUND');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues/jobs/no-such-job`), 404, 'NOT_FOUND');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues?jobsPerPage=abc`), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues?status=bogus`), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=%E0%A4%A`), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues/jobs/%zz`), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=jobs&activeQueue=webhooks`), 400, 'VALIDATION_ERROR');
      // Paging past Redis's integer range, or a page that would read a whole queue.
      for (const query of ['page=99999999999999999999', 'jobsPerPage=1e300', 'jobsPerPage=100000000', `page=${DASHBOARD_PAGE_LIMITS.page + 1}`]) {
        const res = await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=jobs&status=failed&${query}`);
        expectError(res, 400, 'VALIDATION_ERROR');
      }
      expect((await http('GET', `${stack.url}/admin/queues/api/queues?activeQueue=jobs&status=failed&page=${DASHBOARD_PAGE_LIMITS.page}&jobsPerPage=${DASHBOARD_PAGE_LIMITS.jobsPerPage}`)).status).to.equal(200);
      expectError(await http('GET', `${stack.url}/admin/queues/api/nope`), 404, 'NOT_FOUND');
      expectError(await http('GET', `${stack.url}/admin/queues/static/nope.js`), 404, 'NOT_FOUND');
      for (const path of ['/admin/queues/static/../../../package.json', '/admin/queues/static/%2e%2e/%2e%2e/%2e%2e/package.json', '/admin/queues/static/..%2f..%2f..%2fpackage.json']) {
        const res = await rawGet(stack.url, path);
        expect(res.status, path).to.be.within(400, 499);
        expect(res.text, path).not.to.contain('"name": "fnqueue"');
      }
      // A body that is not JSON on the board's API: 400 from fnqueue's parser, before the board.
      expectError(await http('PUT', `${stack.url}/admin/queues/api/queues/jobs/pause`, '{"a":'), 400, 'VALIDATION_ERROR');
    });
  });

  describe("Bull Board's own read-only mode (the board alone, without fnqueue's guard)", () => {
    let dashboard: Dashboard;
    let server: Server;
    let base: string;
    let jobQueues: JobQueues;

    before(async () => {
      jobQueues = new JobQueues(conn, keysFor(stack.config.QUEUE_PREFIX), stack.config.QUEUE_PREFIX);
      dashboard = dashboardRouter({ jobQueues, otherQueues: [webhooks], logger: memoryLogger().logger });
      const app = express();
      app.use('/ro', dashboard.readOnlyApp);
      app.use('/full', dashboard.fullApp);
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      track('bare board server', server, () => new Promise((r) => server.close(() => r())));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    after(async () => {
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      if (server) untrack(server);
      await jobQueues?.close();
    });

    it('refuses per-queue actions (405 QUEUE_READ_ONLY), skips its queues on pause-all; the full board acts', async () => {
      await failedJob(stack.url, jobs);
      const failedBefore = (await directCounts(jobs)).failed;
      for (const path of ['/api/queues/jobs/retry/failed', '/api/queues/jobs/pause', '/api/queues/jobs/clean/failed', '/api/queues/jobs/empty']) {
        const res = await http('PUT', `${base}/ro${path}`);
        expect(res.status, path).to.equal(405);
        expect(res.body.error).to.deep.equal({ key: 'ERRORS.QUEUE_READ_ONLY' });
      }
      expect((await http('PUT', `${base}/ro/api/queues/pause`)).status).to.equal(200);
      expect(await jobs.isPaused(), 'pause-all skips read-only queues').to.equal(false);
      expect((await directCounts(jobs)).failed).to.equal(failedBefore);

      expect((await http('PUT', `${base}/full/api/queues/webhooks/pause`)).status).to.equal(200);
      expect(await webhooks.isPaused()).to.equal(true);
      expect((await http('PUT', `${base}/full/api/queues/webhooks/resume`)).status).to.equal(200);
      expect(await webhooks.isPaused()).to.equal(false);
    });
  });

  describe('Redis down', () => {
    it('answers 503 SERVICE_UNAVAILABLE on /status and the board API, and serves again once Redis is back', async () => {
      await redis.stop();
      try {
        const res = await http('GET', `${stack.url}/status`);
        expectError(res, 503, 'SERVICE_UNAVAILABLE');
        expect(res.headers.get('retry-after')).to.equal('1');
        const board = await http('GET', `${stack.url}/admin/queues/api/queues`);
        expectError(board, 503, 'SERVICE_UNAVAILABLE');
        expect((await http('GET', `${stack.url}/admin/queues`)).status, 'the page needs no Redis').to.equal(200);
      } finally {
        await redis.start();
      }
      await eventually(async () => (await http('GET', `${stack.url}/status`)).status === 200, 15_000, 200);
    });
  });
});

describe('the dashboard and GET /status with AUTH_ENABLED=true (API keys)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let jobs: Queue;
  const keys: Record<'read' | 'write' | 'admin', Record<string, string>> = { read: {}, write: {}, admin: {} };

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_ID: SELF_WORKER, AUTH_ENABLED: 'true', WORKER_HEARTBEAT_MS: '200' });
    conn = new Redis(redis.url);
    jobs = new Queue(jobsQueueName(), { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
    const store = new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX));
    for (const scope of ['read', 'write', 'admin'] as const) keys[scope] = { 'X-API-Key': (await store.create(`dash-${scope}`, [scope])).key };
  });
  after(async () => {
    await stack?.close();
    await jobs?.close();
    conn?.disconnect();
    await redis?.destroy();
  });

  it('answers 401 without credentials on the page, its API, its actions, /status and worker resources', async () => {
    for (const [method, path] of [
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/api/queues'],
      ['GET', '/admin/queues/static/favicon.ico'],
      ['PUT', '/admin/queues/api/queues/jobs/pause'],
      ['GET', '/status'],
      ['GET', `/workers/${SELF_WORKER}/resources`],
    ] as const) {
      const res = await http(method, `${stack.url}${path}`);
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).to.match(/ApiKey realm="fnqueue"/);
    }
  });

  it('lets a read key (and a write key) view but refuses their actions with 403', async () => {
    await failedJob(stack.url, jobs, keys.write);
    const failedBefore = (await directCounts(jobs)).failed;
    for (const scope of ['read', 'write'] as const) {
      const page = await http('GET', `${stack.url}/admin/queues`, undefined, keys[scope]);
      expect(page.status).to.equal(200);
      expect(page.text).to.contain('<title>fnqueue (read-only)</title>');
      const queues = boardQueues(await http('GET', `${stack.url}/admin/queues/api/queues`, undefined, keys[scope]));
      expect([...queues.keys()]).to.include.members(['jobs', 'webhooks']);
      expect([...queues.values()].every((readOnly) => readOnly)).to.equal(true);
      for (const path of ['/admin/queues/api/queues/jobs/retry/failed', '/admin/queues/api/queues/jobs/pause', '/admin/queues/api/queues/pause']) {
        const res = await http('PUT', `${stack.url}${path}`, undefined, keys[scope]);
        expectError(res, 403, 'FORBIDDEN');
        expect(res.body.details).to.deep.equal({ required_scope: 'admin', granted_scopes: [scope] });
      }
    }
    expect(await jobs.isPaused()).to.equal(false);
    expect((await directCounts(jobs)).failed).to.equal(failedBefore);

    const status = await http('GET', `${stack.url}/status`, undefined, keys.read);
    expect(status.status).to.equal(200);
    expect(status.body.queues.jobs).to.deep.equal(await directCounts(jobs));
    const resources = await eventually(async () => {
      const r = await http('GET', `${stack.url}/workers/${SELF_WORKER}/resources`, undefined, keys.read);
      return r.status === 200 ? r : undefined;
    });
    expect(resources.body.worker_id).to.equal(SELF_WORKER);
  });

  it("gives an admin key the full board: retry-failed and pause/resume work", async () => {
    await failedJob(stack.url, jobs, keys.write);
    const page = await http('GET', `${stack.url}/admin/queues`, undefined, keys.admin);
    expect(page.text).to.contain('<title>fnqueue</title>');
    const queues = boardQueues(await http('GET', `${stack.url}/admin/queues/api/queues`, undefined, keys.admin));
    expect([...queues.values()].every((readOnly) => !readOnly)).to.equal(true);

    const failed = (await directCounts(jobs)).failed;
    expect(failed).to.be.above(0);
    const retried = await http('PUT', `${stack.url}/admin/queues/api/queues/jobs/retry/failed`, undefined, keys.admin);
    expect(retried.status, retried.text).to.equal(200);
    expect(retried.body).to.deep.equal({ retried: failed, skipped: 0 });

    const paused = await http('PUT', `${stack.url}/admin/queues/api/queues/webhooks/pause`, undefined, keys.admin);
    expect(paused.status, paused.text).to.equal(200);
    const webhooks = new Queue(WEBHOOKS_QUEUE, { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
    try {
      expect(await webhooks.isPaused()).to.equal(true);
      expect((await http('PUT', `${stack.url}/admin/queues/api/queues/webhooks/resume`, undefined, keys.admin)).status).to.equal(200);
      expect(await webhooks.isPaused()).to.equal(false);
    } finally {
      await webhooks.close();
    }
    // A board action with a body goes through fnqueue's JSON parsing (prototype keys refused).
    const polluted = await http('PUT', `${stack.url}/admin/queues/api/queues/jobs/concurrency`, '{"concurrency": 2, "__proto__": {"x": 1}}', keys.admin);
    expectError(polluted, 400, 'VALIDATION_ERROR');
  });
});
