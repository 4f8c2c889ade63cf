import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { expect } from 'chai';
import { startRedisServer, type RedisServer } from '../../scripts/lib/redis-server.js';
import { eventually, freshGet, http } from '../helpers/http.js';
import { track, untrack } from '../helpers/resources.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * The API, two workers and Redis each in a network namespace of their own (ip netns), joined by
 * veth pairs to a bridge on a private /24 the test creates, so every connection crosses real
 * interfaces, as between pods or hosts. The workers also get a PID and UTS namespace each with the
 * same hostname, so both are pid 1 on host `fnqueue-worker`, like two containers: only the worker
 * id's random suffix tells them apart. Needs root (CI runs as root): where namespaces cannot be
 * made, the test fails. Everything it creates is removed after it, also when it fails.
 */

/** Runs `ip <args>`; throws with ip's message when it fails. */
function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (err as Error).message}`);
  }
}

/** A bridge with a network namespace per host on it. */
interface Network {
  /** The namespace and address of each host. */
  hosts: Record<'redis' | 'api' | 'w1' | 'w2', { ns: string; address: string }>;
  /** Removes the namespaces (their veth ends go with them), the host-side veths and the bridge. */
  remove(): void;
}

/** Creates the bridge (the test process's own address on it: .1) and a namespace per host. */
function createNetwork(): Network {
  const tag = randomInt(0x10000, 0xfffff).toString(16);
  const subnet = `10.213.${randomInt(1, 255)}`;
  const bridge = `fnqbr${tag}`;
  const created: Array<() => void> = [];
  const remove = () => {
    for (const undo of created.splice(0).reverse()) {
      try {
        undo();
      } catch {
        /* already gone */
      }
    }
  };
  const names = ['redis', 'api', 'w1', 'w2'] as const;
  const hosts = {} as Network['hosts'];
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    created.push(() => ip('link', 'del', bridge));
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    names.forEach((name, i) => {
      const ns = `fnq-${tag}-${name}`;
      const outside = `fnq${tag}${i}h`;
      const inside = `fnq${tag}${i}n`;
      const address = `${subnet}.${i + 2}`;
      ip('netns', 'add', ns);
      created.push(() => ip('netns', 'del', ns));
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      created.push(() => ip('link', 'del', outside));
      ip('link', 'set', inside, 'netns', ns);
      ip('-n', ns, 'link', 'set', inside, 'name', 'eth0');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      hosts[name] = { ns, address };
    });
  } catch (err) {
    remove();
    throw err;
  }
  return { hosts, remove };
}

/** Names of network namespaces and links now (to check that nothing is left behind). */
function netState(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }) + execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).replace(/^\d+: ([^:@]+).*$/gm, '$1');
}

describe('API, workers and Redis in network namespaces of their own', function () {
  this.timeout(120_000);
  let net: Network | undefined;
  let redis: RedisServer | undefined;
  const procs: ServiceProcess[] = [];
  let before = '';

  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
    if (redis) {
      await redis.destroy();
      untrack(redis);
    }
    net?.remove();
    if (net) for (const { ns } of Object.values(net.hosts)) expect(netState(), 'namespaces and links removed').to.not.contain(ns);
    expect(netState().split('\n').filter((l) => /^fnq/.test(l))).to.deep.equal(before.split('\n').filter((l) => /^fnq/.test(l)));
  });

  it('runs jobs and /invoke across real interfaces, and GET /workers shows both same-hostname pid-1 workers with distinct ids', async () => {
    before = netState();
    net = createNetwork();
    const { hosts } = net;
    const exec = (ns: string) => ['ip', 'netns', 'exec', ns];
    redis = track(`redis-server in ${hosts.redis.ns}`, await startRedisServer({ host: hosts.redis.address, wrap: exec(hosts.redis.ns) }), async () => redis?.destroy());
    expect(redis.url).to.equal(`redis://${hosts.redis.address}:${redis.port}`);

    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: `netns${randomInt(1e6)}`, DIAGNOSTIC_ALGORITHMS: 'true', WORKER_CONCURRENCY: '1', WORKER_HEARTBEAT_MS: '500' };
    // A container's view: its own pid namespace (the worker is pid 1) and hostname, the same for both.
    const container = (ns: string) => [...exec(ns), 'unshare', '--pid', '--fork', '--mount-proc', '--uts', '--kill-child', 'sh', '-c', 'hostname fnqueue-worker && exec "$0" "$@"'];
    const [api, w1, w2] = await Promise.all([
      startService('api', env, 30_000, { wrap: exec(hosts.api.ns), host: hosts.api.address }),
      startService('worker', env, 30_000, { wrap: container(hosts.w1.ns), host: hosts.w1.address }),
      startService('worker', env, 30_000, { wrap: container(hosts.w2.ns), host: hosts.w2.address }),
    ]);
    procs.push(api!, w1!, w2!);
    expect(api!.url).to.equal(`http://${hosts.api.address}:${api!.port}`);

    // The API listens in its own namespace: nothing answers on the test process's loopback at its port.
    expect((await freshGet(api!.port, '/healthz')).code, 'not on this namespace\'s loopback').to.equal('ECONNREFUSED');

    const invoked = await http('POST', `${api!.url}/invoke`, { number: 17 });
    expect(invoked.status, JSON.stringify(invoked.body)).to.equal(200);
    expect(invoked.body.result).to.include({ number: 17, is_prime: true });

    const ids = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const res = await http('POST', `${api!.url}/jobs`, { algorithm: 'Sleep', params: { ms: 300 + i } });
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        return res.body.job_id as string;
      }),
    );
    const done = await Promise.all(ids.map((id) => eventually(async () => {
      const r = await http('GET', `${api!.url}/jobs/${id}`);
      return r.body?.status === 'completed' && r;
    }, 30_000)));
    expect(done.map((r) => r.body.status)).to.deep.equal(ids.map(() => 'completed'));

    const workers = await eventually(async () => {
      const r = await http('GET', `${api!.url}/workers?status=online`);
      return r.body?.total === 2 && r;
    }, 15_000);
    const items = workers.body.items as Array<{ id: string; host: string; pid: number }>;
    expect(items.map((w) => w.host)).to.deep.equal(['fnqueue-worker', 'fnqueue-worker']);
    expect(items.map((w) => w.pid)).to.deep.equal([1, 1]);
    expect(items.map((w) => w.id).sort()).to.deep.equal([w1!.id, w2!.id].sort());
    for (const w of items) expect(w.id).to.match(/^fnqueue-worker:1-[0-9a-f]{6}$/);
    expect(new Set(items.map((w) => w.id)).size, 'distinct ids').to.equal(2);
  });
});
