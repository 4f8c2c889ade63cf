import { HealthSchema, ProjectHealthSchema, ReadySchema } from '../schemas/jobs.js';
import { json } from './responses.js';
import { route, type Route } from './route.js';

export type { ReadinessCheck } from './route.js';

/**
 * The probes (docs/operations.md#probes), open even when AUTH_ENABLED=true:
 * GET /healthz, liveness, 200 whenever the process runs (the FunctionalScaffold API reference);
 * GET /health, the same liveness with the version (the project FaaS API reference's path);
 * GET /readyz, readiness, 200 when every check passes, else 503 with the checks and the error shape's fields.
 */
export const HEALTH_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/healthz',
    operationId: 'getLiveness',
    access: 'open',
    tag: 'operations',
    summary: 'Liveness probe',
    responses: { 200: json(HealthSchema, 'Alive') },
    handler: ({ res }) => {
      res.json({ status: 'healthy', timestamp: Date.now() / 1000 });
    },
  }),
  route({
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    access: 'open',
    tag: 'operations',
    summary: 'Liveness with the version (the project FaaS API reference\'s health path)',
    description: 'Answers as GET /healthz does, with this process\'s version and the time in ISO 8601.',
    responses: { 200: json(ProjectHealthSchema, 'Alive') },
    handler: ({ res, services }) => {
      res.json({ status: 'healthy', version: services.version, timestamp: new Date().toISOString() });
    },
  }),
  route({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    access: 'open',
    tag: 'operations',
    summary: 'Readiness probe',
    responses: { 200: json(ReadySchema, 'Ready'), 503: json(ReadySchema, 'Not ready: the failing checks are false') },
    handler: async ({ req, res, services }) => {
      const checks = await services.readiness();
      const failing = Object.keys(checks).filter((k) => !checks[k]);
      const timestamp = Date.now() / 1000;
      if (failing.length === 0) {
        res.json({ status: 'ready', timestamp, checks });
        return;
      }
      res.status(503).json({
        status: 'not_ready',
        timestamp,
        checks,
        error: 'SERVICE_UNAVAILABLE',
        message: `not ready: ${failing.join(', ')} failing`,
        details: { failing_checks: failing },
        request_id: req.requestId,
      });
    },
  }),
];
