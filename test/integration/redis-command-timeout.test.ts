import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isRedisUnavailable, toAppError } from '../../shared/errors/index.js';
import { createRedis, waitReady, type RedisConnection } from '../../shared/queue/redis.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/** Blocks the event loop for `ms`, as a long GC pause or a paused VM does. */
function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* busy */
  }
}

const TIMEOUT_MS = 200;

describe('a request connection while Redis does not answer in time (shared/queue/redis.ts, real redis-server)', function () {
  this.timeout(20_000);
  let redis: TestRedis;
  let conn: RedisConnection;
  before(async () => {
    redis = await startRedis();
    conn = createRedis(redis.url, 'request', 'timeout-test', { onError: () => undefined, commandTimeoutMs: TIMEOUT_MS });
    await waitReady(conn);
  });
  after(async () => {
    redis?.child.kill('SIGCONT');
    conn?.disconnect();
    await redis?.destroy();
  });

  it('resolves a command Redis answered while the event loop was blocked past the bound', async () => {
    for (let i = 0; i < 3; i++) {
      const sent = conn.set(`k${i}`, 'v');
      // Its bytes leave on the next check phase (writes are coalesced per turn), then Redis answers
      // at once; the answer waits in the socket while the loop is blocked.
      await new Promise((resolve) => setImmediate(resolve));
      blockFor(TIMEOUT_MS * 3);
      expect(await sent).to.equal('OK');
    }
    expect(await conn.mget('k0', 'k1', 'k2')).to.deep.equal(['v', 'v', 'v']);
  });

  it("takes Redis' BUSY answer (a script past busy-reply-threshold) for Redis unavailable: 503, not 500", async () => {
    const busy = new Redis(redis.url);
    try {
      await busy.config('SET', 'busy-reply-threshold', '100');
      const spin = busy.eval("local t = redis.call('TIME') while true do local n = redis.call('TIME') if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 800000 then break end end return 1", 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const err = await conn.set('kb', 'v').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/^BUSY /);
      expect(isRedisUnavailable(err)).to.equal(true);
      expect(toAppError(err).status).to.equal(503);
      expect(await spin).to.equal(1);
    } finally {
      busy.disconnect();
    }
  });

  it('still fails a command Redis does not answer within the bound', async () => {
    redis.child.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      const err = await conn.get('k0').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.equal('Command timed out');
      expect(Date.now() - t0).to.be.within(TIMEOUT_MS - 10, TIMEOUT_MS + 1000);
    } finally {
      redis.child.kill('SIGCONT');
    }
    expect(await conn.get('k0')).to.equal('v');
  });
});
