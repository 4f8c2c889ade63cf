import { expect } from 'chai';
import { memoryLogger } from '../helpers/stack.js';
import { REDACTED, redact, redactText } from '../../shared/logger.js';

describe('log redaction', () => {
  it('masks credentials inside URLs, keeping the user and host', () => {
    expect(redactText('redis://user:s3cret@redis.internal:6379/0')).to.equal(`redis://user:${REDACTED}@redis.internal:6379/0`);
    expect(redactText('rediss://:s3cret@host')).to.equal(`rediss://:${REDACTED}@host`);
    expect(redactText('see https://alice:pa55@example.com/x?y=1 now')).to.equal(`see https://alice:${REDACTED}@example.com/x?y=${REDACTED} now`);
    expect(redactText('https://ghp_abcdef@github.com/o/r.git')).to.equal(`https://${REDACTED}@github.com/o/r.git`);
    expect(redactText('https://example.com/cb?token=abc&x=1')).to.equal(`https://example.com/cb?token=${REDACTED}&x=${REDACTED}`);
    expect(redactText('https://example.com/a@b')).to.equal('https://example.com/a@b');
    // Any query value, the fragment and credential-like path segments, whatever their names.
    expect(redactText('POST http://127.0.0.1:9/services/T0/B0/S3CR3T?access=a1&X-Amz-Signature=s2&jwt=j3#frag failed')).to.equal(
      `POST http://127.0.0.1:9/services/T0/B0/${REDACTED}?access=${REDACTED}&X-Amz-Signature=${REDACTED}&jwt=${REDACTED}#${REDACTED} failed`,
    );
    expect(redactText('https://hooks.example.com/in/orders')).to.equal('https://hooks.example.com/in/orders');
    expect(redactText('mail bob@example.com')).to.equal('mail bob@example.com');
  });

  it('masks bearer tokens, fnqueue API keys, webhook secrets and JWTs in free text', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const text = redactText(`Authorization: Bearer abc.def-ghi key fnq_k1_SECRETPART whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ${jwt}`);
    expect(text).not.to.match(/abc\.def-ghi|SECRETPART|MfKQ9r8|c2lnbmF0dXJl/);
    expect(text).to.contain('fnq_k1_').and.contain(`Bearer ${REDACTED}`);
  });

  it('masks values of secret-looking keys at any depth, without touching the logged object', () => {
    const headers = { authorization: 'Bearer xyz', 'x-api-key': 'fnq_a_b', accept: 'application/json' };
    const meta = { request: { headers, list: [{ password: 'p' }, 'redis://u:p@h'] }, webhook_secret: 'whsec_x' };
    const out = redact(meta) as any;
    expect(out.request.headers).to.deep.equal({ authorization: REDACTED, 'x-api-key': REDACTED, accept: 'application/json' });
    expect(out.request.list).to.deep.equal([{ password: REDACTED }, `redis://u:${REDACTED}@h`]);
    expect(out.webhook_secret).to.equal(REDACTED);
    expect(headers.authorization).to.equal('Bearer xyz');
  });

  it('survives cycles and deep nesting', () => {
    const a: any = { name: 'a' };
    a.self = a;
    expect((redact(a) as any).self).to.equal('[circular]');
    let deep: any = { token: 't' };
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(JSON.stringify(redact(deep))).to.contain('[truncated]').and.not.contain('"t"');
  });

  it('redacts what a logger writes: top-level and nested keys, messages, URLs and error stacks', () => {
    const { logger, lines } = memoryLogger();
    logger.info('connecting to redis://admin:hunter2@db:6379', {
      redis_url: 'redis://admin:hunter2@db:6379',
      headers: { Authorization: 'Bearer tok123', 'X-API-Key': 'fnq_id1_supersecret', host: 'x' },
      api_key: 'fnq_id1_supersecret',
      nested: { deeper: { client_secret: 'cs', ok: 1 } },
    });
    logger.error('failed', { error: new Error('cannot reach https://bob:pw@hooks.example.com/x') });
    const err = new Error('boom at redis://:pw2@h');
    logger.error(err);
    const text = JSON.stringify(lines);
    for (const secret of ['hunter2', 'tok123', 'supersecret', '"cs"', 'bob:pw', 'pw2']) expect(text, secret).not.to.contain(secret);
    expect(lines[0]!.message).to.equal(`connecting to redis://admin:${REDACTED}@db:6379`);
    expect((lines[0]!.headers as any).host).to.equal('x');
    expect((lines[0]!.nested as any).deeper.ok).to.equal(1);
    expect((lines[1]!.error as any).message).to.contain('hooks.example.com');
  });
});
