import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { buildOpenApiDocument } from '../../api/openapi/document.js';
import { FunctionMetricsSchema } from '../../shared/schemas/function-metrics.js';
import { FunctionRecordSchema } from '../../shared/schemas/function-record.js';
import { computeMetrics } from '../../shared/store/function-store.js';
import { StoredScheduleSchema } from '../../shared/schemas/schedule.js';
import { ScheduleSchema } from '../../api/schemas/schedules.js';
import { PublicWorkerSchema, StoredWorkerSchema, WorkerPageSchema, WorkerResourceFiguresSchema, WorkerResourcesReportSchema } from '../../shared/schemas/worker.js';
import { JobLogLineSchema } from '../../shared/schemas/job-log.js';
import { AttemptRecordSchema, JobMetadataSchema, JobProgressSchema, JobRecordSchema, WebhookOutcomeSchema } from '../../shared/schemas/job-record.js';

describe('the OpenAPI document shows the shared schemas (shared/schemas/), one per shape', () => {
  const components = (buildOpenApiDocument('0.0.0-test') as { components: { schemas: Record<string, { properties: Record<string, unknown>; required?: string[] }> } }).components.schemas;
  const shapes = { JobRecord: JobRecordSchema, Attempt: AttemptRecordSchema, Metadata: JobMetadataSchema, Progress: JobProgressSchema, WebhookOutcome: WebhookOutcomeSchema, Function: FunctionRecordSchema, JobLogLine: JobLogLineSchema, FunctionMetrics: FunctionMetricsSchema, Worker: PublicWorkerSchema, WorkerList: WorkerPageSchema, WorkerResources: WorkerResourcesReportSchema, Schedule: ScheduleSchema };
  for (const [name, schema] of Object.entries(shapes)) {
    it(`${name}: the component's properties are the schema's keys, in its order`, () => {
      expect(Object.keys(components[name]!.properties)).to.deep.equal(Object.keys(schema.shape));
    });
  }

  it('documents worker_id and job_id on a log line, and keeps the descriptions and examples', () => {
    expect(components.JobLogLine!.properties).to.include.keys('worker_id', 'job_id');
    expect(components.JobRecord!.properties.created_at).to.deep.equal({ type: 'string', example: '2026-02-02T10:00:00.000+00:00' });
    expect(components.Function!.properties.env).to.include({ description: "The function's own env names, every value shown as `[redacted]`: env values are write-only (set them with POST or PUT)" });
  });

  it('FunctionMetrics: what the store computes is exactly the documented shape (one schema for both)', () => {
    const before = computeMetrics('f1', {}, []);
    const after = computeMetrics('f1', { total: '2', successful: '1', failed: '1', duration_ms_total: '30', cpu_ms_total: '10', cpu_wall_ms_total: '30', cpu_samples: '2', peak_rss_max: '1048576', peak_rss_total: '1048576', peak_samples: '1', last_invoked_at: '2026-02-02T10:00:00.000Z' }, [10, 20]);
    for (const m of [before, after]) expect(FunctionMetricsSchema.strict().parse(m)).to.deep.equal(m);
    expect(components.FunctionMetrics!.properties.success_rate).to.include({ description: 'Percent of runs that succeeded (0-100); 0 before any run', example: 95 });
  });

  it('Worker: the stored entry plus its status, and the resources answer reuses the stored figures', () => {
    expect(Object.keys(PublicWorkerSchema.shape).filter((k) => k !== 'status').sort()).to.deep.equal(Object.keys(StoredWorkerSchema.shape).sort());
    expect(Object.keys(WorkerResourcesReportSchema.shape)).to.include.members(Object.keys(WorkerResourceFiguresSchema.shape));
    expect(components.Worker!.properties.state).to.include({ description: 'What the worker last reported; `stopped` after a graceful shutdown (then `offline`)' });
    expect(components.WorkerResources!.properties.cpu_usage).to.include({ description: 'Percent of one core over the last heartbeat interval (may pass 100)' });
  });

  it('Schedule: the stored fields in their order without the write counter, then next_run_at', () => {
    const stored = Object.keys(StoredScheduleSchema.shape).filter((k) => k !== 'version');
    expect(Object.keys(ScheduleSchema.shape)).to.deep.equal([...stored, 'next_run_at']);
    expect(components.Schedule!.properties.webhook).to.include({ description: 'Present when set; credentials in it are masked' });
    expect(components.Schedule!.properties.timeout_ms).to.include({ description: 'As asked; runs are capped at JOB_TIMEOUT_MAX_MS' });
  });
});

describe('the API\'s request and answer schemas live in api/schemas/', () => {
  it('holds one file per resource there, and the value types of their query parameters, and none loose at the api/ root', () => {
    const root = new URL('../../api/', import.meta.url);
    expect(readdirSync(root).filter((f) => /schemas?\.ts$/.test(f))).to.deep.equal([]);
    expect(readdirSync(new URL('schemas/', root)).sort()).to.deep.equal(['functions.ts', 'jobs.ts', 'project-faas.ts', 'projects.ts', 'query.ts', 'schedules.ts', 'v1-scheduler.ts', 'workers.ts']);
  });
});
