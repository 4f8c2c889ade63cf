import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * End-to-end workers registry (docs/operations.md#workers): real `api/main.ts` and `worker/main.ts` processes on a
 * real redis-server. A worker killed without warning turns `offline` once its last heartbeat is
 * WORKER_OFFLINE_AFTER_MS old; one stopped with SIGTERM says so in its last heartbeat and is
 * `offline` at once.
 */

const HEARTBEAT_MS = 200;
const OFFLINE_AFTER_MS = 1500;

describe('workers registry (real api and worker processes)', () => {
  let redis: TestRedis;
  let procs: ServiceProcess[] = [];
  let api: ServiceProcess;
  const env = () => ({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `e2ew${Math.random().toString(36).slice(2, 8)}`,
    WORKER_CONCURRENCY: '1',
    WORKER_HEARTBEAT_MS: String(HEARTBEAT_MS),
    WORKER_OFFLINE_AFTER_MS: String(OFFLINE_AFTER_MS),
    SHUTDOWN_GRACE_MS: '3000',
  });

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const proc of procs.splice(0).reverse()) await proc.stop('SIGKILL');
    await redis?.destroy();
  });

  /** Starts an api and `n` workers on one prefix; resolves once every worker shows online. */
  async function start(n: number, labels: string[] = []): Promise<ServiceProcess[]> {
    const e = env();
    api = await startService('api', e);
    procs.push(api);
    const workers = await Promise.all(Array.from({ length: n }, (_, i) => startService('worker', { ...e, WORKER_LABELS: labels[i] ?? '' })));
    procs.push(...workers);
    await eventually(async () => {
      const res = await http('GET', `${api.url}/workers?status=online`);
      return res.body?.total === n;
    }, 10_000);
    return workers;
  }

  const idOf = (proc: ServiceProcess) => proc.id!;

  it('shows a worker killed with SIGKILL offline once its heartbeat is WORKER_OFFLINE_AFTER_MS old; the other stays online', async () => {
    const [victim, survivor] = await start(2, ['pool=a', 'pool=b']);
    const before = await http('GET', `${api.url}/workers/${idOf(victim!)}`);
    expect(before.body).to.include({ status: 'online', state: 'running', pid: victim!.pid });
    expect(before.body.labels).to.deep.equal({ pool: 'a' });

    victim!.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await victim!.exited;
    // Still online right after: nothing told the registry.
    expect((await http('GET', `${api.url}/workers/${idOf(victim!)}`)).body.status).to.equal('online');
    const offline = await eventually(async () => {
      const w = (await http('GET', `${api.url}/workers/${idOf(victim!)}`)).body;
      return w.status === 'offline' ? w : undefined;
    }, OFFLINE_AFTER_MS + 3000, 25);
    const elapsed = Date.now() - killedAt;
    expect(elapsed, 'not before the bound (less one heartbeat)').to.be.at.least(OFFLINE_AFTER_MS - HEARTBEAT_MS - 100);
    expect(elapsed).to.be.below(OFFLINE_AFTER_MS + 1500);
    expect(offline.state).to.equal('running');

    const list = await http('GET', `${api.url}/workers`);
    expect(list.body.total).to.equal(2);
    const byId = new Map((list.body.items as Array<{ id: string; status: string }>).map((w) => [w.id, w.status]));
    expect(byId.get(idOf(victim!))).to.equal('offline');
    expect(byId.get(idOf(survivor!))).to.equal('online');
    expect((await http('GET', `${api.url}/workers?status=offline&label=pool=a`)).body.items.map((w: { id: string }) => w.id)).to.deep.equal([idOf(victim!)]);
  });

  it('shows a worker stopped with SIGTERM offline at once, with state stopped and its counts', async () => {
    const [worker] = await start(1);
    const invoked = await http('POST', `${api.url}/invoke`, { number: 17 });
    expect(invoked.status).to.equal(200);
    await eventually(async () => (await http('GET', `${api.url}/workers/${idOf(worker!)}`)).body.jobs_processed?.completed === 1, 3000);

    expect(await worker!.stop('SIGTERM')).to.equal(0);
    const res = await http('GET', `${api.url}/workers/${idOf(worker!)}`);
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ status: 'offline', state: 'stopped' });
    expect(res.body.active_jobs).to.deep.equal([]);
    expect(res.body.jobs_processed).to.deep.equal({ completed: 1, failed: 0 });
    expect(Date.now() - Date.parse(res.body.last_heartbeat)).to.be.below(OFFLINE_AFTER_MS);
    expect((await http('GET', `${api.url}/workers?status=online`)).body.total).to.equal(0);
  });
});
