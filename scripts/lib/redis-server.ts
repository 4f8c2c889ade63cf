/**
 * The one redis-server launcher: `npm start` (scripts/start.ts), the benchmarks (scripts/bench/) and
 * the tests (test/helpers/redis-server.ts) all start their Redis here. It listens on 127.0.0.1 on a
 * free port (never 6379, the machine's own Redis), answers PING before the promise resolves, and is
 * stopped and its temp dir removed by {@link RedisServer.destroy}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { freePort } from '../../shared/net/free-port.js';

/** How long a new redis-server has to answer PING. */
export const REDIS_START_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 50;
/** The port of the machine's own Redis, which nothing here may use. */
const MACHINE_REDIS_PORT = 6379;

/** redis-server is not on PATH (the spawn failed with ENOENT). `code` is `REDIS_SERVER_NOT_FOUND`. */
export class RedisServerNotFoundError extends Error {
  readonly code = 'REDIS_SERVER_NOT_FOUND';
  constructor(options?: ErrorOptions) {
    super('redis-server was not found on PATH', options);
    this.name = 'RedisServerNotFoundError';
  }
}

/** How to start the server. */
export interface RedisServerOptions {
  /**
   * Its `--dir` (AOF and dump files). Created when missing and kept by {@link RedisServer.destroy}.
   * Default: a new temp dir (`<tmpdir>/<tempPrefix>XXXXXX`), removed by {@link RedisServer.destroy}.
   */
  dir?: string;
  /** Prefix of the temp dir's name when `dir` is not given. Default `fnqueue-redis-`. */
  tempPrefix?: string;
  /** AOF persistence, fsynced every second. Default false (no persistence at all). */
  appendonly?: boolean;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches the services (which drain) while Redis
   * stays up until they are gone; the caller must then stop it. Default false.
   */
  detached?: boolean;
  /**
   * Its `maxmemory`, MiB: past it writes are refused with an OOM error (`noeviction`: nothing
   * accepted is evicted) and the API answers 503 (docs/operations.md). Default: no maxmemory.
   */
  maxmemoryMb?: number;
  /** Each line redis-server writes (stdout and stderr). Default: its output is discarded. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Its port on 127.0.0.1. Default: a free port. */
  port?: number;
  /** More redis-server arguments, after the launcher's own (e.g. `['--replicaof', '127.0.0.1', '6380']`). */
  extraArgs?: string[];
  /**
   * The address it binds to and is reached at (a network namespace's, in tests), with protected mode
   * off when it is not 127.0.0.1 (the server has no password). Default 127.0.0.1.
   */
  host?: string;
  /** A command that runs redis-server, e.g. `['ip', 'netns', 'exec', 'ns1']`. Default: none, it is spawned directly. */
  wrap?: string[];
}

