import { expect } from 'chai';
import net from 'node:net';
import { Redis } from 'ioredis';
import { submitJob, type JobSubmission, type SubmitDeps } from '../../shared/jobs/submit.js';
import { AppError } from '../../shared/errors/index.js';
import { JobQueues } from '../../shared/queue/job-queues.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { keysFor, type Keys } from '../../shared/store/keys.js';
import { JobStore, newJobId } from '../../shared/store/job-store.js';
import { QueuedBytesStore } from '../../shared/store/queued-bytes-store.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * A TCP proxy in front of a redis-server that, once the client sends `holdFrom` (the record's key),
 * holds Redis' answers until the client has also sent `until` (a key only the BullMQ add names), or
 * for `holdMs`. It tells whether the client sent both without waiting for an answer in between, and
 * in which order.
 */
async function holdingProxy(port: number, holdMs: number) {
  let watch: { holdFrom: string; until: string } | undefined;
  let result: { untilWhileHeld: boolean; order: 'record-first' | 'add-first' | 'add-missing' } | undefined;
  // What the clients sent since the watch started.
  let sent = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let held: Buffer[] | undefined;
    let timer: NodeJS.Timeout | undefined;
    const release = (untilWhileHeld: boolean) => {
      if (!held) return;
      clearTimeout(timer);
      const at = sent.indexOf(watch!.holdFrom);
      const until = sent.indexOf(watch!.until);
      result = { untilWhileHeld, order: until < 0 ? 'add-missing' : at < until ? 'record-first' : 'add-first' };
      watch = undefined;
      for (const b of held) client.write(b);
      held = undefined;
    };
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (!watch) return;
      sent += chunk.toString('latin1');
      if (!held && sent.includes(watch.holdFrom)) {
        held = [];
        timer = setTimeout(() => release(false), holdMs);
      }
      if (held && sent.includes(watch.until)) release(true);
    });
    upstream.on('data', (chunk) => (held ? held.push(chunk) : client.write(chunk)));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Starts watching the client's bytes for `holdFrom`, then `until`. */
    watch(holdFrom: string, until: string) {
      watch = { holdFrom, until };
      result = undefined;
      sent = '';
    },
    /** What the last watch saw (undefined while it goes on). */
    result: () => result,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A default-pool Echo job whose job data is the same number of bytes each time. */
const echo: JobSubmission = { algorithm: 'Echo', params: { value: 'x'.repeat(64) }, mode: 'async', options: {} };

