import {
  startRedisCluster,
  startRedisServer,
  startSentinelGroup,
  type RedisCluster,
  type RedisClusterOptions,
  type RedisServer,
  type SentinelGroup,
  type SentinelGroupOptions,
} from '../../scripts/lib/redis-server.js';
import { track, untrack } from './resources.js';

/** A real redis-server started by the test run (scripts/lib/redis-server.ts), tracked by the leak check. */
export type TestRedis = RedisServer;
export type { RedisCluster, SentinelGroup };

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

/**
 * A real Redis Cluster started by the test run (scripts/lib/redis-server.ts, {@link startRedisCluster}):
 * 3 masters and 3 replicas by default, each on free ports, tracked by the leak check until `destroy()`.
 */
export async function startCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const cluster = await startRedisCluster({ ...(process.env.FNQUEUE_TEST_LOGS ? { onOutput: (port: number, line: string) => process.stderr.write(`[redis :${port}] ${line}\n`) } : {}), ...opts });
  const tracked: RedisCluster = {
    ...cluster,
    destroy: async () => {
      await cluster.destroy();
      untrack(tracked);
    },
  };
  return track(`redis cluster ${cluster.seeds}`, tracked, tracked.destroy);
}

/**
 * A real Sentinel group started by the test run ({@link startSentinelGroup}): a master, 1 replica and
 * 3 sentinels by default, with a failover of a few seconds, tracked by the leak check until `destroy()`.
 */
export async function startSentinels(opts: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const group = await startSentinelGroup({ ...(process.env.FNQUEUE_TEST_LOGS ? { onOutput: (port: number, line: string) => process.stderr.write(`[redis :${port}] ${line}\n`) } : {}), ...opts });
  const tracked: SentinelGroup = {
    ...group,
    destroy: async () => {
      await group.destroy();
      untrack(tracked);
    },
  };
  return track(`redis sentinel group ${group.sentinelAddresses}`, tracked, tracked.destroy);
}
