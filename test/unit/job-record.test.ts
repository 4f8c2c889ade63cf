import { expect } from 'chai';
import { decodeJobEvent, encodeJobEvent, isJobId, isoNow, jobIdOfEvent, newJobId, toPublicRecord } from '../../shared/store/job-store.js';
import { type StoredJob } from '../../shared/schemas/job-record.js';
import { webhookBackoff, webhookJobOptions, WEBHOOK_BACKOFF_TYPE } from '../../shared/queue/webhooks-queue.js';

describe('job records', () => {
  it('draws 12-lowercase-hex ids that are never all digits (BullMQ refuses those)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = newJobId();
      expect(isJobId(id), id).to.equal(true);
      expect(id).not.to.match(/^\d+$/);
      seen.add(id);
    }
    expect(seen.size).to.equal(20_000);
  });

  it('writes timestamps in the form of the FunctionalScaffold API reference (+00:00)', () => {
    expect(isoNow(new Date('2026-02-02T10:00:00Z'))).to.equal('2026-02-02T10:00:00.000+00:00');
  });

  it('encodes job events so the job id is readable without parsing JSON', () => {
    const job = { job_id: 'a1b2c3d4e5f6', status: 'completed' } as StoredJob;
    const message = encodeJobEvent(job.job_id, job);
    expect(jobIdOfEvent(message)).to.equal('a1b2c3d4e5f6');
    expect(decodeJobEvent(message)).to.deep.equal({ job_id: 'a1b2c3d4e5f6', record: job });
    expect(decodeJobEvent(encodeJobEvent('a1b2c3d4e5f6', null)).record).to.equal(null);
  });

  it('shows the fields of the FunctionalScaffold API reference in order, hiding internal ones, with webhook only when set', () => {
    const stored: StoredJob = {
      job_id: 'a1b2c3d4e5f6', status: 'completed', algorithm: 'PrimeChecker', created_at: 'c', started_at: 's', completed_at: 'd',
      result: { ok: 1 }, error: null, metadata: { algorithm: 'PrimeChecker', version: '1.0.0', elapsed_time: 0.001 }, error_code: null, params: { number: 1 },
    };
    expect(Object.keys(toPublicRecord(stored))).to.deep.equal(['job_id', 'status', 'algorithm', 'created_at', 'started_at', 'completed_at', 'result', 'error', 'metadata']);
    const withHook = toPublicRecord({ ...stored, webhook: { url: 'http://x', status: 'pending', attempts: 0, last_error: null, delivered_at: null } });
    expect(withHook.webhook?.status).to.equal('pending');
  });

  it('masks credentials in the webhook URL it shows (any read key may read any job)', () => {
    const stored: StoredJob = {
      job_id: 'a1b2c3d4e5f6', status: 'pending', algorithm: 'PrimeChecker', created_at: 'c', started_at: null, completed_at: null,
      result: null, error: null, metadata: null, error_code: null, params: { number: 1 },
      webhook: { url: 'https://hook-user:hunter2pw@example.com/cb?token=hunter2tok&x=1', status: 'pending', attempts: 0, last_error: null, delivered_at: null },
    };
    const url = toPublicRecord(stored).webhook!.url;
    expect(url).to.match(/^https:\/\/hook-user:.+@example\.com\/cb\?token=.+&x=.+$/);
    expect(url).not.to.contain('hunter2');
    expect(stored.webhook!.url, 'the stored record is untouched (deliveries use it)').to.contain('hunter2pw');
    expect(toPublicRecord({ ...stored, webhook: { ...stored.webhook!, url: 'https://example.com/cb' } }).webhook!.url).to.equal('https://example.com/cb');
  });
});

describe('webhook schedule', () => {
  it('follows the FunctionalScaffold API reference: 4 attempts, retries after 1 s, 5 s and 15 s', () => {
    const delays = [1000, 5000, 15_000];
    expect(webhookJobOptions(delays)).to.include({ attempts: 4 });
    const backoff = webhookBackoff(delays);
    expect([1, 2, 3].map((n) => backoff(n, WEBHOOK_BACKOFF_TYPE))).to.deep.equal([1000, 5000, 15_000]);
  });
});
