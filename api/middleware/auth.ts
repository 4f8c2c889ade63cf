import { createHash, timingSafeEqual } from 'node:crypto';
import { METHODS } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKeyStore } from '../../shared/auth/api-key-store.js';
import type { JwtVerifier } from '../../shared/auth/jwt-verifier.js';
import { hasScope, type Scope } from '../../shared/auth/scopes.js';
import { AppError } from '../../shared/errors.js';
import { withLogContext } from '../../shared/logger.js';

/** Who made a request, once authenticated. */
export interface Principal {
  /** `key:<key id>` or `jwt:<sub>`: logged as `principal`; never the key or the token. */
  id: string;
  kind: 'api_key' | 'jwt';
  scopes: Scope[];
}

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated caller; unset when auth is off or the route is open. */
    auth?: Principal;
  }
}

/**
 * What a route needs: `open` (no credentials), `metrics` (the METRICS_TOKEN bearer when it is set,
 * else open) or the least scope (admin ⊇ write ⊇ read).
 */
export type RouteAccess = 'open' | 'metrics' | Scope;

/** One line of {@link ROUTE_ACCESS}. HEAD is checked as GET. */
export interface RouteAccessRule {
  methods: readonly string[];
  /** Matched against `req.path` like Express does: case-insensitive, optional trailing slash. */
  pattern: RegExp;
  access: RouteAccess;
}

/**
 * THE scope table: which access each route needs when AUTH_ENABLED=true. Scopes are seed 004's
 * read (query resources) / write (create, update, delete) / manage, here `admin` (system
 * configuration and monitoring). A new route adds its line here (functions: read/write; schedules:
 * read/write; workers: read; the dashboard: read to view, admin to act); the OpenAPI document takes its security from this table.
 *
 * | method | path                                   | access  |
 * | ------ | -------------------------------------- | ------- |
 * | GET    | /healthz, /readyz                      | open (probes, always) |
 * | GET    | /openapi.json, /docs/**, /redoc/**     | open (documentation) |
 * | GET    | /metrics                               | metrics (Bearer METRICS_TOKEN when set, else open) |
 * | GET    | /algorithms                            | read    |
 * | GET    | /jobs/{job_id}                         | read    |
 * | POST   | /jobs                                  | write   |
 * | GET    | /jobs, /jobs/{job_id}/attempts, /jobs/{job_id}/events | read |
 * | POST   | /jobs/{job_id}/cancel                  | write   |
 * | POST   | /invoke                                | write   |
 * | GET    | /workers, /workers/{worker_id}         | read    |
 * | GET    | /workers/{worker_id}/resources         | read    |
 * | GET    | /status                                | read    |
 * | GET    | /schedules, /schedules/{schedule_id}, /schedules/{schedule_id}/jobs | read |
 * | POST   | /schedules, /schedules/{schedule_id}/enable, /schedules/{schedule_id}/disable | write |
 * | PUT, DELETE | /schedules/{schedule_id}          | write   |
 * | GET    | /admin/queues, /admin/queues/**        | read (Bull Board: page, static files, API reads) |
 * | any other | /admin/queues, /admin/queues/**     | admin (Bull Board actions: pause, retry, clean, add, ...) |
 * | GET    | /projects, /projects/{name}, /projects/{name}/env, /projects/{name}/dependencies | read |
 * | POST   | /projects/{name}/start, /projects/{name}/stop, /projects/{name}/functions (multipart deploy) | write |
 * | PUT    | /projects/{name}/env, /projects/{name}/dependencies | write |
 * | GET    | /env/system, /dependencies/system      | read (secret-looking values redacted) |
 * | GET    | /functions, /functions/{function_id}, /functions/{function_id}/jobs, /functions/{function_id}/metrics, /jobs/{job_id}/logs | read |
 * | POST   | /functions, /functions/{function_id}/invoke | write |
 * | PUT, DELETE | /functions/{function_id}          | write   |
 *
 * Any other method and path (unknown routes, wrong methods) needs valid credentials of any scope,
 * then answers 404 NOT_FOUND or 405 METHOD_NOT_ALLOWED: without credentials it is 401, so the
 * route list cannot be probed anonymously.
 */
