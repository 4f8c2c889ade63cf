/**
 * The one Redis connection factory: every connection of the api, the worker, the scripts and the
 * dashboard is opened here, for the topology the configuration names (shared/config.ts
 * `redisTopology`: one node, Sentinel or Cluster; docs/deployment.md#redis-topologies).
 */
import { Cluster, Command, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisHostPort, RedisTopology } from '../config.js';

/**
 * A connection to fnqueue's Redis, whatever its topology: an ioredis `Redis` (one node, or the master a
 * Sentinel group names) or an ioredis `Cluster`. Stores, queues and probes take this type; both run
 * the same commands, scripts and pub/sub (a Cluster routes each by its key's slot; every fnqueue key
 * shares the `{prefix}` hash tag, so one slot).
 */
export type RedisConnection = Redis | Cluster;

/**
 * How a connection is used, which decides how it behaves while Redis is down or does not answer:
 * - `request`: fails commands at once while disconnected (no offline queue), and rejects a command
 *   Redis has not answered within `commandTimeoutMs` (ioredis `commandTimeout`: "Command timed out"),
 *   so an HTTP request answers 503 instead of hanging on a frozen Redis. A timed-out command stays
 *   written on the connection: Redis runs it when it answers again, in order with what follows it.
 * - `blocking`: BullMQ Workers and subscribers; retries forever (`maxRetriesPerRequest: null`), as
 *   BullMQ requires, and no command timeout: BullMQ duplicates this connection for its blocking
 *   BZPOPMIN, which must be allowed to block (BullMQ bounds that wait with its own watchdog).
 */
export type ConnectionRole = 'request' | 'blocking';

/** The default bound of one command on a `request` connection, ms (REDIS_COMMAND_TIMEOUT_MS). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

/** Longest wait between reconnection attempts, ms. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** Options of {@link createRedis} over the role's. */
export interface CreateRedisOptions {
  /**
   * Where the connection's errors go, and those of every connection duplicated from it (a BullMQ
   * Worker's blocking connection): a connection refused or reset while Redis is down, once per retry.
   * Required: an ioredis connection without an `error` listener prints each one to stderr
   * ("[ioredis] Unhandled error event"), unthrottled. Pass a ThrottledLog's `note` (shared/throttled-log.ts).
   */
  onError: (err: Error) => void;
  /** Bound of one command on a `request` connection, ms. Default {@link DEFAULT_COMMAND_TIMEOUT_MS}. Ignored for `blocking`. */
  commandTimeoutMs?: number;
  /** ioredis options for the (node) connections, over the factory's. */
  redis?: RedisOptions;
}

/**
 * A node that was a master answers READONLY once it is a replica (a Sentinel failover, or a managed
 * Redis's endpoint moved): reconnect, so the connection asks again which node is master (Sentinel) or
 * reaches the new master behind the same name. `request` connections fail the command (the caller
 * answers 503; nothing was written); `blocking` ones resend it once reconnected (ioredis
 * `reconnectOnError` returning 2), since BullMQ's own loops expect commands to go through.
 */
function reconnectOnReadonly(role: ConnectionRole) {
  return (err: Error): 1 | 2 | false => (/^READONLY\b/.test(err.message) ? (role === 'request' ? 1 : 2) : false);
}

/** The role's ioredis options, for one node (the whole connection, or each node of a Cluster). */
function roleOptions(role: ConnectionRole, name: string, opts: CreateRedisOptions): RedisOptions {
  const common: RedisOptions = {
    connectionName: `fnqueue:${name}`,
    retryStrategy: (times) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
    reconnectOnError: reconnectOnReadonly(role),
    lazyConnect: false,
  };
  if (role === 'request') {
    return { ...common, commandTimeout: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, ...opts.redis };
  }
  return { ...common, maxRetriesPerRequest: null, enableReadyCheck: true, ...opts.redis };
}

const hostPorts = (xs: RedisHostPort[]) => xs.map(({ host, port }) => ({ host, port }));

/** Sockets whose writes {@link coalesceWrites} already batches. */
const coalesced = new WeakSet<object>();

/**
 * Batches the commands a node connection writes in one event-loop turn into one socket write: the
 * first write of a turn corks the socket and the check phase uncorks it (Node's `writable.cork()`,
 * one `writev`). ioredis otherwise writes each command on its own, a syscall each, which was about a
 * fifth of the API's CPU under load. Our own rather than ioredis `enableAutoPipelining`, which
 * builds a Pipeline per turn that copies every script defined on the connection (BullMQ's and ours,
 * ~85), and cost more than the writes it saved. Commands, their order, timeouts and answers are unchanged.
 */
