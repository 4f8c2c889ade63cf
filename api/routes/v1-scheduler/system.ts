import { GatewayStatsSchema, ResourcesSchema, SystemHealthSchema } from '../../schemas/v1-scheduler.js';
import { json } from '../responses.js';
import { route, type Route } from '../route.js';
import { AUTH_ERRORS, hetuErrors } from './error-shape.js';
import { hetu } from './common.js';

const tag = 'v1 system';

/** Health, gateway stats and resource figures (docs/compat-hetuflow.md#system). Monitoring needs the admin scope, as the reference's manage permission. */
export const V1_SYSTEM_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/api/v1/system/health',
    operationId: 'v1SystemHealth',
    access: 'admin',
    tag,
    summary: 'Health: version, uptime, Redis (in place of a database), agents',
    description: '200 `healthy` while Redis answers; 503 `unhealthy` (same body, `database.status: disconnected`) when it does not. `uptime` is this API process\'s, in seconds.',
    responses: { 200: json(SystemHealthSchema, 'Healthy'), 503: json(SystemHealthSchema, 'Redis does not answer'), ...AUTH_ERRORS },
    handler: async ({ res, services }) => {
      const { ok, body } = await hetu(services).health();
      if (!ok) res.setHeader('Retry-After', '1');
      res.status(ok ? 200 : 503).json(body);
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/gateway/stats',
    operationId: 'v1GatewayStats',
    access: 'admin',
    tag,
    summary: 'Connection stats, mapped onto the workers',
    description:
      'fnqueue has no agent gateway: workers pull from Redis. connections: workers in the registry (active: online); messages received: runs that ended on a worker, deployment-wide (the run counters); messages sent: those plus the runs in progress.',
    responses: { 200: json(GatewayStatsSchema, 'The stats'), ...hetuErrors([503, 'SERVICE_UNAVAILABLE: Redis does not answer']), ...AUTH_ERRORS },
    handler: async ({ res, services }) => {
      res.json(await hetu(services).gatewayStats());
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/metrics/resources',
    operationId: 'v1MetricsResources',
    access: 'admin',
    tag,
    summary: "The deployment's resource figures (the container management API reference's envelope)",
    description:
      "Over the online workers, from their last heartbeats: cpu_usage the average percent of one core; memory_usage the summed resident memory of workers and runners in GiB (memory_usage_bytes exact); disk_usage the average Use% of their distinct work dir filesystems; network the summed byte counters of their distinct network namespaces. Per worker: GET /workers/{worker_id}/resources.",
    responses: { 200: json(ResourcesSchema, 'The figures'), ...hetuErrors([503, 'SERVICE_UNAVAILABLE: Redis does not answer']), ...AUTH_ERRORS },
    handler: async ({ res, services }) => {
      res.json(await hetu(services).resources());
    },
  }),
];
