import { expect } from 'chai';
import { FunctionRecordSchema } from '../../shared/schemas/function-record.js';
import { JobLogLineSchema } from '../../shared/schemas/job-log.js';
import { AttemptRecordSchema, JobRecordSchema } from '../../shared/schemas/job-record.js';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

/**
 * The one schema of each shape (shared/schemas/) against real answers: the record the store keeps,
 * as the API shows it, parses strictly (no key the schema does not name), and a log line carries
 * the worker and the job.
 */
describe('wire schemas: real answers parse with the one shared schema (strict)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let receiver: HookReceiver;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { FUNCTION_SANDBOX: 'bwrap', WORKER_CONCURRENCY: '2', INVOKE_TIMEOUT_MS: '20000' });
    receiver = await startHookReceiver(answerWith(200));
  });
  after(async () => {
    await receiver?.close();
    await stack?.close();
    await redis?.destroy();
  });

  const get = (path: string) => http('GET', `${stack.url}${path}`);
  const post = (path: string, body?: unknown) => http('POST', `${stack.url}${path}`, body);

  /** Waits until the job has ended and its webhook was delivered, then returns its record. */
  const settled = (jobId: string) =>
    eventually(async () => {
      const r = await get(`/jobs/${jobId}`);
      return r.body.status === 'completed' && r.body.webhook?.status === 'delivered' ? r.body : undefined;
    }, 20_000);

  it('an algorithm job with every option and a webhook: GET /jobs/{job_id}, the listing and the attempts', async () => {
    const body = { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url, priority: 7, delay_ms: 20, max_retries: 2, retry_backoff: 'exponential', retry_interval_ms: 100, timeout_ms: 10_000, pool: 'default' };
    const accepted = await post('/jobs', body);
    expect(accepted.status, accepted.text).to.equal(202);
    const record = await settled(accepted.body.job_id);
    expect(JobRecordSchema.strict().parse(record)).to.deep.equal(record);
    // Every optional part this job has is present, so the strict parse covered them.
    expect(record).to.include.keys('webhook', 'priority', 'delay_ms', 'run_at', 'max_retries', 'retry_backoff', 'retry_interval_ms', 'timeout_ms', 'attempts');
    expect(record.metadata).to.include({ algorithm: 'PrimeChecker' });
    // The answer's key order is the schema's.
    const order = Object.keys(JobRecordSchema.shape);
    expect(Object.keys(record)).to.deep.equal(order.filter((k) => k in record));

    const page = await get('/jobs?limit=5');
    for (const job of page.body.jobs) JobRecordSchema.strict().parse(job);
    const attempts = await get(`/jobs/${record.job_id}/attempts`);
    expect(attempts.body.attempts).to.have.length(1);
    for (const a of attempts.body.attempts) AttemptRecordSchema.strict().parse(a);
  });

  it('a function job: its record, the function, and log lines carrying worker_id and job_id', async () => {
    const created = await post('/functions', {
      name: `wire-${process.pid}`,
      runtime: 'nodejs',
      env: { GREETING: 'hello' },
      code: "function handler(event, context) { context.progress(50, 'half'); console.log('out line'); console.error('err line'); return event }",
    });
    expect(created.status, created.text).to.equal(201);
    FunctionRecordSchema.strict().parse(created.body);
    FunctionRecordSchema.strict().parse((await get(`/functions/${created.body.function_id}`)).body);

    const run = await post(`/functions/${created.body.function_id}/invoke`, { n: 1 });
    expect(run.status, run.text).to.equal(200);
    expect(run.body).to.include.keys('progress', 'function_id');
    expect(JobRecordSchema.strict().parse(run.body)).to.deep.equal(run.body);

    const [attempt] = (await get(`/jobs/${run.body.job_id}/attempts`)).body.attempts;
    const logs = await eventually(async () => {
      const r = await get(`/jobs/${run.body.job_id}/logs`);
      return r.body.total === 2 ? r.body : undefined;
    }, 10_000);
    for (const line of logs.logs) {
      expect(JobLogLineSchema.strict().parse(line)).to.deep.equal(line);
      expect(line).to.include({ job_id: run.body.job_id, worker_id: attempt.worker_id, attempt: 1 });
    }
    expect(logs.logs.map((l: { line: string }) => l.line).sort()).to.deep.equal(['err line', 'out line']);
  });
});
