/**
 * The hand-written baseline's API (BASELINE, not fnqueue): what a team would write in fifty lines
 * with Express 5, express.json, zod and BullMQ, and nothing else. `npm run bench` runs it beside
 * fnqueue on the same redis-server, with the same resources, to print the ratios of
 * docs/performance.md, compiled as fnqueue is: `node dist/.bench-<pid>/scripts/bench/handwritten/server.js
 * <port> <redisPort>` (scripts/bench/processes.ts).
 *
 * - `POST /invoke` `{"number": 17}`: `queue.add` + `job.waitUntilFinished` (QueueEvents), 200 with the result;
 * - `POST /jobs` `{"algorithm": "PrimeChecker", "params": {"number": 17}}`: `queue.add`, 202 `{job_id}`;
 * - `GET /jobs/:id`: `Job.fromId`, 200 `{job_id, state, result}` or 404.
 */
import { Job, Queue, QueueEvents } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { HANDWRITTEN_JOB_OPTIONS, HANDWRITTEN_PREFIX, HANDWRITTEN_QUEUE } from './protocol.js';

const [port, redisPort] = process.argv.slice(2).map(Number);
if (!port || !redisPort) {
  process.stderr.write('usage: server.ts <port> <redisPort>\n');
  process.exit(2);
}
const connection = { host: '127.0.0.1', port: redisPort };
const queue = new Queue(HANDWRITTEN_QUEUE, { connection, prefix: HANDWRITTEN_PREFIX });
const events = new QueueEvents(HANDWRITTEN_QUEUE, { connection, prefix: HANDWRITTEN_PREFIX });
// waitUntilFinished adds a 'closing' listener per waiting job (50 connections at once).
queue.setMaxListeners(1000);

const InvokeBody = z.object({ number: z.number().int() });
const JobBody = z.object({ algorithm: z.literal('PrimeChecker'), params: z.object({ number: z.number().int() }) });

const app = express();
app.use(express.json());

app.post('/invoke', async (req: Request, res: Response) => {
  const parsed = InvokeBody.safeParse(req.body);
  if (!parsed.success) return res.status(400).json({ error: 'VALIDATION_ERROR', message: parsed.error.message });
  const job = await queue.add('PrimeChecker', parsed.data, HANDWRITTEN_JOB_OPTIONS);
  const result = await job.waitUntilFinished(events, 30_000);
  return res.json({ job_id: job.id, status: 'completed', result });
});

app.post('/jobs', async (req: Request, res: Response) => {
  const parsed = JobBody.safeParse(req.body);
  if (!parsed.success) return res.status(400).json({ error: 'VALIDATION_ERROR', message: parsed.error.message });
  const job = await queue.add('PrimeChecker', parsed.data.params, HANDWRITTEN_JOB_OPTIONS);
  return res.status(202).json({ job_id: job.id, status: 'pending' });
});

app.get('/jobs/:id', async (req: Request, res: Response) => {
  const job = await Job.fromId(queue, String(req.params.id));
  if (!job) return res.status(404).json({ error: 'NOT_FOUND' });
  return res.json({ job_id: job.id, state: await job.getState(), result: job.returnvalue ?? null });
});

app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
  res.status(500).json({ error: 'INTERNAL_ERROR', message: err.message });
});

await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => {
  server.close();
  void Promise.allSettled([queue.close(), events.close()]).then(() => process.exit(0));
});
