import { expect } from 'chai';
import type { Router } from 'express';
import { SignJWT, base64url, generateKeyPair } from 'jose';
import { createApp } from '../../api/app.js';
import type { JobService } from '../../api/services/job-service.js';
import { accessFor, ROUTE_ACCESS } from '../../api/routes/index.js';
import { buildOpenApiDocument } from '../../api/openapi/document.js';
import { ROUTES } from '../../api/routes/index.js';
import { DOC_ASSET_PREFIXES } from '../../api/routes/meta.js';
import { AlgorithmRegistry } from '../../shared/algorithms/registry.js';
import { parseApiKey } from '../../shared/store/api-key-store.js';
import { JwtVerifier } from '../../shared/auth/jwt-verifier.js';
import { hasScope, parseScopes } from '../../shared/auth/scopes.js';
import { loadConfig } from '../../shared/config.js';
import { AppError } from '../../shared/errors/index.js';
import { createMetrics } from '../../shared/metrics.js';
import { memoryLogger } from '../helpers/stack.js';

const SECRET = 'unit-test-secret-of-at-least-32-characters!';
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** An HS256 token with `claims`, exp in an hour unless given. */
function hs256(claims: Record<string, unknown>, opts: { exp?: number; iss?: string; aud?: string; secret?: Uint8Array } = {}) {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(opts.exp ?? now() + 3600);
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  if (opts.aud) jwt = jwt.setAudience(opts.aud);
  return jwt.sign(opts.secret ?? key);
}

describe('auth: scopes', () => {
  it('reads scopes from a space-separated string or an array, dropping unknown names', () => {
    expect(parseScopes('write read bogus')).to.deep.equal(['read', 'write']);
    expect(parseScopes(['admin', 7, 'x'])).to.deep.equal(['admin']);
    expect(parseScopes(undefined)).to.deep.equal([]);
    expect(parseScopes({ read: true })).to.deep.equal([]);
  });

  it('is hierarchical: admin covers write covers read, never the other way', () => {
    expect(hasScope(['admin'], 'read')).to.equal(true);
    expect(hasScope(['admin'], 'write')).to.equal(true);
    expect(hasScope(['write'], 'read')).to.equal(true);
    expect(hasScope(['read'], 'write')).to.equal(false);
    expect(hasScope(['write'], 'admin')).to.equal(false);
    expect(hasScope([], 'read')).to.equal(false);
  });
});

describe('auth: API key form', () => {
  it('parses fnq_<12 hex>_<43 base64url> and nothing else', () => {
    const secret = base64url.encode(new Uint8Array(32).fill(255));
    expect(parseApiKey(`fnq_0123456789ab_${secret}`)).to.deep.equal({ id: '0123456789ab', secret });
    expect(parseApiKey(`fnq_0123456789ab_${secret}x`)).to.equal(undefined);
    expect(parseApiKey(`fnq_0123456789AB_${secret}`)).to.equal(undefined);
    expect(parseApiKey(`xyz_0123456789ab_${secret}`)).to.equal(undefined);
    expect(parseApiKey('')).to.equal(undefined);
  });
});

