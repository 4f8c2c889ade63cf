import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  DependencyListsSchema,
  DeployResultSchema,
  ProjectDependenciesSchema,
  ProjectEnvPutSchema,
  ProjectEnvSchema,
  ProjectListSchema,
  ProjectNameParamsSchema,
  ProjectSchema,
  ProjectStateSchema,
  SystemDependenciesSchema,
  SystemEnvSchema,
} from './project-schemas.js';
import { DEPLOY_CODE_MAX_BYTES, DEPLOY_REQUIREMENTS_MAX_BYTES } from './routes/projects.js';
import { ErrorSchema } from './schemas.js';

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: Array<[number, string]>) => Object.fromEntries(codes.map(([status, description]) => [status, json(ErrorSchema, description)]));

/** Registers the paths of api/routes/projects.ts (issue 3, seed 000) in the OpenAPI document. */
export function registerProjectPaths(registry: OpenAPIRegistry): void {
  const params = ProjectNameParamsSchema;
  const notFound: [number, string] = [404, 'PROJECT_NOT_FOUND'];
  const badName: [number, string] = [400, 'VALIDATION_ERROR (bad project name)'];
  const down: [number, string] = [503, 'SERVICE_UNAVAILABLE'];
  registry.registerPath({
    method: 'get',
    path: '/projects',
    summary: 'List projects with their status and function count',
    description: '`default` (the project of functions that name none) is always listed.',
    responses: { 200: json(ProjectListSchema, 'Projects, oldest first'), ...errors(down) },
  });
  registry.registerPath({
    method: 'get',
    path: '/projects/{name}',
    summary: 'Read a project: functions, env (secret-looking values redacted), dependencies, status',
    request: { params },
    responses: { 200: json(ProjectSchema, 'The project'), ...errors(badName, notFound, down) },
  });
  for (const action of ['start', 'stop'] as const) {
    registry.registerPath({
      method: 'post',
      path: `/projects/{name}/${action}`,
      summary: action === 'start' ? "Start a project: its functions accept invocations again; idempotent" : "Stop a project: its functions refuse invocations (409 CONFLICT naming the project) until started; runs already started finish; idempotent",
      request: { params },
      responses: { 200: json(ProjectStateSchema, `The project, ${action === 'start' ? 'running' : 'stopped'}`), ...errors(badName, notFound, down) },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/projects/{name}/env',
    summary: "A project's env (layered between the system env and each function's own), secret-looking values redacted",
    request: { params },
    responses: { 200: json(ProjectEnvSchema, 'The env'), ...errors(badName, notFound, down) },
  });
  registry.registerPath({
    method: 'put',
    path: '/projects/{name}/env',
    summary: "Replace (or, with merge: true, merge onto) a project's env; creates the project when new",
    description: 'Names match `^[A-Za-z_][A-Za-z0-9_]*$`; values are strings of at most 4096 bytes; at most 200 variables. Applies to invocations from then on.',
    request: { params, body: { content: { 'application/json': { schema: ProjectEnvPutSchema } } } },
    responses: { 200: json(ProjectEnvSchema, 'The new env, redacted'), ...errors([400, 'VALIDATION_ERROR (field env.<NAME>)'], [413, 'PAYLOAD_TOO_LARGE'], down) },
  });
  registry.registerPath({
    method: 'get',
    path: '/projects/{name}/dependencies',
    summary: "A project's dependency lists per runtime",
    request: { params },
    responses: { 200: json(ProjectDependenciesSchema, 'The lists'), ...errors(badName, notFound, down) },
  });
  registry.registerPath({
    method: 'put',
    path: '/projects/{name}/dependencies',
    summary: "Replace a project's dependency lists; creates the project when new",
    description:
      'Each spec is validated as the installer would (npm names and versions, requirement lines; no options, URLs or git; local paths only under FUNCTION_LOCAL_PACKAGES_DIR). ' +
      "The list of a function's runtime is installed before its own dependencies for functions deployed into the project afterwards; existing versions keep theirs.",
    request: { params, body: { content: { 'application/json': { schema: DependencyListsSchema } } } },
    responses: { 200: json(ProjectDependenciesSchema, 'The new lists'), ...errors([400, 'VALIDATION_ERROR (field python.<i> or nodejs.<i>)'], down) },
  });
  registry.registerPath({
    method: 'post',
    path: '/projects/{name}/functions',
    summary: 'Deploy a function into a project from a code file (multipart/form-data)',
    description:
      `Parts: the code file (field \`file\` or \`code\`, at most ${DEPLOY_CODE_MAX_BYTES} bytes), an optional \`requirements\` file (requirements.txt lines, npm specs one per line, or a package.json; at most ${DEPLOY_REQUIREMENTS_MAX_BYTES} bytes), ` +
      'and fields `name` (or `function_name`), `runtime` (else from the file extension: .py → python; .js, .mjs, .cjs → nodejs), `execution_type` (default sync), `handler`, `timeout_ms`, `memory_mb`, ' +
      'and `env` (a JSON object, or repeated KEY=VALUE fields). The project\'s dependencies of that runtime come first, then the requirements. Validated and created as POST /functions does; ' +
      'with dependencies the function is `building` until a worker installed them (then `active`, or `failed` with build_log).',
    request: {
      params,
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              file: z.string().openapi({ type: 'string', format: 'binary' }),
              requirements: z.string().optional().openapi({ type: 'string', format: 'binary' }),
              name: z.string(),
              runtime: z.enum(['python', 'nodejs']).optional(),
              execution_type: z.enum(['sync', 'async']).optional(),
              env: z.string().optional().openapi({ example: '{"API_BASE":"https://api.example.com"}' }),
            }),
          },
        },
      },
    },
    responses: {
      201: { ...json(DeployResultSchema, 'Created'), headers: { Location: { description: '/functions/{function_id}', schema: { type: 'string' } } } },
      ...errors([400, 'VALIDATION_ERROR (the field, or the compiler message for code)'], [409, 'CONFLICT (the name is taken)'], [413, 'PAYLOAD_TOO_LARGE'], [415, 'UNSUPPORTED_MEDIA_TYPE (not multipart/form-data)'], down),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/env/system',
    summary: 'The system env every function gets first (FUNCTION_SYSTEM_ENV), secret-looking values redacted; never the service environment',
    responses: { 200: json(SystemEnvSchema, 'The system env') },
  });
  registry.registerPath({
    method: 'get',
    path: '/dependencies/system',
    summary: 'What the runtimes provide to every function: versions of Node, npm, Python and pip, Node builtin modules and pip list',
    description: 'Measured on this API host and cached 10 minutes.',
    responses: { 200: json(SystemDependenciesSchema, 'Runtimes and packages'), ...errors(down) },
  });
}
