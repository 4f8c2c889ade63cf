import { expect } from 'chai';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createMetrics } from '../../shared/metrics.js';
import type { WebhookJobData } from '../../shared/queue/job-data.js';
import { WEBHOOKS_QUEUE } from '../../shared/queue/names.js';
import { WebhooksQueue } from '../../shared/queue/webhooks-queue.js';
import { isoNow, JobStore, newJobId } from '../../shared/store/job-store.js';
import { bullPrefix, keysFor } from '../../shared/store/keys.js';
import { watchWebhookFailures } from '../../worker/webhooks/failures.js';
import { eventually } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { memoryLogger } from '../helpers/stack.js';

describe('webhook deliveries BullMQ fails outside the delivery processor (real Redis)', function () {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.destroy();
  });

  it('records a delivery failed by the stall check as failed on the record and in webhook_deliveries_total, once', async function () {
    this.timeout(20_000);
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queuePrefix = `whf${Math.random().toString(36).slice(2, 8)}`;
    const keys = keysFor(queuePrefix);
    const prefix = bullPrefix(queuePrefix);
    const store = new JobStore(conn, keys, 60);
    const webhooks = new WebhooksQueue(conn, prefix, [100]);
    const jobId = newJobId();
    const url = 'http://127.0.0.1:9/hook';
    await store.create({ job_id: jobId, algorithm: 'Echo', params: {}, created_at: isoNow(), webhook: url });
    await webhooks.enqueue(jobId, url, { job_id: jobId, status: 'completed', algorithm: 'Echo', result: null, error: null, metadata: null, completed_at: isoNow() });

    // A worker takes the delivery and dies (never renews its lock): BullMQ's manual processing API.
    const dead = new Worker<WebhookJobData>(WEBHOOKS_QUEUE, null, { connection: conn, prefix, lockDuration: 1000 });
    expect((await dead.getNextJob('dead-token'))?.id).to.equal(jobId);
    await dead.close(true);

    // A live worker's stall check fails it (no stall allowed here), outside any processor.
    let processed = 0;
    const live = new Worker<WebhookJobData>(WEBHOOKS_QUEUE, async () => void processed++, { connection: conn, prefix, lockDuration: 1000, stalledInterval: 300, maxStalledCount: 0 });
    const metrics = createMetrics();
    const { logger } = memoryLogger();
    const stop = watchWebhookFailures({ worker: live, queue: webhooks.queue, store, metrics, logger, maxStalledCount: 0, intervalMs: 200 });
    try {
      const record = await eventually(async () => {
        const r = await store.get(jobId);
        return r?.webhook?.status === 'failed' && r;
      }, 10_000);
      expect(record.webhook!.last_error).to.match(/stalled more than allowable limit/);
      expect(processed).to.equal(0);
      // Later sweeps see the same failed delivery: counted once.
      await new Promise((r) => setTimeout(r, 600));
      const counted = (await metrics.webhookDeliveriesTotal.get()).values.find((v) => v.labels.status === 'failed')?.value;
      expect(counted).to.equal(1);
    } finally {
      stop();
      await live.close();
      await webhooks.close();
      conn.disconnect();
    }
  });
});
