import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const YEARLY = '0 0 1 1 *';

describe('What schedules may store (MAX_SCHEDULES, target bytes; docs/security.md#limits-and-hostile-input)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let n = 0;
  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { MAX_SCHEDULES: '3' });
    conn = new Redis(redis.url);
  });
  after(async () => {
    conn?.disconnect();
    await stack?.close();
    await redis?.destroy();
  });
  const post = (path: string, body?: unknown) => http('POST', `${stack.url}${path}`, body);
  const create = (target: unknown) => post('/schedules', { name: `b-${++n}`, cron: YEARLY, target });

  it('refuses a target whose params or event pass 64 KiB with 400 VALIDATION_ERROR naming the field, storing nothing', async () => {
    const big = 'x'.repeat(100 * 1024);
    const res = await create({ algorithm: 'Echo', params: { value: big } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expect(res.body.details.field).to.equal('target.params');
    expect(res.body.message).to.match(/^target\.params is \d+ bytes of JSON, over the 65536 byte limit/);
    const fn = await post('/functions', { name: `f-${process.pid}`, runtime: 'nodejs', code: 'function handler(e) { return 1 }' });
    expect(fn.status, fn.text).to.equal(201);
    const ev = await create({ function_id: fn.body.function_id, event: { big } });
    expectError(ev, 400, 'VALIDATION_ERROR');
    expect(ev.body.details.field).to.equal('target.event');
    expect(await conn.zcard(keysFor(stack.config.QUEUE_PREFIX).schedules)).to.equal(0);
  });

  it('refuses the schedule past MAX_SCHEDULES with 409 CONFLICT (reason schedule_limit), and takes one again after a delete', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await create({ algorithm: 'Echo', params: { value: 'v' } });
      expect(res.status, res.text).to.equal(201);
      ids.push(res.body.schedule_id);
    }
    const refused = await create({ algorithm: 'Echo', params: { value: 'v' } });
    expectError(refused, 409, 'CONFLICT');
    expect(refused.body.message).to.equal('at most 3 schedules may exist (MAX_SCHEDULES); delete one first');
    expect(refused.body.details).to.include({ reason: 'schedule_limit', max_schedules: 3 });
    expect(await conn.zcard(keysFor(stack.config.QUEUE_PREFIX).schedules)).to.equal(3);
    const del = await http('DELETE', `${stack.url}/schedules/${ids[0]}`);
    expect(del.status, del.text).to.equal(204);
    const again = await create({ algorithm: 'Echo', params: { value: 'v' } });
    expect(again.status, again.text).to.equal(201);
  });
});
