import { readFile, statfs } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { ApiKeyStore } from '../../shared/store/api-key-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { eventually, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'hetuflow-test-secret-of-32-characters-or-more';
const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Asserts the hetuflow scheduler API reference's error shape: `{error: {code, message, details}, timestamp}`. */
export function expectHetuError(res: JsonResponse, status: number, code: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body).to.have.all.keys('error', 'timestamp');
  expect(res.body.error).to.include.all.keys('code', 'message', 'details');
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.message).to.be.a('string').and.not.empty;
  expect(res.body.timestamp).to.match(ISO_Z);
  expect(res.text).not.to.match(/\bat .*\.(ts|js):\d+/);
}

const jwt = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

describe('hetuflow-compatible scheduler API at /api/v1 (api and worker in-process, real Redis)', () => {
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let base: string;
  let token: string;
  let auth: Record<string, string>;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { AUTH_ENABLED: 'true', JWT_SECRET: SECRET, WORKER_HEARTBEAT_MS: '200', WORKER_LABELS: 'region=east', MAX_JOB_DEFINITIONS: '40' });
    conn = new Redis(redis.url);
    base = `${stack.url}/api/v1`;
    token = await jwt({ sub: 'tester', scope: 'admin' });
    auth = { authorization: `Bearer ${token}` };
  });
  after(async () => {
    await stack?.close();
    await conn?.quit();
    await redis?.destroy();
  });

  describe('job definitions', () => {
    it("creates the reference's data-processing-job and answers {id}; GET reads it back with the reference's fields", async () => {
      const body = {
        namespace_id: 'default',
        name: 'data-processing-job',
        description: '数据处理作业',
        environment: { PYTHONPATH: '/opt/app' },
        config: { timeout: 3600, max_retries: 3, retry_interval: 60, cmd: 'python', args: ['process.py'], capture_output: true, max_output_size: 10485760 },
      };
      const created = await http('POST', `${base}/jobs/item`, body, auth);
      expect(created.status, created.text).to.equal(200);
      expect(created.body).to.have.all.keys('id');
      expect(created.body.id).to.match(UUID);
      const got = await http('GET', `${base}/jobs/item/${created.body.id}`, undefined, auth);
      expect(got.status).to.equal(200);
      expect(got.body).to.have.all.keys('id', 'namespace_id', 'name', 'description', 'environment', 'config', 'status', 'created_at', 'updated_at');
      expect(got.body).to.deep.include({ id: created.body.id, ...body, status: 'enabled' });
      expect(got.body.created_at).to.match(ISO_Z);
    });

    it('defaults namespace_id, description, environment and the config fields the body leaves out', async () => {
      const created = await http('POST', `${base}/jobs/item`, { name: 'defaults', config: { cmd: 'true' } }, auth);
      const got = (await http('GET', `${base}/jobs/item/${created.body.id}`, undefined, auth)).body;
      expect(got).to.deep.include({ namespace_id: 'default', description: null, environment: null, status: 'enabled' });
      expect(got.config).to.deep.equal({ timeout: 3600, max_retries: 0, retry_interval: 60, cmd: 'true', args: [], capture_output: true, max_output_size: 1048576 });
    });

    it('updates with PUT (config merged field by field), enables and disables, deletes', async () => {
      const { id } = (await http('POST', `${base}/jobs/item`, { name: 'to-change', config: { cmd: 'echo', args: ['a'] } }, auth)).body;
      const put = await http('PUT', `${base}/jobs/item/${id}`, { description: 'changed', config: { args: ['b', 'c'], timeout: 5 } }, auth);
      expect(put.status, put.text).to.equal(200);
      expect(put.body).to.deep.include({ description: 'changed' });
      expect(put.body.config).to.include({ cmd: 'echo', timeout: 5 });
      expect(put.body.config.args).to.deep.equal(['b', 'c']);
      expect(Date.parse(put.body.updated_at)).to.be.at.least(Date.parse(put.body.created_at));
      expect((await http('POST', `${base}/jobs/item/${id}/disable`, undefined, auth)).body.status).to.equal('disabled');
      expect((await http('GET', `${base}/jobs/item/${id}`, undefined, auth)).body.status).to.equal('disabled');
      expect((await http('POST', `${base}/jobs/item/${id}/enable`, undefined, auth)).body.status).to.equal('enabled');
      const del = await http('DELETE', `${base}/jobs/item/${id}`, undefined, auth);
      expect(del.status).to.equal(200);
      expect(del.body).to.deep.equal({ id });
      expectHetuError(await http('GET', `${base}/jobs/item/${id}`, undefined, auth), 404, 'NOT_FOUND');
      expectHetuError(await http('DELETE', `${base}/jobs/item/${id}`, undefined, auth), 404, 'NOT_FOUND');
    });

    it("answers NOT_FOUND in the reference's shape, with a details sentence", async () => {
      const res = await http('GET', `${base}/jobs/item/550e8400-e29b-41d4-a716-446655440000`, undefined, auth);
      expectHetuError(res, 404, 'NOT_FOUND');
      expect(res.body.error).to.include({ message: 'Job not found', details: "Job '550e8400-e29b-41d4-a716-446655440000' does not exist" });
      for (const [method, path] of [['PUT', 'jobs/item/nope'], ['POST', 'jobs/item/nope/enable'], ['POST', 'jobs/item/nope/disable']] as const) {
        expectHetuError(await http(method, `${base}/${path}`, method === 'PUT' ? { name: 'x' } : undefined, auth), 404, 'NOT_FOUND');
      }
      expectHetuError(await http('GET', `${base}/jobs/nothing-here`, undefined, auth), 404, 'NOT_FOUND');
      expectHetuError(await http('GET', `${base}/jobs/page`, undefined, auth), 405, 'METHOD_NOT_ALLOWED');
    });

    it('answers VALIDATION_ERROR naming the field, and writes nothing', async () => {
      const before = (await http('POST', `${base}/jobs/page`, { page: { page: 1, page_size: 500 } }, auth)).body.total;
      const cases: Array<[unknown, string]> = [
        [{ name: 'x' }, 'config'],
        [{ name: 'x', config: {} }, 'config.cmd'],
        [{ name: 'x', config: { cmd: 'a', timeout: 0 } }, 'config.timeout'],
        [{ name: 'x', config: { cmd: 'a', timeout: 1.5 } }, 'config.timeout'],
        [{ name: 'x', config: { cmd: 'a', max_retries: -1 } }, 'config.max_retries'],
        [{ name: 'x', config: { cmd: 'a', args: 'ls' } }, 'config.args'],
        [{ name: 'x', config: { cmd: 'a', capture_output: 'yes' } }, 'config.capture_output'],
        [{ name: 'x', config: { cmd: 'a', colour: 1 } }, 'config.colour'],
        [{ name: '', config: { cmd: 'a' } }, 'name'],
        [{ name: 'x', namespace_id: 'bad ns', config: { cmd: 'a' } }, 'namespace_id'],
        [{ name: 'x', environment: { '1BAD': 'v' }, config: { cmd: 'a' } }, 'environment.1BAD'],
        [{ name: 'x', environment: { A: 1 }, config: { cmd: 'a' } }, 'environment.A'],
        [{ name: 'x', config: { cmd: 'a' }, extra: true }, 'extra'],
      ];
      for (const [body, field] of cases) {
        const res = await http('POST', `${base}/jobs/item`, body, auth);
        expectHetuError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.error.details, JSON.stringify(body)).to.match(new RegExp(`^field '${field.replace('.', '\\.')}'`));
      }
      expectHetuError(await http('POST', `${base}/jobs/item`, '{"name": ', { ...auth, 'content-type': 'application/json' }), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/jobs/item`, '[1]', { ...auth, 'content-type': 'application/json' }), 400, 'VALIDATION_ERROR');
      expect((await http('POST', `${base}/jobs/page`, { page: { page: 1, page_size: 500 } }, auth)).body.total).to.equal(before);
    });

    it('refuses past MAX_JOB_DEFINITIONS with CONFLICT', async () => {
      const total = (await http('POST', `${base}/jobs/page`, {}, auth)).body.total as number;
      for (let i = total; i < 40; i++) expect((await http('POST', `${base}/jobs/item`, { name: `fill-${i}`, config: { cmd: 'true' } }, auth)).status).to.equal(200);
      expectHetuError(await http('POST', `${base}/jobs/item`, { name: 'one-too-many', config: { cmd: 'true' } }, auth), 409, 'CONFLICT');
      // Room again for the tests that follow.
      const page = (await http('POST', `${base}/jobs/page`, { filter: { name: { in: Array.from({ length: 40 }, (_, i) => `fill-${i}`) } }, page: { page_size: 100 } }, auth)).body;
      for (const d of page.data) expect((await http('DELETE', `${base}/jobs/item/${d.id}`, undefined, auth)).status).to.equal(200);
    });
  });

  describe('paging and filters', () => {
    const ids: Record<string, string> = {};
    before(async () => {
      for (const [name, ns, status] of [['p-a', 'default', 'enabled'], ['p-b', 'team-x', 'enabled'], ['p-c', 'team-x', 'disabled'], ['p-d', 'team-y', 'enabled']] as const) {
        ids[name] = (await http('POST', `${base}/jobs/item`, { name, namespace_id: ns, status, config: { cmd: 'true' } }, auth)).body.id;
        await new Promise((r) => setTimeout(r, 5));
      }
    });

    const names = (res: JsonResponse) => (res.body.data as Array<{ name: string }>).map((d) => d.name).filter((n) => n.startsWith('p-'));

    it("pages the reference's request: namespace eq, status eq 1, created_at gte; answers {data, total, page, page_size}", async () => {
      const res = await http('POST', `${base}/jobs/page`, { filter: { namespace_id: { eq: 'team-x' }, status: { eq: 1 }, created_at: { gte: '2024-01-01T00:00:00Z' } }, page: { page: 1, page_size: 20 } }, auth);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.have.all.keys('data', 'total', 'page', 'page_size');
      expect(res.body).to.include({ total: 1, page: 1, page_size: 20 });
      expect(names(res)).to.deep.equal(['p-b']);
    });

    it('takes statuses as names or integer codes, and in', async () => {
      const byName = await http('POST', `${base}/jobs/page`, { filter: { namespace_id: { eq: 'team-x' }, status: { eq: 'disabled' } } }, auth);
      const byCode = await http('POST', `${base}/jobs/page`, { filter: { namespace_id: { eq: 'team-x' }, status: { eq: 0 } } }, auth);
      expect(names(byName)).to.deep.equal(['p-c']);
      expect(byCode.body.data).to.deep.equal(byName.body.data);
      const both = await http('POST', `${base}/jobs/page`, { filter: { namespace_id: { in: ['team-x', 'team-y'] }, status: { in: [0, 'enabled'] } } }, auth);
      expect(names(both)).to.deep.equal(['p-d', 'p-c', 'p-b']);
    });

    it('filters by time with gte and lte, and by id', async () => {
      const c = (await http('GET', `${base}/jobs/item/${ids['p-c']}`, undefined, auth)).body;
      const window = await http('POST', `${base}/jobs/page`, { filter: { created_at: { gte: c.created_at, lte: c.created_at } } }, auth);
      expect(names(window)).to.deep.equal(['p-c']);
      const future = await http('POST', `${base}/jobs/page`, { filter: { created_at: { gte: '2999-01-01T00:00:00Z' } } }, auth);
      expect(future.body).to.deep.equal({ data: [], total: 0, page: 1, page_size: 20 });
      const byId = await http('POST', `${base}/jobs/page`, { filter: { id: { eq: ids['p-a'] } } }, auth);
      expect(names(byId)).to.deep.equal(['p-a']);
    });

    it('pages newest first with page and page_size, total counting every match', async () => {
      const filter = { name: { in: ['p-a', 'p-b', 'p-c', 'p-d'] } };
      const first = await http('POST', `${base}/jobs/page`, { filter, page: { page: 1, page_size: 3 } }, auth);
      expect(first.body).to.include({ total: 4, page: 1, page_size: 3 });
      expect(names(first)).to.deep.equal(['p-d', 'p-c', 'p-b']);
      const second = await http('POST', `${base}/jobs/page`, { filter, page: { page: 2, page_size: 3 } }, auth);
      expect(names(second)).to.deep.equal(['p-a']);
      const past = await http('POST', `${base}/jobs/page`, { filter, page: { page: 9, page_size: 3 } }, auth);
      expect(past.body).to.deep.equal({ data: [], total: 4, page: 9, page_size: 3 });
    });

    it('answers VALIDATION_ERROR for a bad filter or page', async () => {
      const bad: Array<[unknown, string]> = [
        [{ filter: { colour: { eq: 1 } } }, 'filter.colour'],
        [{ filter: { status: { eq: 7 } } }, 'filter.status.eq'],
        [{ filter: { status: { eq: 'gone' } } }, 'filter.status.eq'],
        [{ filter: { status: { like: 1 } } }, 'filter.status.like'],
        [{ filter: { created_at: { gte: 'yesterday' } } }, 'filter.created_at.gte'],
        [{ filter: { name: { gte: 'a' } } }, 'filter.name.gte'],
        [{ filter: { name: { in: 'a' } } }, 'filter.name.in'],
        [{ filter: { name: 'a' } }, 'filter.name'],
        [{ filter: [] }, 'filter'],
        [{ page: { page: 0 } }, 'page.page'],
        [{ page: { page_size: 501 } }, 'page.page_size'],
        [{ page: { page: '1' } }, 'page.page'],
        [{ page: { size: 1 } }, 'page.size'],
        [{ sort: 'name' }, 'sort'],
      ];
      for (const [body, field] of bad) {
        const res = await http('POST', `${base}/jobs/page`, body, auth);
        expectHetuError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.error.details, JSON.stringify(body)).to.satisfy((d: string) => d.startsWith(`field '${field}'`));
      }
    });
  });

  describe('runs, tasks and schedules', () => {
    let defId: string;
    before(async () => {
      defId = (
        await http('POST', `${base}/jobs/item`, { namespace_id: 'default', name: 'test-job', description: '测试作业', environment: { GREETING: 'hi' }, config: { timeout: 3600, max_retries: 3, retry_interval: 60, cmd: 'bash', args: ['-c', 'echo Hello World'], capture_output: true } }, auth)
      ).body.id;
    });

    it('runs a definition now: a command job carrying its id and namespace, listed as its task', async () => {
      const run = await http('POST', `${base}/jobs/item/${defId}/run`, undefined, auth);
      expect(run.status, run.text).to.equal(201);
      expect(run.headers.get('location')).to.equal(`/jobs/${run.body.id}`);
      expect(run.body).to.include({ job_id: defId, status: 'pending' });
      const record = (await http('GET', `${stack.url}/jobs/${run.body.id}`, undefined, auth)).body;
      expect(record).to.include({ algorithm: 'command', definition_id: defId, namespace: 'default', timeout_ms: 3_600_000, max_retries: 3, retry_backoff: 'fixed', retry_interval_ms: 60_000 });
      expect(record.command).to.deep.include({ cmd: 'bash', args: ['-c', 'echo Hello World'], capture_output: true, env: { GREETING: '[redacted]' } });
      const tasks = await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: defId } }, page: { page: 1, page_size: 20 } }, auth);
      expect(tasks.status, tasks.text).to.equal(200);
      expect(tasks.body.total).to.equal(1);
      const task = tasks.body.data[0];
      expect(task).to.have.all.keys('id', 'job_id', 'namespace_id', 'priority', 'status', 'schedule_id', 'scheduled_at', 'schedule_kind', 'completed_at', 'environment', 'parameters', 'config', 'retry_count', 'dependencies', 'locked_at', 'lock_version', 'created_by', 'created_at', 'updated_by', 'updated_at');
      expect(task).to.deep.include({ id: run.body.id, job_id: defId, namespace_id: 'default', priority: 0, schedule_id: null, schedule_kind: 'event', environment: { GREETING: '[redacted]' }, dependencies: null });
      expect(task.config).to.deep.equal({ timeout: 3600, max_retries: 3, retry_interval: 60, cmd: 'bash', args: ['-c', 'echo Hello World'], capture_output: true, max_output_size: 1048576 });
      // The attempt the worker makes is the task's instance, with the worker as agent.
      const instances = await eventually(async () => {
        const r = await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: run.body.id } } }, auth);
        return r.body.total >= 1 ? r : undefined;
      });
      const inst = instances.body.data[0];
      expect(inst).to.have.all.keys('id', 'task_id', 'job_id', 'agent_id', 'status', 'started_at', 'completed_at', 'output', 'error_message', 'exit_code', 'metrics', 'created_at', 'updated_at');
      expect(inst).to.include({ id: `${run.body.id}-1`, task_id: run.body.id, job_id: defId, agent_id: stack.worker.id });
      const byAgent = await http('POST', `${base}/task-instances/page`, { filter: { job_id: { eq: defId }, agent_id: { eq: stack.worker.id } } }, auth);
      expect(byAgent.body.data.map((i: { id: string }) => i.id)).to.include(inst.id);
    });

    it('a failing command: one task instance per attempt, each with its exit code and stderr, retried after retry_interval; a timeout is its own status', async function () {
      this.timeout(60_000);
      const failing = (await http('POST', `${base}/jobs/item`, { name: 'failing', config: { cmd: 'bash', args: ['-c', 'echo oops >&2; exit 3'], max_retries: 1, retry_interval: 1, timeout: 30 } }, auth)).body.id;
      const run = (await http('POST', `${base}/jobs/item/${failing}/run`, undefined, auth)).body;
      const task = await eventually(async () => {
        const t = (await http('POST', `${base}/tasks/page`, { filter: { id: { eq: run.id }, job_id: { eq: failing } } }, auth)).body.data[0];
        return t?.status === 'failed' ? t : undefined;
      }, 30_000);
      expect(task.retry_count).to.equal(1);
      const instances = (await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: run.id } } }, auth)).body.data;
      expect(instances.map((i: { id: string }) => i.id)).to.deep.equal([`${run.id}-1`, `${run.id}-2`]);
      for (const i of instances) {
        expect(i).to.include({ status: 'failed', exit_code: 3, output: 'oops\n' });
        expect(i.error_message).to.be.a('string').and.match(/3/);
      }
      // retry_interval 1 s between the attempts (generous bound on a loaded machine).
      expect(Date.parse(instances[1].started_at) - Date.parse(instances[0].completed_at)).to.be.at.least(900);
      expect((await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: run.id }, exit_code: { eq: 3 }, status: { eq: 90 } } }, auth)).body.total).to.equal(2);

      const slow = (await http('POST', `${base}/jobs/item`, { name: 'slow', config: { cmd: 'sleep', args: ['30'], timeout: 1 } }, auth)).body.id;
      const slowRun = (await http('POST', `${base}/jobs/item/${slow}/run`, undefined, auth)).body;
      const timedOut = await eventually(async () => {
        const i = (await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: slowRun.id } } }, auth)).body.data[0];
        return i && i.status !== 'running' ? i : undefined;
      }, 30_000);
      expect(timedOut.status).to.equal('timeout');
      expect(Date.parse(timedOut.completed_at) - Date.parse(timedOut.started_at)).to.be.below(15_000);
    });

    it('filters tasks by status name or code, schedule_kind and namespace; unknown task ids give an empty page', async () => {
      const all = (await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: defId } } }, auth)).body;
      const status = all.data[0].status as string;
      const codes: Record<string, number> = { pending: 1, running: 10, failed: 90, cancelled: 99, succeeded: 100 };
      expect((await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: defId }, status: { eq: codes[status] } } }, auth)).body.total).to.equal(1);
      expect((await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: defId }, status: { eq: status } } }, auth)).body.total).to.equal(1);
      expect((await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: defId }, schedule_kind: { eq: 4 } } }, auth)).body.total).to.equal(1);
      expect((await http('POST', `${base}/tasks/page`, { filter: { namespace_id: { eq: 'default' }, scheduled_at: { gte: '2024-01-01T00:00:00Z' } } }, auth)).body.total).to.be.at.least(1);
      expect((await http('POST', `${base}/tasks/page`, { filter: { namespace_id: { eq: 'nobody' } } }, auth)).body.total).to.equal(0);
      expect((await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: '000000000000' } } }, auth)).body).to.deep.equal({ data: [], total: 0, page: 1, page_size: 20 });
      expectHetuError(await http('POST', `${base}/tasks/page`, { filter: { status: { eq: 42 } } }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/task-instances/page`, { filter: { status: { in: ['lost'] } } }, auth), 400, 'VALIDATION_ERROR');
    });

    it('runs with depends_on naming tasks; refuses a disabled definition (409) and an unknown one (404)', async () => {
      const first = (await http('POST', `${base}/jobs/item/${defId}/run`, {}, auth)).body.id as string;
      const second = await http('POST', `${base}/jobs/item/${defId}/run`, { depends_on: [first] }, auth);
      expect(second.status, second.text).to.equal(201);
      const task = (await http('POST', `${base}/tasks/page`, { filter: { id: { eq: second.body.id }, job_id: { eq: defId } } }, auth)).body.data[0];
      expect(task.dependencies).to.deep.equal([first]);
      expectHetuError(await http('POST', `${base}/jobs/item/${defId}/run`, { depends_on: ['nothex'] }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/jobs/item/${defId}/run`, { depends_on: ['0123456789ab'] }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/jobs/item/nope/run`, {}, auth), 404, 'NOT_FOUND');
      const off = (await http('POST', `${base}/jobs/item`, { name: 'off', status: 'disabled', config: { cmd: 'true' } }, auth)).body.id;
      expectHetuError(await http('POST', `${base}/jobs/item/${off}/run`, {}, auth), 409, 'CONFLICT');
    });

    it('schedules a definition (interval and cron), pages schedules, and each run is a task with schedule_id and schedule_kind', async () => {
      const every = await http('POST', `${base}/schedules/item`, { job_id: defId, name: 'every-second', kind: 2, interval_secs: 1 }, auth);
      expect(every.status, every.text).to.equal(200);
      expect(every.body).to.include({ job_id: defId, namespace_id: 'default', name: 'every-second', kind: 'interval', interval_secs: 1, cron_expression: null, enabled: true, status: 'enabled' });
      const cron = await http('POST', `${base}/schedules/item`, { job_id: defId, kind: 'cron', cron_expression: '0 0 1 1 *', description: 'yearly' }, auth);
      expect(cron.status, cron.text).to.equal(200);
      expect(cron.body).to.include({ kind: 'cron', cron_expression: '0 0 1 1 *', description: 'yearly', interval_secs: null });
      expect(cron.body.next_run_at).to.match(ISO_Z);
      const page = await http('POST', `${base}/schedules/page`, { filter: { job_id: { eq: defId }, kind: { eq: 1 }, enabled: { eq: true } }, page: { page: 1, page_size: 20 } }, auth);
      expect(page.body.total).to.equal(1);
      expect(page.body.data[0].id).to.equal(cron.body.id);
      const scheduled = await eventually(async () => {
        const r = await http('POST', `${base}/tasks/page`, { filter: { schedule_id: { eq: every.body.id } } }, auth);
        return r.body.total >= 1 ? r : undefined;
      }, 15_000);
      expect(scheduled.body.data[0]).to.include({ job_id: defId, schedule_id: every.body.id, schedule_kind: 'interval', namespace_id: 'default' });
      expect((await http('POST', `${base}/tasks/page`, { filter: { schedule_kind: { eq: 2 }, job_id: { eq: defId } } }, auth)).body.total).to.be.at.least(1);
      // Disable, update, enable, delete.
      expect((await http('POST', `${base}/schedules/item/${every.body.id}/disable`, undefined, auth)).body).to.include({ enabled: false, status: 'disabled', next_run_at: null });
      const put = await http('PUT', `${base}/schedules/item/${every.body.id}`, { kind: 1, cron_expression: '*/5 * * * *', description: 'five' }, auth);
      expect(put.status, put.text).to.equal(200);
      expect(put.body).to.include({ kind: 'cron', cron_expression: '*/5 * * * *', interval_secs: null, description: 'five', enabled: false });
      expect((await http('POST', `${base}/schedules/item/${every.body.id}/enable`, undefined, auth)).body.enabled).to.equal(true);
      expect((await http('GET', `${base}/schedules/item/${every.body.id}`, undefined, auth)).body.kind).to.equal('cron');
      expect((await http('DELETE', `${base}/schedules/item/${every.body.id}`, undefined, auth)).body).to.deep.equal({ id: every.body.id });
      expectHetuError(await http('GET', `${base}/schedules/item/${every.body.id}`, undefined, auth), 404, 'NOT_FOUND');
      expect((await http('GET', `${stack.url}/schedules/${every.body.id}`, undefined, auth)).body.error).to.equal('SCHEDULE_NOT_FOUND');
    });

    it('disabling a definition disables its schedules; enabling such a schedule is refused until it is enabled; deleting it removes them', async () => {
      const { id } = (await http('POST', `${base}/jobs/item`, { name: 'with-schedules', config: { cmd: 'true' } }, auth)).body;
      const s = (await http('POST', `${base}/schedules/item`, { job_id: id, kind: 'cron', cron_expression: '0 0 1 1 *' }, auth)).body;
      await http('POST', `${base}/jobs/item/${id}/disable`, undefined, auth);
      expect((await http('GET', `${base}/schedules/item/${s.id}`, undefined, auth)).body.enabled).to.equal(false);
      expectHetuError(await http('POST', `${base}/schedules/item/${s.id}/enable`, undefined, auth), 409, 'CONFLICT');
      await http('POST', `${base}/jobs/item/${id}/enable`, undefined, auth);
      expect((await http('POST', `${base}/schedules/item/${s.id}/enable`, undefined, auth)).body.enabled).to.equal(true);
      // A definition change reaches its schedule's target.
      await http('PUT', `${base}/jobs/item/${id}`, { config: { cmd: 'echo', args: ['changed'] } }, auth);
      expect((await http('GET', `${stack.url}/schedules/${s.id}`, undefined, auth)).body.target.command).to.include({ cmd: 'echo' });
      await http('DELETE', `${base}/jobs/item/${id}`, undefined, auth);
      expectHetuError(await http('GET', `${base}/schedules/item/${s.id}`, undefined, auth), 404, 'NOT_FOUND');
      expect((await http('GET', `${stack.url}/schedules/${s.id}`, undefined, auth)).status).to.equal(404);
    });

    it('answers VALIDATION_ERROR and NOT_FOUND for bad schedules', async () => {
      expectHetuError(await http('POST', `${base}/schedules/item`, { job_id: defId, kind: 'cron' }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/schedules/item`, { job_id: defId, kind: 2 }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/schedules/item`, { job_id: defId, kind: 3, interval_secs: 5 }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/schedules/item`, { job_id: defId, kind: 'cron', cron_expression: 'not a cron' }, auth), 400, 'VALIDATION_ERROR');
      expectHetuError(await http('POST', `${base}/schedules/item`, { job_id: 'nope', kind: 2, interval_secs: 5 }, auth), 404, 'NOT_FOUND');
      expectHetuError(await http('POST', `${base}/schedules/page`, { filter: { kind: { eq: 'daemon' } } }, auth), 400, 'VALIDATION_ERROR');
      for (const [m, p] of [['GET', 'schedules/item/abc'], ['PUT', 'schedules/item/abc'], ['DELETE', 'schedules/item/abc'], ['POST', 'schedules/item/abc/enable']] as const) {
        expectHetuError(await http(m, `${base}/${p}`, m === 'PUT' ? { name: 'x' } : undefined, auth), 404, 'NOT_FOUND');
      }
    });
  });

  describe('agents', () => {
    let selfId: string;
    before(() => {
      selfId = stack.worker.id;
    });

    it("lists the worker as an online agent with the reference's fields, and filters", async () => {
      const res = await eventually(async () => {
        const r = await http('POST', `${base}/agents/query`, { filter: { namespace_id: { eq: 'default' }, created_at: { gte: '2024-01-01T00:00:00Z' } }, page: { page: 1, page_size: 20 } }, auth);
        // Online once its slots are free again (the runs of the tests before may still hold them: busy).
        return r.body?.total === 1 && r.body.data[0].status === 'online' ? r : undefined;
      }, 30_000);
      const agent = res.body.data[0];
      expect(agent).to.have.all.keys('id', 'namespace_id', 'name', 'endpoint', 'status', 'labels', 'created_at', 'updated_at');
      expect(agent).to.deep.include({ id: selfId, namespace_id: 'default', name: hostname(), endpoint: `fnqueue-worker://${hostname()}/${process.pid}`, status: 'online', labels: { region: 'east' } });
      expect(agent.created_at).to.match(ISO_Z);
      expect((await http('POST', `${base}/agents/query`, { filter: { id: { eq: selfId } } }, auth)).body.total).to.equal(1);
      expect((await http('POST', `${base}/agents/query`, { filter: { status: { eq: 1 } } }, auth)).body.total).to.equal(1);
      expect((await http('POST', `${base}/agents/query`, { filter: { status: { in: ['offline', 3] } } }, auth)).body.total).to.equal(0);
      expect((await http('POST', `${base}/agents/query`, { filter: { namespace_id: { eq: 'other' } } }, auth)).body.total).to.equal(0);
    });

    it('takes an agent\'s namespace from its worker\'s namespace label, and shows a worker with every slot taken busy', async () => {
      const registry = new WorkerRegistry(conn, keysFor(stack.config.QUEUE_PREFIX), 60_000);
      const now = Date.now();
      await registry.heartbeat({
        id: 'team-host:77', host: 'team-host', pid: 77, state: 'running', labels: { namespace: 'team-x', pool: 'default' }, concurrency: 1, runners: 1,
        active_jobs: ['a1b2c3d4e5f6'], jobs_processed: { completed: 0, failed: 0 }, resources: { cpu_usage: 0, memory_usage: 1, runners_memory_usage: null },
        started_at: new Date(now - 1000).toISOString(), last_heartbeat: new Date(now).toISOString(), heartbeat_interval_ms: 60_000, offline_after_ms: 120_000,
      });
      const res = await http('POST', `${base}/agents/query`, { filter: { namespace_id: { eq: 'team-x' } } }, auth);
      expect(res.body.total).to.equal(1);
      expect(res.body.data[0]).to.include({ id: 'team-host:77', namespace_id: 'team-x', status: 'busy', name: 'team-host' });
      expect((await http('POST', `${base}/agents/query`, { filter: { status: { eq: 2 } } }, auth)).body.data.map((a: { id: string }) => a.id)).to.deep.equal(['team-host:77']);
      const teamX = { authorization: `Bearer ${await jwt({ sub: 'agents-x', scope: 'read', namespaces: ['team-x'] })}` };
      expect((await http('POST', `${base}/agents/query`, {}, teamX)).body.data.map((a: { id: string }) => a.id)).to.deep.equal(['team-host:77']);
      expect((await http('GET', `${base}/agents/team-host:77`, undefined, teamX)).status).to.equal(200);
      expectHetuError(await http('GET', `${base}/agents/${stack.worker.id}`, undefined, teamX), 404, 'NOT_FOUND');
      // Gone again, for the counts below.
      const keys = keysFor(stack.config.QUEUE_PREFIX);
      await conn.multi().del(keys.worker('team-host:77')).zrem(keys.workers, 'team-host:77').exec();
    });

    it('reads one agent; unknown is NOT_FOUND; create, update and delete answer CONFLICT agents_self_register', async () => {
      const one = await http('GET', `${base}/agents/${encodeURIComponent(selfId)}`, undefined, auth);
      expect(one.status).to.equal(200);
      expect(one.body).to.include({ id: selfId, status: 'online' });
      const missing = await http('GET', `${base}/agents/550e8400-e29b-41d4-a716-446655440000`, undefined, auth);
      expectHetuError(missing, 404, 'NOT_FOUND');
      expect(missing.body.error).to.include({ message: 'Agent not found', details: "Agent '550e8400-e29b-41d4-a716-446655440000' does not exist" });
      const created = await http('POST', `${base}/agents/create`, { namespace_id: 'default', name: 'agent-01', endpoint: 'ws://localhost:8081', labels: { env: 'production', region: 'east' } }, auth);
      expectHetuError(created, 409, 'CONFLICT');
      expect(created.body.error.message).to.match(/register themselves/);
      expectHetuError(await http('POST', `${base}/agents/${selfId}/update`, { name: 'agent-01-updated', labels: { env: 'staging', region: 'west' } }, auth), 409, 'CONFLICT');
      expectHetuError(await http('DELETE', `${base}/agents/${selfId}`, undefined, auth), 409, 'CONFLICT');
      expectHetuError(await http('DELETE', `${base}/agents/nohost:1`, undefined, auth), 404, 'NOT_FOUND');
      expectHetuError(await http('POST', `${base}/agents/nohost:1/update`, {}, auth), 404, 'NOT_FOUND');
    });
  });

  describe('system', () => {
    it('GET /api/v1/system/health: healthy, version, uptime, Redis as the database, agents counts', async () => {
      const res = await http('GET', `${base}/system/health`, undefined, auth);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.have.all.keys('status', 'timestamp', 'version', 'uptime', 'database', 'agents');
      const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      expect(res.body).to.include({ status: 'healthy', version: pkg.version });
      expect(res.body.uptime).to.be.a('number').and.at.least(0);
      expect(res.body.database).to.include({ status: 'connected', type: 'redis', pool_size: 1 });
      expect(res.body.database.version).to.match(/^\d+\.\d+/);
      expect(res.body.agents).to.deep.equal({ total: 1, online: 1, offline: 0 });
    });

    it('GET /api/v1/gateway/stats: workers as connections', async () => {
      const res = await http('GET', `${base}/gateway/stats`, undefined, auth);
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('total_connections', 'active_connections', 'total_messages_sent', 'total_messages_received', 'timestamp');
      expect(res.body).to.include({ total_connections: 1, active_connections: 1 });
      const before = res.body.total_messages_received as number;
      const job = await http('POST', `${stack.url}/invoke`, { number: 17 }, auth);
      expect(job.status).to.equal(200);
      const after = await eventually(async () => {
        const r = (await http('GET', `${base}/gateway/stats`, undefined, auth)).body;
        return r.total_messages_received === before + 1 ? r : undefined;
      });
      expect(after.total_messages_sent).to.be.at.least(after.total_messages_received);
    });

    it('GET /api/v1/metrics/resources: the envelope over the online workers, measured', async () => {
      // Read between two reads of the worker showing the same heartbeat, so both see the same figures.
      const workerUrl = `${stack.url}/workers/${stack.worker.id}`;
      const { res, worker } = await eventually(async () => {
        const before = (await http('GET', workerUrl, undefined, auth)).body;
        const r = await http('GET', `${base}/metrics/resources`, undefined, auth);
        const after = (await http('GET', workerUrl, undefined, auth)).body;
        return before.last_heartbeat === after.last_heartbeat ? { res: r, worker: after } : undefined;
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ code: 200, message: 'success' });
      const d = res.body.data;
      expect(d).to.include.all.keys('cpu_usage', 'memory_usage', 'disk_usage', 'network');
      expect(d.network).to.have.all.keys('rx_bytes', 'tx_bytes');
      expect(d.workers).to.equal(1);
      // One worker: the averages and sums are its own figures (memory in GiB).
      expect(d.cpu_usage).to.be.closeTo(worker.resources.cpu_usage, 0.1);
      expect(d.memory_usage_bytes).to.equal(worker.resources.memory_usage + (worker.resources.runners_memory_usage ?? 0));
      expect(d.memory_usage).to.be.closeTo(d.memory_usage_bytes / 1024 ** 3, 0.001);
      expect(d.disk_usage).to.equal(worker.resources.disk.usage_percent);
      const fs = await statfs(tmpdir());
      const used = (fs.blocks - fs.bfree) * fs.bsize;
      expect(d.disk_usage).to.be.closeTo((used / (used + fs.bavail * fs.bsize)) * 100, 5);
      if (process.platform === 'linux') expect(d.network).to.deep.equal({ rx_bytes: worker.resources.network.rx_bytes, tx_bytes: worker.resources.network.tx_bytes });
      const resources = await http('GET', `${stack.url}/workers/${stack.worker.id}/resources`, undefined, auth);
      expect(resources.body).to.include.all.keys('disk', 'network');
      expect(resources.body.disk.path).to.equal(tmpdir());
    });
  });

  describe('auth and namespaces', () => {
    let store: ApiKeyStore;
    before(() => {
      store = new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX));
    });

    it("answers UNAUTHORIZED and FORBIDDEN in the reference's shape", async () => {
      expectHetuError(await http('POST', `${base}/jobs/page`, {}), 401, 'UNAUTHORIZED');
      expectHetuError(await http('POST', `${base}/jobs/page`, {}, { authorization: 'Bearer not-a-token' }), 401, 'UNAUTHORIZED');
      const reader = { authorization: `Bearer ${await jwt({ sub: 'reader', scope: 'read' })}` };
      expect((await http('POST', `${base}/jobs/page`, {}, reader)).status).to.equal(200);
      expectHetuError(await http('POST', `${base}/jobs/item`, { name: 'x', config: { cmd: 'true' } }, reader), 403, 'FORBIDDEN');
      expectHetuError(await http('GET', `${base}/system/health`, undefined, reader), 403, 'FORBIDDEN');
      const writer = { authorization: `Bearer ${await jwt({ sub: 'writer', scope: 'write' })}` };
      expectHetuError(await http('GET', `${base}/metrics/resources`, undefined, writer), 403, 'FORBIDDEN');
    });

    it('an API key limited to namespaces sees and writes only those', async () => {
      const { key } = await store.create('team-x', ['write'], ['team-x']);
      const limited = { 'x-api-key': key };
      const mine = await http('POST', `${base}/jobs/item`, { namespace_id: 'team-x', name: 'ns-mine', config: { cmd: 'true' } }, limited);
      expect(mine.status, mine.text).to.equal(200);
      const denied = await http('POST', `${base}/jobs/item`, { name: 'ns-default', config: { cmd: 'true' } }, limited);
      expectHetuError(denied, 403, 'FORBIDDEN');
      expect(denied.body.error.message).to.match(/namespace 'default'/);
      const other = (await http('POST', `${base}/jobs/item`, { namespace_id: 'team-y', name: 'ns-other', config: { cmd: 'true' } }, auth)).body.id as string;
      expectHetuError(await http('GET', `${base}/jobs/item/${other}`, undefined, limited), 404, 'NOT_FOUND');
      expectHetuError(await http('PUT', `${base}/jobs/item/${other}`, { name: 'stolen' }, limited), 404, 'NOT_FOUND');
      expectHetuError(await http('DELETE', `${base}/jobs/item/${other}`, undefined, limited), 404, 'NOT_FOUND');
      expectHetuError(await http('PUT', `${base}/jobs/item/${mine.body.id}`, { namespace_id: 'team-y' }, limited), 403, 'FORBIDDEN');
      const page = await http('POST', `${base}/jobs/page`, { page: { page_size: 500 } }, limited);
      expect(page.body.total).to.be.above(0);
      expect(new Set((page.body.data as Array<{ namespace_id: string }>).map((d) => d.namespace_id))).to.deep.equal(new Set(['team-x']));
      // The worker's agent is in `default`: not this key's.
      expect((await http('POST', `${base}/agents/query`, {}, limited)).body.total).to.equal(0);
      expect((await http('GET', `${base}/jobs/item/${other}`, undefined, auth)).body.name).to.equal('ns-other');
      // Its runs may wait only for tasks it can see: another namespace's is refused as missing.
      const otherTask = (await http('POST', `${base}/jobs/item/${other}/run`, undefined, auth)).body.id as string;
      const hidden = await http('POST', `${base}/jobs/item/${mine.body.id}/run`, { depends_on: [otherTask] }, limited);
      expectHetuError(hidden, 400, 'VALIDATION_ERROR');
      expect(hidden.body.error.message).to.match(/does not exist/);
      const ownTask = (await http('POST', `${base}/jobs/item/${mine.body.id}/run`, undefined, limited)).body.id as string;
      expect((await http('POST', `${base}/jobs/item/${mine.body.id}/run`, { depends_on: [ownTask] }, limited)).status).to.equal(201);
      // Its tasks page shows only its namespace's tasks.
      const tasks = (await http('POST', `${base}/tasks/page`, { page: { page_size: 500 } }, limited)).body;
      expect(tasks.total).to.equal(2);
      expect(new Set(tasks.data.map((t: { namespace_id: string }) => t.namespace_id))).to.deep.equal(new Set(['team-x']));
      expect((await http('POST', `${base}/tasks/page`, { filter: { job_id: { eq: other } } }, limited)).body.total).to.equal(0);
      expect((await http('POST', `${base}/task-instances/page`, { filter: { task_id: { eq: otherTask } } }, limited)).body.total).to.equal(0);
      expect((await http('GET', `${stack.url}/jobs/${otherTask}`, undefined, limited)).status).to.equal(404);
      expect((await http('GET', `${stack.url}/jobs/${ownTask}`, undefined, limited)).body.namespace).to.equal('team-x');
    });

    it('native job routes: a limited credential sees only jobs of its namespaces (no namespace is default)', async () => {
      const job = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } }, auth);
      expect(job.status).to.equal(202);
      const jobId = job.body.job_id as string;
      const teamX = { 'x-api-key': (await store.create('native-x', ['write'], ['team-x'])).key };
      for (const path of [`/jobs/${jobId}`, `/jobs/${jobId}/attempts`, `/jobs/${jobId}/logs`]) {
        const res = await http('GET', `${stack.url}${path}`, undefined, teamX);
        expect(res.status, path).to.equal(404);
        expect(res.body.error).to.equal('JOB_NOT_FOUND');
      }
      expect((await http('POST', `${stack.url}/jobs/${jobId}/cancel`, undefined, teamX)).body.error).to.equal('JOB_NOT_FOUND');
      const submit = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } }, teamX);
      expect(submit.status).to.equal(403);
      expect(submit.body).to.include({ error: 'FORBIDDEN' });
      expect((await http('POST', `${stack.url}/invoke`, { number: 7 }, teamX)).status).to.equal(403);
      const own = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, namespace: 'team-x' }, teamX);
      expect(own.status, own.text).to.equal(202);
      expect((await http('GET', `${stack.url}/jobs/${own.body.job_id}`, undefined, teamX)).body.namespace).to.equal('team-x');
      expect((await http('GET', `${stack.url}/jobs`, undefined, teamX)).body.jobs.map((j: { job_id: string }) => j.job_id)).to.include(own.body.job_id);
      expect((await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, namespace: 'team-y' }, teamX)).status).to.equal(403);
      expect((await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, namespace: 'bad ns' }, auth)).status).to.equal(400);
      const listed = await http('GET', `${stack.url}/jobs`, undefined, teamX);
      expect(listed.status).to.equal(200);
      expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).not.to.include(jobId);
      expect((await http('GET', `${stack.url}/jobs?namespace=default`, undefined, teamX)).body.error).to.equal('FORBIDDEN');
      const two = { 'x-api-key': (await store.create('native-two', ['read'], ['default', 'team-x'])).key };
      const ask = await http('GET', `${stack.url}/jobs`, undefined, two);
      expect(ask.status).to.equal(400);
      expect(ask.body.details.field).to.equal('namespace');
      const defaults = await http('GET', `${stack.url}/jobs?namespace=default`, undefined, two);
      expect(defaults.body.jobs.map((j: { job_id: string }) => j.job_id)).to.include(jobId);
      expect((await http('GET', `${stack.url}/jobs/${jobId}`, undefined, two)).status).to.equal(200);
      // An unlimited credential is not limited: the job shows without a namespace filter.
      expect((await http('GET', `${stack.url}/jobs`, undefined, auth)).body.jobs.map((j: { job_id: string }) => j.job_id)).to.include(jobId);
    });

    it('a JWT with a namespaces claim is limited the same way', async () => {
      const limited = { authorization: `Bearer ${await jwt({ sub: 'team-y-bot', scope: 'write', namespaces: ['team-y'] })}` };
      const page = await http('POST', `${base}/jobs/page`, { page: { page_size: 500 } }, limited);
      expect(page.body.total).to.be.above(0);
      expect(new Set((page.body.data as Array<{ namespace_id: string }>).map((d) => d.namespace_id))).to.deep.equal(new Set(['team-y']));
      expectHetuError(await http('POST', `${base}/jobs/item`, { namespace_id: 'team-x', name: 'no', config: { cmd: 'true' } }, limited), 403, 'FORBIDDEN');
      const spaced = { authorization: `Bearer ${await jwt({ sub: 'two', scope: 'read', namespaces: 'team-x team-y' })}` };
      const both = await http('POST', `${base}/jobs/page`, { page: { page_size: 500 } }, spaced);
      expect(new Set((both.body.data as Array<{ namespace_id: string }>).map((d) => d.namespace_id))).to.deep.equal(new Set(['team-x', 'team-y']));
    });
  });
});
