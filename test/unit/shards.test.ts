import { expect } from 'chai';
import calculateSlot from 'cluster-key-slot';
import { loadConfig, runnerPoolSize, shardConcurrency } from '../../shared/config.js';
import { CLUSTER_SLOTS, keysFor, shardOf, shardTags } from '../../shared/store/keys.js';
import { newJobId, recordIdOf } from '../../shared/store/job-store.js';

/** The shard mapping (docs/architecture.md#key-layout): job ids and Idempotency-Keys to shards, shards to hash tags. */
describe('queue shards', () => {
  it('keeps every key of one shard exactly under {QUEUE_PREFIX}', () => {
    const keys = keysFor('fnqueue');
    expect(shardTags('fnqueue', 1)).to.deep.equal(['{fnqueue}']);
    expect(keys.job('a1b2c3d4e5f6')).to.equal('{fnqueue}:job:a1b2c3d4e5f6');
    expect(keys.jobAttempts('a1b2c3d4e5f6')).to.equal('{fnqueue}:job:a1b2c3d4e5f6:attempts');
    expect(keys.jobLogs('a1b2c3d4e5f6')).to.equal('{fnqueue}:job:a1b2c3d4e5f6:logs');
    expect(keys.idempotency('ffee')).to.equal('{fnqueue}:idempotency:ffee');
    expect(keys.shard(0).jobIndex('all')).to.equal('{fnqueue}:job-index:all');
    expect(keys.shard(0).statusIndexes[0]).to.equal('{fnqueue}:job-index:status:pending');
    expect(keys.shard(0).runCounters).to.equal('{fnqueue}:metrics:run-counters');
    expect(keys.shard(0).queuedTotal('default')).to.equal('{fnqueue}:queued:default:total');
    expect(keys.shardOfJob('ffffffffffff').bullPrefix).to.equal('{fnqueue}');
    expect(() => keys.shard(1)).to.throw(RangeError);
  });

  it('maps an id to its first 32 bits mod the shard count, and a non-hex string to shard 0', () => {
    expect(shardOf('00000005abcd', 3)).to.equal(5 % 3);
    expect(shardOf('ffffffff0000', 3)).to.equal(0xffffffff % 3);
    expect(shardOf('ffffffff0000', 1)).to.equal(0);
    expect(shardOf('*', 3)).to.equal(0);
    expect(shardOf('xyz123456789', 4)).to.equal(0);
    // New ids spread evenly: each of 3 shards gets a third of 30,000 draws, within 5 %.
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[shardOf(newJobId(), 3)]! += 1;
    for (const n of counts) expect(n).to.be.within(9_500, 10_500);
  });

  it('puts a job id, its record, attempts and logs in one shard, and keeps shard 0 at {QUEUE_PREFIX}', () => {
    const keys = keysFor('fnqueue', 3);
    const tags = shardTags('fnqueue', 3);
    expect(tags[0]).to.equal('{fnqueue}');
    for (let i = 0; i < 50; i++) {
      const id = newJobId();
      const tag = tags[shardOf(id, 3)]!;
      for (const key of [keys.job(id), keys.jobAttempts(id), keys.jobLogs(id), keys.jobLogsBytes(id), keys.jobLogsTruncated(id)]) expect(key.startsWith(`${tag}:`)).to.equal(true);
      expect(keys.shardOfJob(id).bullPrefix).to.equal(tag);
    }
    // What is not a job's stays under {QUEUE_PREFIX}.
    for (const key of [keys.jobEvents, keys.jobCancel, keys.pools, keys.schedules, keys.functions, keys.workers, keys.shardCount]) expect(key.startsWith('{fnqueue}:')).to.equal(true);
  });

  it('picks tags whose slots fall in distinct equal ranges of the slot space, the same on every call', () => {
    for (const prefix of ['fnqueue', 'acme', 'tq1x2', 'a-b_c']) {
      for (const n of [2, 3, 4, 6]) {
        const tags = shardTags(prefix, n);
        expect(tags).to.have.length(n);
        expect(tags[0]).to.equal(`{${prefix}}`);
        const ranges = tags.map((t) => Math.min(n - 1, Math.floor((calculateSlot(t) * n) / CLUSTER_SLOTS)));
        expect(new Set(ranges).size, `${prefix} × ${n}: ${tags.join(' ')}`).to.equal(n);
        expect(shardTags(prefix, n)).to.deep.equal(tags);
        tags.slice(1).forEach((t, i) => expect(t).to.match(new RegExp(`^\\{${prefix}-s${i + 1}(-\\d+)?\\}$`)));
      }
    }
    // With 3 shards the tags land on the 3 masters of `redis-cli --cluster create` (0-5460, 5461-10922, 10923-16383).
    const owner = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
    expect(new Set(shardTags('fnqueue', 3).map((t) => owner(calculateSlot(t)))).size).to.equal(3);
    expect(() => shardTags('fnqueue', 0)).to.throw(RangeError);
  });

  it('mints ids in a chosen shard and maps a schedule run into shard 0, unchanged with one shard', () => {
    for (let i = 0; i < 20; i++) expect(shardOf(newJobId((id) => shardOf(id, 3) === 2), 3)).to.equal(2);
    const run = 'repeat:abc:1700000000000';
    expect(recordIdOf(run)).to.equal(recordIdOf(run, () => true));
    expect(recordIdOf(run)).to.match(/^[0-9a-f]{12}$/);
    for (let i = 0; i < 50; i++) {
      const id = recordIdOf(`repeat:s:${i}`, (x) => shardOf(x, 3) === 0);
      expect(id).to.match(/^[0-9a-f]{12}$/);
      expect(shardOf(id, 3)).to.equal(0);
      expect(recordIdOf(`repeat:s:${i}`, (x) => shardOf(x, 3) === 0)).to.equal(id);
    }
    expect(recordIdOf('a1b2c3d4e5f6', () => false)).to.equal('a1b2c3d4e5f6');
  });

  it('splits WORKER_CONCURRENCY over the shards, at least one each, and sizes the runner pool to match', () => {
    expect(shardConcurrency({ WORKER_CONCURRENCY: 4, QUEUE_SHARDS: 1 })).to.deep.equal([4]);
    expect(shardConcurrency({ WORKER_CONCURRENCY: 4, QUEUE_SHARDS: 3 })).to.deep.equal([2, 1, 1]);
    expect(shardConcurrency({ WORKER_CONCURRENCY: 6, QUEUE_SHARDS: 3 })).to.deep.equal([2, 2, 2]);
    expect(shardConcurrency({ WORKER_CONCURRENCY: 2, QUEUE_SHARDS: 3 })).to.deep.equal([1, 1, 1]);
    expect(runnerPoolSize(loadConfig({ WORKER_CONCURRENCY: '2', QUEUE_SHARDS: '3' }))).to.equal(3);
    expect(runnerPoolSize(loadConfig({ WORKER_CONCURRENCY: '4' }))).to.equal(4);
    expect(loadConfig({}).QUEUE_SHARDS).to.equal(1);
    expect(() => loadConfig({ QUEUE_SHARDS: '0' })).to.throw(/QUEUE_SHARDS/);
    expect(() => loadConfig({ QUEUE_SHARDS: '65' })).to.throw(/QUEUE_SHARDS/);
  });
});
