import { startRedisServer, type RedisServer } from '../../scripts/lib/redis-server.js';
import { track, untrack } from './resources.js';

/** A real redis-server started by the test run (scripts/lib/redis-server.ts), tracked by the leak check. */
export type TestRedis = RedisServer;

/**
 * Starts redis-server on a free port (never the machine's 6379) in its own temp dir, removed by
 * `destroy()`.
 * @param opts.appendonly AOF persistence (for restart tests). Default false.
 * @param opts.maxmemoryMb its maxmemory, MiB (writes past it fail with OOM). Default none.
 */
export async function startRedis(opts: { appendonly?: boolean; maxmemoryMb?: number } = {}): Promise<TestRedis> {
  const server = await startRedisServer({ appendonly: opts.appendonly ?? false, ...(opts.maxmemoryMb !== undefined ? { maxmemoryMb: opts.maxmemoryMb } : {}) });
  const tracked: TestRedis = {
    url: server.url,
    port: server.port,
    dir: server.dir,
    get child() {
      return server.child;
    },
    stop: server.stop,
    start: server.start,
    destroy: async () => {
      await server.destroy();
      untrack(tracked);
    },
  };
  return track(`redis-server :${server.port}`, tracked, tracked.destroy);
}
