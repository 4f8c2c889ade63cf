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

/** True when `granted` covers `required` (admin ⊇ write ⊇ read). */
export function hasScope(granted: readonly Scope[], required: Scope): boolean {
  const need = SCOPES.indexOf(required);
  return granted.some((s) => SCOPES.indexOf(s) >= need);
}
