import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKeyStore } from '../../shared/store/api-key-store.js';
import type { JwtVerifier } from '../../shared/auth/jwt-verifier.js';
import { hasScope, type Scope } from '../../shared/auth/scopes.js';
import { accessFor } from '../routes/index.js';
import { AppError } from '../../shared/errors/index.js';
import { withLogContext } from '../../shared/logger.js';

/** Who made a request, once authenticated. */
export interface Principal {
  /** `key:<key id>` or `jwt:<sub>`: logged as `principal`; never the key or the token. */
  id: string;
  kind: 'api_key' | 'jwt';
  scopes: Scope[];
  /** The namespaces it may act in (docs/security.md#namespaces); undefined: every namespace. */
  namespaces?: readonly string[];
}

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated caller; unset when auth is off or the route is open. */
    auth?: Principal;
  }
}

/**
 * The scope table is derived from the route declarations (api/routes/index.ts): each route's
 * `access`, with the scopes of docs/security.md (read: query resources; write: create, update,
 * delete; admin: system configuration and monitoring, as the hetuflow scheduler API reference's
 * manage scope). Probes and the documentation are open; GET /metrics needs METRICS_TOKEN when set.
 * The dashboard needs read to view and admin to act.
 *
 * Any other method and path (unknown routes, wrong methods) needs valid credentials of any scope,
 * then answers 404 NOT_FOUND or 405 METHOD_NOT_ALLOWED: without credentials it is 401, so the
 * route list cannot be probed anonymously.
 */
export type { RouteAccess } from '../routes/route.js';

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
 * Authentication and scopes per the scope table (api/routes/index.ts ROUTE_ACCESS), before the
 * routers. Credentials (docs/security.md): `X-API-Key: fnq_<id>_<secret>` or `Authorization: Bearer <JWT>`
 * (as the container management and hetuflow scheduler API references authenticate);
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
      return { id: `key:${record.id}`, kind: 'api_key', scopes: record.scopes, ...(record.namespaces ? { namespaces: record.namespaces } : {}) };
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
    return { id: `jwt:${verified.subject}`, kind: 'jwt', scopes: verified.scopes, ...(verified.namespaces ? { namespaces: verified.namespaces } : {}) };
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
