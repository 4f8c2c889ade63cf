import { createRequire } from 'node:module';
import type { Queue as BullQueue } from 'bullmq';

const require = createRequire(import.meta.url);

/**
 * BullMQ's Queue class, loaded from its own module rather than from bullmq's index, which also loads
 * what the API never runs: the Worker and its sandbox, the PostgreSQL backend (its SQL included), the
 * node-redis, Bun and Valkey GLIDE clients; about 1.9 MB of the API's live heap (the API's memory
 * bound, docs/performance.md). It is the index's very class (the same CommonJS module, checked in
 * test/unit/bullmq-queue.test.ts), so types and `instanceof` are unchanged. The path is bullmq's
 * dist/cjs layout (the package has no exports map): an upgrade that moves it fails at startup and in that test.
 */
export const Queue = (require('bullmq/dist/cjs/classes/queue.js') as { Queue: typeof BullQueue }).Queue;
/** A queue of `Data` jobs: bullmq's Queue type. */
export type Queue<Data = any, Result = any, Name extends string = string> = BullQueue<Data, Result, Name>;
