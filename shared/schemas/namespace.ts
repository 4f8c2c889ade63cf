/**
 * Namespaces (docs/security.md#namespaces): job definitions, schedules, tasks and agents of the
 * hetuflow scheduler API carry one, and a credential may be limited to some.
 */

/** The namespace of whatever names none. */
export const DEFAULT_NAMESPACE = 'default';

/** A namespace id: a letter or digit, then letters, digits, `_ . -`; 1 to 63 characters (as label values). */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The namespace rule in words, for error messages. */
export const NAMESPACE_RULE = 'must be 1 to 63 letters, digits, _ . or -, starting with a letter or digit';
