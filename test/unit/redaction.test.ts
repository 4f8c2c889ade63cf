import { expect } from 'chai';
import { envNamesOnly, maskSecretsInPlace, withEnvNamesOnly } from '../../api/routes/redaction.js';

describe('answer masking (api/routes/redaction.ts)', () => {
  it('shows env names only, in order, whatever the names', () => {
    expect(envNamesOnly({ GREETING: 'hi', STRIPE_KEY: 'sk', AUTH: 'a' })).to.deep.equal({ GREETING: '[redacted]', STRIPE_KEY: '[redacted]', AUTH: '[redacted]' });
    expect(Object.keys(envNamesOnly({ B: '1', A: '2' }))).to.deep.equal(['B', 'A']);
    expect(envNamesOnly(undefined)).to.deep.equal({});
    expect(envNamesOnly(['x'])).to.deep.equal({});
    const fn = { function_id: 'f', env: { SESSION_ID: 's' } };
    expect(withEnvNamesOnly(fn)).to.deep.equal({ function_id: 'f', env: { SESSION_ID: '[redacted]' } });
    expect(fn.env.SESSION_ID, 'the input is not changed').to.equal('s');
    expect(withEnvNamesOnly({ a: 1 })).to.deep.equal({ a: 1 });
  });

  it('masks a JSON value generically at any depth: strings, env objects, stack traces', () => {
    const body = {
      schedulers: [{ id: 's', template: { data: { webhook: 'https://u:pw@h.example/x?token=t1&n=1', env: { K: 'v' } } } }],
      job: { stacktrace: ['at x (a.ts:1:1)'], returnValue: { note: 'Bearer abc' }, opts: { list: [['redis://:pass@r:6379']] } },
    };
    maskSecretsInPlace(body);
    expect(body.schedulers[0]!.template.data).to.deep.equal({ webhook: 'https://u:[redacted]@h.example/x?token=[redacted]&n=[redacted]', env: { K: '[redacted]' } });
    expect(body.job.stacktrace).to.deep.equal([]);
    expect(body.job.returnValue.note).to.equal('Bearer [redacted]');
    expect(body.job.opts.list[0]![0]).to.not.contain('pass');
    expect(maskSecretsInPlace('https://a:b@c/')).to.equal('https://a:[redacted]@c/');
    expect(maskSecretsInPlace(7)).to.equal(7);
  });

  it('walks deep and cyclic values without failing', () => {
    let deep: Record<string, unknown> = { url: 'https://x:secret@h/' };
    for (let i = 0; i < 10_000; i++) deep = { next: deep };
    maskSecretsInPlace(deep);
    let node = deep;
    while (node.next) node = node.next as Record<string, unknown>;
    expect(node.url).to.equal('https://x:[redacted]@h/');
    const cyclic: Record<string, unknown> = { s: 'Bearer zzz' };
    cyclic.self = cyclic;
    maskSecretsInPlace(cyclic);
    expect(cyclic.s).to.equal('Bearer [redacted]');
  });
});
