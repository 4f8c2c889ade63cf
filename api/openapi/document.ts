import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { DOCUMENTED_OPERATIONS } from '../routes/index.js';
import { PROJECT_FAAS_TAG } from '../routes/project-faas.js';
import type { MountedOperation } from '../routes/route.js';
import '../schemas/jobs.js'; // extends zod with .openapi()
import { addSecurity } from './security.js';
import { HETUFLOW_TAGS } from '../routes/v1-scheduler/index.js';

/** The tags operations are grouped under, in the order the UIs list them. */
const TAGS = [
  { name: 'jobs', description: 'Algorithm and command jobs: submit, invoke, read, list, cancel, follow, depend (docs/api.md, docs/commands.md)' },
  { name: 'functions', description: 'Deployed functions and their invocations (docs/functions.md)' },
  { name: 'projects', description: 'Projects, their env and dependencies (docs/functions.md)' },
  { name: 'schedules', description: 'Cron and interval schedules (docs/api.md)' },
  { name: 'workers', description: 'Worker processes and their resources (docs/operations.md)' },
  { name: 'operations', description: 'Probes, status and metrics (docs/operations.md)' },
  { name: PROJECT_FAAS_TAG, description: 'The project-FaaS API: projects and functions by name, `{status, ...}` answers and errors (docs/compat-project-faas.md)' },
  ...HETUFLOW_TAGS,
];

/** One declaration as the generator's route config. */
function operationOf(route: MountedOperation): RouteConfig {
  const { params, headers, query, body } = route.request ?? {};
  return {
    method: route.method,
    path: route.path,
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: route.description,
    request: {
      params,
      headers,
      query: query?.doc,
      body: body && { description: body.description, content: { [body.contentType ?? 'application/json']: { schema: body.schema } } },
    },
    responses: route.responses,
  };
}

/**
 * The OpenAPI 3.1 document (nullable fields as `type: [..., 'null']`), generated from the route declarations (api/routes/) and the dashboard's page, with the same zod
 * schemas that validate the requests, and each operation's security from its `access`.
 * @param version the service version (package.json).
 */
export function buildOpenApiDocument(version: string): object {
  const registry = new OpenAPIRegistry();
  for (const operation of DOCUMENTED_OPERATIONS) registry.registerPath(operationOf(operation));
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'fnqueue',
      version,
      description: 'Queue-backed job and function-execution service. Errors: `{error, message, details, request_id}` (docs/api.md#errors).',
    },
    servers: [{ url: '/' }],
    tags: TAGS,
  });
  return addSecurity(doc, DOCUMENTED_OPERATIONS);
}