describe('auth: the scope table', () => {
  it('maps each route to its access, as Express matches paths (any case, trailing slash, HEAD as GET)', () => {
    expect(accessFor('GET', '/healthz')).to.equal('open');
    expect(accessFor('GET', '/readyz/')).to.equal('open');
    expect(accessFor('GET', '/health')).to.equal('open');
    expect(accessFor('GET', '/openapi.json')).to.equal('open');
    expect(accessFor('GET', '/docs/assets/swagger-ui.css')).to.equal('open');
    expect(accessFor('GET', '/redoc/redoc.standalone.js')).to.equal('open');
    expect(accessFor('GET', '/metrics')).to.equal('metrics');
    expect(accessFor('GET', '/algorithms')).to.equal('read');
    expect(accessFor('HEAD', '/jobs/a1b2c3d4e5f6')).to.equal('read');
    expect(accessFor('POST', '/jobs')).to.equal('write');
    expect(accessFor('POST', '/INVOKE')).to.equal('write');
    expect(accessFor('post', '/Jobs/')).to.equal('write');
    expect(accessFor('POST', '/healthz')).to.equal('authenticated');
    expect(accessFor('GET', '/jobs')).to.equal('read');
    expect(accessFor('GET', '/jobs/a1b2c3d4e5f6/attempts')).to.equal('read');
    expect(accessFor('GET', '/jobs/a1b2c3d4e5f6/events')).to.equal('read');
    expect(accessFor('POST', '/jobs/a1b2c3d4e5f6/cancel')).to.equal('write');
    expect(accessFor('GET', '/jobs/a1b2c3d4e5f6/cancel')).to.equal('authenticated');
    expect(accessFor('DELETE', '/jobs/a1b2c3d4e5f6')).to.equal('authenticated');
    expect(accessFor('GET', '/nope')).to.equal('authenticated');
    // Status, worker resources, and the dashboard (view: read; any other method: admin).
    expect(accessFor('GET', '/status')).to.equal('read');
    expect(accessFor('GET', '/workers/host:1/resources/')).to.equal('read');
    expect(accessFor('HEAD', '/admin/queues')).to.equal('read');
    expect(accessFor('GET', '/Admin/Queues/static/js/main.js')).to.equal('read');
    expect(accessFor('GET', '/admin/queues/api/queues')).to.equal('read');
    expect(accessFor('PUT', '/admin/queues/api/queues/jobs/retry/failed')).to.equal('admin');
    expect(accessFor('PATCH', '/admin/queues/api/queues/jobs/1/update-data')).to.equal('admin');
    expect(accessFor('POST', '/admin/queues')).to.equal('admin');
    expect(accessFor('PROPFIND', '/admin/queues/x')).to.equal('admin');
    expect(accessFor('GET', '/admin/queuesx')).to.equal('authenticated');
  });

  it('has a line for every route the app serves (a new route without one fails here)', () => {
    const app = createApp({
      jobs: {} as JobService,
      registry: new AlgorithmRegistry(),
      metrics: createMetrics(),
      logger: memoryLogger().logger,
      readiness: async () => ({}),
      metricsText: async () => ({ contentType: 'text/plain', body: '' }),
      bodyLimit: '1mb',
      invokeTimeoutMs: 1000,
      version: 'test',
    });
    const routes: Array<{ method: string; path: string }> = [];
    type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route) for (const method of Object.keys(layer.route.methods)) routes.push({ method: method.toUpperCase(), path: layer.route.path });
        else if (layer.handle?.stack) walk(layer.handle.stack);
      }
    };
    walk((app as unknown as { router: Router & { stack: Layer[] } }).router.stack);
    expect(routes.length).to.be.greaterThan(8);
    const declared = new Set(ROUTES.map((d) => `${d.method.toUpperCase()} ${d.path.replace(/\{([^}]+)\}/g, ':$1')}`));
    for (const r of routes) {
      const access = accessFor(r.method, r.path.replace(/:[A-Za-z0-9_]+/g, 'x'));
      expect(access, `${r.method} ${r.path} has no line in ROUTE_ACCESS`).not.to.equal('authenticated');
      // Served only through a declaration (api/routes/*), or as a file of the documentation pages.
      const isDocAsset = DOC_ASSET_PREFIXES.some((prefix) => r.path.startsWith(prefix));
      expect(declared.has(`${r.method} ${r.path}`) || isDocAsset, `${r.method} ${r.path} is served without a route declaration`).to.equal(true);
    }
    for (const d of ROUTES) expect(routes.some((r) => r.method === d.method.toUpperCase() && r.path === d.path.replace(/\{([^}]+)\}/g, ':$1')), `${d.method} ${d.path} declared but not served`).to.equal(true);
    expect(ROUTE_ACCESS.every((r) => r.pattern.flags.includes('i')), 'patterns match any case, as Express does').to.equal(true);
  });

  it('gives every OpenAPI operation its security from the table, with both schemes declared', () => {
    const doc = buildOpenApiDocument('test') as any;
    expect(doc.components.securitySchemes.ApiKeyAuth).to.include({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(doc.components.securitySchemes.BearerAuth).to.include({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.paths['/jobs'].post['x-required-scope']).to.equal('write');
    expect(doc.paths['/invoke'].post['x-required-scope']).to.equal('write');
    expect(doc.paths['/jobs/{job_id}'].get['x-required-scope']).to.equal('read');
    expect(doc.paths['/algorithms'].get['x-required-scope']).to.equal('read');
    expect(doc.paths['/jobs'].post.security).to.deep.equal([{ ApiKeyAuth: [] }, { BearerAuth: [] }]);
    expect(doc.paths['/jobs'].post.responses).to.include.keys('401', '403');
    expect(doc.paths['/healthz'].get.security).to.deep.equal([]);
    expect(doc.paths['/readyz'].get.security).to.deep.equal([]);
    expect(doc.paths['/metrics'].get.security).to.deep.equal([{}, { BearerAuth: [] }]);
  });
});

describe('auth: configuration', () => {
  it('is off by default and refuses a short JWT_SECRET, a non-http JWKS URL and a short METRICS_TOKEN', () => {
    const config = loadConfig({});
    expect(config.AUTH_ENABLED).to.equal(false);
    expect(config.JWT_SECRET).to.equal(undefined);
    expect(() => loadConfig({ JWT_SECRET: 'short' })).to.throw(/JWT_SECRET.*at least 32/);
    expect(() => loadConfig({ JWT_JWKS_URL: 'file:///etc/passwd' })).to.throw(/JWT_JWKS_URL/);
    expect(() => loadConfig({ METRICS_TOKEN: 'abc' })).to.throw(/METRICS_TOKEN/);
    expect(loadConfig({ AUTH_ENABLED: 'true', JWT_SECRET: SECRET }).AUTH_ENABLED).to.equal(true);
  });
});

describe('auth: JWT verification', () => {
  const verifier = new JwtVerifier({ secret: SECRET, issuer: 'https://issuer.test', audience: 'fnqueue' });
  const good = { iss: 'https://issuer.test', aud: 'fnqueue' };

  it('accepts an HS256 token with scope as a string or a scopes array', async () => {
    expect(await verifier.verify(await hs256({ sub: 'alice', scope: 'write' }, good))).to.deep.equal({ subject: 'alice', scopes: ['write'] });
    expect(await verifier.verify(await hs256({ sub: 'bob', scopes: ['read', 'admin'] }, good))).to.deep.equal({ subject: 'bob', scopes: ['read', 'admin'] });
  });

  it('refuses expired, not-yet-valid, exp-less, wrong-issuer, wrong-audience and wrongly-signed tokens', async () => {
    const cases: Array<[string, Promise<string>, RegExp]> = [
      ['expired', hs256({ sub: 'a', scope: 'write' }, { ...good, exp: now() - 60 }), /expired/],
      ['nbf in the future', new SignJWT({ sub: 'a', nbf: now() + 600 }).setProtectedHeader({ alg: 'HS256' }).setIssuer(good.iss).setAudience(good.aud).setExpirationTime('2h').sign(key), /nbf/],
      ['no exp', new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(good.iss).setAudience(good.aud).sign(key), /exp/],
      ['wrong issuer', hs256({ sub: 'a' }, { ...good, iss: 'https://evil.test' }), /iss/],
      ['wrong audience', hs256({ sub: 'a' }, { ...good, aud: 'other' }), /aud/],
      ['wrong secret', hs256({ sub: 'a' }, { ...good, secret: new TextEncoder().encode('another-secret-that-is-32-characters-long') }), /signature/],
      ['no sub', hs256({ scope: 'admin' }, good), /sub/],
      ['empty sub', hs256({ sub: '', scope: 'admin' }, good), /sub/],
      ['blank sub', hs256({ sub: '  ', scope: 'admin' }, good), /sub/],
    ];
    for (const [what, token, reason] of cases) {
      const result = await verifier.verify(await token);
      expect(result, what).to.have.property('refused').that.matches(reason);
    }
  });

  it('refuses alg none, unexpected algorithms and malformed tokens without throwing', async () => {
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const payload = enc({ sub: 'a', scope: 'admin', exp: now() + 600, ...good });
    const tokens = [
      `${enc({ alg: 'none' })}.${payload}.`,
      `${enc({ alg: 'none', typ: 'JWT' })}.${payload}`,
      `${enc({ alg: 'HS512' })}.${payload}.AAAA`,
      `${enc({ alg: 'RS256' })}.${payload}.AAAA`, // no JWKS configured
      `${enc({ alg: 'HS256' })}.${payload}.!!!not-base64!!!`,
      `${enc({ alg: 'HS256' })}.%%%.AAAA`,
      'not-a-jwt',
      '...',
      '\u00ff\u00fe.\u0000.x',
      `${enc({ alg: ['HS256'] })}.${payload}.AAAA`,
      `${enc({ alg: 'HS256', crit: ['x'] })}.${payload}.AAAA`,
    ];
    for (const token of tokens) {
      const result = await verifier.verify(token);
      expect(result, token).to.have.property('refused');
    }
  });

  it('refuses HS256 tokens when only a JWKS URL is configured (no algorithm confusion)', async () => {
    const jwksOnly = new JwtVerifier({ jwksUrl: 'http://127.0.0.1:9/jwks.json' });
    expect(await jwksOnly.verify(await hs256({ sub: 'a', scope: 'admin' }))).to.have.property('refused').that.matches(/HS256/);
    expect(new JwtVerifier({}).enabled).to.equal(false);
  });

  it('answers 503 SERVICE_UNAVAILABLE, not 401 or 500, when the JWKS cannot be fetched', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('5m').sign(privateKey);
    const down = new JwtVerifier({ jwksUrl: 'http://127.0.0.1:9/jwks.json' });
    const err = await down.verify(token).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(AppError).and.include({ code: 'SERVICE_UNAVAILABLE' });
  });
});
