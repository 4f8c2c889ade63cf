import { expect } from 'chai';
import { InvokeRequestSchema, JobRequestSchema, WebhookUrlSchema } from '../../api/schemas/jobs.js';
import { AlgorithmRegistry, DEFAULT_ALGORITHM } from '../../shared/algorithms/registry.js';

describe('request schemas', () => {
  it('accepts the FunctionalScaffold API reference POST /jobs body', () => {
    const body = { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: 'https://example.com/callback' };
    expect(JobRequestSchema.parse(body)).to.deep.equal(body);
  });

  it('requires algorithm and params, and refuses unknown keys', () => {
    expect(JobRequestSchema.safeParse({ params: {} }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({ algorithm: 'PrimeChecker' }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({ algorithm: 'PrimeChecker', params: [] }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({ algorithm: 'PrimeChecker', params: {}, extra: 1 }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({ algorithm: '', params: {} }).success).to.equal(false);
  });

  it('takes only http and https webhook URLs', () => {
    for (const ok of ['http://127.0.0.1:9000/hook', 'https://example.com/a?b=c']) expect(WebhookUrlSchema.safeParse(ok).success, ok).to.equal(true);
    for (const bad of ['ftp://example.com', 'example.com/hook', 'javascript:alert(1)', 'http://', `https://x.com/${'a'.repeat(3000)}`]) {
      expect(WebhookUrlSchema.safeParse(bad).success, bad).to.equal(false);
    }
  });

  it('defaults /invoke params to {} when only the algorithm is named', () => {
    expect(InvokeRequestSchema.parse({ algorithm: 'Echo' })).to.deep.equal({ algorithm: 'Echo', params: {} });
  });
});

describe('algorithm registry', () => {
  it('serves PrimeChecker by default and the diagnostic algorithms only when asked', () => {
    expect(DEFAULT_ALGORITHM).to.equal('PrimeChecker');
    expect(new AlgorithmRegistry().names()).to.deep.equal(['PrimeChecker']);
    expect(new AlgorithmRegistry({ diagnostic: true }).names()).to.deep.equal(['PrimeChecker', 'Echo', 'Sleep', 'Crash']);
  });

  it('describes each algorithm with a JSON Schema of its params', () => {
    const [prime] = new AlgorithmRegistry().describe();
    expect(prime).to.include({ name: 'PrimeChecker', version: '1.0.0' });
    expect(prime!.params_schema).to.have.nested.property('properties.number.type', 'integer');
    expect(prime!.params_schema).to.have.property('additionalProperties', false);
  });
});
