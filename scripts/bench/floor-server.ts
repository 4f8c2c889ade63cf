/**
 * A reference floor server of the bench: how fast a POST /jobs-like endpoint can be on this machine
 * with nothing of fnqueue: bare node:http, Express 5 + express.json, and Express + one BullMQ
 * queue.add (fnqueue's job options, no worker).
 * `node dist/.bench-<pid>/scripts/bench/floor-server.js <kind> <port> <redisPort>` (compiled,
 * scripts/bench/processes.ts); tells the bench `{type: 'ready'}` over IPC once it listens on 127.0.0.1.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { Queue } from 'bullmq';
import express from 'express';
import { newJobId } from '../../shared/store/job-store.js';
import { BASE_JOB_OPTIONS, BASE_PREFIX } from './bullmq-protocol.js';
import type { FloorKind } from './context.js';

async function main(kind: FloorKind, port: number, redisPort: number): Promise<void> {
  const accepted = (id: string) => ({ job_id: id, status: 'pending', message: 'job created', created_at: new Date().toISOString() });
  let server: Server;
  let queue: Queue | undefined;
  if (kind === 'http') {
    server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const id = newJobId();
        res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', location: `/jobs/${id}` });
        res.end(JSON.stringify(accepted(id)));
      });
    });
  } else {
    if (kind === 'express+add') {
      queue = new Queue('floor', { connection: { host: '127.0.0.1', port: redisPort }, prefix: BASE_PREFIX });
      await queue.waitUntilReady();
    }
    const app = express();
    app.use(express.json());
    app.post('/jobs', async (req, res) => {
      const id = newJobId();
      if (queue) await queue.add('PrimeChecker', { ...(req.body as object), mode: 'async', created_at: new Date().toISOString() }, { ...BASE_JOB_OPTIONS, jobId: id });
      res.status(202).location(`/jobs/${id}`).json(accepted(id));
    });
    server = createHttpServer(app);
  }
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const stop = async () => {
    server.close();
    server.closeAllConnections();
    if (queue) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => undefined);
  process.on('disconnect', () => void stop());
  process.send?.({ type: 'ready' });
}


void main(process.argv[2] as FloorKind, Number(process.argv[3]), Number(process.argv[4]));
