import { errorExample } from '../routes/responses.js';
import type { MountedOperation } from '../routes/route.js';

/** The OpenAPI security schemes: the two ways to authenticate (docs/security.md). */
export const SECURITY_SCHEMES = {
  ApiKeyAuth: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'An API key `fnq_<id>_<secret>` made with `npm run keys -- create --name <name> --scope read|write|admin`.',
  },
  BearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A JWT (HS256 with JWT_SECRET, or RS256/ES256 from JWT_JWKS_URL) with `exp`, and scopes in `scope` (space-separated) or `scopes`. On GET /metrics: the METRICS_TOKEN.',
  },
} as const;

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const errorResponse = (status: number, description: string) => ({ description, content: { 'application/json': { schema: ERROR_REF, example: errorExample(status, description) } } });

type Operation = { description?: string; security?: unknown; responses?: Record<string, unknown>; [k: string]: unknown };

/**
 * Adds the security schemes to `doc` and, to each operation, the security its declaration's
 * `access` gives it: none for open routes; ApiKeyAuth or
 * BearerAuth, `x-required-scope`, and 401/403 answers for scoped ones. OpenAPI names scopes
 * only for OAuth2, so the scope is named in the description and in `x-required-scope`.
 * Applies only when AUTH_ENABLED=true; the document says so.
 */
export function addSecurity<T extends object>(doc: T, routes: readonly MountedOperation[]): T {
  const d = doc as { components?: Record<string, unknown>; paths?: Record<string, Record<string, Operation>> };
  d.components = { ...d.components, securitySchemes: SECURITY_SCHEMES };
  for (const [path, item] of Object.entries(d.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const declared = routes.find((r) => r.path === path && r.method === method);
      if (!declared) throw new Error(`OpenAPI operation ${method.toUpperCase()} ${path} has no route declaration`);
      const access = declared.access;
      if (access === 'open') {
        op.security = [];
      } else if (access === 'metrics') {
        op.security = [{}, { BearerAuth: [] }];
        op.description = `${op.description ? `${op.description}\n\n` : ''}When METRICS_TOKEN is set, requires \`Authorization: Bearer <METRICS_TOKEN>\`; otherwise open.`;
        op.responses = { ...op.responses, 401: errorResponse(401, 'UNAUTHORIZED: METRICS_TOKEN is set and was not sent') };
      } else {
        const scope = access;
        op.security = [{ ApiKeyAuth: [] }, { BearerAuth: [] }];
        op['x-required-scope'] = scope;
        op.description = `${op.description ? `${op.description}\n\n` : ''}With AUTH_ENABLED=true, requires scope \`${scope}\` or higher (admin ⊇ write ⊇ read).`;
        // A compatible API declares its own 401/403 in its own error shape; the rest get fnqueue's.
        op.responses = {
          401: errorResponse(401, 'UNAUTHORIZED: no credentials, or an invalid, expired or revoked key or token (see WWW-Authenticate)'),
          403: errorResponse(403, `FORBIDDEN: the credentials lack scope ${scope} (details.required_scope, details.granted_scopes)`),
          ...op.responses,
        };
      }
    }
  }
  return doc;
}
