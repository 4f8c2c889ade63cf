import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Traces (docs/operations.md#traces): real api and worker processes export their spans over
 * OTLP/HTTP (JSON) to a receiver the test runs; one POST /jobs with a webhook gives one trace,
 * linked across the processes by the trace context BullMQ carries in the job.
 */

/** One span as the OTLP JSON encoding carries it, with its resource's service.name. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
  service: string;
}

/** OTLP's SpanKind numbers (opentelemetry-proto trace.proto). */
const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

function spansOf(receiver: HookReceiver): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const hook of receiver.received) {
    expect(hook.url).to.equal('/v1/traces');
    for (const rs of (hook.body?.resourceSpans ?? []) as Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>) {
      const service = String(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue);
      for (const ss of rs.scopeSpans) for (const span of ss.spans) out.push({ ...span, service });
    }
  }
  return out;
}

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v ? (v.stringValue ?? v.intValue ?? v.boolValue) : undefined;
};

describe('traces (real api and worker processes, a local OTLP receiver)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let otlp: HookReceiver;
  let hooks: HookReceiver;
  const procs: ServiceProcess[] = [];
  let api: ServiceProcess;

  before(async () => {
    redis = await startRedis();
    otlp = await startHookReceiver(answerWith(200));
    hooks = await startHookReceiver(answerWith(200));
    const env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `e2et${Math.random().toString(36).slice(2, 8)}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}/`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WORKER_CONCURRENCY: '1',
    };
    api = await startService('api', env, 30_000);
    procs.push(api, await startService('worker', env, 30_000));
  });

  after(async () => {
    for (const proc of procs.splice(0).reverse()) await proc.stop('SIGKILL');
    await hooks?.close();
    await otlp?.close();
    await redis?.destroy();
  });

  it('gives one POST /jobs one trace: http → enqueue → worker process → runner → webhook enqueue → webhook process → webhook attempt', async () => {
    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: hooks.url });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const jobId = res.body.job_id as string;
    await eventually(async () => hooks.received.length === 1, 20_000);

    // The batch exporters send within a second or so of each span's end.
    const chain = await eventually(async () => {
      const spans = spansOf(otlp);
      const server = spans.find((s) => s.kind === KIND.SERVER && s.name === 'POST /jobs');
      if (!server) return undefined;
      const trace = spans.filter((s) => s.traceId === server.traceId);
      return trace.some((s) => s.name === 'webhook delivery') ? { server, trace } : undefined;
    }, 20_000);
    const { server, trace } = chain;
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const childOf = (parent: OtlpSpan, name: string | RegExp, kind: number) => {
      const found = trace.filter((s) => s.parentSpanId === parent.spanId && s.kind === kind && (typeof name === 'string' ? s.name === name : name.test(s.name)));
      expect(found, `one ${String(name)} under ${parent.name}: ${JSON.stringify(trace.map((s) => [s.name, s.kind, byId.get(s.parentSpanId ?? '')?.name]))}`).to.have.length(1);
      return found[0]!;
    };

    expect(server.parentSpanId || undefined, 'the request starts the trace').to.equal(undefined);
    expect(server.service).to.equal('fnqueue-api');
    expect(attr(server, 'http.route')).to.equal('/jobs');
    expect(Number(attr(server, 'http.response.status_code'))).to.equal(202);

    const enqueue = childOf(server, 'add jobs.PrimeChecker', KIND.PRODUCER);
    expect(enqueue.service).to.equal('fnqueue-api');
    const process = childOf(enqueue, 'process jobs', KIND.CONSUMER);
    expect(process.service).to.equal('fnqueue-worker');
    const run = childOf(process, 'run PrimeChecker', KIND.INTERNAL);
    expect(attr(run, 'fnqueue.job_id')).to.equal(jobId);
    const webhookEnqueue = childOf(process, 'add webhooks.delivery', KIND.PRODUCER);
    const webhookProcess = childOf(webhookEnqueue, 'process webhooks', KIND.CONSUMER);
    const attempt = childOf(webhookProcess, 'webhook delivery', KIND.CLIENT);
    expect(attempt.service).to.equal('fnqueue-worker');
    expect(Number(attr(attempt, 'http.response.status_code'))).to.equal(200);
    expect(Number(attr(attempt, 'fnqueue.webhook.attempt'))).to.equal(1);

    // In order of their start.
    const starts = [server, enqueue, process, run, webhookEnqueue, webhookProcess, attempt].map((s) => BigInt(s.startTimeUnixNano));
    for (let i = 1; i < starts.length; i++) expect(starts[i]! >= starts[i - 1]!, `span ${i} starts after span ${i - 1}`).to.equal(true);

    // The receiver got the attempt's trace context (W3C traceparent) and can continue the trace.
    expect(hooks.received[0]!.headers.traceparent).to.equal(`00-${server.traceId}-${attempt.spanId}-01`);
    // No other trace holds this job's run.
    expect(spansOf(otlp).filter((s) => s.name === 'run PrimeChecker' && attr(s, 'fnqueue.job_id') === jobId)).to.have.length(1);
  });

  it("continues the caller's trace from its traceparent header", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(res.status).to.equal(202);
    const spans = await eventually(async () => {
      const mine = spansOf(otlp).filter((s) => s.traceId === traceId);
      return mine.some((s) => s.name === 'run PrimeChecker') ? mine : undefined;
    }, 20_000);
    const server = spans.find((s) => s.kind === KIND.SERVER)!;
    expect(server.parentSpanId).to.equal('00f067aa0ba902b7');
  });

  it("gives each run of a schedule a trace of its own, not the trace of the request that made the schedule", async () => {
    const made = await http('POST', `${api.url}/schedules`, { name: `traced-${process.pid}`, every_ms: 300, target: { algorithm: 'PrimeChecker', params: { number: 7 } } });
    expect(made.status, JSON.stringify(made.body)).to.equal(201);
    try {
      const runs = await eventually(async () => {
        const found = spansOf(otlp).filter((s) => s.name === 'run PrimeChecker' && String(attr(s, 'fnqueue.job_id')).length > 0);
        const spans = spansOf(otlp);
        const scheduled = found.filter((r) => {
          const process = spans.find((s) => s.spanId === r.parentSpanId);
          return process && !process.parentSpanId;
        });
        return scheduled.length >= 2 ? scheduled : undefined;
      }, 20_000);
      expect(new Set(runs.map((r) => r.traceId)).size, 'one trace per run').to.equal(runs.length);
      const request = spansOf(otlp).find((s) => s.kind === KIND.SERVER && s.name === 'POST /schedules')!;
      expect(spansOf(otlp).filter((s) => s.traceId === request.traceId && s.name === 'run PrimeChecker')).to.deep.equal([]);
    } finally {
      await http('DELETE', `${api.url}/schedules/${made.body.schedule_id}`);
    }
  });

  it('starts no trace at BullMQ housekeeping: every trace begins at a request or a job', async () => {
    // A span's parent ends after it, so it may reach the receiver in a later export batch: wait
    // (bounded) until every span's parent has arrived, then check the roots that remain.
    const allowed: number[] = [KIND.SERVER, KIND.PRODUCER, KIND.CONSUMER];
    const rootsNow = () => {
      const spans = spansOf(otlp);
      const ids = new Set(spans.map((s) => s.spanId));
      return spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    };
    await eventually(async () => rootsNow().every((r) => allowed.includes(r.kind)), 10_000).catch(() => undefined);
    const roots = rootsNow();
    for (const root of roots) expect([KIND.SERVER, KIND.PRODUCER, KIND.CONSUMER], `${root.name} starts a trace`).to.include(root.kind);
  });
});
