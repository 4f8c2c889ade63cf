import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { AppError } from '../errors/index.js';
import { parseNamespaces, parseScopes, type Scope } from './scopes.js';

/** Clock skew allowed when checking `exp` and `nbf`, in seconds. */
export const JWT_CLOCK_TOLERANCE_SECONDS = 5;

/** Asymmetric algorithms accepted with keys from JWT_JWKS_URL. */
const JWKS_ALGORITHMS = ['RS256', 'ES256'] as const;

/** What {@link JwtVerifier} needs: the JWT_* configuration keys. */
export interface JwtVerifierOptions {
  /** HS256 shared secret (JWT_SECRET). */
  secret?: string;
  /** JWKS URL for RS256 / ES256 (JWT_JWKS_URL). */
  jwksUrl?: string;
  /** Required `iss` (JWT_ISSUER). */
  issuer?: string;
  /** Required `aud` (JWT_AUDIENCE). */
  audience?: string;
}

/** A verified token: its subject and scopes. */
export interface VerifiedJwt {
  /** The `sub` claim (required: it names the caller for rate limits and idempotency keys). */
  subject: string;
  scopes: Scope[];
  /** The `namespaces` claim (docs/security.md#namespaces); undefined: not limited. */
  namespaces?: string[];
}

/** Why a token was refused, safe to send (RFC 6750 `error_description`). */
export interface JwtRefusal {
  refused: string;
}

type Jose = typeof import('jose');

/**
 * jose, imported on the first token verified rather than at startup: a deployment without JWT auth
 * never needs it, and it is about 0.6 MB of the API's live heap (the API's memory bound, docs/performance.md).
 */
let jose: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));

/** Tags errors of the JWKS fetch, which are our side's trouble (503), not the caller's (401). */
class JwksUnavailable extends Error {}

/**
 * Verifies `Authorization: Bearer` JWTs with jose: HS256 with the shared secret, RS256 / ES256 with
 * a key from the JWKS URL (picked by the token's `kid`). The algorithm of the header decides the
 * key, and each key accepts only its own algorithms, so `alg: none` and HS256-signed-with-the-public-key
 * are refused. `exp` is required; `exp` and `nbf` are checked with {@link JWT_CLOCK_TOLERANCE_SECONDS}
 * of tolerance; `iss` and `aud` when configured. Scopes come from the `scope` claim (space-separated,
 * RFC 8693) or a `scopes` array; namespaces from a `namespaces` claim (docs/security.md#namespaces).
 */
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwksUrl?: URL;
  /** The key set of {@link jwksUrl}, made with the first token verified against it (jose is loaded then). */
  private jwks?: JWTVerifyGetKey;

  /** @throws TypeError when `jwksUrl` is not a URL. */
  constructor(private readonly opts: JwtVerifierOptions) {
    if (opts.secret) this.secret = new TextEncoder().encode(opts.secret);
    if (opts.jwksUrl) this.jwksUrl = new URL(opts.jwksUrl);
  }

  /** True when a secret or a JWKS URL is configured, so bearer tokens can be verified at all. */
  get enabled(): boolean {
    return this.secret !== undefined || this.jwksUrl !== undefined;
  }

  /** The key set at {@link jwksUrl} (fetched by jose when a token needs it, cached, refetched for an unknown kid). */
  private keySet({ createRemoteJWKSet, errors }: Jose): JWTVerifyGetKey {
    if (this.jwks) return this.jwks;
    const remote = createRemoteJWKSet(this.jwksUrl!, { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    return (this.jwks = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // An unknown kid is the token's fault; an unreachable or broken key set is ours.
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
        throw new JwksUnavailable(String(err), { cause: err });
      }
    });
  }

  /**
   * @returns the token's subject and scopes, or `{refused}` for any token that does not verify.
   * @throws AppError SERVICE_UNAVAILABLE when the JWKS cannot be fetched; otherwise only the
   *   import error of a broken install that lacks jose (loaded with the first token).
   */
  async verify(token: string): Promise<VerifiedJwt | JwtRefusal> {
    const lib = await loadJose();
    const { decodeProtectedHeader, jwtVerify } = lib;
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { refused: 'malformed token' };
    }
    const common = { issuer: this.opts.issuer, audience: this.opts.audience, clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS, requiredClaims: ['exp'] };
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && this.secret) {
        ({ payload } = await jwtVerify(token, this.secret, { ...common, algorithms: ['HS256'] }));
      } else if ((JWKS_ALGORITHMS as readonly unknown[]).includes(alg) && this.jwksUrl) {
        ({ payload } = await jwtVerify(token, this.keySet(lib), { ...common, algorithms: [...JWKS_ALGORITHMS] }));
      } else {
        return { refused: `algorithm ${typeof alg === 'string' ? alg.slice(0, 16) : 'unknown'} is not accepted` };
      }
    } catch (err) {
      if (err instanceof JwksUnavailable) {
        throw new AppError('SERVICE_UNAVAILABLE', 'the token signing keys cannot be fetched, retry later', {}, { cause: err });
      }
      return { refused: refusalOf(err, lib.errors) };
    }
    // Without a subject every such token would be one caller, sharing one rate-limit bucket and one
    // idempotency namespace (docs/security.md#authentication-and-scopes): refused.
    if (typeof payload.sub !== 'string' || payload.sub.trim() === '') return { refused: 'the token has no sub claim' };
    const namespaces = parseNamespaces(payload.namespaces);
    return { subject: payload.sub, scopes: parseScopes(payload.scope ?? payload.scopes), ...(namespaces ? { namespaces } : {}) };
  }
}

/** A refusal's reason from jose's error codes; anything else is a malformed token. */
function refusalOf(err: unknown, errors: Jose['errors']): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token ${err.claim} claim check failed`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key matches the token';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not accepted';
  return 'malformed token';
}