export const ROUTE_ACCESS: readonly RouteAccessRule[] = [
  { methods: ['GET'], pattern: /^\/(healthz|readyz)\/?$/i, access: 'open' },
  { methods: ['GET'], pattern: /^\/(openapi\.json|docs|redoc)(\/.*)?$/i, access: 'open' },
  { methods: ['GET'], pattern: /^\/metrics\/?$/i, access: 'metrics' },
  { methods: ['GET'], pattern: /^\/algorithms\/?$/i, access: 'read' },
  { methods: ['GET'], pattern: /^\/jobs\/[^/]+\/?$/i, access: 'read' },
  { methods: ['POST'], pattern: /^\/jobs\/?$/i, access: 'write' },
  // Job control (issue 4): listing, attempts and live events read; cancelling writes.
  { methods: ['GET'], pattern: /^\/jobs\/?$/i, access: 'read' },
  { methods: ['GET'], pattern: /^\/jobs\/[^/]+\/(attempts|events)\/?$/i, access: 'read' },
  { methods: ['POST'], pattern: /^\/jobs\/[^/]+\/cancel\/?$/i, access: 'write' },
  { methods: ['POST'], pattern: /^\/invoke\/?$/i, access: 'write' },
  // Workers registry (issue 4): `read`, not the `admin` foreseen above: it shows ids, labels and load, no configuration or secrets.
  { methods: ['GET'], pattern: /^\/workers(\/[^/]+)?\/?$/i, access: 'read' },
  // Issue 4: one worker's resource figures (seed 001's /metrics/resources) and the deployment's status: figures, no configuration or secrets.
  { methods: ['GET'], pattern: /^\/workers\/[^/]+\/resources\/?$/i, access: 'read' },
  { methods: ['GET'], pattern: /^\/status\/?$/i, access: 'read' },
  // Schedules (issue 4): reading them and their runs needs read; creating, changing, enabling and disabling, write.
  { methods: ['GET'], pattern: /^\/schedules(\/[^/]+(\/jobs)?)?\/?$/i, access: 'read' },
  { methods: ['POST'], pattern: /^\/schedules(\/[^/]+\/(enable|disable))?\/?$/i, access: 'write' },
  { methods: ['PUT', 'DELETE'], pattern: /^\/schedules\/[^/]+\/?$/i, access: 'write' },
  // Dashboard (issue 4, api/routes/dashboard.ts): viewing needs read; every other method Node accepts is an action and needs admin.
  { methods: ['GET'], pattern: /^\/admin\/queues(\/.*)?$/i, access: 'read' },
  { methods: METHODS.filter((m) => m !== 'GET' && m !== 'HEAD'), pattern: /^\/admin\/queues(\/.*)?$/i, access: 'admin' },
  // Projects (issue 3, seed 000): reading projects, their env (redacted) and dependencies, and the system ones needs read; starting, stopping, deploying and changing env or dependencies, write.
  { methods: ['GET'], pattern: /^\/projects(\/[^/]+(\/(env|dependencies))?)?\/?$/i, access: 'read' },
  { methods: ['POST'], pattern: /^\/projects\/[^/]+\/(start|stop|functions)\/?$/i, access: 'write' },
  { methods: ['PUT'], pattern: /^\/projects\/[^/]+\/(env|dependencies)\/?$/i, access: 'write' },
  { methods: ['GET'], pattern: /^\/(env|dependencies)\/system\/?$/i, access: 'read' },
  // Functions (issue 3, seed 003): reading functions, their jobs, metrics and job logs needs read; deploying, changing, deleting and invoking, write.
  { methods: ['GET'], pattern: /^\/functions(\/[^/]+(\/(jobs|metrics))?)?\/?$/i, access: 'read' },
  { methods: ['GET'], pattern: /^\/jobs\/[^/]+\/logs\/?$/i, access: 'read' },
  { methods: ['POST'], pattern: /^\/functions(\/[^/]+\/invoke)?\/?$/i, access: 'write' },
  { methods: ['PUT', 'DELETE'], pattern: /^\/functions\/[^/]+\/?$/i, access: 'write' },
];

/** The access `method path` needs: its line of {@link ROUTE_ACCESS}, else `authenticated` (any valid credentials). */
export function accessFor(method: string, path: string): RouteAccess | 'authenticated' {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return ROUTE_ACCESS.find((r) => r.methods.includes(m) && r.pattern.test(path))?.access ?? 'authenticated';
}

/** What {@link authenticate} checks with. */
export interface AuthOptions {
  /** AUTH_ENABLED. Off: every route is open, except /metrics when `metricsToken` is set. */
  enabled: boolean;
  /** Verifies `X-API-Key`. */
  apiKeys: ApiKeyStore;
  /** Verifies `Authorization: Bearer` JWTs; without a secret or JWKS URL bearer tokens are refused. */
  jwt: JwtVerifier;
  /** METRICS_TOKEN. */
  metricsToken?: string;
}

const REALM = 'realm="fnqueue"';
/** Longest bearer token read; longer ones are refused unparsed. */
const MAX_TOKEN_CHARS = 8192;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Strips what cannot go in a quoted header parameter. */
const quoted = (text: string) => `"${text.replace(/[^\x20-\x7e]|["\\]/g, '')}"`;

