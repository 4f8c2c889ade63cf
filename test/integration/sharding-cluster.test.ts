import { expect } from 'chai';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { redisInfo } from '../../scripts/lib/redis-server.js';
import { shardTags } from '../../shared/store/keys.js';
import { eventually, http } from '../helpers/http.js';
import { startCluster } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import type { RedisCluster } from '../../scripts/lib/redis-server.js';

/**
 * QUEUE_SHARDS=3 on a real 3-master Redis Cluster (docs/deployment.md#cluster-with-shards): the
 * shards' tags sit on the three masters, and 3,000 jobs spread the commands over them (no master
 * serves more than 45 % of them, INFO commandstats) and leave job records on each.
 */

const JOBS = 3000;
const SHARDS = 3;

/** Commands a node served since its last CONFIG RESETSTAT (INFO commandstats), the test's own INFO and CONFIG left out. */
async function commandsServed(port: number): Promise<number> {
  const stats = await redisInfo(port, 'commandstats');
  let calls = 0;
  for (const [name, value] of Object.entries(stats)) {
    if (/^cmdstat_(info|config)\b/.test(name)) continue;
    calls += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return calls;
}

/** A plain connection to one node (no cluster redirects). */
async function onNode<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  try {
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

describe('sharded queues on a Redis Cluster (3 masters, QUEUE_SHARDS=3, real processes)', function () {
  this.timeout(90_000);
  let cluster: RedisCluster;
  let stack: Stack;
  let masters: number[];

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    masters = (await Promise.all(cluster.nodes.map(async (n) => ((await n.role()) === 'master' ? n.port : undefined)))).filter((p): p is number => p !== undefined);
    // The rate limiter off: 3,000 submissions from one address in a few seconds is the point here.
    stack = await startStack({ REDIS_CLUSTER_NODES: cluster.seeds }, { QUEUE_SHARDS: String(SHARDS), WORKER_CONCURRENCY: '6', RATE_LIMIT_PER_SECOND: '0', MAX_QUEUE_DEPTH: '0' });
  });
  after(async () => {
    await stack?.close();
    await cluster?.destroy();
  });

  it('puts the 3 shard tags on the 3 masters (CLUSTER KEYSLOT)', async () => {
    const tags = shardTags(stack.config.QUEUE_PREFIX, SHARDS);
    const owners = await Promise.all(tags.map(async (tag) => (await cluster.masterOf(`${tag}:job:0`)).port));
    expect(new Set(owners).size, `${tags.join(' ')} on ${owners.join(' ')}`).to.equal(3);
    const slots = await onNode(masters[0]!, (c) => Promise.all(tags.map((t) => c.cluster('KEYSLOT', `${t}:x`) as Promise<number>)));
    expect(new Set(slots.map((s) => (s <= 5460 ? 0 : s <= 10922 ? 1 : 2))).size, `slots ${slots.join(' ')}`).to.equal(3);
  });

  it(`spreads ${JOBS} jobs so that no master serves more than 45 % of the commands, and each holds records`, async () => {
    await Promise.all(masters.map((port) => onNode(port, (c) => c.config('RESETSTAT'))));
    const pool = new Pool(stack.url, { connections: 20, pipelining: 1 });
    const ids: string[] = [];
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (next < JOBS) {
            next++;
            const r = await pool.request({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ algorithm: 'Echo', params: {} }) });
            const body = (await r.body.json()) as { job_id?: string };
            expect(r.statusCode, JSON.stringify(body)).to.equal(202);
            ids.push(body.job_id!);
          }
        }),
      );
    } finally {
      await pool.close();
    }
    expect(ids).to.have.length(JOBS);
    await eventually(async () => (await http('GET', `${stack.url}/jobs?status=completed&limit=1`)).body.total === JOBS, 60_000, 500);
    const served = await Promise.all(masters.map(commandsServed));
    const total = served.reduce((a, b) => a + b, 0);
    const shares = served.map((n) => n / total);
    const shown = masters.map((port, i) => `:${port} ${served[i]} (${(shares[i]! * 100).toFixed(1)} %, ${(served[i]! / JOBS).toFixed(1)}/job)`).join(', ');
    for (const share of shares) expect(share, shown).to.be.at.most(0.45);
    // Each master holds job records of its shard.
    const records = await Promise.all(
      masters.map((port) =>
        onNode(port, async (c) => {
          const [, keys] = await c.scan('0', 'MATCH', `{${stack.config.QUEUE_PREFIX}*}:job:*`, 'COUNT', 100_000);
          return keys.filter((k) => /:job:[0-9a-f]{12}$/.test(k)).length;
        }),
      ),
    );
    for (const n of records) expect(n, `records per master ${records.join(' ')}`).to.be.above(JOBS / 6);
    expect(records.reduce((a, b) => a + b, 0)).to.equal(JOBS);
    // One record read through the cluster client, wherever it lives.
    const one = await http('GET', `${stack.url}/jobs/${ids[JOBS - 1]}`);
    expect(one.body.status).to.equal('completed');
  });

  it('wakes /invoke through the cluster: job events published by scripts on any master reach the API', async () => {
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => http('POST', `${stack.url}/invoke`, { algorithm: 'Echo', params: { value: i } })));
    for (const res of answers) expect(res.body, JSON.stringify(res.body)).to.include({ status: 'success' });
  });
});