describe('The submit path: record and BullMQ job (shared/jobs/submit.ts, real Redis)', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let proxy: Awaited<ReturnType<typeof holdingProxy>>;
  let conn: Redis;
  let direct: Redis;
  let keys: Keys;
  let queues: JobQueues;
  let store: JobStore;
  /** The submit dependencies, with MAX_QUEUED_BYTES `maxBytes` (absent: not counted). */
  const deps = (maxBytes?: number): SubmitDeps => ({ store, queues, ttlSeconds: 3600, ...(maxBytes !== undefined ? { queued: { store: new QueuedBytesStore(conn, keys), maxBytes } } : {}) });
  /** Submits `sub` with the proxy watching for its record's script and its add. */
  const watched = async (d: SubmitDeps, sub: JobSubmission = echo) => {
    const jobId = newJobId();
    // The add's script takes the queue's marker key (a new Queue's own first write, its meta, does not).
    proxy.watch(keys.job(jobId), `${keys.shard(0).bullPrefix}:${jobsQueueName()}:marker`);
    const outcome = await submitJob(d, sub, jobId).then(
      () => 'accepted',
      (err: unknown) => err,
    );
    return { jobId, outcome, seen: proxy.result() };
  };
  const queuedJob = (jobId: string) => queues.get().getJob(jobId);

  before(async () => {
    redis = await startRedis();
    proxy = await holdingProxy(redis.port, 300);
    conn = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: null });
    direct = new Redis(redis.url);
    await conn.ping();
  });
  beforeEach(async () => {
    keys = keysFor(`t${Math.random().toString(36).slice(2, 10)}`);
    store = new JobStore(conn, keys, 3600);
    queues = new JobQueues(conn, keys, 'unused');
    // A new Queue's first add waits for BullMQ's INFO of the connection: done here, not under a watch.
    await queues.get().waitUntilReady();
  });
  afterEach(async () => {
    await queues?.close();
  });
  after(async () => {
    conn?.disconnect();
    direct?.disconnect();
    await proxy?.close();
    await redis?.destroy();
  });

  it('sends the BullMQ add behind the record\'s script without waiting for its answer when nothing is counted, and both land', async () => {
    const { jobId, outcome, seen } = await watched(deps());
    expect(outcome).to.equal('accepted');
    expect(seen).to.deep.equal({ untilWhileHeld: true, order: 'record-first' });
    expect((await store.get(jobId))?.status).to.equal('pending');
    expect((await queuedJob(jobId))?.id).to.equal(jobId);
  });

  it('with MAX_QUEUED_BYTES, waits for the count of a pool it has no fresh reading of, then sends the next jobs in one round trip while the bound is far', async () => {
    const d = deps(64 * 1024 * 1024);
    const first = await watched(d);
    expect(first.outcome).to.equal('accepted');
    // Its answer was held: the add was not sent until it came.
    expect(first.seen).to.deep.equal({ untilWhileHeld: false, order: 'add-missing' });
    const second = await watched(d);
    expect(second.outcome).to.equal('accepted');
    expect(second.seen).to.deep.equal({ untilWhileHeld: true, order: 'record-first' });
    for (const { jobId } of [first, second]) expect((await queuedJob(jobId))?.id).to.equal(jobId);
    expect(await new QueuedBytesStore(direct, keys).total('default')).to.equal(2 * (await jobBytes(first.jobId)));
  });

  it('counts this process\'s own jobs sent ahead against its reading, so a burst goes one at a time past half the bound; a batch drops the reading', async () => {
    const maxBytes = 10_000;
    const first = await watched(deps(maxBytes));
    expect(first.outcome).to.equal('accepted');
    const bytes = await jobBytes(first.jobId);
    const count = { pool: 'default', bytes: 1000, expiresAtMs: Date.now() + 60_000, maxBytes };
    const claims = Array.from({ length: 6 }, () => store.claimQueuedRoom(newJobId(), count));
    // (bytes + k * 1000) * 2 stays within 10,000 for k = 1..4.
    expect(bytes).to.be.below(500);
    expect(claims).to.deep.equal([true, true, true, true, false, false]);
    expect(store.claimQueuedRoom(newJobId(), { ...count, maxBytes: 0 }), 'no bound').to.equal(true);
    const fresh = await watched(deps(maxBytes));
    expect(store.claimQueuedRoom(newJobId(), { ...count, bytes: 1 })).to.equal(true);
    expect(fresh.outcome).to.equal('accepted');
    await store.createMany([{ job_id: newJobId(), algorithm: 'Echo', params: {}, created_at: new Date().toISOString().replace('Z', '+00:00') }], { bytes: [10], expiresAtMs: Date.now() + 60_000, maxBytes });
    expect(store.claimQueuedRoom(newJobId(), { ...count, bytes: 1 }), 'after a batch').to.equal(false);
  });

  /** The payload bytes counted for the queued job `jobId` (its job data as JSON). */
  const jobBytes = async (jobId: string) => Buffer.byteLength(JSON.stringify((await queuedJob(jobId))!.data));

  it('removes the job again when a count sent ahead of its add is refused after all, and then waits for the count', async () => {
    const maxBytes = 10_000;
    const d = deps(maxBytes);
    const a = await watched(d);
    const b = await watched(d);
    expect([a.outcome, b.outcome]).to.deep.equal(['accepted', 'accepted']);
    expect(b.seen?.untilWhileHeld).to.equal(true);
    const bytes = await jobBytes(a.jobId);
    // Another API process fills the pool meanwhile: this one's reading (2 jobs) still shows room.
    const other = new QueuedBytesStore(direct, keys);
    const filled = await other.reserve('default', newJobId(), maxBytes - 3 * bytes + 1, Date.now() + 60_000, maxBytes);
    expect(filled.ok).to.equal(true);
    const c = await watched(d);
    expect(c.seen?.untilWhileHeld, 'sent ahead of its count').to.equal(true);
    expect(c.outcome).to.be.instanceOf(AppError);
    expect((c.outcome as AppError).code).to.equal('SERVICE_UNAVAILABLE');
    expect((c.outcome as AppError).details).to.include({ pool: 'default', max_queued_bytes: maxBytes, queued_bytes: filled.total });
    expect(await queuedJob(c.jobId)).to.equal(undefined);
    expect(await store.get(c.jobId)).to.equal(null);
    // Its add found the placeholder the refusal left, and queued nothing: BullMQ's events say so.
    const events = await direct.xrange(queues.get().toKey('events'), '-', '+');
    const ofC = events.map(([, fields]) => fields).filter((f) => f[f.indexOf('jobId') + 1] === c.jobId).map((f) => f[f.indexOf('event') + 1]);
    expect(ofC).to.include('duplicated');
    expect(ofC).to.not.include('waiting');
    expect(ofC).to.not.include('added');
    expect(await other.total('default')).to.equal(filled.total);
    // Now its reading shows the pool full: the next job waits for its count, and is never queued.
    const d2 = await watched(d);
    expect(d2.seen).to.deep.equal({ untilWhileHeld: false, order: 'add-missing' });
    expect((d2.outcome as AppError).code).to.equal('SERVICE_UNAVAILABLE');
    expect(await queuedJob(d2.jobId)).to.equal(undefined);
    expect(await direct.exists(keys.job(d2.jobId))).to.equal(0);
    const waiting = await queues.get().getJobCountByTypes('wait', 'prioritized', 'delayed');
    expect(waiting).to.equal(2);
  });
});
