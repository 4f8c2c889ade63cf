import { expect } from 'chai';
import { jobDataOf, newJobRecord, scheduledRunTemplate, type JobSubmission } from '../../shared/jobs/submit.js';
import { webhookPayloadOf } from '../../shared/jobs/webhook-payload.js';
import { isFunctionJob } from '../../shared/queue/job-data.js';
import { commandName, scriptSource } from '../../shared/store/scripts.js';

const algorithmJob: JobSubmission = { algorithm: 'PrimeChecker', params: { number: 17 }, mode: 'async', options: { priority: 5 }, request_id: 'r1' };
const functionJob: JobSubmission = { algorithm: 'myFunction', params: { a: 1 }, mode: 'sync', options: { pool: 'gpu', max_retries: 2, timeout_ms: 500 }, webhook: 'https://example.com/cb', function: { function_id: 'a1b2c3d4e5f6', version: 3 } };

describe('the submit path (shared/jobs/submit.ts)', () => {
  it('builds an algorithm job and a function job from one submission shape', () => {
    const a = jobDataOf(algorithmJob, 'c');
    expect(a).to.deep.equal({ algorithm: 'PrimeChecker', params: { number: 17 }, mode: 'async', created_at: 'c', request_id: 'r1' });
    expect(isFunctionJob(a)).to.equal(false);
    const f = jobDataOf(functionJob, 'c');
    expect(f).to.deep.include({ function_id: 'a1b2c3d4e5f6', function_version: 3, pool: 'gpu', max_retries: 2, timeout_ms: 500, webhook: 'https://example.com/cb' });
    expect(isFunctionJob(f)).to.equal(true);
  });

  it('writes the options on the record, and run_at for a delayed job', () => {
    const record = newJobRecord({ ...algorithmJob, options: { delay_ms: 1500 } }, 'a1b2c3d4e5f6', '2026-02-02T10:00:00.000+00:00');
    expect(record).to.include({ job_id: 'a1b2c3d4e5f6', algorithm: 'PrimeChecker', delay_ms: 1500, run_at: '2026-02-02T10:00:01.500+00:00' });
    expect(newJobRecord(functionJob, 'a1b2c3d4e5f6', 'c')).to.include({ function_id: 'a1b2c3d4e5f6', pool: 'gpu' });
  });

  it("gives a schedule's runs the same data and BullMQ options, without a job id or created_at", () => {
    const template = scheduledRunTemplate({ ...algorithmJob, schedule_id: 'b1b2c3d4e5f6' }, 86_400);
    expect(template.name).to.equal('PrimeChecker');
    expect(template.data).to.include({ created_at: '', schedule_id: 'b1b2c3d4e5f6' });
    expect(template.opts).not.to.have.property('jobId');
    expect(template.opts).to.include({ priority: 1000 + 1 - 5, attempts: 3, removeOnComplete: true });
  });

  it('builds the webhook payload with the reference fields only', () => {
    const payload = webhookPayloadOf({ job_id: 'a1b2c3d4e5f6', status: 'completed', algorithm: 'PrimeChecker', result: { ok: 1 }, error: null, metadata: null, completed_at: 'd' });
    expect(Object.keys(payload)).to.deep.equal(['job_id', 'status', 'algorithm', 'result', 'error', 'metadata', 'completed_at']);
  });
});

describe('the script loader (shared/store/scripts.ts)', () => {
  it('expands includes and names commands after their files', () => {
    const lua = scriptSource('job-update-live');
    expect(lua).to.contain('local function move_status');
    expect(lua).not.to.contain('@include');
    expect(commandName('job-update-live')).to.equal('fnqJobUpdateLive');
  });
});
