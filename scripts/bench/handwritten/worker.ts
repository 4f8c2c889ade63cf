/**
 * The hand-written baseline's worker process (BASELINE, not fnqueue): a BullMQ Worker with a
 * sandboxed processor file (BullMQ forks and reuses the children: one warm child per concurrent job),
 * running the same PrimeChecker as fnqueue.
 * The bench runs it compiled (`node dist/.bench-<pid>/scripts/bench/handwritten/worker.js <redisPort>
 * <concurrency>`, scripts/bench/processes.ts), as it runs fnqueue; the processor file is the one beside it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import { HANDWRITTEN_PREFIX, HANDWRITTEN_QUEUE } from './protocol.js';

const [redisPort, concurrency] = process.argv.slice(2).map(Number);
if (!redisPort || !concurrency) {
  process.stderr.write('usage: worker.ts <redisPort> <concurrency>\n');
  process.exit(2);
}
const self = fileURLToPath(import.meta.url);
const processor = path.join(path.dirname(self), `processor${path.extname(self)}`);
const worker = new Worker(HANDWRITTEN_QUEUE, processor, {
  connection: { host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null },
  prefix: HANDWRITTEN_PREFIX,
  concurrency,
});
worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
