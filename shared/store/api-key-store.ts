import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RedisConnection as Redis } from '../queue/redis.js';
import type { Keys } from './keys.js';
import { parseNamespaces, parseScopes, type Scope } from '../auth/scopes.js';

/** Prefix of every API key, so a leaked key is easy to recognise (and to grep for) as ours. */
export const API_KEY_PREFIX = 'fnq_';

/** `fnq_<id: 12 hex>_<secret: 32 random bytes, base64url (43 chars)>`. */
const API_KEY_PATTERN = /^fnq_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** How long a verified key record is kept in memory. Revocation takes effect within this bound. */
export const API_KEY_CACHE_TTL_MS = 5_000;

/** Most records the in-memory cache holds; past it the oldest entry goes. */
const API_KEY_CACHE_MAX = 10_000;

/** What is stored for one key (its secret never is: only the SHA-256 of it). */
export interface ApiKeyRecord {
  /** 12 lowercase hex characters; the public half of the key, shown by `keys list`. */
  id: string;
  /** A label for people, e.g. `ci`. */
  name: string;
  scopes: Scope[];
  /** The namespaces the key may act in (docs/security.md#namespaces); absent: every namespace. */
  namespaces?: string[];
  /** ISO 8601, UTC. */
  created_at: string;
  /** ISO 8601, UTC; unset while the key is valid. */
  revoked_at?: string;
}

/** A key split into its parts, or undefined when it is not of our form. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = API_KEY_PATTERN.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * API keys in Redis, one hash per key id under the queues' hash tag (`{prefix}:api-key:<id>`),
 * plus a set of ids for listing. The secret is 256 random bits, so a plain SHA-256 of it is
 * enough (nothing to brute-force); it is compared in constant time.
 *
 * Verified records are cached in memory for {@link API_KEY_CACHE_TTL_MS} (5 s): a key revoked by
 * another process (the CLI) is refused by every API process within 5 s; by this process at once.
 * Used by the API (verify) and `npm run keys` (create, list, revoke).
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, { record: ApiKeyRecord; hash: Buffer; until: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Creates a key with `scopes`. The returned `key` is the only time the secret exists outside the
   * caller: print it once, never store it.
   */
  async create(name: string, scopes: readonly Scope[], namespaces?: readonly string[]): Promise<{ key: string; record: ApiKeyRecord }> {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = { id, name, scopes: [...scopes], ...(namespaces ? { namespaces: [...namespaces] } : {}), created_at: new Date(this.now()).toISOString() };
    // 48 random bits: a clash is unlikely, but an existing key must never be overwritten.
    if (!(await this.redis.hsetnx(this.keys.apiKey(id), 'id', id))) throw new Error(`api key id ${id} already exists; try again`);
    // Until the hash is written the record has no secret_sha256, so it verifies as unknown.
    await this.redis
      .multi()
      .hset(this.keys.apiKey(id), { name, scopes: scopes.join(' '), ...(namespaces ? { namespaces: namespaces.join(' ') } : {}), secret_sha256: sha256(secret).toString('hex'), created_at: record.created_at })
      .sadd(this.keys.apiKeyIndex, id)
      .exec();
    return { key: `${API_KEY_PREFIX}${id}_${secret}`, record };
  }

  /** Every key, revoked ones included, oldest first. No secret or hash is returned. */
  async list(): Promise<ApiKeyRecord[]> {
    const ids = await this.redis.smembers(this.keys.apiKeyIndex);
    const records = await Promise.all(ids.map((id) => this.read(id)));
    return records
      .filter((r): r is NonNullable<typeof r> => r !== undefined)
      .map((r) => r.record)
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /**
   * Marks key `id` revoked (the record stays, for audit). Idempotent: a revoked key keeps its first `revoked_at`.
   * @returns the record, or undefined when there is no such key.
   */
  async revoke(id: string): Promise<ApiKeyRecord | undefined> {
    if (!/^[0-9a-f]{12}$/.test(id)) return undefined;
    const key = this.keys.apiKey(id);
    if (!(await this.redis.exists(key))) return undefined;
    await this.redis.hsetnx(key, 'revoked_at', new Date(this.now()).toISOString());
    this.cache.delete(id);
    return (await this.read(id))?.record;
  }

  /**
   * Checks a presented `X-API-Key`: its form, its id, the SHA-256 of its secret (constant time),
   * and that it is not revoked.
   * @returns the key's record, or undefined for any invalid key (one answer, so callers cannot tell why).
   * @throws Redis errors (the caller answers 503).
   */
  async verify(presented: string): Promise<ApiKeyRecord | undefined> {
    const parts = parseApiKey(presented);
    if (!parts) return undefined;
    const now = this.now();
    let entry = this.cache.get(parts.id);
    if (!entry || entry.until <= now) {
      this.cache.delete(parts.id);
      const read = await this.read(parts.id);
      if (!read) return undefined;
      entry = { ...read, until: now + API_KEY_CACHE_TTL_MS };
      if (this.cache.size >= API_KEY_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(parts.id, entry);
    }
    const presentedHash = sha256(parts.secret);
    if (entry.hash.length !== presentedHash.length || !timingSafeEqual(entry.hash, presentedHash)) return undefined;
    if (entry.record.revoked_at) return undefined;
    return entry.record;
  }

  private async read(id: string): Promise<{ record: ApiKeyRecord; hash: Buffer } | undefined> {
    const h = await this.redis.hgetall(this.keys.apiKey(id));
    if (!h.id || !h.secret_sha256 || !h.created_at) return undefined;
    const namespaces = parseNamespaces(h.namespaces);
    const record: ApiKeyRecord = { id: h.id, name: h.name ?? '', scopes: parseScopes(h.scopes ?? ''), ...(namespaces ? { namespaces } : {}), created_at: h.created_at };
    if (h.revoked_at) record.revoked_at = h.revoked_at;
    return { record, hash: Buffer.from(h.secret_sha256, 'hex') };
  }
}
