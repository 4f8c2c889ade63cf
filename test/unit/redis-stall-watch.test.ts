import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { RedisStallWatch } from '../../api/middleware/redis-stall-guard.js';
import { isRedisUnavailable, toAppError } from '../../shared/errors/index.js';

/** A connection whose PINGs settle when the test says. */
function fakeRedis() {
  const pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  const redis = {
    status: 'ready',
    ping: () => new Promise<string>((resolve, reject) => pending.push({ resolve: () => resolve('PONG'), reject })),
  };
  return { redis, pending, asRedis: redis as unknown as Redis };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('RedisStallWatch (api/middleware/redis-stall-guard.ts)', () => {
  it('counts Redis as stalled once its PING has waited half of REDIS_COMMAND_TIMEOUT_MS, and not once it is answered', async () => {
    let now = 0;
    const { pending, asRedis } = fakeRedis();
    const watch = new RedisStallWatch(asRedis, 2000, () => now);
    watch.start();
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(pending, 'one PING at a time').to.have.length(1);
      now = 1000;
      expect(watch.stalled, 'at half the bound').to.equal(false);
      now = 1001;
      expect(watch.stalled, 'past half the bound').to.equal(true);
      pending[0]!.resolve();
      await flush();
      expect(watch.stalled, 'answered').to.equal(false);
    } finally {
      watch.stop();
    }
  });

  it('stays stalled after a PING timed out on a connected socket, until one is answered', async () => {
    const { pending, asRedis } = fakeRedis();
    const watch = new RedisStallWatch(asRedis, 2000);
    const first = watch.check();
    pending[0]!.reject(new Error('Command timed out'));
    expect(await first).to.equal(false);
    expect(watch.stalled).to.equal(true);
    const second = watch.check();
    pending[1]!.resolve();
    expect(await second).to.equal(true);
    expect(watch.stalled).to.equal(false);
  });

  it('does not refuse requests for a PING that failed while disconnected (they fail at once on their own)', async () => {
    const { redis, pending, asRedis } = fakeRedis();
    const watch = new RedisStallWatch(asRedis, 2000);
    redis.status = 'reconnecting';
    const failed = watch.check();
    pending[0]!.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    await failed;
    await flush();
    expect(watch.stalled).to.equal(false);
  });

  it("maps ioredis's command timeout to 503 SERVICE_UNAVAILABLE", () => {
    const err = new Error('Command timed out');
    expect(isRedisUnavailable(err)).to.equal(true);
    expect(toAppError(err).code).to.equal('SERVICE_UNAVAILABLE');
  });
});
