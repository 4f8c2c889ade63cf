import { Router } from 'express';

/** What /readyz reports: each check true when passing. */
export type ReadinessCheck = () => Promise<Record<string, boolean>>;

/**
 * GET /healthz: liveness, 200 whenever the process runs (seed 002).
 * GET /readyz: readiness, 200 when every check passes, else 503 with the checks and the error shape's fields.
 */
export function healthRouter(readiness: ReadinessCheck): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'healthy', timestamp: Date.now() / 1000 });
  });

  router.get('/readyz', async (req, res) => {
    const checks = await readiness();
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
  });

  return router;
}
