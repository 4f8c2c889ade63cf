import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import type { AlgorithmRegistry } from '../../shared/algorithms/registry.js';

const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const REDOC_BUNDLE = require.resolve('redoc/bundles/redoc.standalone.js');

const SWAGGER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fnqueue API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

// The Authorize button comes from the document's securitySchemes (X-API-Key, Bearer JWT).
// persistAuthorization stays false: a key typed in is kept for the page only, never in localStorage.
const SWAGGER_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', persistAuthorization: false });`;

const REDOC_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fnqueue API</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script></body></html>`;

/**
 * GET /algorithms, /metrics, /openapi.json, /docs (Swagger UI) and /redoc (ReDoc), the UIs
 * served from their npm packages, no CDN.
 */
export function metaRouter(opts: { registry: AlgorithmRegistry; openapi: object; metricsText: () => Promise<{ contentType: string; body: string }> }): Router {
  const router = Router();
  const algorithms = opts.registry.describe();

  router.get('/algorithms', (_req, res) => {
    res.json({ algorithms });
  });
  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await opts.metricsText();
    res.type(contentType).send(body);
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(opts.openapi);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(SWAGGER_PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('js').send(SWAGGER_INIT);
  });
  // GET and HEAD only: serve-static answers other methods itself with an empty 405, outside the error shape.
  const assets = express.static(SWAGGER_UI_DIR, { index: false, fallthrough: false });
  router.use('/docs/assets', (req, res, next) => (req.method === 'GET' || req.method === 'HEAD' ? assets(req, res, next) : next()));
  router.get('/redoc', (_req, res) => {
    res.type('html').send(REDOC_PAGE);
  });
  router.get('/redoc/redoc.standalone.js', (_req, res) => {
    res.sendFile(REDOC_BUNDLE);
  });

  return router;
}
