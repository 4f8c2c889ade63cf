import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * Job control across real processes: an api and two worker processes on one redis-server, one serving
 * the default pool, one labelled `pool=gpu`. Jobs run only on a worker of their pool, and a job
 * running on a worker process is cancelled through the api process (its runner child is killed there).
 */
describe('pools and cancellation (real api and worker processes)', () => {
  let redis: TestRedis;
  let api: ServiceProcess;
  let plain: ServiceProcess;
  let gpu: ServiceProcess;
  const procs: ServiceProcess[] = [];

  before(async () => {
    redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `e2ej${Math.random().toString(36).slice(2, 8)}`,
      DIAGNOSTIC_ALGORITHMS: 'true',
      WORKER_CONCURRENCY: '2',
      WORKER_HEARTBEAT_MS: '200',
      SHUTDOWN_GRACE_MS: '3000',
    };
    api = await startService('api', env);
    procs.push(api);
    [plain, gpu] = await Promise.all([startService('worker', env), startService('worker', { ...env, WORKER_LABELS: 'pool=gpu' })]);
    procs.push(plain!, gpu!);
    await eventually(async () => (await http('GET', `${api.url}/workers?status=online`)).body?.total === 2, 10_000);
  });
  after(async () => {
    for (const proc of procs.reverse()) await proc.stop('SIGKILL');
    await redis?.destroy();
  });

  const idOf = (proc: ServiceProcess) => proc.id!;
  const submit = async (body: Record<string, unknown>) => {
    const res = await http('POST', `${api.url}/jobs`, body);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.job_id as string;
  };
  const ended = (jobId: string) =>
    eventually(async () => {
      const res = await http('GET', `${api.url}/jobs/${jobId}`);
      return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
    }, 15_000);
  const workerOf = async (jobId: string) => (await http('GET', `${api.url}/jobs/${jobId}/attempts`)).body.attempts[0]?.worker_id as string | undefined;

  it('runs a job naming a pool only on workers labelled with it, and other jobs only on default workers', async () => {
    const gpuJobs = await Promise.all(Array.from({ length: 6 }, (_, i) => submit({ algorithm: 'Echo', params: { value: i }, pool: 'gpu' })));
    const plainJobs = await Promise.all(Array.from({ length: 6 }, (_, i) => submit({ algorithm: 'Echo', params: { value: i } })));
    for (const id of [...gpuJobs, ...plainJobs]) expect((await ended(id)).status).to.equal('completed');
    for (const id of gpuJobs) expect(await workerOf(id), id).to.equal(idOf(gpu));
    for (const id of plainJobs) expect(await workerOf(id), id).to.equal(idOf(plain));
    expect((await http('GET', `${api.url}/jobs/${gpuJobs[0]}`)).body.pool).to.equal('gpu');
  });

  it('refuses a job to a pool no worker serves with 409 naming the pool', async () => {
    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'Echo', params: {}, pool: 'tpu' });
    expect(res.status).to.equal(409);
    expect(res.body.details).to.deep.equal({ reason: 'pool_not_served', pool: 'tpu' });
  });

  it('cancels a job running on another worker process: its runner child is killed there and the worker serves on', async () => {
    const id = await submit({ algorithm: 'Sleep', params: { ms: 30_000 }, pool: 'gpu' });
    await eventually(async () => (await http('GET', `${api.url}/jobs/${id}`)).body.status === 'running', 10_000);
    await eventually(async () => (await http('GET', `${api.url}/workers/${idOf(gpu)}`)).body.active_jobs.includes(id), 5000);

    const res = await http('POST', `${api.url}/jobs/${id}/cancel`);
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal('cancelled');
    // The attempt ends `cancelled` only once its run rejected, which for a 30 s Sleep means its runner child was killed.
    const attempt = await eventually(async () => (await http('GET', `${api.url}/jobs/${id}/attempts`)).body.attempts.find((a: any) => a.status === 'cancelled'), 5000);
    expect(attempt.worker_id).to.equal(idOf(gpu));
    // The worker's heartbeat no longer lists it, and the gpu worker takes the next job at once.
    await eventually(async () => !(await http('GET', `${api.url}/workers/${idOf(gpu)}`)).body.active_jobs.includes(id), 5000);
    const next = await ended(await submit({ algorithm: 'Echo', params: { value: 'after' }, pool: 'gpu' }));
    expect(next.status).to.equal('completed');
    expect((await http('GET', `${api.url}/jobs/${id}`)).body.status).to.equal('cancelled');
  });
});
