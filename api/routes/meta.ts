import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import { z } from 'zod';
import { AlgorithmListSchema } from '../schemas/jobs.js';
import { json } from './responses.js';
import { route, type Route } from './route.js';

const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const REDOC_BUNDLE = require.resolve('redoc/bundles/redoc.standalone.js');

/** A small local stand-in for the logo ReDoc's menu loads from Redocly's CDN. */
const REDOC_LOGO = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="7" fill="#888"/></svg>')}`;

/**
 * The ReDoc bundle with its one outside request (the menu's logo, fetched from cdn.redoc.ly)
 * replaced by an inline image, so the page works with no outside request. Read once, on first use.
 */
let redocBundle: string | undefined;
const redocScript = () => (redocBundle ??= readFileSync(REDOC_BUNDLE, 'utf8').replaceAll('https://cdn.redoc.ly/redoc/logo-mini.svg', REDOC_LOGO));

const SWAGGER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fnqueue API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

// The Authorize button comes from the document's securitySchemes (X-API-Key, Bearer JWT).
// persistAuthorization stays false: a key typed in is kept for the page only, never in localStorage.
// validatorUrl null: no badge fetched from validator.swagger.io (the document is linted in the tests).
const SWAGGER_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', persistAuthorization: false, validatorUrl: null });`;

const REDOC_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fnqueue API</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script></body></html>`;

/** Each registry's description, made once: it converts every params schema to JSON Schema. */
const descriptions = new WeakMap<object, unknown>();
const describe = (registry: { describe(): unknown }) => {
  if (!descriptions.has(registry)) descriptions.set(registry, registry.describe());
  return descriptions.get(registry);
};

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

/**
 * GET /algorithms and /metrics, and the documentation: /openapi.json, /docs (Swagger UI) and
 * /redoc (ReDoc), the UIs served from their npm packages with no outside request.
 */
export const META_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/algorithms',
    operationId: 'listAlgorithms',
    access: 'read',
    tag: 'jobs',
    summary: 'List algorithms with the JSON Schema of their params',
    responses: { 200: json(AlgorithmListSchema, 'Algorithms') },
    handler: ({ res, services }) => {
      res.json({ algorithms: describe(services.registry) });
    },
  }),
  route({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    access: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics of the whole deployment',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
    handler: async ({ res, services }) => {
      const { contentType, body } = await services.metricsText();
      res.type(contentType).send(body);
    },
  }),
  route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    access: 'open',
    tag: 'docs',
    undocumented: true,
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI document' } },
    handler: ({ res, services }) => {
      res.json(services.openapi());
    },
  }),
  route({
    method: 'get',
    path: '/docs',
    operationId: 'getSwaggerUi',
    access: 'open',
    tag: 'docs',
    undocumented: true,
    summary: 'Swagger UI',
    responses: { 200: html('The page') },
    handler: ({ res }) => {
      res.type('html').send(SWAGGER_PAGE);
    },
  }),
  route({
    method: 'get',
    path: '/redoc',
    operationId: 'getRedoc',
    access: 'open',
    tag: 'docs',
    undocumented: true,
    summary: 'ReDoc',
    responses: { 200: html('The page') },
    handler: ({ res }) => {
      res.type('html').send(REDOC_PAGE);
    },
  }),
];

/**
 * The pages' own files, the one special case of the documentation: everything under `/docs/` and
 * `/redoc/` is open to GET (api/routes/index.ts), and a path or method not served here answers 404.
 */
export const DOC_ASSET_PREFIXES = ['/docs/', '/redoc/'] as const;

/** Serves /docs/init.js, /docs/assets/** (swagger-ui-dist) and /redoc/redoc.standalone.js. */
export function docAssetsRouter(): Router {
  const router = Router();
  router.get('/docs/init.js', (_req, res) => {
    res.type('js').send(SWAGGER_INIT);
  });
  // GET and HEAD only: serve-static answers other methods itself with an empty 405, outside the error shape.
  const assets = express.static(SWAGGER_UI_DIR, { index: false, fallthrough: false });
  router.use('/docs/assets', (req, res, next) => (req.method === 'GET' || req.method === 'HEAD' ? assets(req, res, next) : next()));
  router.get('/redoc/redoc.standalone.js', (_req, res) => {
    res.type('js').send(redocScript());
  });
  return router;
}
