import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ApiKeyStore, API_KEY_CACHE_TTL_MS } from '../../shared/store/api-key-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { eventually, http, expectError } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { track, untrack } from '../helpers/resources.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'integration-test-secret-of-32-characters-or-more';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'fnqueue-test';
const METRICS_TOKEN = 'metrics-token-0123456789';

/** Asserts a 401 UNAUTHORIZED with a WWW-Authenticate challenge. */
function expect401(res: { status: number; body: any; headers: Headers }, challenge = /ApiKey realm="fnqueue"/) {
  expectError(res, 401, 'UNAUTHORIZED');
  expect(res.headers.get('www-authenticate')).to.match(challenge);
}

/** Runs `npm run keys` as a real process against the test Redis. */
function keysCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/keys.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('authentication and scopes (AUTH_ENABLED=true, real Redis and HTTP)', () => {
  let redis: TestRedis;
  let stack: Stack;
  let jwksServer: Server;
  let conn: Redis;
  let store: ApiKeyStore;
  let esKey: CryptoKey;
  const keys: Record<'read' | 'write' | 'admin', string> = { read: '', write: '', admin: '' };

  const jwt = (claims: Record<string, unknown>, opts: { exp?: string | number; iss?: string; aud?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(opts.iss ?? ISSUER)
      .setAudience(opts.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '10m')
      .sign(new TextEncoder().encode(SECRET));

  before(async () => {
    redis = await startRedis();
    const pair = await generateKeyPair('ES256', { extractable: true });
    esKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
    const server = createServer((req, res) => {
      if (req.url !== '/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    jwksServer = await new Promise<Server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
    track('jwks server', jwksServer, () => new Promise((r) => jwksServer.close(() => r())));
    const port = (jwksServer.address() as { port: number }).port;
    stack = await startStack(redis.url, {
      AUTH_ENABLED: 'true',
      JWT_SECRET: SECRET,
      JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      METRICS_TOKEN,
    });
    conn = new Redis(redis.url);
    store = new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX));
    for (const scope of ['read', 'write', 'admin'] as const) keys[scope] = (await store.create(`test-${scope}`, [scope])).key;
  });
  after(async () => {
    await stack?.close();
    conn?.disconnect();
    if (jwksServer) {
      jwksServer.closeAllConnections();
      await new Promise<void>((r) => jwksServer.close(() => r()));
      untrack(jwksServer);
    }
    await redis?.destroy();
  });

  describe('API keys', () => {
    it('lets a read key read jobs and algorithms but answers 403 FORBIDDEN when it submits', async () => {
      const submitted = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } }, { 'X-API-Key': keys.write });
      expect(submitted.status).to.equal(202);
      const read = await http('GET', `${stack.url}/jobs/${submitted.body.job_id}`, undefined, { 'X-API-Key': keys.read });
      expect(read.status).to.equal(200);
      expect(read.body.job_id).to.equal(submitted.body.job_id);
      expect((await http('GET', `${stack.url}/algorithms`, undefined, { 'X-API-Key': keys.read })).status).to.equal(200);

      const refused = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 } }, { 'X-API-Key': keys.read });
      expectError(refused, 403, 'FORBIDDEN');
      expect(refused.body.details).to.deep.equal({ required_scope: 'write', granted_scopes: ['read'] });
      expectError(await http('POST', `${stack.url}/invoke`, { number: 7 }, { 'X-API-Key': keys.read }), 403, 'FORBIDDEN');
      expectError(await http('POST', `${stack.url}/INVOKE/`, { number: 7 }, { 'X-API-Key': keys.read }), 403, 'FORBIDDEN');
    });

    it('lets a write key submit and invoke, and an admin key do everything', async () => {
      const invoked = await http('POST', `${stack.url}/invoke`, { number: 17 }, { 'X-API-Key': keys.write });
      expect(invoked.status).to.equal(200);
      expect(invoked.body.result.is_prime).to.equal(true);
      expect((await http('POST', `${stack.url}/invoke`, { number: 4 }, { 'X-API-Key': keys.admin })).status).to.equal(200);
      expect((await http('GET', `${stack.url}/algorithms`, undefined, { 'X-API-Key': keys.admin })).status).to.equal(200);
    });

    it('answers 401 UNAUTHORIZED with WWW-Authenticate (both schemes) when no credentials are sent', async () => {
      for (const [method, p] of [['POST', '/jobs'], ['POST', '/invoke'], ['GET', '/jobs/a1b2c3d4e5f6'], ['GET', '/algorithms']] as const) {
        const res = await http(method, `${stack.url}${p}`, method === 'POST' ? { number: 3 } : undefined);
        expect401(res);
        expect(res.headers.get('www-authenticate')).to.match(/Bearer realm="fnqueue"/);
        expect(res.body.details.reason).to.equal('missing_credentials');
      }
    });

    it('refuses a key with a wrong secret, an unknown id, or a malformed key with 401', async () => {
      const [, id] = /^fnq_([0-9a-f]{12})_/.exec(keys.admin)!;
      const wrongSecret = `fnq_${id}_${'A'.repeat(43)}`;
      for (const key of [wrongSecret, `fnq_000000000000_${'A'.repeat(43)}`, 'fnq_x', keys.admin.slice(0, -1), `${keys.admin} x`, 'é'.repeat(50)]) {
        const res = await http('POST', `${stack.url}/invoke`, { number: 3 }, { 'X-API-Key': key });
        expect401(res, /ApiKey realm="fnqueue", header="X-API-Key", error="invalid_key"/);
      }
    });

    it('refuses a revoked key (within the cache bound) and says who called in the log context, never the key', async () => {
      const { key, record } = await store.create('short-lived', ['write']);
      expect((await http('GET', `${stack.url}/algorithms`, undefined, { 'X-API-Key': key, 'X-Request-Id': 'auth-log-1' })).status).to.equal(200);
      await store.revoke(record.id);
      const res = await eventually(async () => {
        const r = await http('GET', `${stack.url}/algorithms`, undefined, { 'X-API-Key': key });
        return r.status === 401 ? r : undefined;
      }, API_KEY_CACHE_TTL_MS + 2000, 100);
      expect401(res);
      const line = await eventually(async () => stack.lines.find((l) => l.request_id === 'auth-log-1' && l.message === 'request'));
      expect(line.principal).to.equal(`key:${record.id}`);
      // The whole 43-character secret: base64url has `_` in it, so split('_').pop() could be a 1-character fragment found anywhere.
      expect(JSON.stringify(stack.lines)).not.to.contain(key.slice(17));
    });

    it('takes revocation into account at once in the same store, and within the TTL in another', async () => {
      let t = Date.now();
      const apiSide = new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX), () => t);
      const cliSide = new ApiKeyStore(conn, keysFor(stack.config.QUEUE_PREFIX));
      const { key, record } = await cliSide.create('cache', ['read']);
      expect(await apiSide.verify(key)).to.include({ id: record.id });
      await cliSide.revoke(record.id);
      expect(await apiSide.verify(key), 'still cached').to.include({ id: record.id });
      t += API_KEY_CACHE_TTL_MS + 1;
      expect(await apiSide.verify(key)).to.equal(undefined);
      const other = await apiSide.create('other', ['read']);
      await apiSide.revoke(other.record.id);
      expect(await apiSide.verify(other.key)).to.equal(undefined);
    });

    it('stores only the SHA-256 of the secret, never the secret', async () => {
      const { key, record } = await store.create('stored', ['read']);
      const hash = await conn.hgetall(keysFor(stack.config.QUEUE_PREFIX).apiKey(record.id));
      expect(hash).to.have.keys('id', 'name', 'scopes', 'secret_sha256', 'created_at');
      expect(JSON.stringify(hash)).not.to.contain(key.split('_').slice(2).join('_'));
      expect(hash.secret_sha256).to.match(/^[0-9a-f]{64}$/);
    });
  });

  describe('JWTs', () => {
    it('accepts an HS256 token with scope write, and answers 403 for scope read on POST /jobs', async () => {
      const write = await jwt({ sub: 'alice', scope: 'write' });
      const ok = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 5 } }, { Authorization: `Bearer ${write}` });
      expect(ok.status).to.equal(202);
      const read = await jwt({ sub: 'bob', scopes: ['read'] });
      const refused = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 5 } }, { Authorization: `Bearer ${read}` });
      expectError(refused, 403, 'FORBIDDEN');
      expect(refused.headers.get('www-authenticate')).to.match(/error="insufficient_scope", scope="write"/);
      const got = await http('GET', `${stack.url}/jobs/${ok.body.job_id}`, undefined, { Authorization: `Bearer ${read}`, 'X-Request-Id': 'auth-log-jwt' });
      expect(got.status).to.equal(200);
      const line = await eventually(async () => stack.lines.find((l) => l.request_id === 'auth-log-jwt' && l.message === 'request'));
      expect(line.principal).to.equal('jwt:bob');
      expect(JSON.stringify(stack.lines)).not.to.contain(read.split('.')[2]!);
    });

    it('answers 401 invalid_token for an expired token', async () => {
      const expired = await jwt({ sub: 'alice', scope: 'admin' }, { exp: Math.floor(Date.now() / 1000) - 60 });
      const res = await http('POST', `${stack.url}/invoke`, { number: 3 }, { Authorization: `Bearer ${expired}` });
      expect401(res, /Bearer realm="fnqueue", error="invalid_token", error_description="token expired"/);
    });

    it('answers 401 for a wrong issuer or a wrong audience', async () => {
      for (const opts of [{ iss: 'https://evil.test' }, { aud: 'someone-else' }]) {
        const token = await jwt({ sub: 'alice', scope: 'admin' }, opts);
        expect401(await http('GET', `${stack.url}/algorithms`, undefined, { Authorization: `Bearer ${token}` }), /error="invalid_token"/);
      }
    });

    it('answers 401, never 500, for alg none, garbage, wrong schemes and oversized tokens', async () => {
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const payload = enc({ sub: 'mallory', scope: 'admin', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 });
      const headers = [
        `Bearer ${enc({ alg: 'none', typ: 'JWT' })}.${payload}.`,
        `Bearer ${enc({ alg: 'HS256' })}.${payload}.@@@`,
        `Bearer ${enc({ alg: 'ES256', kid: 'unknown' })}.${payload}.AAAA`,
        'Bearer a.b.c',
        'Bearer ',
        `Bearer ${'a'.repeat(10_000)}`,
        'Basic YWxpY2U6c2VjcmV0',
        'Bearer\ttab',
      ];
      for (const authorization of headers) {
        const res = await http('POST', `${stack.url}/invoke`, { number: 3 }, { Authorization: authorization });
        expect401(res, /Bearer realm="fnqueue"/);
      }
    });

    it('accepts an ES256 token whose key is served from the JWKS URL', async () => {
      const token = await new SignJWT({ sub: 'svc', scope: 'read write' })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-es256' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(esKey);
      const res = await http('POST', `${stack.url}/invoke`, { number: 13 }, { Authorization: `Bearer ${token}` });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.result.is_prime).to.equal(true);
    });
  });

  describe('open routes and /metrics', () => {
    it('keeps the probes and the documentation open', async () => {
      expect((await http('GET', `${stack.url}/healthz`)).status).to.equal(200);
      expect((await http('GET', `${stack.url}/readyz`)).status).to.equal(200);
      const doc = await http('GET', `${stack.url}/openapi.json`);
      expect(doc.status).to.equal(200);
      expect(doc.body.components.securitySchemes).to.have.keys('ApiKeyAuth', 'BearerAuth');
      expect((await http('GET', `${stack.url}/docs`)).status).to.equal(200);
      expect((await http('GET', `${stack.url}/redoc`)).status).to.equal(200);
    });

    it('gates GET /metrics with METRICS_TOKEN, compared as a whole', async () => {
      expect401(await http('GET', `${stack.url}/metrics`), /Bearer realm="fnqueue-metrics"/);
      expect401(await http('GET', `${stack.url}/metrics`, undefined, { Authorization: `Bearer ${METRICS_TOKEN}x` }), /invalid_token/);
      expect401(await http('GET', `${stack.url}/metrics`, undefined, { 'X-API-Key': keys.admin }), /fnqueue-metrics/);
      const ok = await http('GET', `${stack.url}/metrics`, undefined, { Authorization: `Bearer ${METRICS_TOKEN}` });
      expect(ok.status).to.equal(200);
      expect(ok.text).to.contain('http_requests_total');
    });

    it('gates the worker\'s own GET /metrics (WORKER_PORT) with METRICS_TOKEN too, and keeps its /healthz open', async () => {
      const worker = `http://127.0.0.1:${stack.worker.port}`;
      expect401(await http('GET', `${worker}/metrics`), /Bearer realm="fnqueue-metrics"/);
      expect401(await http('GET', `${worker}/metrics`, undefined, { Authorization: `Bearer ${METRICS_TOKEN}x` }), /fnqueue-metrics/);
      const ok = await http('GET', `${worker}/metrics`, undefined, { Authorization: `Bearer ${METRICS_TOKEN}` });
      expect(ok.status).to.equal(200);
      expect(ok.text).to.contain('# TYPE');
      expect((await http('GET', `${worker}/healthz`)).status).to.equal(200);
    });

    it('answers 401 to an unknown route without credentials, and 404 / 405 with them', async () => {
      expect401(await http('GET', `${stack.url}/nope`));
      expectError(await http('GET', `${stack.url}/nope`, undefined, { 'X-API-Key': keys.read }), 404, 'NOT_FOUND');
      expectError(await http('DELETE', `${stack.url}/jobs`, undefined, { 'X-API-Key': keys.read }), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  describe('npm run keys', () => {
    it('creates a key (printed once), lists it without secrets, and revokes it', async () => {
      const env = { REDIS_URL: redis.url, QUEUE_PREFIX: stack.config.QUEUE_PREFIX };
      const created = await keysCli(['create', '--name', 'ci', '--scope', 'write'], env);
      expect(created.code, created.stderr).to.equal(0);
      const key = created.stdout.trim();
      expect(key).to.match(/^fnq_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(created.stderr).to.contain('only this once');
      const id = key.slice(4, 16);
      expect((await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 3 } }, { 'X-API-Key': key })).status).to.equal(202);

      const listed = await keysCli(['list'], env);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout).to.match(new RegExp(`${id}\\s+ci\\s+write`));
      expect(listed.stdout).not.to.contain(key.slice(17));
      const json = JSON.parse((await keysCli(['list', '--json'], env)).stdout) as Array<Record<string, unknown>>;
      expect(json.find((r) => r.id === id)).to.deep.include({ name: 'ci', scopes: ['write'] }).and.not.have.property('secret_sha256');

      const revoked = await keysCli(['revoke', id], env);
      expect(revoked.code, revoked.stderr).to.equal(0);
      expect(revoked.stdout).to.contain(`revoked API key ${id}`);
      await eventually(async () => (await http('GET', `${stack.url}/algorithms`, undefined, { 'X-API-Key': key })).status === 401, API_KEY_CACHE_TTL_MS + 2000, 100);
      expect((await keysCli(['list'], env)).stdout).to.match(new RegExp(`${id}\\s+ci\\s+write\\s+\\S+\\s+\\d{4}-`));
    });

    it('exits 2 on bad usage and 1 for an unknown id', async () => {
      const env = { REDIS_URL: redis.url, QUEUE_PREFIX: stack.config.QUEUE_PREFIX };
      expect((await keysCli(['create', '--name', 'x', '--scope', 'root'], env)).code).to.equal(2);
      expect((await keysCli(['create', '--scope', 'read'], env)).code).to.equal(2);
      expect((await keysCli(['frobnicate'], env)).code).to.equal(2);
      expect((await keysCli(['list'], {})).code).to.equal(2);
      const unknown = await keysCli(['revoke', '000000000000'], env);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.contain('no API key');
    });
  });
});
