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
      comment: "An ESM import of node:http loads Node's bundled undici into the process (shared/net/node-http.ts): use that module's nodeHttp; type-only imports are fine.",
      severity: 'error',
      from: { pathNot: '^shared/net/node-http\\.ts$' },
      to: { path: '^(node:)?http$', dependencyTypesNot: ['type-only'] },
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
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.json'] },
  },
};
