import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { WebhookSigner, webhookMessageId } from '../../worker/webhooks/signing.js';

const newSecret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;

describe('webhook signing (Standard Webhooks)', () => {
  const secret = newSecret();
  const body = Buffer.from(JSON.stringify({ job_id: 'a1b2c3d4e5f6', status: 'completed', result: { text: 'héllo ✓ 日本' } }), 'utf8');

  it('signs so that the standardwebhooks package verifies the body', () => {
    const headers = new WebhookSigner([secret]).sign(webhookMessageId('a1b2c3d4e5f6'), body);
    expect(headers['webhook-id']).to.equal('msg_a1b2c3d4e5f6');
    expect(headers['webhook-timestamp']).to.match(/^\d{10}$/);
    expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).to.be.below(2);
    expect(headers['webhook-signature']).to.match(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, { ...headers })).to.deep.equal(JSON.parse(body.toString('utf8')));
    expect(new Webhook(secret).verify(body.toString('utf8'), { ...headers })).to.be.an('object');
  });

  it('gives the same signature as the package for the same id, timestamp and body', () => {
    const at = new Date(1_700_000_000_000);
    const ours = new WebhookSigner([secret]).sign('msg_x', body, 1_700_000_000);
    expect(ours['webhook-signature']).to.equal(new Webhook(secret).sign('msg_x', at, body));
  });

  it('fails verification for a changed body, id or timestamp, or another secret', () => {
    const headers = { ...new WebhookSigner([secret]).sign('msg_1', body) };
    const wh = new Webhook(secret);
    expect(() => wh.verify(Buffer.concat([body, Buffer.from(' ')]), headers)).to.throw();
    expect(() => wh.verify(body, { ...headers, 'webhook-id': 'msg_2' })).to.throw();
    expect(() => wh.verify(body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 1) })).to.throw();
    expect(() => new Webhook(newSecret()).verify(body, headers)).to.throw();
  });

  it('signs with every secret during a rotation, space-separated; a receiver knowing any one verifies', () => {
    const [a, b] = [newSecret(), newSecret(24)];
    const headers = { ...new WebhookSigner([a, b]).sign('msg_rot', body) };
    expect(headers['webhook-signature'].split(' ')).to.have.length(2);
    expect(() => new Webhook(a).verify(body, headers)).not.to.throw();
    expect(() => new Webhook(b).verify(body, headers)).not.to.throw();
    expect(() => new Webhook(newSecret()).verify(body, headers)).to.throw();
  });

  it('refuses a timestamp older than the receiver tolerance (replay protection is the receiver’s, with our fresh timestamps)', () => {
    const headers = { ...new WebhookSigner([secret]).sign('msg_old', body, Math.floor(Date.now() / 1000) - 3600) };
    expect(() => new Webhook(secret).verify(body, headers)).to.throw(/timestamp/i);
  });
});

describe('WEBHOOK_SECRET and WEBHOOK_ALLOW_PRIVATE configuration', () => {
  it('leaves deliveries unsigned and the guard on by default', () => {
    const config = loadConfig({});
    expect(config.WEBHOOK_SECRET).to.equal(undefined);
    expect(config.WEBHOOK_ALLOW_PRIVATE).to.equal(false);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }).WEBHOOK_ALLOW_PRIVATE).to.equal(true);
  });

  it('reads one or more secrets separated by spaces or commas', () => {
    const [a, b, c] = [newSecret(), newSecret(), newSecret(64)];
    expect(loadConfig({ WEBHOOK_SECRET: a }).WEBHOOK_SECRET).to.deep.equal([a]);
    expect(loadConfig({ WEBHOOK_SECRET: `${a} ${b}` }).WEBHOOK_SECRET).to.deep.equal([a, b]);
    expect(loadConfig({ WEBHOOK_SECRET: ` ${a}, ${b},${c} ` }).WEBHOOK_SECRET).to.deep.equal([a, b, c]);
    // Svix-style secrets: 24 bytes, base64 without padding needed.
    expect(loadConfig({ WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }).WEBHOOK_SECRET).to.have.length(1);
  });

  it('stops at start on a malformed secret, naming the problem but never the value', () => {
    const good = newSecret();
    const cases: Array<[string, RegExp]> = [
      ['not-a-secret', /secret 1 must start with whsec_/],
      [`${good} abc123`, /secret 2 must start with whsec_/],
      ['whsec_***notbase64***', /standard base64/],
      [`whsec_${randomBytes(16).toString('base64')}`, /16 bytes; it must be 24 to 64/],
      [`whsec_${randomBytes(65).toString('base64')}`, /65 bytes/],
      [' , ', /at least one whsec_ secret/],
    ];
    for (const [value, pattern] of cases) {
      let error: unknown;
      try {
        loadConfig({ WEBHOOK_SECRET: value });
      } catch (err) {
        error = err;
      }
      expect(error, value).to.be.instanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).to.match(/WEBHOOK_SECRET=<redacted>/).and.match(pattern);
      for (const part of value.split(/[\s,]+/).filter((p) => p.length > 6)) expect(message).not.to.contain(part);
    }
  });

  it('refuses a WEBHOOK_ALLOW_PRIVATE that is not a boolean', () => {
    expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'maybe' })).to.throw(ConfigError, /WEBHOOK_ALLOW_PRIVATE/);
  });
});
