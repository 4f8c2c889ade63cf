import { request } from 'node:http';
import { expect } from 'chai';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '../../shared/store/api-key-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { http } from '../helpers/http.js';
import { PROJECT_FAAS_PATHS } from '../../api/middleware/project-faas-errors.js';

/** The project-FaaS API's paths (docs/compat-project-faas.md), answering errors in its own shape. */
const PROJECT_FAAS_ENDPOINTS = [
  '/api/v1/projects',
  '/api/v1/projects/default',
  '/api/v1/projects/default/start',
  '/api/v1/projects/fuzz-p/stop',
  '/api/v1/projects/default/env',
  '/api/v1/projects/default/dependencies',
  '/api/v1/functions/default',
  '/api/v1/functions/default/deploy',
  '/api/v1/functions/default/fuzz-fn',
  '/api/v1/functions/default/fuzz-fn/invoke',
  '/api/v1/env/system',
  '/api/v1/dependencies/system',
] as const;

/**
 * Hostile-input property test (docs/security.md): random methods, paths, headers and bodies against every
 * endpoint of a real API + worker over HTTP, with auth and the SSRF guard on (most cases carry a valid admin key). Every answer is 2xx or 4xx (504 only for a slow
 * /invoke), every 4xx is the one error shape, no body carries a stack trace, and the service still
 * answers correctly afterwards. Reproduce a failure with FUZZ_SEED=<seed> (and the printed path).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const REQUEST_TIMEOUT_MS = 20_000;

const ENDPOINTS = ['/invoke', '/jobs', '/jobs/batch', '/jobs/{id}', '/jobs/{id}/attempts', '/jobs/{id}/cancel', '/jobs/{id}/events', '/healthz', '/health', '/readyz', '/metrics', '/algorithms', '/openapi.json', '/docs', '/redoc', '/workers', '/workers/{id}', '/workers/{id}/resources', '/schedules', '/schedules/{id}', '/schedules/{id}/enable', '/schedules/{id}/disable', '/schedules/{id}/jobs', '/status', '/admin/queues', '/admin/queues/api/queues', '/functions', '/functions/{id}', '/functions/{id}/invoke', '/functions/{id}/jobs', '/functions/{id}/metrics', '/jobs/{id}/logs', '/projects', '/projects/default', '/projects/default/start', '/projects/fuzz-p/stop', '/projects/default/env', '/projects/default/dependencies', '/projects/default/functions', '/env/system', '/dependencies/system', ...PROJECT_FAAS_ENDPOINTS] as const;

/** Anything outside printable ASCII is percent-encoded, as a client would send it. */
const encodePath = (p: string) => p.replace(/[^\x21-\x7e]|%(?![0-9A-Fa-f]{2})/gu, (c) => encodeURIComponent(c));

const pathArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ENDPOINTS).chain((e) => (e.startsWith('/jobs/{id}') ? fc.oneof(fc.constant('aaaaaaaaaaaa'), fc.stringMatching(/^[0-9a-f]{12}$/), fc.string({ maxLength: 40 })).map((id) => e.replace('{id}', () => encodePath(id))) : e.startsWith('/schedules/{id}') || e.startsWith('/functions/{id}') ? fc.oneof(fc.constant('aaaaaaaaaaaa'), fc.stringMatching(/^[0-9a-f]{12}$/), fc.string({ maxLength: 40 })).map((id) => e.replace('{id}', () => encodePath(id))) : e.startsWith('/workers/{id}') ? fc.oneof(fc.constant('localhost:1'), fc.constant('localhost%3A1'), fc.string({ maxLength: 40 })).map((id) => e.replace('{id}', () => encodePath(id))) : fc.constant(e))) },
  { weight: 1, arbitrary: fc.constantFrom('/', '/../../etc/passwd', '/jobs/../invoke', '/%2e%2e/%2e%2e/etc/passwd', '/invoke/', '//invoke', '/jobs//x', '/docs/assets/../../package.json', '/docs/assets/%2e%2e%2fpackage.json', '/redoc/redoc.standalone.js/..', '/%00', '/%ff%fe', '/%', '/jobs/%zz', '/admin/queues/static/%2e%2e/%2e%2e/package.json', '/admin/queues/api/queues/jobs/%zz', '/admin/queues/api/queues?activeQueue=jobs&status=failed&page=99999999999999999999') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `/${encodePath(s)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => `/jobs/${'a'.repeat(n)}`) },
);

const queryArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => `?${encodePath(s)}`) },
  // GET /workers filters: valid and hostile.
  // GET /jobs filters: valid and hostile.
  { weight: 1, arbitrary: fc.constantFrom('?status=completed&algorithm=Echo', '?status=cancelled&limit=100&offset=2', '?created_after=2026-01-01T00:00:00Z&created_before=2030-01-01', '?created_after=tomorrow', '?schedule_id=x&function_id=y', '?limit=0', '?status=__proto__', '?algorithm=' + 'a'.repeat(300), '?algorithm[]=x') },
  { weight: 1, arbitrary: fc.constantFrom('?status=online', '?status=offline&limit=500&offset=3', '?label=pool=x&label=region=y', '?label=pool%3Dx%2Cr%3Dy', '?limit=1e3', '?offset=-1', '?label[a]=b', '?label=__proto__=x', '?__proto__=1', '?status[]=online', '?label=' + 'a=b,'.repeat(40), '?limit=99999999999999999999') },
);

const methodArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST') },
  { weight: 2, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
  { weight: 1, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'FOO', 'CONNECTX') },
);

/** Header values Node's client will send: latin1 without control characters. */
const headerValueArb = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength });

const headersArb = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset=bogus', '*/*', ''),
      headerValueArb(40),
    ),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus'),
    'x-request-id': fc.oneof(headerValueArb(200), fc.constant('ok-id.1:2'), fc.constant('x'.repeat(129))),
    'x-api-key': fc.oneof(headerValueArb(80), fc.string({ unit: fc.constantFrom('a', 'b', '1'), maxLength: 8 }).map((id) => `fnq_${id}_secret`)),
    authorization: fc.oneof(headerValueArb(80), fc.constant('Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'image/png'),
    'idempotency-key': fc.oneof(headerValueArb(300), fc.constantFrom('fuzz-key-1', 'fuzz-key-2')),
    'x-filler': fc.integer({ min: 1000, max: 12_000 }).map((n) => 'f'.repeat(n)),
  },
  { requiredKeys: [] },
);

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Params a submission might carry: PrimeChecker's, Echo's, or anything. Never Sleep or Crash (slow or 500 by contract). */
const paramsArb = fc.oneof(
  fc.record({ number: fc.oneof(fc.integer(), fc.maxSafeInteger().filter((n) => Math.abs(n) < 1e12), fc.double(), fc.string(), fc.constant(null), fc.boolean()) }),
  fc.record({ value: fc.jsonValue({ maxDepth: 6 }) }),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...PROTO_KEYS)).filter((k) => k !== 'print'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const jsonBodyArb = fc.oneof(
  fc.record({ number: fc.oneof(fc.integer({ min: -1_000_000, max: 10_000_000 }), fc.double(), fc.string(), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  fc.record(
    {
      algorithm: fc.oneof(fc.constantFrom('PrimeChecker', 'Echo', 'primechecker', '', 'x'.repeat(300)), fc.string({ maxLength: 20 }).filter((s) => s !== 'Sleep' && s !== 'Crash'), fc.jsonValue({ maxDepth: 1 })),
      params: paramsArb,
      webhook: fc.oneof(fc.webUrl(), fc.string({ maxLength: 30 }), fc.constant('http://169.254.169.254/latest'), fc.constant('https://u:p@example.com/x')),
      extra: fc.jsonValue({ maxDepth: 2 }),
      // Job options, valid and hostile.
      priority: fc.oneof(fc.integer({ min: -5, max: 1005 }), fc.double(), fc.string({ maxLength: 4 })),
      delay_ms: fc.oneof(fc.integer({ min: -1, max: 2000 }), fc.constant(1e20), fc.string({ maxLength: 4 })),
      max_retries: fc.oneof(fc.integer({ min: -1, max: 30 }), fc.jsonValue({ maxDepth: 1 })),
      retry_backoff: fc.constantFrom('fixed', 'exponential', 'linear', '', null),
      retry_interval_ms: fc.oneof(fc.integer({ min: -1, max: 100_000_000 }), fc.string({ maxLength: 4 })),
      timeout_ms: fc.oneof(fc.integer({ min: -1, max: 2 ** 40 }), fc.double()),
      pool: fc.oneof(fc.constantFrom('default', 'fuzz-pool', 'Bad Pool', '', 'x'.repeat(70)), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: [] },
  ),
  // Schedule bodies, valid and hostile; none fires often (no every_ms under an hour, no frequent cron).
  fc.record(
    {
      name: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('fuzz-schedule'), fc.jsonValue({ maxDepth: 1 })),
      cron: fc.oneof(fc.constantFrom('0 0 1 1 *', '@yearly', '61 * * * *', '* * * * * * *', '', '0 0 30 2 *', null), fc.string({ maxLength: 20 })),
      every_ms: fc.oneof(fc.constantFrom(99, 3_600_000, 31_536_000_001, 1.5, -1, null), fc.jsonValue({ maxDepth: 1 })),
      timezone: fc.oneof(fc.constantFrom('UTC', 'Europe/Paris', 'Mars/Olympus', '', null), fc.string({ maxLength: 20 })),
      target: fc.oneof(
        fc.record({ algorithm: fc.constantFrom('PrimeChecker', 'Echo', 'Nope'), params: paramsArb, pool: fc.constantFrom('gpu', 'Bad Pool') }, { requiredKeys: ['algorithm'] }),
        fc.record({ function_id: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })), event: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      enabled: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
      priority: fc.oneof(fc.integer({ min: -1, max: 1001 }), fc.string({ maxLength: 5 })),
      webhook: fc.oneof(fc.webUrl(), fc.constant('http://169.254.169.254/latest'), fc.constant(null)),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: false }).map((v) => {
    try {
      return JSON.parse(JSON.stringify(v) ?? 'null') as unknown;
    } catch {
      return null;
    }
  }),
);

/** Bodies of POST /jobs/batch: a few jobs of any of the bodies above, hostile envelopes, and one job past the bound. */
const batchBodyArb = fc.oneof(
  fc.record({ jobs: fc.array(jsonBodyArb, { maxLength: 6 }), webhook: fc.oneof(fc.webUrl(), fc.constant('http://169.254.169.254/latest'), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: ['jobs'] }),
  fc.record({ jobs: fc.jsonValue({ maxDepth: 3 }), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
  fc.constantFrom(1001, 1000).map((n) => ({ jobs: Array.from({ length: n }, (_, i) => ({ algorithm: 'Echo', params: { value: i } })) })),
);

/** Bodies as the bytes sent. */
const bodyArb: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 8, arbitrary: jsonBodyArb.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: batchBodyArb.map((v) => JSON.stringify(v)) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.nat({ max: 5 })).map(([key, depth]) => {
      let inner = `{"${key}": {"polluted": true}}`;
      for (let i = 0; i < depth; i++) inner = `{"algorithm": "Echo", "params": {"value": [${inner}]}}`.slice(0, depth % 2 ? undefined : undefined);
      return inner;
    }),
  },
  { weight: 2, arbitrary: fc.constantFrom('1e308', '-0', 'NaN', 'Infinity', '{"number": 1e308}', '{"number": -0}', '{"number": NaN}', '{"number": 1e400}', '{"number": 17,}', "{'number': 17}", '{"number": 0x11}', '{"number": "17"}', 'null', 'true', '"str"', '[]', '{}', '', ' ', '\u0000', '{"number": 17} trailing', '\uFEFF{"number": 17}') },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(900_000, 1_100_000, 3_000_000).map((n) => JSON.stringify({ algorithm: 'Echo', params: { value: 'x'.repeat(n) } })) },
  { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 20_000 }).map((n) => 'y'.repeat(n)) },
);

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** Sends one request with node:http (fetch refuses GET bodies and some methods). */
function send(baseUrl: URL, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...c.headers };
    if (c.body !== undefined) headers['content-length'] = Buffer.byteLength(c.body);
    const req = request(
      { host: baseUrl.hostname, port: baseUrl.port, method: c.method, path: c.path, headers, agent: false, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(c.body);
  });
}

const STACK_TRACE = /\n\s+at .+:\d+:\d+|\bat [^\s]+ \(\S+\.(ts|js|mjs|cjs):\d+:\d+\)/;

/** The property on one answer; throws with what is wrong. */
function check(c: Case, a: Answer): void {
  const what = `${c.method} ${c.path.slice(0, 80)} → ${a.status} ${a.text.slice(0, 200)}`;
  const slowInvoke = a.status === 504 && c.method === 'POST' && /^\/invoke\/?(\?|$)/.test(c.path);
  expect((a.status >= 200 && a.status < 300) || (a.status >= 400 && a.status < 500) || slowInvoke, what).to.equal(true);
  if (!/javascript|css/.test(a.contentType)) expect(STACK_TRACE.test(a.text), `stack trace in ${what}`).to.equal(false);
  if (a.status >= 400 && c.method !== 'HEAD') {
    let body: any;
    try {
      body = JSON.parse(a.text);
    } catch {
      throw new Error(`4xx body is not JSON: ${what}`);
    }
    // A request Node's HTTP parser refuses (e.g. an unknown method) is answered before routing, in fnqueue's shape.
    const unparsed = body?.details?.field === 'request' && body?.error === 'VALIDATION_ERROR';
    if (PROJECT_FAAS_PATHS.test(c.path.split('?')[0]!) && !unparsed) {
      expect(body, what).to.have.all.keys('status', 'code', 'message', 'details');
      expect(body.status, what).to.equal('error');
      expect(body.code, what).to.be.a('string');
      expect(body.details, what).to.include.keys('field', 'reason');
      return;
    }
    expect(body, what).to.have.all.keys('error', 'message', 'details', 'request_id');
    expect(body.error, what).to.be.a('string');
    expect(body.message, what).to.be.a('string');
    expect(body.details, what).to.be.an('object');
    expect(body.request_id, what).to.be.a('string');
  }
}

describe('hostile input (fuzz)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let stack: Stack;
  /** An admin key: most cases carry it, so the routes behind auth are fuzzed too, and auth itself. */
  let adminKey: string;

  before(async () => {
    redis = await startRedis();
    // As deployed: auth on (API keys and HS256 JWTs) and the SSRF guard on, so their code sees the hostile input.
    stack = await startStack(redis.url, {
      INVOKE_TIMEOUT_MS: '10000',
      AUTH_ENABLED: 'true',
      JWT_SECRET: 'fuzz-test-secret-of-32-characters-or-more',
      WEBHOOK_ALLOW_PRIVATE: 'false',
    });
    const conn = new Redis(redis.url);
    try {
      adminKey = (await new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX)).create('fuzz', ['admin'])).key;
    } finally {
      conn.disconnect();
    }
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  it('answers every random request with 2xx or 4xx in the one error shape, never a stack trace, and keeps serving', async () => {
    const base = new URL(stack.url);
    let cases = 0;
    let failures = 0;
    const started = Date.now();
    // 3 in 4 cases carry the admin key (over any random x-api-key); the rest only the random credentials.
    const withKey = fc.tuple(headersArb, fc.nat({ max: 3 })).map(([h, n]) => (n === 0 ? h : { ...h, 'x-api-key': adminKey }));
    const caseArb = fc.record({ method: methodArb, path: fc.tuple(pathArb, queryArb).map(([p, q]) => p + q), headers: withKey, body: bodyArb });
    const result = await fc.check(
      fc.asyncProperty(caseArb, async (c) => {
        cases++;
        try {
          check(c, await send(base, c));
        } catch (err) {
          failures++;
          throw err;
        }
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: false, includeErrorInReport: true },
    );
    console.log(`      fuzz: ${cases} cases, ${failures} failures (seed ${SEED}, ${RUNS} runs asked, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    if (result.failed) {
      // The report names the seed and path to replay (FUZZ_SEED); counterexamples can be megabytes, so it is cut.
      const report = fc.defaultReportMessage(result) ?? 'fuzz property failed';
      throw new Error(report.length > 6000 ? `${report.slice(0, 3000)}\n[...]\n${report.slice(-3000)}` : report);
    }

    const healthy = await http('GET', `${stack.url}/healthz`);
    expect(healthy.status).to.equal(200);
    const after = await http('POST', `${stack.url}/invoke`, { number: 17 }, { 'X-API-Key': adminKey });
    expect(after.status, after.text).to.equal(200);
    expect(after.body.result).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
    expect(({} as any).polluted).to.equal(undefined);
    expect(stack.lines.filter((l) => l.error_code === 'INTERNAL_ERROR'), 'no INTERNAL_ERROR logged').to.have.length(0);
  });

  it('answers every random POST /jobs/batch per job, in order, or with one 4xx for the batch', async () => {
    const base = new URL(stack.url);
    const batchRuns = Math.max(20, Math.round(RUNS / 4));
    const result = await fc.check(
      fc.asyncProperty(batchBodyArb, async (body) => {
        const c: Case = { method: 'POST', path: '/jobs/batch', headers: { 'content-type': 'application/json', 'x-api-key': adminKey }, body: JSON.stringify(body) };
        const a = await send(base, c);
        check(c, a);
        const answer = JSON.parse(a.text);
        const results = a.status === 202 ? answer.results : answer.details?.results;
        if (results === undefined) return;
        expect(results, a.text.slice(0, 200)).to.have.length((body as { jobs: unknown[] }).jobs.length);
        for (const r of results) {
          if (r.job_id !== undefined) expect(r).to.have.all.keys('job_id', 'status', 'created_at');
          else {
            expect(r).to.have.all.keys('error');
            expect(r.error).to.have.all.keys('code', 'message', 'details');
          }
        }
        if (a.status === 202) expect(answer.accepted + answer.refused).to.equal(results.length);
      }),
      { numRuns: batchRuns, seed: SEED, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: false, includeErrorInReport: true },
    );
    if (result.failed) {
      const report = fc.defaultReportMessage(result) ?? 'fuzz property failed';
      throw new Error(report.length > 6000 ? `${report.slice(0, 3000)}\n[...]\n${report.slice(-3000)}` : report);
    }
    expect(stack.lines.filter((l) => l.error_code === 'INTERNAL_ERROR'), 'no INTERNAL_ERROR logged').to.have.length(0);
  });
});