function coalesceWrites(redis: Redis): void {
  redis.on('connect', () => {
    const stream = (redis as unknown as { stream?: { write: (...args: unknown[]) => boolean; cork(): void; uncork(): void } }).stream;
    if (!stream || coalesced.has(stream)) return;
    coalesced.add(stream);
    const write = stream.write.bind(stream);
    let corked = false;
    const uncork = () => {
      corked = false;
      stream.uncork();
    };
    stream.write = (...args: unknown[]) => {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(uncork);
      }
      return write(...args);
    };
  });
}

/** The connections opened by each connection's `duplicate()`, which {@link closeDuplicates} closes for good. */
const duplicatesOf = new WeakMap<RedisConnection, Set<RedisConnection>>();

/** The error ioredis gives a command on a closed connection; BullMQ counts it as a connection error, not a failure. */
const CONNECTION_CLOSED_MESSAGE = 'Connection is closed.';

/**
 * Sends `conn`'s errors to `onError`, and makes its duplicates (the connection a BullMQ Worker opens
 * for its blocking BZPOPMIN, named `<prefix>:<base64 queue name>:w:<worker name>`) do the same and
 * be remembered for {@link closeDuplicates}: ioredis's `duplicate()` copies the options, not the listeners.
 */
function adopt<C extends RedisConnection>(conn: C, onError: (err: Error) => void): C {
  conn.on('error', onError);
  const duplicates = new Set<RedisConnection>();
  duplicatesOf.set(conn, duplicates);
  const duplicate = conn.duplicate.bind(conn) as (...args: unknown[]) => RedisConnection;
  Object.assign(conn, {
    duplicate: (...args: unknown[]) => {
      const copy = adopt(duplicate(...args), onError);
      duplicates.add(copy);
      return copy;
    },
  });
  return conn;
}

/**
 * Closes for good the connections duplicated from `redis` (BullMQ Workers' blocking connections),
 * and theirs: each is disconnected and refuses to connect again. BullMQ owns these and closes them
 * in `Worker.close()`, but a reconnection it started before (a `pause()` waiting for its running
 * jobs, a fetch that failed while Redis was down) still calls `connect()` once it ends, after the
 * close, on a connection that no longer has BullMQ's listeners: it stayed connected, or retried
 * forever while Redis was down. Call it once the Workers on `redis` are closed; {@link closeRedis} calls it too.
 */
export function closeDuplicates(redis: RedisConnection): void {
  const duplicates = duplicatesOf.get(redis);
  if (!duplicates) return;
  for (const copy of duplicates) {
    closeDuplicates(copy);
    Object.assign(copy, { connect: () => Promise.reject(new Error(CONNECTION_CLOSED_MESSAGE)) });
    copy.disconnect();
  }
  duplicates.clear();
}

/**
 * Opens a connection to the configured Redis:
 * - `single` (REDIS_URL): an ioredis `Redis` on the URL (password, user, db and `rediss://` TLS as the URL says);
 * - `sentinel`: an ioredis `Redis` that asks the sentinels for the master named REDIS_SENTINEL_NAME and
 *   follows failovers (on each reconnection, and on READONLY from a demoted master, it asks again);
 * - `cluster`: an ioredis `Cluster` seeded with REDIS_CLUSTER_NODES that follows MOVED/ASK redirections,
 *   retries on CLUSTERDOWN/TRYAGAIN and refreshes its slot map on failovers (the BullMQ guide "Redis
 *   Cluster": hand BullMQ the Cluster and use a `{hash tag}` prefix, as shared/store/keys.ts does).
 * Every kind reconnects forever with a capped backoff (max 2 s) and reconnects on READONLY. Its
 * errors, and those of its duplicates, go to `opts.onError`; {@link closeRedis} closes it and them.
 * @param topology the configuration's {@link RedisTopology}, or a `redis://` URL (one node).
 * @param name shown in `CLIENT LIST` (`fnqueue:<name>`).
 */
export function createRedis(topology: RedisTopology | string, role: ConnectionRole, name: string, opts: CreateRedisOptions): RedisConnection {
  if (role === 'request') deferCommandTimeouts();
  return adopt(openRedis(topology, role, name, opts), opts.onError);
}

/** ioredis' Command as {@link deferCommandTimeouts} uses it (its own fields, not in its typings). */
interface TimedCommand {
  setTimeout(ms: number): void;
  _commandTimeoutTimer?: NodeJS.Timeout;
  isSettled?: boolean;
  reject(err: Error): void;
}

let timeoutsDeferred = false;

/**
 * Makes a `request` connection's command timeout (ioredis `commandTimeout`) fail a command only
 * once the replies already received have been read. ioredis arms a timer whose callback rejects the
 * command; after the event loop was blocked past the bound (a long pause of the process: GC, a
 * paused VM or container), Node runs the expired timers before it reads the sockets, so commands
 * Redis had answered meanwhile failed as timed out although they ran: a POST /jobs answered 503
 * while its job was queued, its undo then racing the worker that took it. The rejection now waits
 * for the check phase (setImmediate), after the poll phase has read what the sockets hold. ioredis
 * has no option for this, so its Command#setTimeout (ioredis 6: `_commandTimeoutTimer`,
 * `isSettled`, `reject`) is replaced once, for every connection; test/integration/redis-command-timeout.test.ts
 * holds it to that.
 */