/** A running redis-server started by {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Its data dir. */
  readonly dir: string;
  /** The current redis-server process (a new one after {@link RedisServer.start}). */
  readonly child: ChildProcess;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`) and waits for its exit; data stays in `dir`. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and dir; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL) and removes its dir when that was a temp dir. */
  destroy(): Promise<void>;
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/**
 * Starts redis-server on a free port of 127.0.0.1 (or `opts.host`) with `--save ''` and `noeviction` (and `maxmemory` when given); resolves once it
 * answers PING. Its `--dir` (opts.dir, or a fresh temp dir) is mode 0700: readable by the service's
 * user only, never by `nobody`, the user function code runs as.
 * @throws RedisServerNotFoundError when redis-server is not on PATH; Error when it exits or does not
 *   answer within {@link REDIS_START_TIMEOUT_MS} (its last output lines in the message).
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  if (port === MACHINE_REDIS_PORT) throw new Error(`refusing port ${MACHINE_REDIS_PORT} (the machine's own Redis)`);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ? path.resolve(opts.dir) : mkdtempSync(path.join(tmpdir(), opts.tempPrefix ?? 'fnqueue-redis-'));
  if (!ownDir) {
    // The AOF holds every function's env (secrets): Redis writes it 0644, so its folder is the
    // service's alone, made 0700 and an existing one chmodded (docs/functions.md, "The function sandbox").
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  const host = opts.host ?? '127.0.0.1';
  const args = ['--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction'];
  // Protected mode refuses other hosts of a Redis without a password: a non-loopback `host` is a test's own private address.
  if (host !== '127.0.0.1') args.push('--protected-mode', 'no');
  if (opts.maxmemoryMb !== undefined) args.push('--maxmemory', `${opts.maxmemoryMb}mb`);
  args.push(...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']));
  args.push(...(opts.extraArgs ?? []));
  return launch(args, port, dir, ownDir, opts);
}

/**
 * Spawns `redis-server <args>` and resolves once `host`:`port` answers PING (a data node or a
 * sentinel alike); on failure kills it and removes `dir` when `ownDir`.
 */
async function launch(args: string[], port: number, dir: string, ownDir: boolean, opts: Pick<RedisServerOptions, 'detached' | 'onOutput' | 'host' | 'wrap'>): Promise<RedisServer> {
  const url = `redis://${opts.host ?? '127.0.0.1'}:${port}`;
  let child!: ChildProcess;
  const tail: string[] = [];

  const start = async () => {
    const [command, ...prefix] = [...(opts.wrap ?? []), 'redis-server'];
    const proc = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new RedisServerNotFoundError({ cause: err }) : err));
    });
    for (const [stream, name] of [[proc.stdout, 'stdout'], [proc.stderr, 'stderr']] as const) {
      createInterface({ input: stream!, crlfDelay: Infinity }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onOutput?.(line, name);
      });
    }
    await waitForPing(url, proc, tail);
  };
  const stop = async (hard = false) => {
    const p = child;
    if (!alive(p)) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  try {
    await start();
  } catch (err) {
    if (child && alive(child)) child.kill('SIGKILL');
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    dir,
    get child() {
      return child;
    },
    stop,
    start,
    destroy: async () => {
      await stop(true);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(url: string, proc: ChildProcess, tail: string[]): Promise<void> {
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(proc)) throw new Error(`redis-server exited with code ${proc.exitCode}: ${tail.join('\n')}`);
    const client = new Redis(url, { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let lastError = '';
    client.on('error', (err: Error) => (lastError = err.message));
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (err) {
      // A server with requirepass answers, with NOAUTH (to ioredis's HELLO or to PING): it is up.
      if (/NOAUTH/.test(`${lastError} ${err instanceof Error ? err.message : ''}`)) return;
      await new Promise((r) => setTimeout(r, PING_INTERVAL_MS));
    } finally {
      client.disconnect();
    }
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server at ${url} did not answer within ${REDIS_START_TIMEOUT_MS / 1000} s: ${tail.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster and Sentinel groups (tests and benchmarks of the topologies in docs/deployment.md)
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a new cluster or sentinel group has to become healthy, ms. */
export const TOPOLOGY_START_TIMEOUT_MS = 30_000;

/** One short-lived connection to 127.0.0.1:`port` that never retries; runs `fn` and disconnects. */
async function withClient<T>(port: number, fn: (client: Redis) => Promise<T>, password?: string): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, ...(password ? { password } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** `INFO <section>` of the node at `port` as a map of its `field:value` lines. */
export async function redisInfo(port: number, section: string): Promise<Record<string, string>> {
  const text = await withClient(port, (c) => c.info(section));
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Polls `check` every `intervalMs` until it answers true; rejects with `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

/** How to start a Redis Cluster. */
export interface RedisClusterOptions {
  /** Master nodes, each owning an equal share of the 16384 slots. Default 3 (the least `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Replicas of each master. Default 1. */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout`, ms: a master unreachable this long is failed over to its replica.
   * Default 1000, so a failover takes a few seconds.
   */
  nodeTimeoutMs?: number;
  /** Each line a node writes, with its port. Default: discarded. */
  onOutput?: (port: number, line: string) => void;
}

/** One node of a {@link RedisCluster}. */
export interface RedisClusterNode {
  /** Its client port on 127.0.0.1 (its cluster bus port is another free port). */
  readonly port: number;
  /** `127.0.0.1:<port>`, the form REDIS_CLUSTER_NODES takes. */
  readonly address: string;
  /** Its role now (asks the node: `ROLE`); `down` while its process is stopped. */
  role(): Promise<'master' | 'replica' | 'down'>;
  /** Stops its process with SIGKILL (a crash: no goodbye to the cluster). Its dir (nodes.conf) stays. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and dir; it rejoins the cluster (as a replica after a failover). */
  restart(): Promise<void>;
  /** The underlying server. */
  readonly server: RedisServer;
}

/** A running Redis Cluster started by {@link startRedisCluster}. */
export interface RedisCluster {
  /** Every node, masters first as created (roles change with failovers: ask {@link RedisClusterNode.role}). */
  readonly nodes: RedisClusterNode[];
  /** `127.0.0.1:<port>,…` of every node, the value REDIS_CLUSTER_NODES takes. */
  readonly seeds: string;
  /** The node that serves `key`'s hash slot as master now (asked of a live node: `CLUSTER SHARDS`/`CLUSTER SLOTS`). */
  masterOf(key: string): Promise<RedisClusterNode>;
  /**
   * Waits until every live node reports `cluster_state:ok` and `key`'s slot (when given) is served by
   * a live master other than `notPort`: a failover finished.
   * @throws Error after `timeoutMs` (default {@link TOPOLOGY_START_TIMEOUT_MS}).
   */
  waitHealthy(opts?: { key?: string; notPort?: number; timeoutMs?: number }): Promise<void>;
  /** Kills every node and removes their dirs. */
  destroy(): Promise<void>;
}

/**
 * Starts a Redis Cluster on 127.0.0.1: `masters × (1 + replicasPerMaster)` redis-server processes with
 * `--cluster-enabled yes` (each in its own temp dir, on free client and bus ports, no persistence),
 * joined by `redis-cli --cluster create … --cluster-replicas n --cluster-yes`; resolves once every node
 * reports `cluster_state:ok` and every replica's link to its master is up.
 * Model: the Redis Cluster tutorial (redis.io, "Scale with Redis Cluster").
 * @throws RedisServerNotFoundError when redis-server is not on PATH; Error when the cluster does not
 *   form within {@link TOPOLOGY_START_TIMEOUT_MS} (every node started is then killed).
 */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const replicasPerMaster = opts.replicasPerMaster ?? 1;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 1000;
  const servers: RedisServer[] = [];
  const destroy = async () => {
    await Promise.all(servers.map((s) => s.destroy()));
  };
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-cluster-'));
      try {
        const port = await freePort();
        const busPort = await freePort();
        const server = await startRedisServer({
          dir,
          port,
          extraArgs: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', String(nodeTimeoutMs),
            '--cluster-port', String(busPort),
            // A replica takes over however long its link was down (tests kill masters at will).
            '--cluster-replica-validity-factor', '0',
          ],
          ...(opts.onOutput ? { onOutput: (line: string) => opts.onOutput!(port, line) } : {}),
        });
        // The launcher keeps a dir it was given; this one is ours, removed with the node.
        servers.push({ ...server, get child() { return server.child; }, destroy: async () => { await server.destroy(); rmSync(dir, { recursive: true, force: true }); } });
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
    await runRedisCli([
      '--cluster', 'create',
      ...servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas', String(replicasPerMaster),
      '--cluster-yes',
    ]);
    const nodes = servers.map((server): RedisClusterNode => ({
      port: server.port,
      address: `127.0.0.1:${server.port}`,
      server,
      role: async () => {
        if (!alive(server.child)) return 'down';
        const role = (await withClient(server.port, (c) => c.call('ROLE'))) as unknown[];
        return role[0] === 'master' ? 'master' : 'replica';
      },
      kill: () => server.stop(true),
      restart: () => server.start(),
    }));
    const liveNodes = () => nodes.filter((n) => alive(n.server.child));
    const slotOwnerPort = async (key: string): Promise<number> => {
      let lastErr: unknown;
      for (const n of liveNodes()) {
        try {
          return await withClient(n.port, async (c) => {
            const slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
            const ranges = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
            const range = ranges.find(([from, to]) => slot >= from && slot <= to);
            if (!range) throw new Error(`slot ${slot} is not served`);
            return Number(range[2][1]);
          });
        } catch (err) {
          lastErr = err;
        }
      }
      throw lastErr instanceof Error ? lastErr : new Error('no live cluster node');
    };
    const waitHealthy: RedisCluster['waitHealthy'] = async (w = {}) => {
      await waitFor(
        'cluster healthy',
        async () => {
          for (const n of liveNodes()) {
            const info = await withClient(n.port, (c) => c.call('CLUSTER', 'INFO') as Promise<string>);
            if (!/cluster_state:ok/.test(info)) return false;
            if ((await n.role()) === 'replica' && (await redisInfo(n.port, 'replication')).master_link_status !== 'up') return false;
          }
          if (w.key !== undefined) {
            const owner = await slotOwnerPort(w.key);
            const node = nodes.find((n) => n.port === owner);
            if (!node || owner === w.notPort || !alive(node.server.child) || (await node.role()) !== 'master') return false;
          }
          return true;
        },
        w.timeoutMs ?? TOPOLOGY_START_TIMEOUT_MS,
        200,
      );
    };
    await waitHealthy();
    return {
      nodes,
      seeds: nodes.map((n) => n.address).join(','),
      masterOf: async (key) => {
        const owner = await slotOwnerPort(key);
        const node = nodes.find((n) => n.port === owner);
        if (!node) throw new Error(`slot of ${key} is served by unknown port ${owner}`);
        return node;
      },
      waitHealthy,
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** Runs `redis-cli <args>` and resolves with its stdout; rejects with its output when it exits non-zero. */
function runRedisCli(args: string[], timeoutMs = TOPOLOGY_START_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed (${signal ?? code}): ${out.slice(-2000)}`));
    });
  });
}

/** How to start a Sentinel group. */
export interface SentinelGroupOptions {
  /** Replicas of the master. Default 1. */
  replicas?: number;
  /** Sentinel processes; the quorum is a majority of them. Default 3. */
  sentinels?: number;
  /** The monitored master's name (REDIS_SENTINEL_NAME). Default `fnqueue`. */
  name?: string;
  /** `down-after-milliseconds`: a master unreachable this long is down. Default 1000. */
  downAfterMs?: number;
  /** `failover-timeout`, ms. Default 3000. */
  failoverTimeoutMs?: number;
  /** `requirepass`/`masterauth` of the data nodes (sentinels then use `auth-pass`). Default: none. */
  password?: string;
  /** Each line a process writes, with its port. Default: discarded. */
  onOutput?: (port: number, line: string) => void;
}

/** A running Sentinel group started by {@link startSentinelGroup}. */
export interface SentinelGroup {
  /** The monitored master's name. */
  readonly name: string;
  /** Data nodes, the first the master at start (roles change with failovers: ask {@link SentinelGroup.masterPort}). */
  readonly dataNodes: RedisServer[];
  /** The sentinels. */
  readonly sentinels: RedisServer[];
  /** `127.0.0.1:<port>,…` of every sentinel, the value REDIS_SENTINELS takes. */
  readonly sentinelAddresses: string;
  /** The port of the master the sentinels name now (`SENTINEL get-master-addr-by-name`). */
  masterPort(): Promise<number>;
  /** The data node that is master now. */
  master(): Promise<RedisServer>;
  /** Kills the current master's process (SIGKILL) and resolves with it (restart it with `start()`). */
  killMaster(): Promise<RedisServer>;
  /**
   * Waits until a majority of sentinels name a live master other than `oldPort` and that node answers
   * `ROLE` as master: the promotion finished. Resolves with the new master's port.
   * @throws Error after `timeoutMs` (default {@link TOPOLOGY_START_TIMEOUT_MS}).
   */
  waitForPromotion(oldPort: number, timeoutMs?: number): Promise<number>;
  /** Kills every process and removes their dirs. */
  destroy(): Promise<void>;
}

/**
 * Starts a master, `replicas` replicas (`--replicaof` the master) and `sentinels` processes of
 * `redis-server <conf> --sentinel` monitoring it (quorum: a majority), with a short
 * down-after-milliseconds and failover-timeout so a failover takes a few seconds; resolves once every
 * replica's link is up and every sentinel sees the replicas and the other sentinels.
 * Model: the Redis Sentinel documentation (redis.io, "High availability with Redis Sentinel").
 * @throws RedisServerNotFoundError when redis-server is not on PATH; Error when the group does not
 *   settle within {@link TOPOLOGY_START_TIMEOUT_MS} (every process started is then killed).
 */
export async function startSentinelGroup(opts: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const name = opts.name ?? 'fnqueue';
  const replicaCount = opts.replicas ?? 1;
  const sentinelCount = opts.sentinels ?? 3;
  const quorum = Math.floor(sentinelCount / 2) + 1;
  const auth = opts.password ? ['--requirepass', opts.password, '--masterauth', opts.password] : [];
  const dataNodes: RedisServer[] = [];
  const sentinels: RedisServer[] = [];
  const destroy = async () => {
    await Promise.all([...sentinels, ...dataNodes].map((s) => s.destroy()));
  };
  const output = (port: number) => (opts.onOutput ? { onOutput: (line: string) => opts.onOutput!(port, line) } : {});
  const dataClient = <T>(port: number, fn: (c: Redis) => Promise<T>) => withClient(port, fn, opts.password);
  try {
    const masterPort = await freePort();
    dataNodes.push(await startRedisServer({ port: masterPort, tempPrefix: 'fnqueue-sentinel-data-', extraArgs: auth, ...output(masterPort) }));
    for (let i = 0; i < replicaCount; i++) {
      const port = await freePort();
      dataNodes.push(await startRedisServer({ port, tempPrefix: 'fnqueue-sentinel-data-', extraArgs: [...auth, '--replicaof', '127.0.0.1', String(masterPort)], ...output(port) }));
    }
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-sentinel-'));
      const conf = path.join(dir, 'sentinel.conf');
      // A sentinel rewrites its config file (what it learns): each has its own, in its own dir.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
          `sentinel parallel-syncs ${name} 1`,
          ...(opts.password ? [`sentinel auth-pass ${name} ${opts.password}`] : []),
          '',
        ].join('\n'),
      );
      try {
        sentinels.push(await launch([conf, '--sentinel'], port, dir, true, output(port)));
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
    const sentinelMaster = async (port: number): Promise<number> => {
      const addr = (await withClient(port, (c) => c.call('SENTINEL', 'get-master-addr-by-name', name))) as [string, string] | null;
      if (!addr) throw new Error(`sentinel :${port} knows no master ${name}`);
      return Number(addr[1]);
    };
    const liveSentinels = () => sentinels.filter((s) => alive(s.child));
    const currentMasterPort = async (): Promise<number> => {
      const votes = new Map<number, number>();
      for (const s of liveSentinels()) {
        try {
          const p = await sentinelMaster(s.port);
          votes.set(p, (votes.get(p) ?? 0) + 1);
        } catch {
          /* a sentinel that does not answer has no vote */
        }
      }
      const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
      if (!best || best[1] < quorum) throw new Error(`no master named by ${quorum} sentinels`);
      return best[0];
    };
    const isMaster = async (port: number) => {
      const node = dataNodes.find((n) => n.port === port);
      if (!node || !alive(node.child)) return false;
      const role = (await dataClient(port, (c) => c.call('ROLE'))) as unknown[];
      return role[0] === 'master';
    };
    await waitFor(
      'sentinel group settled',
      async () => {
        for (const r of dataNodes.slice(1)) if ((await dataClient(r.port, (c) => c.info('replication'))).indexOf('master_link_status:up') < 0) return false;
        for (const s of sentinels) {
          const master = (await withClient(s.port, (c) => c.call('SENTINEL', 'master', name))) as string[];
          const field = (k: string) => Number(master[master.indexOf(k) + 1]);
          if (field('num-slaves') < replicaCount || field('num-other-sentinels') < sentinelCount - 1) return false;
        }
        return true;
      },
      TOPOLOGY_START_TIMEOUT_MS,
      200,
    );
    const master = async () => {
      const port = await currentMasterPort();
      const node = dataNodes.find((n) => n.port === port);
      if (!node) throw new Error(`sentinels name unknown master port ${port}`);
      return node;
    };
    return {
      name,
      dataNodes,
      sentinels,
      sentinelAddresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      masterPort: currentMasterPort,
      master,
      killMaster: async () => {
        const node = await master();
        await node.stop(true);
        return node;
      },
      waitForPromotion: async (oldPort, timeoutMs = TOPOLOGY_START_TIMEOUT_MS) => {
        let promoted = 0;
        await waitFor(
          'sentinel promotion',
          async () => {
            const port = await currentMasterPort();
            if (port === oldPort || !(await isMaster(port))) return false;
            promoted = port;
            return true;
          },
          timeoutMs,
          100,
        );
        return promoted;
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
