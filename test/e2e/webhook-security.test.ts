import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver, type HookReceiver, type ReceivedHook } from '../helpers/webhook-receiver.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POSTs a job and returns its id. */
async function submit(stack: Stack, webhook: string, params: Record<string, unknown> = { number: 17 }): Promise<string> {
  const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params, webhook });
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.job_id as string;
}

/** Polls GET /jobs/{id} until its webhook outcome satisfies `done`. */
function webhookOutcome(stack: Stack, jobId: string, done: (w: any) => boolean, timeoutMs = 10_000): Promise<any> {
  return eventually(async () => {
    const r = await http('GET', `${stack.url}/jobs/${jobId}`);
    return r.status === 200 && r.body.webhook && done(r.body.webhook) && r.body;
  }, timeoutMs, 50);
}

/** The Standard Webhooks headers of a receipt, as a receiver framework hands them over. */
const hookHeaders = (hook: ReceivedHook) => ({
  'webhook-id': String(hook.headers['webhook-id']),
  'webhook-timestamp': String(hook.headers['webhook-timestamp']),
  'webhook-signature': String(hook.headers['webhook-signature']),
});

describe('webhook security (api and worker in-process, real Redis)', function () {
  let redis: TestRedis;
  let receiver: HookReceiver | undefined;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.destroy();
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  describe('signed deliveries: WEBHOOK_SECRET with two secrets (a rotation), retries 1.1 s apart', () => {
    const [oldSecret, newSecret2] = [newSecret(), newSecret()];
    let stack: Stack;

    before(async () => {
      stack = await startStack(redis.url, { WEBHOOK_SECRET: `${oldSecret} ${newSecret2}`, WEBHOOK_RETRY_DELAYS_MS: '1100,1100,1100' });
    });
    after(async () => {
      await stack?.close();
    });

    it('signs every attempt so a receiver knowing only the second secret verifies it; one webhook-id, a fresh timestamp per attempt', async function () {
      this.timeout(20_000);
      // Answers 500 twice (retries), then 200; verifies each delivery as a receiver would, with standardwebhooks.
      const verified: unknown[] = [];
      receiver = await startHookReceiver((n, hook, res) => {
        try {
          verified.push(new Webhook(newSecret2).verify(hook.raw, hookHeaders(hook)));
        } catch (err) {
          verified.push(err);
        }
        answerWith(n < 2 ? 500 : 200)(n, hook, res, undefined as never);
      });
      const jobId = await submit(stack, receiver.url);
      const record = await webhookOutcome(stack, jobId, (w) => w.status === 'delivered');
      expect(record.webhook).to.include({ status: 'delivered', attempts: 3, last_error: null });

      const hooks = receiver.received;
      expect(hooks).to.have.length(3);
      verified.forEach((v, i) => expect(v, `attempt ${i + 1}: ${String(v)}`).to.be.an('object').and.include({ job_id: jobId, status: 'completed' }));
      // The receiver knowing only the old secret verifies too, and a stranger does not.
      for (const hook of hooks) {
        expect(() => new Webhook(oldSecret).verify(hook.raw, hookHeaders(hook))).not.to.throw();
        expect(() => new Webhook(newSecret()).verify(hook.raw, hookHeaders(hook))).to.throw();
        expect(String(hook.headers['webhook-signature']).split(' ')).to.have.length(2).and.satisfy((s: string[]) => s.every((x) => x.startsWith('v1,')));
      }
      // One delivery, one id: every attempt carries the same webhook-id (receivers drop duplicates by it).
      expect(new Set(hooks.map((h) => h.headers['webhook-id']))).to.deep.equal(new Set([`msg_${jobId}`]));
      // A fresh timestamp per attempt: each is the time of its own attempt (attempts are > 1 s apart).
      const stamps = hooks.map((h) => Number(h.headers['webhook-timestamp']));
      hooks.forEach((h, i) => expect(Math.abs(stamps[i]! - h.at / 1000), `attempt ${i + 1}`).to.be.below(2));
      expect(stamps[1]).to.be.above(stamps[0]!);
      expect(stamps[2]).to.be.above(stamps[1]!);
      // The body sent is the body signed, and it is the seed payload.
      expect(JSON.parse(hooks[2]!.raw.toString('utf8'))).to.deep.equal(verified[2]);
    });

    it('delivers bodies with non-ASCII text byte-exact to the signature', async () => {
      const secretOnly = new Webhook(newSecret2);
      receiver = await startHookReceiver(answerWith(200));
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Echo', params: { value: { text: 'héllo ✓ 日本 \u2028 "q"' } }, webhook: receiver.url });
      expect(res.status).to.equal(202);
      await webhookOutcome(stack, res.body.job_id, (w) => w.status === 'delivered');
      const hook = receiver.received[0]!;
      const payload = secretOnly.verify(hook.raw, hookHeaders(hook)) as { result: unknown };
      expect(payload.result).to.deep.equal({ value: { text: 'héllo ✓ 日本 \u2028 "q"' } });
    });

    it('does not follow a redirect: the 3xx is a failed attempt and the Location gets nothing', async () => {
      const target = await startHookReceiver(answerWith(200));
      try {
        receiver = await startHookReceiver(answerWith(307, { location: target.url }));
        const jobId = await submit(stack, receiver.url);
        const record = await webhookOutcome(stack, jobId, (w) => w.attempts >= 1);
        expect(record.webhook).to.include({ status: 'pending', attempts: 1 });
        expect(record.webhook.last_error).to.equal('receiver answered HTTP 307 (redirects are not followed)');
        expect(target.received).to.have.length(0);
      } finally {
        await target.close();
      }
    });
  });

  describe('the SSRF guard: WEBHOOK_ALLOW_PRIVATE=false, WEBHOOK_SECRET unset', () => {
    let stack: Stack;

    before(async () => {
      stack = await startStack(redis.url, { WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_RETRY_DELAYS_MS: '100,100,100' });
    });
    after(async () => {
      await stack?.close();
    });

    for (const [webhook, reason] of [
      ['http://169.254.169.254/latest/meta-data', /host 169\.254\.169\.254 is a cloud metadata address/],
      ['http://127.0.0.1:1/x', /host 127\.0\.0\.1 is a loopback address/],
      ['http://[::1]/', /host ::1 is a loopback address/],
      ['http://[::ffff:169.254.169.254]/', /cloud metadata address/],
      ['http://[fd00:ec2::254]/latest', /cloud metadata address/],
      ['http://metadata.google.internal/computeMetadata/v1/', /host metadata\.google\.internal is a cloud metadata address/],
      ['http://2130706433/', /host 127\.0\.0\.1 is a loopback address/],
      ['https://10.0.0.5/hook', /host 10\.0\.0\.5 is a private address/],
      ['http://100.100.100.200/', /carrier-grade NAT/],
      ['http://0.0.0.0:8000/', /unspecified/],
    ] as const) {
      it(`answers 400 VALIDATION_ERROR (field webhook) for ${webhook}`, async () => {
        const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 3 }, webhook });
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body).to.have.all.keys('error', 'message', 'details', 'request_id');
        expect(res.body.error).to.equal('VALIDATION_ERROR');
        expect(res.body.details.field).to.equal('webhook');
        expect(res.body.details.value).to.equal(webhook);
        expect(res.body.message).to.match(reason).and.match(/^webhook /);
      });
    }

    it('accepts a host name at submission (its addresses are checked when the delivery connects)', async () => {
      // `.invalid` never resolves (RFC 2606): the delivery fails fast with ENOTFOUND; only the submission matters here.
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 3 }, webhook: 'https://8.8.8.8.invalid/hook' });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
    });

    it('accepts localhost at submission, then refuses its delivery after 1 attempt, recorded on the job, with no request reaching the receiver', async () => {
      receiver = await startHookReceiver(answerWith(200));
      const url = `http://localhost:${receiver.port}/hook`;
      const jobId = await submit(stack, url);
      const record = await webhookOutcome(stack, jobId, (w) => w.status === 'failed');
      expect(record.status).to.equal('completed');
      expect(record.webhook).to.include({ url, status: 'failed', attempts: 1, delivered_at: null });
      expect(record.webhook.last_error).to.match(/^refused: webhook host localhost resolves to a loopback address \((127\.0\.0\.1|::1)\)$/);
      // Longer than every retry delay together: a refusal is final.
      await sleep(800);
      expect(receiver.received).to.have.length(0);
      const later = await http('GET', `${stack.url}/jobs/${jobId}`);
      expect(later.body.webhook).to.deep.equal(record.webhook);
      // The worker's counters reach the API's /metrics through periodic snapshots in Redis.
      await eventually(async () => /^webhook_deliveries_total\{status="failed"\} [1-9]/m.test((await http('GET', `${stack.url}/metrics`)).text), 5000, 100);
    });

    it('warns once at start that deliveries are unsigned', () => {
      const warnings = stack.lines.filter((l) => l.message === 'WEBHOOK_SECRET is not set: webhook deliveries are unsigned');
      expect(warnings).to.have.length(1);
      expect(warnings[0]!.level).to.equal('warn');
    });
  });
});
