import { request } from 'node:http';
import { connect } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '../../shared/store/api-key-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { http, expectError } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startApiOnly } from '../helpers/stack.js';

/** GET with a body (fetch refuses to send one). */
function getWithBody(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A request with a body in any method, sent with Content-Length or (`chunked`) in chunks without one. */
function sendWithBody(url: string, method: string, body: string, chunked = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    // Node frames a GET or DELETE body in chunks only when told to.
    if (chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = Buffer.byteLength(body);
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (chunked) for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.slice(i, i + 64 * 1024));
    req.end(chunked ? undefined : body);
  });
}

/** Runs `fn` while recording the length of every string JSON.parse is given in this process. */
async function watchingJsonParse<T>(fn: () => Promise<T>): Promise<{ result: T; parsedLengths: number[] }> {
  const original = JSON.parse;
  const parsedLengths: number[] = [];
  JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    parsedLengths.push(String(text).length);
    return original(text, reviver);
  }) as typeof JSON.parse;
  try {
    return { result: await fn(), parsedLengths };
  } finally {
    JSON.parse = original;
  }
}

const prefix = () => `l${Math.random().toString(36).slice(2, 10)}`;

/** Writes `text` on a new connection to 127.0.0.1:`port` and resolves with all it reads until the server closes it. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('limits and backpressure', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.destroy();
  });

  describe('rate limit per caller', () => {
    it('answers 429 RATE_LIMITED with an integer Retry-After over the limit, never limits probes and /metrics, and recovers after the window', async () => {
      const api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix(), RATE_LIMIT_PER_SECOND: '5' });
      try {
        const results = [];
        for (let i = 0; i < 8; i++) results.push(await http('GET', `${api.url}/algorithms`));
        expect(results.slice(0, 5).map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200]);
        const refused = results[7]!;
        expectError(refused, 429, 'RATE_LIMITED');
        const retryAfter = refused.headers.get('retry-after');
        expect(retryAfter).to.match(/^[1-9]\d*$/);
        expect(refused.body.details).to.include({ limit: 5, window_seconds: 1 });
        // The same caller on a POST is refused before its body is read.
        expectError(await http('POST', `${api.url}/invoke`, { number: 3 }), 429, 'RATE_LIMITED');
        for (const path of ['/healthz', '/readyz', '/metrics', '/HEALTHZ', '/Metrics/']) expect((await http('GET', `${api.url}${path}`)).status, path).to.equal(200);
        await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000 + 100));
        expect((await http('GET', `${api.url}/algorithms`)).status).to.equal(200);
      } finally {
        await api.close();
      }
    });

    it('counts each verified API key apart from the IP, ignores made-up key ids, and holds across two API instances on one Redis', async () => {
      const env = { QUEUE_PREFIX: prefix(), RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_WINDOW_SECONDS: '30', AUTH_ENABLED: 'true' };
      const a = await startApiOnly(redis.url, env);
      const b = await startApiOnly(redis.url, env);
      const conn = new Redis(redis.url);
      try {
        const statuses: number[] = [];
        // /openapi.json is open with auth on: counted by IP.
        for (let i = 0; i < 20; i++) statuses.push((await http('GET', `${(i % 2 ? a : b).url}/openapi.json`)).status);
        // 30 requests per 30 s window shared by both instances: 20 pass; 16 more fail past the window's budget.
        expect(statuses.every((s) => s === 200)).to.equal(true);
        for (let i = 0; i < 16; i++) statuses.push((await http('GET', `${(i % 2 ? a : b).url}/openapi.json`)).status);
        expect(statuses.filter((s) => s === 200)).to.have.length(30);
        expect(statuses.filter((s) => s === 429)).to.have.length(6);
        // A made-up key id gets no budget of its own: it is refused by auth (401), never counted as a key.
        expect((await http('GET', `${a.url}/algorithms`, undefined, { 'x-api-key': 'fnq_aaaaaaaaaaaa_made-up' })).status).to.equal(401);
        // A caller with a real key has its own budget (the IP's is spent).
        const { key, record } = await new ApiKeyStore(conn, keysFor(env.QUEUE_PREFIX)).create('limits', ['read']);
        expect((await http('GET', `${a.url}/algorithms`, undefined, { 'x-api-key': key })).status).to.equal(200);
        expect((await http('GET', `${b.url}/algorithms`, undefined, { 'x-api-key': key })).status).to.equal(200);
        const stored = await conn.keys(`${keysFor(env.QUEUE_PREFIX).rateLimit}:*`);
        expect(stored.sort()).to.deep.equal([`{${env.QUEUE_PREFIX}}:rate-limit:ip:127.0.0.1`, `{${env.QUEUE_PREFIX}}:rate-limit:key:${record.id}`].sort());
      } finally {
        conn.disconnect();
        await a.close();
        await b.close();
      }
    });

    it('keeps limiting in memory while Redis is down, without turning requests into 500s', async () => {
      const own = await startRedis();
      const api = await startApiOnly(own.url, { QUEUE_PREFIX: prefix(), RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_WINDOW_SECONDS: '3' });
      try {
        await own.stop();
        // The first request of the window (3 allowed): Redis is down, so 503, not 500.
        const invoke = await http('POST', `${api.url}/invoke`, { number: 3 });
        expectError(invoke, 503, 'SERVICE_UNAVAILABLE');
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await http('GET', `${api.url}/algorithms`)).status);
        expect(statuses).to.deep.equal([200, 200, 429, 429]);
      } finally {
        await api.close();
        await own.destroy();
      }
    });

    it('is off with RATE_LIMIT_PER_SECOND=0', async () => {
      const api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix(), RATE_LIMIT_PER_SECOND: '0' });
      try {
        const results = await Promise.all(Array.from({ length: 50 }, () => http('GET', `${api.url}/algorithms`)));
        expect(results.every((r) => r.status === 200)).to.equal(true);
      } finally {
        await api.close();
      }
    });
  });

  describe('queue depth (MAX_QUEUE_DEPTH)', () => {
    it('answers POST /jobs and POST /invoke 503 SERVICE_UNAVAILABLE with Retry-After once the queue is full, and accepts again when it drains', async () => {
      const queuePrefix = prefix();
      const api = await startApiOnly(redis.url, { QUEUE_PREFIX: queuePrefix, MAX_QUEUE_DEPTH: '3', INVOKE_TIMEOUT_MS: '200' });
      try {
        for (let i = 0; i < 3; i++) expect((await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } })).status).to.equal(202);
        await new Promise((r) => setTimeout(r, 300));
        const full = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } });
        expectError(full, 503, 'SERVICE_UNAVAILABLE');
        expect(full.headers.get('retry-after')).to.match(/^[1-9]\d*$/);
        expect(full.body.details).to.include({ queue_depth: 3, max_queue_depth: 3 });
        const invoke = await http('POST', `${api.url}/invoke`, { number: 7 });
        expectError(invoke, 503, 'SERVICE_UNAVAILABLE');
        expect(invoke.headers.get('retry-after')).to.match(/^[1-9]\d*$/);
        // Invalid input still gets its 400 first.
        expectError(await http('POST', `${api.url}/invoke`, { number: 'x' }), 400, 'VALIDATION_ERROR');
        const conn = new Redis(redis.url);
        try {
          // Every job carries a BullMQ priority, so waiting jobs sit in the prioritized set.
          await conn.del(`{${queuePrefix}}:jobs:wait`, `{${queuePrefix}}:jobs:prioritized`);
        } finally {
          conn.disconnect();
        }
        await new Promise((r) => setTimeout(r, 300));
        expect((await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } })).status).to.equal(202);
      } finally {
        await api.close();
      }
    });
  });

  describe('hostile bodies and requests', () => {
    let api: Awaited<ReturnType<typeof startApiOnly>>;
    before(async () => {
      api = await startApiOnly(redis.url, { QUEUE_PREFIX: prefix() });
    });
    after(async () => {
      await api?.close();
    });

    it('refuses __proto__, constructor and prototype keys at any depth with 400 naming the path', async () => {
      const cases: Array<[string, string, string]> = [
        ['/invoke', '{"number": 3, "__proto__": {"polluted": true}}', '__proto__'],
        ['/invoke', '{"algorithm": "Echo", "params": {"value": {"a": [1, {"constructor": {"prototype": 1}}]}}}', 'params.value.a.1.constructor'],
        ['/jobs', '{"algorithm": "PrimeChecker", "params": {"number": 3, "prototype": 1}}', 'params.prototype'],
      ];
      for (const [path, body, field] of cases) {
        const res = await http('POST', `${api.url}${path}`, body);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field).to.equal(field);
      }
      expect(({} as any).polluted).to.equal(undefined);
    });

    it('reads the body of /JOBS and /Invoke/ like /jobs and /invoke (Express routes any case), with the same checks', async () => {
      const created = await http('POST', `${api.url}/JOBS`, { algorithm: 'PrimeChecker', params: { number: 3 } });
      expect(created.status, created.text).to.equal(202);
      const polluted = await http('POST', `${api.url}/Invoke/`, '{"number": 3, "__proto__": {"polluted": true}}');
      expectError(polluted, 400, 'VALIDATION_ERROR');
      expect(polluted.body.details.field).to.equal('__proto__');
    });

    it('refuses JSON nested deeper than 64 levels with 400, and reads 64 levels', async () => {
      const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
      const deep = await http('POST', `${api.url}/invoke`, nested(65));
      expectError(deep, 400, 'VALIDATION_ERROR');
      expect(deep.body.message).to.contain('deeper than 64');
      const ok = await http('POST', `${api.url}/invoke`, nested(64));
      expectError(ok, 400, 'VALIDATION_ERROR');
      expect(ok.body.message).to.equal('request body must be a JSON object');
      expectError(await http('POST', `${api.url}/jobs`, nested(200_000)), 400, 'VALIDATION_ERROR');
    });

    it('refuses a body over 4 KB on routes that take none with 413, and ignores a small one', async () => {
      const big = 'x'.repeat(10_000);
      for (const path of ['/jobs/aaaaaaaaaaaa', '/algorithms', '/healthz', '/nope']) {
        const res = await getWithBody(`${api.url}${path}`, big);
        expect(res.status, path).to.equal(413);
        expect(JSON.parse(res.text).error).to.equal('PAYLOAD_TOO_LARGE');
      }
      expectError(await http('POST', `${api.url}/jobs/aaaaaaaaaaaa`, big), 413, 'PAYLOAD_TOO_LARGE');
      expect((await getWithBody(`${api.url}/healthz`, '{not json')).status).to.equal(200);
    });

    it('refuses a large body on a route that takes none before parsing it, whatever the method (GET /jobs takes none; POST /jobs does)', async () => {
      const big = JSON.stringify({ algorithm: 'Echo', params: { value: 'x'.repeat(900 * 1024) } });
      const { result, parsedLengths } = await watchingJsonParse(async () => {
        const gets = Array.from({ length: 6 }, () => sendWithBody(`${api.url}/jobs`, 'GET', big));
        const health = await http('GET', `${api.url}/healthz`);
        return { answers: await Promise.all(gets), health };
      });
      expect(result.health.status).to.equal(200);
      for (const res of result.answers) {
        expect(res.status, res.text).to.equal(413);
        expect(JSON.parse(res.text)).to.include({ error: 'PAYLOAD_TOO_LARGE' });
      }
      // No body was handed to the JSON parser: only small strings (the answers, Redis replies) were parsed.
      expect(parsedLengths.filter((n) => n > 4096)).to.deep.equal([]);
      // The same, counted while streaming (no Content-Length), for a wrong method (405 path), the
      // dashboard's API read, an unknown path and HEAD.
      const others: Array<[string, string, boolean]> = [
        ['GET', '/jobs', true],
        ['PUT', '/jobs', false],
        ['DELETE', '/invoke', true],
        ['GET', '/admin/queues/api/queues', false],
        ['GET', '/no/such/route', true],
      ];
      const watched = await watchingJsonParse(() => Promise.all(others.map(([method, path, chunked]) => sendWithBody(`${api.url}${path}`, method, big, chunked))));
      watched.result.forEach((res, i) => {
        expect(res.status, `${others[i]!.join(' ')} ${res.text}`).to.equal(413);
        expect(JSON.parse(res.text).error).to.equal('PAYLOAD_TOO_LARGE');
      });
      expect(watched.parsedLengths.filter((n) => n > 4096)).to.deep.equal([]);
      // A chunked body is refused as soon as it passes 4 KB: the answer comes while the body is still open.
      const early = await new Promise<{ status: number; text: string; bodyStillOpen: boolean }>((resolve, reject) => {
        let open = true;
        const req = request(`${api.url}/jobs`, { method: 'GET', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, text, bodyStillOpen: open });
            open = false;
            req.end();
          });
        });
        req.on('error', reject);
        req.write('x'.repeat(8192));
      });
      expect(early.status, early.text).to.equal(413);
      expect(early.bodyStillOpen).to.equal(true);
      expect(JSON.parse(early.text).details).to.include({ limit_bytes: 4096 });
      // POST /jobs still reads its JSON body (a 900 KB body is under BODY_LIMIT).
      expect((await http('POST', `${api.url}/jobs`, big)).status).to.equal(202);
    });

    it('answers requests Node cannot parse in the one error shape (400, 431 for huge headers)', async () => {
      const raw = (text: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(api.api.port, '127.0.0.1', () => socket.write(text));
          let out = '';
          socket.on('data', (d) => (out += d.toString()));
          socket.on('end', () => resolve(out));
          socket.on('error', reject);
        });
      const bad = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
      expect(bad).to.match(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).to.have.all.keys('error', 'message', 'details', 'request_id');
      const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(huge).to.match(/^HTTP\/1\.1 431 /);
      expect(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4)).error).to.equal('HEADERS_TOO_LARGE');
      expect(huge, 'the answer names its request id').to.match(/\r\nX-Request-Id: [0-9a-f-]{36}\r\n/);
    });

    it('answers a request followed by bytes that do not parse, then the 400: the request that ran is not lost', async () => {
      const out = await rawExchange(api.api.port, 'GET /jobs?limit=1 HTTP/1.1\r\nHost: x\r\n\r\nXYZ\r\n\r\n');
      expect(out).to.match(/^HTTP\/1\.1 200 /);
      const second = out.indexOf('HTTP/1.1 400 ');
      expect(second, out).to.be.greaterThan(0);
      expect(JSON.parse(out.slice(out.indexOf('\r\n\r\n', second) + 4))).to.include({ error: 'VALIDATION_ERROR' });
    });

    it('answers pipelined requests that ran before the 400 of the bytes after them, and a body that does not parse at once', async () => {
      const out = await rawExchange(api.api.port, 'GET /jobs?limit=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nXYZ\r\n\r\n');
      expect(out.match(/HTTP\/1\.1 \d{3} /g), out).to.deep.equal(['HTTP/1.1 200 ', 'HTTP/1.1 200 ', 'HTTP/1.1 400 ']);
      // The bytes that do not parse are this request's own body (a bad chunk size): no earlier answer to wait for.
      const t0 = Date.now();
      const chunked = await rawExchange(api.api.port, 'POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n');
      expect(chunked).to.match(/^HTTP\/1\.1 400 /);
      expect(Date.now() - t0, 'answered at once').to.be.below(2000);
    });

    it('answers CONNECT, an unsupported Expect and an HTTP/1.1 request without Host in the one error shape', async () => {
      const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: string; details: Record<string, unknown>; request_id: string };
      const tunnel = await rawExchange(api.api.port, 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n');
      expect(tunnel).to.match(/^HTTP\/1\.1 405 /);
      expect(tunnel).to.match(/\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE\r\n/);
      expect(bodyOf(tunnel).error).to.equal('METHOD_NOT_ALLOWED');
      const expectation = await rawExchange(api.api.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: fancy\r\n\r\n');
      expect(expectation).to.match(/^HTTP\/1\.1 417 /);
      expect(bodyOf(expectation)).to.deep.include({ error: 'EXPECTATION_FAILED', details: { field: 'Expect' } });
      const hostless = await rawExchange(api.api.port, 'GET /healthz HTTP/1.1\r\n\r\n');
      expect(hostless).to.match(/^HTTP\/1\.1 400 /);
      const refused = bodyOf(hostless);
      expect(refused).to.deep.include({ error: 'VALIDATION_ERROR', details: { field: 'Host' } });
      expect(hostless).to.include(`\r\nX-Request-Id: ${refused.request_id}\r\n`);
      // HTTP/1.0 needs no Host.
      expect(await rawExchange(api.api.port, 'GET /healthz HTTP/1.0\r\n\r\n')).to.match(/^HTTP\/1\.1 200 /);
    });

    it('refuses a JSON body whose declared length is over BODY_LIMIT at once, without waiting for the body', async () => {
      const t0 = Date.now();
      const head = await new Promise<string>((resolve, reject) => {
        const socket = connect(api.api.port, '127.0.0.1', () => socket.write('POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{'));
        let out = '';
        socket.on('data', (d) => {
          out += d.toString();
          if (out.includes('}')) {
            socket.destroy();
            resolve(out);
          }
        });
        socket.on('error', reject);
      });
      expect(Date.now() - t0, 'answered before the body').to.be.below(2000);
      expect(head).to.match(/^HTTP\/1\.1 413 /);
      expect(JSON.parse(head.slice(head.indexOf('\r\n\r\n') + 4))).to.deep.include({ error: 'PAYLOAD_TOO_LARGE' });
    });
  });
});
