import type { Route } from '../route.js';
import { V1_AGENT_ROUTES } from './agents.js';
import { V1_JOB_ROUTES } from './jobs.js';
import { V1_SCHEDULE_ROUTES } from './schedules.js';
import { V1_SYSTEM_ROUTES } from './system.js';
import { V1_TASK_ROUTES } from './tasks.js';

export { HETUFLOW_ERROR_SHAPE } from './error-shape.js';
export { HETUFLOW_TAGS } from './common.js';

/** The hetuflow-compatible scheduler API under /api/v1 (docs/compat-hetuflow.md), each route declared once in its file here. */
export const V1_SCHEDULER_ROUTES: readonly Route[] = [...V1_JOB_ROUTES, ...V1_SCHEDULE_ROUTES, ...V1_TASK_ROUTES, ...V1_AGENT_ROUTES, ...V1_SYSTEM_ROUTES];
