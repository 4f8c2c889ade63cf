import { Queue } from 'bullmq';
import { expect } from 'chai';
import { CronExpressionParser } from 'cron-parser';
import { Redis } from 'ioredis';
import { accessFor } from '../../api/routes/index.js';
import type { JobData } from '../../shared/queue/job-data.js';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { eventually, expectError, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$/;
const ms = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));
const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

const PRIME_TARGET = { algorithm: 'PrimeChecker', params: { number: 17 } };
/** A schedule that never fires during a test (yearly, 1 January). */
const YEARLY = '0 0 1 1 *';

describe('/schedules (api and worker in-process, real Redis)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  const queues = new Map<string, Queue<JobData>>();
  let nameCount = 0;
  const uniqueName = (prefix = 'sched') => `${prefix}-${++nameCount}`;

  /** The BullMQ queue of `pool` on the stack's prefix, to look at job schedulers directly. */
  const queueOf = (pool = 'default'): Queue<JobData> => {
    let q = queues.get(pool);
    if (!q) {
      q = new Queue<JobData>(jobsQueueName(pool), { connection: conn, prefix: bullPrefix(stack.config.QUEUE_PREFIX) });
      queues.set(pool, q);
    }
    return q;
  };
  const create = async (body: Record<string, unknown>): Promise<JsonResponse> => http('POST', `${stack.url}/schedules`, { name: uniqueName(), target: PRIME_TARGET, cron: YEARLY, ...body });
  const countSchedules = async () => (await http('GET', `${stack.url}/schedules`)).body.total as number;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { JOB_MAX_RETRIES: '5' });
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  after(async () => {
    for (const q of queues.values()) await q.close();
    await stack?.close();
    await conn?.quit();
    await redis?.destroy();
  });

  describe('POST /schedules', () => {
    it('creates a cron schedule: 201, Location, the record, and a BullMQ job scheduler with the run template', async () => {
      const before = Date.now();
      const res = await http('POST', `${stack.url}/schedules`, {
        name: 'primes-nightly',
        cron: '30 2 * * *',
        timezone: 'Europe/Paris',
        target: { algorithm: 'PrimeChecker', params: { number: 17 } },
        webhook: 'https://user:secret@example.com/hook',
        max_retries: 2,
        timeout_ms: 5000,
        priority: 7,
      });
      expect(res.status, res.text).to.equal(201);
      const s = res.body;
      expect(s.schedule_id).to.match(/^[0-9a-f]{12}$/);
      expect(res.headers.get('location')).to.equal(`/schedules/${s.schedule_id}`);
      expect(Object.keys(s)).to.deep.equal(['schedule_id', 'name', 'cron', 'every_ms', 'timezone', 'target', 'enabled', 'webhook', 'max_retries', 'timeout_ms', 'priority', 'created_at', 'updated_at', 'next_run_at']);
      expect(s).to.include({ name: 'primes-nightly', cron: '30 2 * * *', every_ms: null, timezone: 'Europe/Paris', enabled: true, max_retries: 2, timeout_ms: 5000, priority: 7 });
      expect(s.target).to.deep.equal({ algorithm: 'PrimeChecker', params: { number: 17 } });
      expect(s.webhook).to.be.a('string').and.not.include('secret');
      expect(s.created_at).to.match(ISO);
      expect(s.updated_at).to.equal(s.created_at);
      expect(s.next_run_at).to.match(ISO);
      // The next 02:30 in Paris, as cron-parser computes it.
      const expected = CronExpressionParser.parse('30 2 * * *', { tz: 'Europe/Paris', currentDate: new Date(before) }).next().getTime();
      expect(ms(s.next_run_at)).to.equal(expected);
      expect(ms(s.next_run_at)).to.be.above(Date.now());

      const scheduler = await queueOf().getJobScheduler(s.schedule_id);
      expect(scheduler).to.include({ pattern: '30 2 * * *', tz: 'Europe/Paris', name: 'PrimeChecker', next: expected });
      expect(scheduler!.template!.data).to.deep.equal({
        algorithm: 'PrimeChecker',
        params: { number: 17 },
        mode: 'async',
        created_at: '',
        schedule_id: s.schedule_id,
        webhook: 'https://user:secret@example.com/hook',
        max_retries: 2,
        timeout_ms: 5000,
        // As on a POST /jobs record: a job that may retry shows its backoff, defaults filled in.
        retry_backoff: 'fixed',
        retry_interval_ms: 1000,
      });
      expect(scheduler!.template!.opts).to.include({ removeOnComplete: true, priority: 1000 + 1 - 7 });
    });

    it('creates an every_ms schedule with timezone UTC by default and cron null', async () => {
      const res = await create({ cron: undefined, every_ms: 3_600_000 });
      expect(res.status, res.text).to.equal(201);
      expect(res.body).to.include({ cron: null, every_ms: 3_600_000, timezone: 'UTC', enabled: true });
      expect(res.body).not.to.have.any.keys('webhook', 'max_retries', 'timeout_ms', 'priority');
      expect(res.body.next_run_at).to.match(ISO);
      const scheduler = await queueOf().getJobScheduler(res.body.schedule_id);
      expect(scheduler).to.include({ every: 3_600_000 });
    });

    it('creates a disabled schedule without a job scheduler, next_run_at null', async () => {
      const res = await create({ enabled: false });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ enabled: false, next_run_at: null });
      expect(await queueOf().getJobScheduler(res.body.schedule_id)).to.equal(undefined);
    });

    it('puts the job scheduler on the queue of the target pool', async () => {
      const res = await create({ target: { ...PRIME_TARGET, pool: 'gpu' } });
      expect(res.status, res.text).to.equal(201);
      expect(res.body.target).to.deep.equal({ ...PRIME_TARGET, pool: 'gpu' });
      expect(await queueOf('gpu').getJobScheduler(res.body.schedule_id)).to.include({ pattern: YEARLY });
      expect(await queueOf().getJobScheduler(res.body.schedule_id)).to.equal(undefined);
      expect(await conn.sismember(keysFor(stack.config.QUEUE_PREFIX).pools, 'gpu')).to.equal(1);
    });
  });

  describe('validation', () => {
    it('answers 400 VALIDATION_ERROR with field cron and the parser\'s own message for a bad cron', async () => {
      for (const cron of ['61 * * * *', 'not a cron at all', '* * * * * * *', '0 0 30 2 *', '*/0 * * * *']) {
        let parserMessage = '';
        try {
          CronExpressionParser.parse(cron, { tz: 'UTC' }).next();
        } catch (err) {
          parserMessage = (err as Error).message;
        }
        expect(parserMessage, cron).not.to.equal('');
        const res = await create({ cron });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, cron).to.equal('cron');
        expect(res.body.message, cron).to.include(parserMessage);
        expect(res.body.details.value).to.equal(cron);
      }
      const blank = await create({ cron: '   ' });
      expectError(blank, 400, 'VALIDATION_ERROR');
      expect(blank.body.details.field).to.equal('cron');
    });

    it('answers 400 for a cron of fewer than 5 fields, which the parser would pad, on POST and PUT', async () => {
      for (const cron of ['*/5 * * *', '5', '0 12', '* * *']) {
        const res = await create({ cron });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, cron).to.equal('cron');
        expect(res.body.message, cron).to.include('must have 5 fields');
        expect(res.body.details.value).to.equal(cron);
      }
      const ok = await create({});
      expect(ok.status).to.equal(201);
      const put = await http('PUT', `${stack.url}/schedules/${ok.body.schedule_id}`, { cron: '*/5 * * *' });
      expectError(put, 400, 'VALIDATION_ERROR');
      expect(put.body.details.field).to.equal('cron');
    });

    it('accepts 5 fields, 6 with seconds first, and the parser\'s macros', async () => {
      for (const cron of ['*/5 * * * *', '30 */5 * * * *', '@daily']) {
        const res = await create({ cron });
        expect(res.status, `${cron}: ${JSON.stringify(res.body)}`).to.equal(201);
        expect(res.body.cron).to.equal(cron);
      }
    });

    it('answers 400 when both or neither of cron and every_ms are given', async () => {
      const both = await create({ every_ms: 1000 });
      expectError(both, 400, 'VALIDATION_ERROR');
      expect(both.body.details.field).to.equal('cron');
      expect(both.body.message).to.match(/exactly one/);
      const neither = await create({ cron: undefined });
      expectError(neither, 400, 'VALIDATION_ERROR');
      expect(neither.body.details.field).to.equal('cron');
      const nulls = await create({ cron: null, every_ms: null });
      expectError(nulls, 400, 'VALIDATION_ERROR');
    });

    it('answers 400 for an every_ms that is not an integer from 100 ms to one year', async () => {
      for (const every_ms of [99, 0, -5, 1.5, 365 * 24 * 3600 * 1000 + 1, '1000', true]) {
        const res = await create({ cron: undefined, every_ms });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, String(every_ms)).to.equal('every_ms');
      }
      expect((await create({ cron: undefined, every_ms: 99 })).body.message).to.equal('every_ms must be at least 100');
      const year = await create({ cron: undefined, every_ms: 365 * 24 * 3600 * 1000, enabled: false });
      expect(year.status, year.text).to.equal(201);
    });

    it('answers 400 with field timezone for a zone Intl does not know', async () => {
      for (const timezone of ['Mars/Olympus', '+01:00', 'Not a zone', '']) {
        const res = await create({ timezone });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, timezone).to.equal('timezone');
      }
      expect((await create({ timezone: 'Mars/Olympus' })).body.message).to.match(/^timezone 'Mars\/Olympus' is not an IANA time zone/);
      expect((await create({ timezone: 'America/New_York' })).status).to.equal(201);
    });

    it('validates an algorithm target exactly as POST /jobs does', async () => {
      const unknown = await create({ target: { algorithm: 'NoSuchThing', params: {} } });
      expectError(unknown, 404, 'ALGORITHM_NOT_FOUND');
      expect(unknown.body.details.available_algorithms).to.include.members(['PrimeChecker', 'Echo']);
      const jobs = await http('POST', `${stack.url}/jobs`, { algorithm: 'NoSuchThing', params: {} });
      expect(unknown.body.details.available_algorithms).to.deep.equal(jobs.body.details.available_algorithms);

      const bad = await create({ target: { algorithm: 'PrimeChecker', params: { number: 'abc' } } });
      expectError(bad, 400, 'VALIDATION_ERROR');
      expect(bad.body.details.field).to.equal('target.params.number');
      expect(bad.body.message).to.match(/^target\.params\.number /);

      const noParams = await create({ target: { algorithm: 'PrimeChecker' } });
      expectError(noParams, 400, 'VALIDATION_ERROR');
      expect(noParams.body.details.field).to.equal('target.params');
      expect(noParams.body.message).to.equal('target.params is required');

      const extra = await create({ target: { ...PRIME_TARGET, other: 1 } });
      expectError(extra, 400, 'VALIDATION_ERROR');
      expect(extra.body.details.field).to.equal('target.other');

      const pool = await create({ target: { ...PRIME_TARGET, pool: 'Not A Pool' } });
      expectError(pool, 400, 'VALIDATION_ERROR');
      expect(pool.body.details.field).to.equal('target.pool');

      for (const target of [5, 'PrimeChecker', null, []]) {
        const res = await create({ target });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, JSON.stringify(target)).to.equal('target');
      }
    });

    it('answers 404 FUNCTION_NOT_FOUND for a function target naming no function', async () => {
      const res = await create({ target: { function_id: 'fn-123', event: { a: 1 } } });
      expectError(res, 404, 'FUNCTION_NOT_FOUND');
      expect(res.body.details).to.deep.equal({ function_id: 'fn-123' });
      const bad = await create({ target: { function_id: 42 } });
      expectError(bad, 400, 'VALIDATION_ERROR');
      expect(bad.body.details.field).to.equal('target.function_id');
    });

    it('answers 400 for unknown keys, a missing name, bad options and a body that is not an object', async () => {
      const cases: Array<[unknown, string]> = [
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, color: 'red' }, 'color'],
        [{ name: 'x', cron: YEARLY, target: { ...PRIME_TARGET, colour: 'red' } }, 'target.colour'],
        [{ cron: YEARLY, target: PRIME_TARGET }, 'name'],
        [{ name: '', cron: YEARLY, target: PRIME_TARGET }, 'name'],
        [{ name: 'x', cron: YEARLY }, 'target'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, enabled: 'yes' }, 'enabled'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, webhook: 'ftp://example.com' }, 'webhook'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, priority: 1001 }, 'priority'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, max_retries: -1 }, 'max_retries'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, timeout_ms: 0 }, 'timeout_ms'],
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, max_retries: 6 }, 'max_retries'], // over JOB_MAX_RETRIES=5
        [{ name: 'x', cron: YEARLY, target: PRIME_TARGET, retry_backoff: 'fixed' }, 'retry_backoff'], // needs max_retries
        [[1, 2], 'body'],
        ['"just a string"', 'body'],
      ];
      const total = await countSchedules();
      for (const [body, field] of cases) {
        const res = await http('POST', `${stack.url}/schedules`, body);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, JSON.stringify(body)).to.equal(field);
      }
      expect(await countSchedules(), 'nothing written').to.equal(total);
    });

    it('refuses prototype keys, malformed JSON and oversized bodies on POST and PUT', async () => {
      const id = (await create({})).body.schedule_id as string;
      const polluted = `{"name":"p","cron":"${YEARLY}","target":{"algorithm":"Echo","params":{"__proto__":{"polluted":true}}}}`;
      for (const [method, path] of [['POST', '/schedules'], ['PUT', `/schedules/${id}`]] as const) {
        const proto = await http(method, `${stack.url}${path}`, polluted);
        expectError(proto, 400, 'VALIDATION_ERROR');
        expect(proto.body.details.field).to.equal('target.params.__proto__');
        const malformed = await http(method, `${stack.url}${path}`, '{"name": ');
        expectError(malformed, 400, 'VALIDATION_ERROR');
        expect(malformed.body.details.field).to.equal('body');
        expectError(await http(method, `${stack.url}${path}`, { name: 'big', cron: YEARLY, target: { algorithm: 'Echo', params: { value: 'x'.repeat(1_100_000) } } }), 413, 'PAYLOAD_TOO_LARGE');
      }
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });
  });

  describe('names', () => {
    it('answers 409 CONFLICT with details.name for a name already taken, and keeps the first', async () => {
      const first = await create({ name: 'dup-name' });
      expect(first.status).to.equal(201);
      const second = await create({ name: 'dup-name', cron: '* * * * *' });
      expectError(second, 409, 'CONFLICT');
      expect(second.body.details).to.deep.include({ name: 'dup-name', schedule_id: first.body.schedule_id });
      expect((await http('GET', `${stack.url}/schedules/${first.body.schedule_id}`)).body.cron).to.equal(YEARLY);
    });

    it('lets exactly one of many concurrent creations with one name win', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => create({ name: 'race-name' })));
      expect(results.filter((r) => r.status === 201)).to.have.length(1);
      expect(results.filter((r) => r.status === 409)).to.have.length(7);
      const list = (await http('GET', `${stack.url}/schedules?limit=100`)).body.schedules as Array<{ name: string }>;
      expect(list.filter((s) => s.name === 'race-name')).to.have.length(1);
    });

    it('answers 409 for a rename to a taken name, and frees a name on rename and delete', async () => {
      const a = (await create({ name: 'name-a' })).body;
      const b = (await create({ name: 'name-b' })).body;
      const taken = await http('PUT', `${stack.url}/schedules/${b.schedule_id}`, { name: 'name-a' });
      expectError(taken, 409, 'CONFLICT');
      expect(taken.body.details.name).to.equal('name-a');
      const renamed = await http('PUT', `${stack.url}/schedules/${a.schedule_id}`, { name: 'name-a2' });
      expect(renamed.status).to.equal(200);
      expect((await http('PUT', `${stack.url}/schedules/${b.schedule_id}`, { name: 'name-a' })).status).to.equal(200);
      expect((await http('DELETE', `${stack.url}/schedules/${a.schedule_id}`)).status).to.equal(204);
      expect((await create({ name: 'name-a2' })).status).to.equal(201);
    });
  });

  describe('GET /schedules', () => {
    it('lists newest first with total, limit and offset, and pages', async () => {
      const all = await http('GET', `${stack.url}/schedules?limit=100`);
      expect(all.status).to.equal(200);
      expect(Object.keys(all.body)).to.deep.equal(['schedules', 'total', 'limit', 'offset']);
      expect(all.body).to.include({ limit: 100, offset: 0 });
      const items = all.body.schedules as Array<{ schedule_id: string; created_at: string }>;
      expect(items.length).to.equal(all.body.total).and.be.above(5);
      const created = items.map((s) => ms(s.created_at));
      expect(created).to.deep.equal([...created].sort((x, y) => y - x));

      const dflt = await http('GET', `${stack.url}/schedules`);
      expect(dflt.body).to.include({ limit: 20, offset: 0, total: all.body.total });
      const page = await http('GET', `${stack.url}/schedules?limit=2&offset=1`);
      expect(page.body).to.include({ limit: 2, offset: 1, total: all.body.total });
      expect((page.body.schedules as Array<{ schedule_id: string }>).map((s) => s.schedule_id)).to.deep.equal(items.slice(1, 3).map((s) => s.schedule_id));
      const past = await http('GET', `${stack.url}/schedules?offset=100000`);
      expect(past.body.schedules).to.deep.equal([]);
    });

    it('answers 400 VALIDATION_ERROR for a bad or unknown query parameter', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'offset=-1', 'sort=name', 'limit=1&limit=2', 'status=enabled']) {
        const res = await http('GET', `${stack.url}/schedules?${q}`);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, q).to.be.a('string');
      }
      expect((await http('GET', `${stack.url}/schedules?limit=101`)).body.message).to.equal('limit must be at most 100');
      expect((await http('GET', `${stack.url}/schedules?sort=name`)).body.message).to.match(/^unknown query parameter 'sort'/);
    });
  });

  describe('GET, PUT and DELETE /schedules/{schedule_id}', () => {
    it('reads, updates and deletes a schedule (CRUD round trip)', async () => {
      const created = (await create({ name: 'crud', webhook: 'https://example.com/a', priority: 3 })).body;
      const read = await http('GET', `${stack.url}/schedules/${created.schedule_id}`);
      expect(read.status).to.equal(200);
      expect(read.body).to.deep.equal(created);

      await sleep(5);
      // The timing changes kind: the cron is cleared; webhook cleared with null; the rest is kept.
      const put = await http('PUT', `${stack.url}/schedules/${created.schedule_id}`, { every_ms: 7_200_000, webhook: null, name: 'crud-2' });
      expect(put.status, put.text).to.equal(200);
      expect(put.body).to.include({ schedule_id: created.schedule_id, name: 'crud-2', cron: null, every_ms: 7_200_000, timezone: 'UTC', enabled: true, priority: 3, created_at: created.created_at });
      expect(put.body).not.to.have.property('webhook');
      expect(ms(put.body.updated_at)).to.be.above(ms(created.updated_at));
      const scheduler = await queueOf().getJobScheduler(created.schedule_id);
      expect(scheduler).to.include({ every: 7_200_000 });
      expect(scheduler).not.to.have.property('pattern');
      expect(scheduler!.template!.data).not.to.have.property('webhook');
      // An every_ms schedule's first run is at once; once it started, next_run_at is the one after.
      const { next_run_at: _next, ...rest } = put.body;
      expect((await http('GET', `${stack.url}/schedules/${created.schedule_id}`)).body).to.deep.include(rest);

      const target = await http('PUT', `${stack.url}/schedules/${created.schedule_id}`, { target: { algorithm: 'Echo', params: { value: 1 } }, cron: '*/5 * * * *', timezone: 'Asia/Tokyo' });
      expect(target.status, target.text).to.equal(200);
      expect(target.body).to.include({ cron: '*/5 * * * *', every_ms: null, timezone: 'Asia/Tokyo' });
      expect(await queueOf().getJobScheduler(created.schedule_id)).to.include({ pattern: '*/5 * * * *', tz: 'Asia/Tokyo', name: 'Echo' });

      const del = await http('DELETE', `${stack.url}/schedules/${created.schedule_id}`);
      expect(del.status).to.equal(204);
      expect(del.text).to.equal('');
      expectError(await http('GET', `${stack.url}/schedules/${created.schedule_id}`), 404, 'SCHEDULE_NOT_FOUND');
      expect(await queueOf().getJobScheduler(created.schedule_id)).to.equal(undefined);
      expectError(await http('DELETE', `${stack.url}/schedules/${created.schedule_id}`), 404, 'SCHEDULE_NOT_FOUND');
    });

    it('validates the merged schedule again on PUT, and changes nothing when it is invalid', async () => {
      const created = (await create({})).body;
      const cases: Array<[Record<string, unknown>, number, string, string?]> = [
        [{ every_ms: 1000, cron: '* * * * *' }, 400, 'VALIDATION_ERROR', 'cron'],
        [{ cron: null }, 400, 'VALIDATION_ERROR', 'cron'],
        [{ cron: '99 * * * *' }, 400, 'VALIDATION_ERROR', 'cron'],
        [{ timezone: 'Nowhere/Land' }, 400, 'VALIDATION_ERROR', 'timezone'],
        [{ target: { algorithm: 'PrimeChecker', params: { number: 'x' } } }, 400, 'VALIDATION_ERROR', 'target.params.number'],
        [{ target: { algorithm: 'Nope', params: {} } }, 404, 'ALGORITHM_NOT_FOUND'],
        [{ target: { function_id: 'f' } }, 404, 'FUNCTION_NOT_FOUND'],
        [{ name: null }, 400, 'VALIDATION_ERROR', 'name'],
        [{ schedule_id: 'ffffffffffff' }, 400, 'VALIDATION_ERROR', 'schedule_id'],
        [{ retry_interval_ms: 10 }, 400, 'VALIDATION_ERROR', 'retry_interval_ms'],
      ];
      for (const [body, status, code, field] of cases) {
        const res = await http('PUT', `${stack.url}/schedules/${created.schedule_id}`, body);
        expectError(res, status, code);
        if (field) expect(res.body.details.field, JSON.stringify(body)).to.equal(field);
      }
      expect((await http('GET', `${stack.url}/schedules/${created.schedule_id}`)).body).to.deep.equal(created);
      // An empty PUT changes nothing, not even updated_at.
      const empty = await http('PUT', `${stack.url}/schedules/${created.schedule_id}`, {});
      expect(empty.status).to.equal(200);
      expect(empty.body).to.deep.equal(created);
    });

    it('moves the job scheduler when the target pool changes', async () => {
      const created = (await create({ target: { ...PRIME_TARGET, pool: 'cpu' } })).body;
      expect(await queueOf('cpu').getJobScheduler(created.schedule_id)).to.include({ pattern: YEARLY });
      const moved = await http('PUT', `${stack.url}/schedules/${created.schedule_id}`, { target: PRIME_TARGET });
      expect(moved.status, moved.text).to.equal(200);
      expect(await queueOf('cpu').getJobScheduler(created.schedule_id)).to.equal(undefined);
      expect(await queueOf().getJobScheduler(created.schedule_id)).to.include({ pattern: YEARLY });
    });

    it('answers 404 SCHEDULE_NOT_FOUND for an unknown id of any form on every route', async () => {
      for (const id of ['ffffffffffff', 'nope', 'FFFFFFFFFFFF', 'x'.repeat(300), '%7B%7D', 'a:b']) {
        const base = `${stack.url}/schedules/${id}`;
        for (const [method, path, body] of [
          ['GET', '', undefined],
          ['PUT', '', { name: 'x' }],
          ['DELETE', '', undefined],
          ['POST', '/enable', undefined],
          ['POST', '/disable', undefined],
          ['GET', '/jobs', undefined],
        ] as const) {
          const res = await http(method, `${base}${path}`, body);
          expectError(res, 404, 'SCHEDULE_NOT_FOUND');
        }
      }
      const res = await http('GET', `${stack.url}/schedules/ffffffffffff`);
      expect(res.body.details).to.deep.equal({ schedule_id: 'ffffffffffff' });
    });

    it('answers 405 METHOD_NOT_ALLOWED with Allow for a wrong method', async () => {
      const id = (await create({})).body.schedule_id as string;
      const cases: Array<[string, string, string]> = [
        ['PATCH', `/schedules/${id}`, 'GET, PUT, DELETE'],
        ['POST', `/schedules/${id}`, 'GET, PUT, DELETE'],
        ['DELETE', '/schedules', 'GET, POST'],
        ['PUT', '/schedules', 'GET, POST'],
        ['GET', `/schedules/${id}/enable`, 'POST'],
        ['DELETE', `/schedules/${id}/disable`, 'POST'],
        ['POST', `/schedules/${id}/jobs`, 'GET'],
      ];
      for (const [method, path, allow] of cases) {
        const res = await http(method, `${stack.url}${path}`);
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        expect(res.headers.get('allow'), `${method} ${path}`).to.equal(allow);
      }
    });
  });

  describe('POST /schedules/{schedule_id}/enable and /disable', () => {
    it('disables and enables idempotently: next_run_at null when disabled, in the future when enabled', async () => {
      const created = (await create({ cron: '*/10 * * * *' })).body;
      const id = created.schedule_id as string;
      expect(ms(created.next_run_at)).to.be.above(Date.now());

      const off = await http('POST', `${stack.url}/schedules/${id}/disable`);
      expect(off.status, off.text).to.equal(200);
      expect(off.body).to.include({ enabled: false, next_run_at: null });
      expect(await queueOf().getJobScheduler(id)).to.equal(undefined);
      const offAgain = await http('POST', `${stack.url}/schedules/${id}/disable`);
      expect(offAgain.status).to.equal(200);
      expect(offAgain.body).to.deep.equal(off.body);
      expect((await http('GET', `${stack.url}/schedules/${id}`)).body).to.deep.equal(off.body);

      const on = await http('POST', `${stack.url}/schedules/${id}/enable`);
      expect(on.status, on.text).to.equal(200);
      expect(on.body.enabled).to.equal(true);
      expect(on.body.next_run_at).to.match(ISO);
      expect(ms(on.body.next_run_at)).to.be.above(Date.now());
      expect(await queueOf().getJobScheduler(id)).to.include({ pattern: '*/10 * * * *' });
      const onAgain = await http('POST', `${stack.url}/schedules/${id}/enable`);
      expect(onAgain.status).to.equal(200);
      expect(onAgain.body).to.deep.equal(on.body);
    });

    it('repairs a missing job scheduler on enable', async () => {
      const created = (await create({})).body;
      await queueOf().removeJobScheduler(created.schedule_id);
      expect((await http('GET', `${stack.url}/schedules/${created.schedule_id}`)).body.next_run_at).to.equal(null);
      const on = await http('POST', `${stack.url}/schedules/${created.schedule_id}/enable`);
      expect(on.body.next_run_at).to.equal(created.next_run_at);
      expect(await queueOf().getJobScheduler(created.schedule_id)).to.include({ pattern: YEARLY });
    });

    it('ends with the job scheduler matching the record after concurrent enables and disables', async () => {
      const id = (await create({})).body.schedule_id as string;
      const calls = Array.from({ length: 12 }, (_, i) => http('POST', `${stack.url}/schedules/${id}/${i % 2 ? 'enable' : 'disable'}`));
      for (const res of await Promise.all(calls)) expect(res.status, res.text).to.equal(200);
      const final = (await http('GET', `${stack.url}/schedules/${id}`)).body;
      const scheduler = await queueOf().getJobScheduler(id);
      expect(scheduler !== undefined, JSON.stringify(final)).to.equal(final.enabled);
    });
  });

  describe('runs', () => {
    it('runs a function target on its current version, each run a function job with schedule_id and function_id', async () => {
      const fn = await http('POST', `${stack.url}/functions`, { name: 'sched-fn', runtime: 'python', code: 'def handler(event):\n    return {"got": event}' });
      expect(fn.status, fn.text).to.equal(201);
      const functionId = fn.body.function_id as string;
      const created = await create({ name: 'fn-fast', cron: undefined, every_ms: 300, target: { function_id: functionId, event: { n: 1 } } });
      expect(created.status, created.text).to.equal(201);
      const id = created.body.schedule_id as string;
      try {
        const done = await eventually(async () => {
          const r = await http('GET', `${stack.url}/schedules/${id}/jobs`);
          return (r.body?.jobs as Array<Record<string, any>> | undefined)?.find((j) => j.status === 'completed');
        }, 20_000, 100);
        expect(done).to.include({ algorithm: 'sched-fn', schedule_id: id, function_id: functionId });
        expect(done.result).to.deep.equal({ got: { n: 1 } });
        expect(done.metadata.version).to.equal('1');
        const listed = await http('GET', `${stack.url}/functions/${functionId}/jobs`);
        expect(listed.body.jobs.map((j: any) => j.job_id)).to.include(done.job_id);
        // A new version is what later runs use.
        expect((await http('PUT', `${stack.url}/functions/${functionId}`, { code: 'def handler(event):\n    return {"v2": event}' })).status).to.equal(200);
        const v2 = await eventually(async () => {
          const r = await http('GET', `${stack.url}/schedules/${id}/jobs?limit=5`);
          return (r.body?.jobs as Array<Record<string, any>> | undefined)?.find((j) => j.status === 'completed' && j.metadata?.version === '2');
        }, 20_000, 100);
        expect(v2.result).to.deep.equal({ v2: { n: 1 } });
      } finally {
        await http('DELETE', `${stack.url}/schedules/${id}`);
      }
    });

    it("shows the schedule's retry options on each run's record, as POST /jobs shows a job's", async () => {
      const created = await create({ name: 'echo-retry-opts', cron: undefined, every_ms: 300, target: { algorithm: 'Echo', params: { value: 'r' } }, max_retries: 1, retry_backoff: 'exponential', retry_interval_ms: 300 });
      expect(created.status, created.text).to.equal(201);
      const id = created.body.schedule_id as string;
      const run = await eventually(async () => {
        const r = await http('GET', `${stack.url}/schedules/${id}/jobs`);
        return r.status === 200 && r.body.total >= 1 ? (r.body.jobs as Array<Record<string, unknown>>)[0] : undefined;
      }, 15_000, 100);
      expect(run).to.include({ schedule_id: id, max_retries: 1, retry_backoff: 'exponential', retry_interval_ms: 300 });
      expect((await http('POST', `${stack.url}/schedules/${id}/disable`)).status).to.equal(200);
    });

    it('runs an every_ms: 300 Echo schedule at least twice, each run a job record with schedule_id; after disable no new run', async () => {
      const created = await create({ name: 'echo-fast', cron: undefined, every_ms: 300, target: { algorithm: 'Echo', params: { value: 'tick' } } });
      expect(created.status, created.text).to.equal(201);
      const id = created.body.schedule_id as string;

      const runs = await eventually(async () => {
        const r = await http('GET', `${stack.url}/schedules/${id}/jobs`);
        return r.status === 200 && r.body.total >= 2 && (r.body.jobs as Array<{ status: string }>).filter((j) => j.status === 'completed').length >= 2 ? r : undefined;
      }, 15_000, 100);
      expect(Object.keys(runs.body)).to.deep.equal(['jobs', 'total', 'limit', 'offset']);
      expect(runs.body).to.include({ limit: 20, offset: 0 });
      const jobs = runs.body.jobs as Array<Record<string, any>>;
      const ids = new Set(jobs.map((j) => j.job_id));
      expect(ids.size).to.equal(jobs.length);
      for (const job of jobs) {
        expect(job.job_id).to.match(/^[0-9a-f]{12}$/);
        expect(job).to.include({ algorithm: 'Echo', schedule_id: id });
        expect(job.created_at).to.match(ISO);
      }
      const done = jobs.find((j) => j.status === 'completed')!;
      expect(done.result).to.deep.equal({ value: 'tick' });
      // Each run is an ordinary job record.
      const one = await http('GET', `${stack.url}/jobs/${done.job_id}`);
      expect(one.status).to.equal(200);
      expect(one.body).to.include({ job_id: done.job_id, schedule_id: id, status: 'completed' });
      const created_ms = jobs.map((j) => ms(j.created_at));
      expect(created_ms).to.deep.equal([...created_ms].sort((a, b) => b - a));
      const page = await http('GET', `${stack.url}/schedules/${id}/jobs?limit=1&offset=1`);
      expect(page.body).to.include({ limit: 1, offset: 1 });
      expect(page.body.jobs).to.have.length(1);
      expectError(await http('GET', `${stack.url}/schedules/${id}/jobs?limit=0`), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/schedules/${id}/jobs?status=done`), 400, 'VALIDATION_ERROR');

      const off = await http('POST', `${stack.url}/schedules/${id}/disable`);
      expect(off.body).to.include({ enabled: false, next_run_at: null });
      // A run already started when the disable landed may still be recorded: let it land, then count.
      await sleep(150);
      const settled = (await http('GET', `${stack.url}/schedules/${id}/jobs`)).body.total as number;
      await sleep(3 * 300);
      const later = (await http('GET', `${stack.url}/schedules/${id}/jobs`)).body.total as number;
      expect(later, 'no new run within 3 intervals after disable').to.equal(settled);
      expect(await queueOf().getJobScheduler(id)).to.equal(undefined);
      const pending = await queueOf().getJobs(['delayed', 'waiting', 'prioritized']);
      expect(pending.filter((j) => j.id?.startsWith(`repeat:${id}:`)), 'no run left queued').to.deep.equal([]);
    });
  });

  describe('access and documentation', () => {
    it('needs read to read schedules and write to change them (ROUTE_ACCESS)', () => {
      expect(accessFor('GET', '/schedules')).to.equal('read');
      expect(accessFor('GET', '/schedules/abc')).to.equal('read');
      expect(accessFor('HEAD', '/schedules/abc/jobs')).to.equal('read');
      expect(accessFor('POST', '/schedules')).to.equal('write');
      expect(accessFor('PUT', '/schedules/abc')).to.equal('write');
      expect(accessFor('DELETE', '/schedules/abc/')).to.equal('write');
      expect(accessFor('POST', '/schedules/abc/enable')).to.equal('write');
      expect(accessFor('POST', '/schedules/abc/disable')).to.equal('write');
      expect(accessFor('PATCH', '/schedules/abc')).to.equal('authenticated');
      expect(accessFor('POST', '/schedules/abc/jobs')).to.equal('authenticated');
    });

    it('documents every route in the OpenAPI document with its scope and schemas', async () => {
      const doc = (await http('GET', `${stack.url}/openapi.json`)).body;
      const expected: Array<[string, string, string]> = [
        ['/schedules', 'post', 'write'],
        ['/schedules', 'get', 'read'],
        ['/schedules/{schedule_id}', 'get', 'read'],
        ['/schedules/{schedule_id}', 'put', 'write'],
        ['/schedules/{schedule_id}', 'delete', 'write'],
        ['/schedules/{schedule_id}/enable', 'post', 'write'],
        ['/schedules/{schedule_id}/disable', 'post', 'write'],
        ['/schedules/{schedule_id}/jobs', 'get', 'read'],
      ];
      for (const [path, method, scope] of expected) {
        expect(doc.paths[path]?.[method], `${method} ${path}`).to.be.an('object');
        expect(doc.paths[path][method]['x-required-scope'], `${method} ${path}`).to.equal(scope);
      }
      expect(doc.paths['/schedules'].post.responses).to.have.keys('201', '400', '401', '403', '404', '409', '503');
      expect(doc.components.schemas.Schedule.properties).to.include.keys('schedule_id', 'cron', 'every_ms', 'timezone', 'target', 'enabled', 'next_run_at');
      expect(doc.components.schemas.ScheduleCreate.required).to.have.members(['name', 'target']);
      expect(doc.components.schemas).to.include.keys('ScheduleUpdate', 'ScheduleList', 'ScheduleRunList', 'ScheduleAlgorithmTarget', 'ScheduleFunctionTarget');
    });
  });
});
