import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { redisInfo } from '../../scripts/lib/redis-server.js';
import { startCluster, startSentinels } from '../helpers/redis-server.js';

/** The launchers of real Redis Clusters and Sentinel groups the topology tests stand on. */
describe('Redis topology launchers (real redis-server processes)', function () {
  this.timeout(80_000);

  it('starts a 3-master, 3-replica cluster that fails a killed master over to its replica and takes it back as a replica', async () => {
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    try {
      const roles = await Promise.all(cluster.nodes.map((n) => n.role()));
      expect(roles.filter((r) => r === 'master')).to.have.length(3);
      expect(roles.filter((r) => r === 'replica')).to.have.length(3);
      const client = new Cluster(cluster.seeds.split(',').map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })));
      try {
        await client.set('{fnqueue}:probe', 'v1');
        const owner = await cluster.masterOf('{fnqueue}:probe');
        expect(await owner.role()).to.equal('master');
        await owner.kill();
        expect(await owner.role()).to.equal('down');
        await cluster.waitHealthy({ key: '{fnqueue}:probe', notPort: owner.port });
        const next = await cluster.masterOf('{fnqueue}:probe');
        expect(next.port).to.not.equal(owner.port);
        await owner.restart();
        await cluster.waitHealthy();
        expect(await owner.role()).to.equal('replica');
      } finally {
        client.disconnect();
      }
    } finally {
      await cluster.destroy();
    }
    for (const n of cluster.nodes) expect(n.server.child.exitCode !== null || n.server.child.signalCode !== null).to.equal(true);
  });

  it('starts a master, a replica and 3 sentinels that promote the replica when the master is killed', async () => {
    const group = await startSentinels({ replicas: 1, sentinels: 3, password: 'group-secret' });
    try {
      const first = await group.masterPort();
      expect(first).to.equal(group.dataNodes[0]!.port);
      const killed = await group.killMaster();
      expect(killed.port).to.equal(first);
      const promoted = await group.waitForPromotion(first);
      expect(promoted).to.equal(group.dataNodes[1]!.port);
      const c = new Redis({ port: promoted, host: '127.0.0.1', password: 'group-secret' });
      try {
        expect(await c.set('{fnqueue}:probe', '1')).to.equal('OK');
      } finally {
        c.disconnect();
      }
      await killed.start();
      // The sentinels turn the old master into a replica of the new one.
      const deadline = Date.now() + 20_000;
      let role = '';
      while (Date.now() < deadline) {
        const c2 = new Redis({ port: killed.port, host: '127.0.0.1', password: 'group-secret', lazyConnect: true });
        try {
          await c2.connect();
          role = (await redisInfoWith(c2)).role ?? '';
        } finally {
          c2.disconnect();
        }
        if (role === 'slave') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(role).to.equal('slave');
    } finally {
      await group.destroy();
    }
  });

  it('reads INFO sections of a node', async () => {
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    try {
      const info = await redisInfo(cluster.nodes[0]!.port, 'cluster');
      expect(info.cluster_enabled).to.equal('1');
    } finally {
      await cluster.destroy();
    }
  });
});

async function redisInfoWith(c: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await c.info('replication')).split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