function deferCommandTimeouts(): void {
  if (timeoutsDeferred) return;
  timeoutsDeferred = true;
  (Command.prototype as unknown as TimedCommand).setTimeout = function (this: TimedCommand, ms: number) {
    if (this._commandTimeoutTimer) return;
    this._commandTimeoutTimer = setTimeout(() => {
      setImmediate(() => {
        if (!this.isSettled) this.reject(new Error('Command timed out'));
      });
    }, ms);
  };
}

function openRedis(topology: RedisTopology | string, role: ConnectionRole, name: string, opts: CreateRedisOptions): RedisConnection {
  const t: RedisTopology = typeof topology === 'string' ? { kind: 'single', url: topology } : topology;
  const node = roleOptions(role, name, opts);
  switch (t.kind) {
    case 'single': {
      const redis = new Redis(t.url, node);
      coalesceWrites(redis);
      return redis;
    }
    case 'sentinel': {
      const redis = new Redis({
        ...node,
        sentinels: hostPorts(t.sentinels),
        name: t.name,
        db: t.db,
        ...(t.username ? { username: t.username } : {}),
        ...(t.password ? { password: t.password } : {}),
        ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
        ...(t.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        ...(t.sentinelTls ? { sentinelTLS: {} } : {}),
        sentinelRetryStrategy: (times) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
        // No failoverDetector: its sentinel subscriptions carry no error listener and outlive a close
        // that races their setup (ioredis 6). A dead master drops the connection and a demoted one
        // answers READONLY; either way the connection asks the sentinels again.
      });
      coalesceWrites(redis);
      return redis;
    }
    case 'cluster': {
      const { enableOfflineQueue, enableReadyCheck, lazyConnect, retryStrategy: _perNode, ...redisOptions } = node;
      const clusterOptions: ClusterOptions = {
        redisOptions: {
          ...redisOptions,
          ...(t.username ? { username: t.username } : {}),
          ...(t.password ? { password: t.password } : {}),
          ...(t.tls ? { tls: {} } : {}),
        },
        ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
        ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
        ...(lazyConnect !== undefined ? { lazyConnect } : {}),
        clusterRetryStrategy: (times) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
        // While a failover is under way: retry moved/closed/CLUSTERDOWN/TRYAGAIN commands after these
        // delays, up to maxRedirections times; a `request` command past that fails (503) and the caller retries.
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 200,
        maxRedirections: 16,
        slotsRefreshTimeout: 2000,
        // Writes and reads go to masters only: a replica's answer may lag (docs/deployment.md#redis-topologies).
        scaleReads: 'master',
        ...(t.natMap ? { natMap: t.natMap } : {}),
        // A TLS cluster announces IPs the certificate does not name: keep the seed's host name for SNI.
        ...(t.tls ? { dnsLookup: (address: string, callback: (err: NodeJS.ErrnoException | null, address: string) => void) => callback(null, address) } : {}),
      };
      const cluster = new Cluster(hostPorts(t.nodes), clusterOptions);
      cluster.on('+node', (nodeConnection: Redis) => coalesceWrites(nodeConnection));
      return cluster;
    }
  }
}

/** Resolves once `redis` is ready, or rejects after `timeoutMs` (unset: waits as long as it takes). */
export function waitReady(redis: RedisConnection, timeoutMs?: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            cleanup();
            reject(new Error(`Redis not ready after ${timeoutMs} ms`));
          }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/**
 * Closes `redis` politely (QUIT), falling back to disconnect when Redis is unreachable, and its
 * duplicates for good ({@link closeDuplicates}).
 */
export async function closeRedis(redis: RedisConnection): Promise<void> {
  closeDuplicates(redis);
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('quit timeout')), 1000))]);
  } catch {
    redis.disconnect();
  }
}

/** `url` without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}

/** The topology for logs: its kind and addresses, never a password. */
export function describeTopology(topology: RedisTopology): string {
  const list = (xs: RedisHostPort[]) => xs.map((x) => `${x.host}:${x.port}`).join(',');
  switch (topology.kind) {
    case 'single':
      return redactUrl(topology.url);
    case 'sentinel':
      return `sentinel master ${topology.name} via ${list(topology.sentinels)}`;
    case 'cluster':
      return `cluster via ${list(topology.nodes)}`;
  }
}

/** Whether `redis` is a Cluster connection (ioredis's `isCluster`), as a type guard. */
export function isCluster(redis: RedisConnection): redis is Cluster {
  return redis.isCluster;
}
