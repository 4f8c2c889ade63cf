/**
 * Limits of a function's definition, each defined once: the API's schemas (api/schemas/functions.ts,
 * api/schemas/projects.ts) refuse past them at deploy, and the worker's installer and pool
 * (worker/functions/) hold to the same numbers. Rules and reasons: docs/functions.md.
 */
import type { FunctionRuntime } from './runtimes.js';

/** Most dependencies one function version (or one project runtime list) may name. */
export const MAX_DEPENDENCIES = 100;

/** Longest single dependency spec (an npm spec or a requirements line), in characters. */
export const MAX_DEPENDENCY_SPEC_CHARS = 500;

/** Longest env variable name, in characters (function and project env alike). */
export const MAX_ENV_NAME_CHARS = 128;

/**
 * An env variable name (POSIX shell rule): a letter or `_`, then letters, digits or `_`, at most
 * {@link MAX_ENV_NAME_CHARS} characters.
 */
export const ENV_NAME_PATTERN = new RegExp(`^[A-Za-z_][A-Za-z0-9_]{0,${MAX_ENV_NAME_CHARS - 1}}$`);

/** The env-name rule in words, for error messages: the pattern and the length cap together. */
export const ENV_NAME_RULE = `must match ^[A-Za-z_][A-Za-z0-9_]*$ and be at most ${MAX_ENV_NAME_CHARS} characters`;

/** Most env variables of one function (its own env, over the project's and the system's). */
export const MAX_FUNCTION_ENV_VARS = 100;

/** Longest value in a function's own env, in characters (UTF-16 code units). */
export const MAX_FUNCTION_ENV_VALUE_CHARS = 32 * 1024;

/** Most env variables of one project. */
export const MAX_PROJECT_ENV_VARS = 200;

/** Longest value in a project's env, in bytes of UTF-8. */
export const MAX_PROJECT_ENV_VALUE_BYTES = 4096;

/**
 * Smallest memory_mb a host reliably starts in, in MB, for the API to refuse lower values at deploy.
 * Measured under these caps (bwrap, RLIMIT_DATA = memory_mb for Node, whose thread stacks and heap
 * reservations count against it; RLIMIT_AS for Python) with an echo handler: the Node host aborts
 * (SIGABRT, no message) at 72 MB and below and starts at 80 MB, so 96 leaves room for a small
 * function's own modules; Python starts at 24 MB.
 */
export const MIN_MEMORY_MB: Readonly<Record<FunctionRuntime, number>> = Object.freeze({ nodejs: 96, python: 32 });
