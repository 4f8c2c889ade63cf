import { createRequire } from 'node:module';

const requireModule = createRequire(import.meta.url);
let loaded: typeof import('undici') | undefined;

/**
 * The `undici` package (webhook deliveries' HTTP client), loaded on the first delivery rather than
 * when the worker starts: with it comes Node's own bundled undici (the package reads
 * `globalThis.Headers`), 5.7 MB of live heap and 33 MB of resident memory in a bare `node`, which a
 * worker whose jobs ask for no webhook never needs. `require`, not `import()`, so that the callers
 * stay synchronous; the package is CommonJS.
 */
export function undici(): typeof import('undici') {
  return (loaded ??= requireModule('undici') as typeof import('undici'));
}
