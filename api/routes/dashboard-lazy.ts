/** The API's dashboard, loaded on its first request (Bull Board is in dashboard-board.ts). */
import { createRequire } from 'node:module';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { DASHBOARD_PATH, type Dashboard, type DashboardOptions } from './dashboard.js';

// `require` of the ES module (Node ≥ 22.12): synchronous, and the same module instances as the
// static imports (fnqueue's AppError stays one class), whether the API runs compiled or under tsx.
const require = createRequire(import.meta.url);

/** A path under the dashboard, as Express matches a mount path: any case, up to a segment's end. */
const UNDER_DASHBOARD = new RegExp(`^${DASHBOARD_PATH}(?:\\/|$)`, 'i');

/**
 * The API's dashboard: the router of dashboard-board.ts `dashboardRouter` (Bull Board, read-only
 * and full), built on the first request under {@link DASHBOARD_PATH}. Bull Board and what it loads
 * (its UI server, lodash, valibot, ejs: about 7 MB of heap) stay out of an API process whose
 * dashboard nobody opens; the first request loads them once (a few hundred ms).
 */
export function lazyDashboard(opts: DashboardOptions): Pick<Dashboard, 'router'> {
  let board: Router | undefined;
  const router = Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!UNDER_DASHBOARD.test(req.path)) {
      next();
      return;
    }
    board ??= (require('./dashboard-board.js') as typeof import('./dashboard-board.js')).dashboardRouter(opts).router;
    board(req, res, next);
  });
  return { router };
}