/**
 * Authentication and scopes per {@link ROUTE_ACCESS}, before the routers. Credentials:
 * `X-API-Key: fnq_<id>_<secret>` (seed 001) or `Authorization: Bearer <JWT>` (seeds 001, 004);
 * when both are sent the API key is used. Puts the caller in `req.auth` and its id in the log context
 * as `principal`.
 *
 * Answers 401 UNAUTHORIZED with `WWW-Authenticate` (RFC 6750 §3: `Bearer realm="fnqueue"`,
 * with `error="invalid_token"` for a bad token, and `ApiKey realm="fnqueue", header="X-API-Key"`)
 * for missing or invalid credentials; 403 FORBIDDEN with `details: {required_scope, granted_scopes}`
 * when the scope is short; 503 when Redis or the JWKS cannot be reached. Never 500 for a bad credential.
 */
export function authenticate(opts: AuthOptions) {
  const metricsHash = opts.metricsToken === undefined ? undefined : sha256(opts.metricsToken);
  const bearerChallenge = (error?: string, description?: string) =>
    `Bearer ${REALM}${error ? `, error="${error}"` : ''}${description ? `, error_description=${quoted(description)}` : ''}`;
  const apiKeyChallenge = (error?: string) => `ApiKey ${REALM}, header="X-API-Key"${error ? `, error="${error}"` : ''}`;

  /** Sets the challenges and returns the 401 to throw. */
  const unauthorized = (res: Response, message: string, challenges: string[], reason: string): AppError => {
    res.setHeader('WWW-Authenticate', challenges);
    return new AppError('UNAUTHORIZED', message, { reason });
  };
  const bothChallenges = (bearer = bearerChallenge(), key = apiKeyChallenge()) => (opts.jwt.enabled ? [key, bearer] : [key]);

  const identify = async (req: Request, res: Response): Promise<Principal> => {
    const apiKey = req.get('x-api-key');
    if (apiKey) {
      const record = await opts.apiKeys.verify(apiKey.trim());
      if (!record) throw unauthorized(res, 'invalid API key', bothChallenges(undefined, apiKeyChallenge('invalid_key')), 'invalid_api_key');
      return { id: `key:${record.id}`, kind: 'api_key', scopes: record.scopes };
    }
    const authorization = req.get('authorization');
    if (!authorization) {
      throw unauthorized(res, 'authentication required: send X-API-Key or Authorization: Bearer <JWT>', bothChallenges(), 'missing_credentials');
    }
    const bearer = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!bearer) {
      throw unauthorized(res, 'unsupported Authorization scheme: use Bearer <JWT>', bothChallenges(bearerChallenge('invalid_request')), 'unsupported_scheme');
    }
    if (!opts.jwt.enabled) {
      throw unauthorized(res, 'bearer tokens are not accepted here (no JWT_SECRET or JWT_JWKS_URL): use X-API-Key', bothChallenges(), 'jwt_not_configured');
    }
    const token = bearer[1]!;
    const verified = token.length > MAX_TOKEN_CHARS ? { refused: 'token too long' } : await opts.jwt.verify(token);
    if ('refused' in verified) {
      throw unauthorized(res, `invalid bearer token: ${verified.refused}`, bothChallenges(bearerChallenge('invalid_token', verified.refused)), 'invalid_token');
    }
    return { id: `jwt:${verified.subject}`, kind: 'jwt', scopes: verified.scopes };
  };

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const access = accessFor(req.method, req.path);
    if (access === 'open') return next();
    if (access === 'metrics') {
      if (metricsHash) {
        const bearer = /^Bearer +([^\s]+) *$/i.exec(req.get('authorization') ?? '');
        if (!bearer || !timingSafeEqual(sha256(bearer[1]!), metricsHash)) {
          res.setHeader('WWW-Authenticate', `Bearer realm="fnqueue-metrics"${bearer ? ', error="invalid_token"' : ''}`);
          throw new AppError('UNAUTHORIZED', 'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>', { reason: bearer ? 'invalid_token' : 'missing_credentials' });
        }
      }
      return next();
    }
    if (!opts.enabled) return next();

    const principal = await identify(req, res);
    if (access !== 'authenticated' && !hasScope(principal.scopes, access)) {
      if (principal.kind === 'jwt') res.setHeader('WWW-Authenticate', `Bearer ${REALM}, error="insufficient_scope", scope="${access}"`);
      throw new AppError('FORBIDDEN', `this route needs the ${access} scope`, { required_scope: access, granted_scopes: principal.scopes });
    }
    req.auth = principal;
    withLogContext({ principal: principal.id }, next);
  };
}
