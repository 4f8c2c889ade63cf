import { expect } from 'chai';
import * as bullmq from 'bullmq';
import { Queue } from '../../shared/queue/bullmq-queue.js';

/** shared/queue/bullmq-queue.ts loads BullMQ's Queue from its own module, not from bullmq's index. */
describe('BullMQ Queue module', () => {
  it('is the very class bullmq exports', () => {
    expect(Queue).to.equal(bullmq.Queue);
  });
});
