import { createRequire } from 'node:module';

/**
 * Node's `node:http` module, taken with `require` rather than an ESM `import`.
 *
 * An ESM import of a built-in module reads every one of its exports to build the module's
 * namespace, and `node:http`'s `WebSocket`, `CloseEvent` and `MessageEvent` are lazy getters that
 * load Node's bundled undici (nodejs/node#59686, "ESM import of `http` is slower compared to
 * CommonJS"). With Node 24 that is 2.4 MB of live heap and 17 MB of resident memory in a bare
 * `node`, and 1.5 MB of live heap in the API (after a full collection, at rest; much of the rest it
 * shares with what the API loads anyway), for code the API runs only when it traces (the OTLP
 * exporter) or fetches a remote JWKS (jose uses `fetch`). (A worker loads it with the `undici`
 * package it sends webhooks with, on its first delivery: worker/webhooks/undici.ts.) `require`
 * returns the module object, whose getters stay unread.
 */
export const nodeHttp = createRequire(import.meta.url)('node:http') as typeof import('node:http');
