/**
 * Scopes, from least to most: `read` (query resources), `write` (create, update, delete),
 * `admin` (system configuration and monitoring). The hetuflow scheduler API reference's read / write / manage permissions.
 * Hierarchical: admin ⊇ write ⊇ read.
 */
export const SCOPES = ['read', 'write', 'admin'] as const;

/** One of {@link SCOPES}. */
export type Scope = (typeof SCOPES)[number];

/** True when `value` names a scope. */
export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/**
 * The known scopes in a space-separated string (OAuth's `scope` claim) or an array (a `scopes`
 * claim), in {@link SCOPES} order, without duplicates. Unknown names are dropped, never an error.
 */
export function parseScopes(value: unknown): Scope[] {
  const names = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) ? value : [];
  return SCOPES.filter((s) => names.includes(s));
}

import { NAMESPACE_PATTERN } from '../schemas/namespace.js';

/**
 * The namespaces a credential is limited to (docs/security.md#namespaces): a space- or
 * comma-separated string or an array of namespace ids (letters, digits, `_ . -`, at most 63
 * characters each); invalid entries are dropped. `undefined` (no limit) when `value` is absent.
 * A credential whose list is present but holds no valid namespace is limited to none.
 */
export function parseNamespaces(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const names = typeof value === 'string' ? value.split(/[\s,]+/) : Array.isArray(value) ? value : [];
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && NAMESPACE_PATTERN.test(n)))];
}

/** True when a credential limited to `allowed` (undefined: no limit) may act in `namespace`. */
export function namespaceAllowed(allowed: readonly string[] | undefined, namespace: string): boolean {
  return allowed === undefined || allowed.includes(namespace);
}

/** True when `granted` covers `required` (admin ⊇ write ⊇ read). */
export function hasScope(granted: readonly Scope[], required: Scope): boolean {
  const need = SCOPES.indexOf(required);
  return granted.some((s) => SCOPES.indexOf(s) >= need);
}
