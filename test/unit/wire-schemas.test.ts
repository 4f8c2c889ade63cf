import { expect } from 'chai';
import { buildOpenApiDocument } from '../../api/openapi/document.js';
import { FunctionRecordSchema } from '../../shared/schemas/function-record.js';
import { JobLogLineSchema } from '../../shared/schemas/job-log.js';
import { AttemptRecordSchema, JobMetadataSchema, JobProgressSchema, JobRecordSchema, WebhookOutcomeSchema } from '../../shared/schemas/job-record.js';

describe('the OpenAPI document shows the shared schemas (shared/schemas/), one per shape', () => {
  const components = (buildOpenApiDocument('0.0.0-test') as { components: { schemas: Record<string, { properties: Record<string, unknown>; required?: string[] }> } }).components.schemas;
  const shapes = { JobRecord: JobRecordSchema, Attempt: AttemptRecordSchema, Metadata: JobMetadataSchema, Progress: JobProgressSchema, WebhookOutcome: WebhookOutcomeSchema, Function: FunctionRecordSchema, JobLogLine: JobLogLineSchema };
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
});
