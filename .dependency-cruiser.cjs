/**
 * The layer rule (docs/architecture.md, "Layers"): api/ and worker/ import shared/ and never each
 * other; shared/ imports neither; no import cycles. And `node:http` only through
 * shared/net/node-http.ts. `npm run lint` (run by `npm test`) checks it.
 */
module.exports = {
  forbidden: [
    {
      name: 'api-not-to-worker',
      comment: 'The API process must not load worker code (the sandbox, cgroups, runners): move what both need to shared/.',
      severity: 'error',
      from: { path: '^api/' },
      to: { path: '^worker/' },
    },
    {
      name: 'worker-not-to-api',
      comment: 'The worker must not load API code: move what both need to shared/.',
      severity: 'error',
      from: { path: '^worker/' },
      to: { path: '^api/' },
    },
    {
      name: 'shared-not-to-api-or-worker',
      comment: 'shared/ is the bottom layer: it imports neither api/ nor worker/.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(api|worker)/' },
    },
    {
      name: 'no-esm-node-http',
      comment: "An ESM import of node:http loads Node's bundled undici into the process (shared/net/node-http.ts): use that module's nodeHttp. `import type` is fine; `import { type X }` is not (it compiles to `import {} from 'node:http'`).",
      severity: 'error',
      from: { pathNot: '^shared/net/node-http\\.ts$' },
      // preCompilationOnly false: the import is still there in the compiled JavaScript.
      to: { path: '^(node:)?http$', preCompilationOnly: false },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles (type-only imports count too).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // 'specify': type-only imports are cruised (no-circular counts them) and marked as such.
    tsPreCompilationDeps: 'specify',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.json'] },
  },
};
