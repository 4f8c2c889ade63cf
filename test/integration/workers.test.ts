import { readFile, readlink, statfs } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isoNow } from '../../shared/store/job-store.js';
import { keysFor } from '../../shared/store/keys.js';
import type { StoredWorker } from '../../shared/schemas/worker.js';
import { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { eventually, http, type JsonResponse, expectError } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/;

/** A registry entry for a worker that is not running (written straight to Redis). */
function fakeWorker(id: string, overrides: Partial<StoredWorker> & { heartbeatMs: number }): StoredWorker {
  const { heartbeatMs, ...rest } = overrides;
  return {
    id,
    host: id.split(':')[0]!,
    pid: Number(id.split(':')[1]),
    state: 'running',
    labels: {},
    concurrency: 1,
    runners: 1,
    active_jobs: [],
    jobs_processed: { completed: 0, failed: 0 },
    resources: { cpu_usage: 0, memory_usage: 1, runners_memory_usage: null },
    started_at: isoNow(new Date(heartbeatMs - 1000)),
    last_heartbeat: isoNow(new Date(heartbeatMs)),
    heartbeat_interval_ms: 1000,
    offline_after_ms: 3000,
    ...rest,
  };
}

describe('GET /workers (api and worker in-process, real Redis)', () => {
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let registry: WorkerRegistry;
  let selfId: string;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_HEARTBEAT_MS: '200', WORKER_LABELS: 'pool=cpu,region=eu', WORKER_FORGET_AFTER_MS: '60000', FUNCTION_HOSTS_MEMORY_BUDGET_MB: '300' });
    conn = new Redis(redis.url);
    registry = new WorkerRegistry(conn, keysFor(stack.config.QUEUE_PREFIX), 60_000);
    selfId = stack.worker.id;
  });
  after(async () => {
    await stack?.close();
    await conn?.quit();
    await redis?.destroy();
  });

  it('shows the running worker online with its labels, concurrency, runners, pid, times and resources', async () => {
    const res = await eventually(async () => {
      const r = await http('GET', `${stack.url}/workers`);
      return r.body?.items?.length ? r : undefined;
    });
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ total: 1, limit: 50, offset: 0 });
    const w = res.body.items[0];
    // The default id: `<hostname>:<pid>-<6 random hex>` (WORKER_ID unset).
    expect(selfId).to.match(new RegExp(`^${hostname().replace(/[.]/g, '\\.')}:${process.pid}-[0-9a-f]{6}$`));
    expect(w).to.include({ id: selfId, host: hostname(), pid: process.pid, status: 'online', state: 'running', concurrency: 2, runners: 2, heartbeat_interval_ms: 200, offline_after_ms: 600 });
    expect(w.labels).to.deep.equal({ pool: 'cpu', region: 'eu' });
    expect(w.started_at).to.match(ISO);
    expect(w.last_heartbeat).to.match(ISO);
    expect(w.active_jobs).to.be.an('array');
    expect(w.jobs_processed).to.have.all.keys('completed', 'failed');
    expect(w.resources).to.have.all.keys('cpu_usage', 'memory_usage', 'runners_memory_usage', 'disk', 'network');
    // Measured: statfs of the temporary directory and /proc/self/net/dev, compared with the same reads here.
    const fs = await statfs(tmpdir());
    expect(w.resources.disk).to.include({ path: tmpdir(), total_bytes: fs.blocks * fs.bsize });
    expect(w.resources.disk.usage_percent).to.be.within(0, 100);
    expect(Math.abs(w.resources.disk.available_bytes - fs.bavail * fs.bsize)).to.be.below(0.05 * fs.blocks * fs.bsize);
    if (process.platform === 'linux') {
      expect(w.resources.network.namespace).to.equal(await readlink('/proc/self/ns/net'));
      const rx = (await readFile('/proc/self/net/dev', 'utf8')).split('\n').slice(2).filter((l) => l.includes(':') && l.split(':')[0]!.trim() !== 'lo').reduce((sum, l) => sum + Number(l.split(':')[1]!.trim().split(/\s+/)[0]), 0);
      expect(w.resources.network.rx_bytes).to.be.a('number').and.at.most(rx);
      expect(rx - w.resources.network.rx_bytes).to.be.below(1e9);
    }
    expect(w.resources.cpu_usage).to.be.a('number').and.at.least(0);
    expect(w.resources.memory_usage).to.be.a('number').and.above(10 * 1024 * 1024);
    if (process.platform === 'linux') expect(w.resources.runners_memory_usage).to.be.a('number').and.above(1024 * 1024);
    expect(w.function_hosts).to.deep.equal({ budget_mb: 300, reserved_mb: 0, rss_mb: 0, hosts: 0, idle_hosts: 0 });
  });

  it('shows its warm function processes against FUNCTION_HOSTS_MEMORY_BUDGET_MB: three 128 MB functions keep two', async function () {
    this.timeout(60_000);
    for (let i = 1; i <= 3; i++) {
      const created = await http('POST', `${stack.url}/functions`, { name: `budget-${process.pid}-${i}`, runtime: 'python', code: 'def handler(event): return event', execution_type: 'sync', memory_mb: 128, pool: 'cpu' });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const res = await http('POST', `${stack.url}/functions/${created.body.function_id}/invoke`, { i });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.result).to.deep.equal({ i });
    }
    const hosts = await eventually(async () => {
      const fh = (await http('GET', `${stack.url}/workers/${selfId}`)).body.function_hosts;
      return fh?.hosts === 2 && fh.idle_hosts === 2 ? fh : undefined;
    });
    expect(hosts).to.include({ budget_mb: 300, reserved_mb: 256, hosts: 2, idle_hosts: 2 });
    if (process.platform === 'linux') expect(hosts.rss_mb).to.be.a('number').and.above(5).and.at.most(256);
    const listed = (await http('GET', `${stack.url}/workers`)).body.items[0].function_hosts;
    expect(listed).to.include({ budget_mb: 300, reserved_mb: 256, hosts: 2 });
  });

  it('refreshes last_heartbeat every WORKER_HEARTBEAT_MS', async () => {
    const first = (await http('GET', `${stack.url}/workers/${selfId}`)).body.last_heartbeat as string;
    await eventually(async () => (await http('GET', `${stack.url}/workers/${selfId}`)).body.last_heartbeat > first, 2000);
  });

  it('serves GET /workers/{worker_id} with the : as is or URL-encoded', async () => {
    const plain = await http('GET', `${stack.url}/workers/${selfId}`);
    expect(plain.status).to.equal(200);
    expect(plain.body).to.include({ id: selfId, status: 'online' });
    const encoded = await http('GET', `${stack.url}/workers/${encodeURIComponent(selfId)}`);
    expect(encoded.status).to.equal(200);
    expect(encoded.body.id).to.equal(selfId);
  });

  it('lists a running job in active_jobs, then drops it and counts it completed', async () => {
    const before = (await http('GET', `${stack.url}/workers/${selfId}`)).body.jobs_processed.completed as number;
    // This stack's worker is labelled pool=cpu, so it serves only that pool's queue (pool routing, docs/operations.md#job-options).
    const job = await http('POST', `${stack.url}/jobs`, { algorithm: 'Sleep', params: { ms: 1500 }, pool: 'cpu' });
    expect(job.status).to.equal(202);
    const jobId = job.body.job_id as string;
    await eventually(async () => ((await http('GET', `${stack.url}/workers/${selfId}`)).body.active_jobs as string[]).includes(jobId), 5000);
    const done = await eventually(async () => {
      const w = (await http('GET', `${stack.url}/workers/${selfId}`)).body;
      return !(w.active_jobs as string[]).includes(jobId) && w.jobs_processed.completed > before ? w : undefined;
    }, 5000);
    expect(done.jobs_processed.completed).to.equal(before + 1);
    expect((await http('GET', `${stack.url}/jobs/${jobId}`)).body.status).to.equal('completed');
  });

  it('counts a failed job as failed', async () => {
    const before = (await http('GET', `${stack.url}/workers/${selfId}`)).body.jobs_processed.failed as number;
    const res = await http('POST', `${stack.url}/invoke`, { algorithm: 'Crash', params: { throw: true }, pool: 'cpu' });
    expect(res.status).to.equal(500);
    await eventually(async () => (await http('GET', `${stack.url}/workers/${selfId}`)).body.jobs_processed.failed === before + 1, 3000);
  });

  describe('with other workers in the registry', () => {
    before(async () => {
      const now = Date.now();
      await registry.heartbeat(fakeWorker('gpu-host:11', { heartbeatMs: now, labels: { pool: 'gpu' }, offline_after_ms: 600_000 }), now);
      await registry.heartbeat(fakeWorker('silent-host:22', { heartbeatMs: now - 30_000, labels: { pool: 'cpu', region: 'us' } }), now - 30_000);
      await registry.heartbeat(fakeWorker('stopped-host:33', { heartbeatMs: now - 100, state: 'stopped', offline_after_ms: 600_000 }), now - 100);
      // Last heard of past WORKER_FORGET_AFTER_MS: its index entry is pruned when read.
      await registry.heartbeat(fakeWorker('gone-host:44', { heartbeatMs: now - 120_000 }), now - 120_000);
    });

    const ids = (res: JsonResponse) => (res.body.items as Array<{ id: string }>).map((w) => w.id);

    it('lists every remembered worker newest heartbeat first and ages out the forgotten ones', async () => {
      const res = await http('GET', `${stack.url}/workers`);
      expect(res.status).to.equal(200);
      expect(res.body.total).to.equal(4);
      expect(ids(res)).to.have.members([selfId, 'gpu-host:11', 'silent-host:22', 'stopped-host:33']);
      const beats = (res.body.items as Array<{ last_heartbeat: string }>).map((w) => Date.parse(w.last_heartbeat));
      expect(beats).to.deep.equal([...beats].sort((a, b) => b - a));
      expect(ids(res).at(-1)).to.equal('silent-host:22');
      expect(await conn.zscore(keysFor(stack.config.QUEUE_PREFIX).workers, 'gone-host:44')).to.equal(null);
      expectError(await http('GET', `${stack.url}/workers/gone-host:44`), 404, 'WORKER_NOT_FOUND');
    });

    it('shows a silent worker and a stopped one offline, and filters by status', async () => {
      const silent = await http('GET', `${stack.url}/workers/silent-host:22`);
      expect(silent.body).to.include({ status: 'offline', state: 'running' });
      const stopped = await http('GET', `${stack.url}/workers/stopped-host%3A33`);
      expect(stopped.body).to.include({ status: 'offline', state: 'stopped' });
      const online = await http('GET', `${stack.url}/workers?status=online`);
      expect(ids(online)).to.have.members([selfId, 'gpu-host:11']);
      expect(online.body.total).to.equal(2);
      const offline = await http('GET', `${stack.url}/workers?status=offline`);
      expect(ids(offline)).to.have.members(['silent-host:22', 'stopped-host:33']);
    });

    it('counts them on /metrics by status and last state (fnqueue_workers), with fnqueue_redis_up 1', async () => {
      const text = (await http('GET', `${stack.url}/metrics`)).text;
      expect(text).to.match(/^fnqueue_redis_up 1$/m);
      expect(text).to.match(/^fnqueue_workers\{status="online",state="running"\} 2$/m);
      expect(text).to.match(/^fnqueue_workers\{status="offline",state="running"\} 1$/m);
      expect(text).to.match(/^fnqueue_workers\{status="offline",state="stopped"\} 1$/m);
      expect(text).to.match(/^fnqueue_workers\{status="online",state="draining"\} 0$/m);
    });

    it('filters by labels: repeated or comma-separated, all must match', async () => {
      expect(ids(await http('GET', `${stack.url}/workers?label=pool=cpu`))).to.have.members([selfId, 'silent-host:22']);
      expect(ids(await http('GET', `${stack.url}/workers?label=pool=cpu&label=region=eu`))).to.deep.equal([selfId]);
      expect(ids(await http('GET', `${stack.url}/workers?label=${encodeURIComponent('pool=cpu,region=us')}`))).to.deep.equal(['silent-host:22']);
      expect(ids(await http('GET', `${stack.url}/workers?label=pool%3Dgpu&status=online`))).to.deep.equal(['gpu-host:11']);
      const none = await http('GET', `${stack.url}/workers?label=pool=tpu`);
      expect(none.body).to.deep.equal({ total: 0, limit: 50, offset: 0, items: [] });
    });

    it('pages with limit and offset, total counting every match', async () => {
      const all = ids(await http('GET', `${stack.url}/workers?status=offline`));
      const first = await http('GET', `${stack.url}/workers?status=offline&limit=1`);
      expect(first.body).to.include({ total: 2, limit: 1, offset: 0 });
      expect(ids(first)).to.deep.equal([all[0]]);
      const second = await http('GET', `${stack.url}/workers?status=offline&limit=1&offset=1`);
      expect(second.body).to.include({ total: 2, limit: 1, offset: 1 });
      expect(ids(second)).to.deep.equal([all[1]]);
      const past = await http('GET', `${stack.url}/workers?offset=10&limit=500`);
      expect(past.body).to.include({ total: 4, limit: 500, offset: 10 });
      expect(past.body.items).to.deep.equal([]);
    });
  });

  it('answers 400 VALIDATION_ERROR for a bad query', async () => {
    const bad = ['status=busy', 'status=online&status=offline', 'limit=0', 'limit=501', 'limit=abc', 'limit=1.5', 'offset=-1', 'label=pool', 'label==x', 'label=po%20ol=x', 'label=a=1&label=a=2', 'sort=id', 'label[a]=b'];
    for (const q of bad) {
      const res = await http('GET', `${stack.url}/workers?${q}`);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details.field, q).to.be.a('string');
    }
    const res = await http('GET', `${stack.url}/workers?limit=501`);
    expect(res.body.message).to.equal('limit must be at most 500');
    expect((await http('GET', `${stack.url}/workers?sort=id`)).body.message).to.match(/^unknown query parameter 'sort'/);
    expect((await http('GET', `${stack.url}/workers?label=pool`)).body.message).to.equal('label "pool" must be key=value');
  });

  it('answers 404 WORKER_NOT_FOUND for an unknown id, 405 for another method', async () => {
    const res = await http('GET', `${stack.url}/workers/nohost:1`);
    expectError(res, 404, 'WORKER_NOT_FOUND');
    expect(res.body.details).to.deep.equal({ worker_id: 'nohost:1' });
    expectError(await http('GET', `${stack.url}/workers/${'x'.repeat(400)}`), 404, 'WORKER_NOT_FOUND');
    expectError(await http('DELETE', `${stack.url}/workers/${selfId}`), 405, 'METHOD_NOT_ALLOWED');
    expectError(await http('POST', `${stack.url}/workers`, {}), 405, 'METHOD_NOT_ALLOWED');
  });

  it('documents both routes in the OpenAPI document with scope read', async () => {
    const doc = (await http('GET', `${stack.url}/openapi.json`)).body;
    expect(doc.paths['/workers'].get['x-required-scope']).to.equal('read');
    expect(doc.paths['/workers/{worker_id}'].get['x-required-scope']).to.equal('read');
    expect(doc.components.schemas.Worker.properties.resources.properties).to.have.all.keys('cpu_usage', 'memory_usage', 'runners_memory_usage', 'disk', 'network');
    expect(doc.components.schemas.Worker.properties.function_hosts.properties).to.have.all.keys('budget_mb', 'reserved_mb', 'rss_mb', 'hosts', 'idle_hosts');
  });
});
