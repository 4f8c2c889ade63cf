/**
 * The plain BullMQ no-op worker process of the baseline phase, commanded over IPC by the bench:
 * `node dist/.bench-<pid>/scripts/bench/bullmq-worker.js <redisPort>` (compiled, scripts/bench/processes.ts).
 */
import { Worker } from 'bullmq';
import { BASE_PREFIX, type WorkerCmd, type WorkerMsg } from './bullmq-protocol.js';

function main(redisPort: number): void {
  const connection = { host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null };
  const workers: Worker[] = [];
  let completed = 0;
  let lastAt = 0;
  const send = (m: WorkerMsg) => process.send?.(m);
  const stop = async () => {
    await Promise.all(workers.map((w) => w.close()));
    send({ type: 'stopped' });
    process.exit(0);
  };
  process.on('message', (cmd: WorkerCmd) => {
    if (cmd.type === 'start') {
      const w = new Worker(cmd.queue, async () => null, { connection, prefix: BASE_PREFIX, concurrency: cmd.concurrency });
      w.on('completed', () => {
        completed++;
        lastAt = Date.now();
      });
      w.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
      workers.push(w);
      void w.waitUntilReady().then(() => send({ type: 'started', queue: cmd.queue }));
    } else if (cmd.type === 'count') {
      send({ type: 'count', completed, lastAt });
    } else if (cmd.type === 'stop') {
      void stop();
    }
  });
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined); // the parent decides
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main(Number(process.argv[2]));
