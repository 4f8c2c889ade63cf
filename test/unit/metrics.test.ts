import { expect } from 'chai';
import { Registry } from 'prom-client';
import { algorithmLabel, createMetrics, mergeExpositions, sumSameSeries } from '../../shared/metrics.js';

describe('metrics', () => {
  it("defines every metric of the FunctionalScaffold API reference with its labels, and the two function metrics", async () => {
    const m = createMetrics(new Registry());
    const json = await m.registry.getMetricsAsJSON();
    const names = json.map((x) => x.name).sort();
    expect(names).to.deep.equal([
      'algorithm_execution_duration_seconds',
      'algorithm_executions_total',
      'function_execution_duration_seconds',
      'function_invocations_total',
      'http_request_duration_seconds',
      'http_requests_in_progress',
      'http_requests_total',
      'job_execution_duration_seconds',
      'jobs_completed_total',
      'jobs_created_total',
      'webhook_deliveries_total',
    ]);
    m.httpRequestsTotal.inc({ method: 'POST', endpoint: '/invoke', status: 'success' });
    expect(await m.registry.metrics()).to.contain('http_requests_total{method="POST",endpoint="/invoke",status="success"} 1');
  });

  it('merges per-queue expositions into one HELP/TYPE per family with its samples together', () => {
    const a = '# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="jobs"} 1\n# HELP other x\n# TYPE other gauge\nother 5\n';
    const b = '# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="webhooks"} 2\n';
    expect(mergeExpositions([a, b])).to.equal(
      '# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="jobs"} 1\nbullmq_job_count{queue="webhooks"} 2\n# HELP other x\n# TYPE other gauge\nother 5\n',
    );
    expect(mergeExpositions([a, b], (n) => n === 'other')).to.equal('# HELP other x\n# TYPE other gauge\nother 5\n');
  });

  it("sums the same-named series of a pool's queues in every shard, keeping the others as they are", () => {
    const shard = (n: number) => `# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="jobs", state="waiting"} ${n}\nbullmq_job_count{queue="jobs", state="active"} 1\n`;
    const webhooks = '# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="webhooks", state="waiting"} 7\n';
    expect(sumSameSeries(mergeExpositions([shard(2), shard(3), shard(0), webhooks]))).to.equal(
      '# HELP bullmq_job_count n\n# TYPE bullmq_job_count gauge\nbullmq_job_count{queue="jobs", state="waiting"} 5\nbullmq_job_count{queue="jobs", state="active"} 3\nbullmq_job_count{queue="webhooks", state="waiting"} 7\n',
    );
  });

  it('labels an algorithm job by its algorithm, and a function job (whose name is user-chosen) not at all', async () => {
    expect(algorithmLabel({ algorithm: 'PrimeChecker' })).to.equal('PrimeChecker');
    expect(algorithmLabel({ algorithm: 'PrimeChecker', function_id: null })).to.equal('PrimeChecker');
    expect(algorithmLabel({ algorithm: 'my-function', function_id: 'abcdef012345' })).to.equal(undefined);
    const m = createMetrics(new Registry());
    m.functionInvocationsTotal.inc({ status: 'success' });
    m.functionExecutionDuration.observe(0.02);
    const text = await m.registry.metrics();
    expect(text).to.contain('function_invocations_total{status="success"} 1');
    expect(text).to.contain('function_execution_duration_seconds_count 1');
  });
});
