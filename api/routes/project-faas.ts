import type { Request, Response } from 'express';
import { z } from 'zod';
import { AppError, isErrorCode } from '../../shared/errors/index.js';
import { ENV_NAME_PATTERN, ENV_NAME_RULE } from '../../shared/functions/limits.js';
import type { StoredJob } from '../../shared/schemas/job-record.js';
import { renderProjectFaasError, type ProjectFaasCode } from '../middleware/project-faas-errors.js';
import {
  FaasDependencyListSchema,
  FaasDeployBodySchema,
  FaasDeploySchema,
  FaasEnvSchema,
  FaasErrorSchema,
  FaasFunctionListSchema,
  FaasFunctionParamsSchema,
  FaasFunctionSchema,
  FaasInvokeAcceptedSchema,
  FaasInvokeSchema,
  FaasMessageSchema,
  FaasProjectListSchema,
  FaasProjectParamsSchema,
  FaasProjectSchema,
  FaasProjectStateSchema,
} from '../schemas/project-faas.js';
import { formatExecutionTime, isoUtc, ProjectFaasService, type FaasDeployInput } from '../services/project-faas-service.js';
import { DEPLOY_CODE_MAX_BYTES, DEPLOY_FIELD_MAX_BYTES, DEPLOY_REQUIREMENTS_MAX_BYTES, parseRequirements, readMultipart, type MultipartFileField } from './projects.js';
import { envNamesOnly } from './redaction.js';
import { json } from './responses.js';
import { route, type Route, type RouteResponses, type RouteServices } from './route.js';

/** The OpenAPI tag of these routes. */
export const PROJECT_FAAS_TAG = 'project-FaaS API (/api/v1)';

/** The adapter over the native services, or 503 when the app was built without them (unit tests). */
function svc(services: RouteServices): ProjectFaasService {
  if (!services.functions || !services.projects) throw new AppError('SERVICE_UNAVAILABLE', 'functions and projects are not available');
  return new ProjectFaasService(services.functions, services.projects, services.invokeTimeoutMs);
}

const projectOf = (req: Request) => String(req.params.project_name);
const functionOf = (req: Request) => String(req.params.function_name);

/** The example body of an error answer in this API's shape (a 400's message starts with its field, as fnqueue's validation messages do). */
function faasErrorExample(status: number, code: ProjectFaasCode, field: string | null, reason: string): z.infer<typeof FaasErrorSchema> {
  const named = field !== null && status === 400 && !reason.startsWith(field);
  return { status: 'error', code, message: named ? `${field} ${reason}` : reason, details: { field, reason } };
}

/** The error answers of these routes: `[status, code, field, reason]`. */
function faasErrors(...answers: Array<[number, ProjectFaasCode, string | null, string]>): RouteResponses {
  return Object.fromEntries(
    answers.map(([status, code, field, reason]) => [status, { description: code, content: { 'application/json': { schema: FaasErrorSchema, example: faasErrorExample(status, code, field, reason) } } }]),
  );
}

const badProject: [number, ProjectFaasCode, string, string] = [400, 'INVALID_PARAMETERS', 'project_name', 'must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit'];
const noProject: [number, ProjectFaasCode, string, string] = [404, 'PROJECT_NOT_FOUND', 'project_name', "no project named 'project1'"];
const noFunction: [number, ProjectFaasCode, string, string] = [404, 'FUNCTION_NOT_FOUND', 'function_name', "no function named 'func1' in project 'project1'"];
const down: [number, ProjectFaasCode, null, string] = [503, 'INTERNAL_ERROR', null, 'the job service is temporarily unavailable, retry later (Retry-After)'];
/** 401 and 403 in this API's shape (api/openapi/security.ts keeps a route's own). */
const auth = (scope: string): Array<[number, ProjectFaasCode, string, string]> => [
  [401, 'AUTHENTICATION_ERROR', 'authorization', 'authentication required: send X-API-Key or Authorization: Bearer <JWT>'],
  [403, 'AUTHORIZATION_ERROR', 'scope', `this route needs the ${scope} scope`],
];

/** File fields of the deploy: the code, requirements and env_vars may each be a file or a text field. */
const DEPLOY_FILES: Readonly<Record<string, MultipartFileField>> = {
  code: { part: 'code', maxBytes: DEPLOY_CODE_MAX_BYTES },
  requirements: { part: 'requirements', maxBytes: DEPLOY_REQUIREMENTS_MAX_BYTES },
  env_vars: { part: 'env_vars', maxBytes: DEPLOY_FIELD_MAX_BYTES },
};
/** Text fields of the deploy: the reference's, then fnqueue's extensions. */
const DEPLOY_FIELDS = new Set(['function_name', 'code', 'requirements', 'env_vars', 'runtime', 'handler', 'execution_type', 'timeout_ms', 'memory_mb']);

/** The env_vars of a deploy: a JSON object (strings, numbers and booleans as their text), or KEY=VALUE lines as a .env file holds them. @throws AppError VALIDATION_ERROR (field `env_vars…`) */
export function parseEnvVars(text: string): Record<string, string> {
  const trimmed = text.trim();
  const env: Record<string, string> = {};
  if (trimmed.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch (err) {
      throw new AppError('VALIDATION_ERROR', `env_vars is not valid JSON: ${(err as Error).message}`, { field: 'env_vars' });
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new AppError('VALIDATION_ERROR', 'env_vars must be a JSON object or KEY=VALUE lines', { field: 'env_vars' });
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new AppError('VALIDATION_ERROR', `env_vars.${k.slice(0, 100)} must be a string, number or boolean`, { field: `env_vars.${k.slice(0, 100)}` });
      env[k] = String(v);
    }
  } else {
    for (const raw of trimmed.split(/\r?\n/)) {
      const line = raw.trim().replace(/^export\s+/, '');
      if (!line || line.startsWith('#')) continue;
      const eq = line.indexOf('=');
      if (eq <= 0) throw new AppError('VALIDATION_ERROR', 'env_vars must be a JSON object or KEY=VALUE lines', { field: 'env_vars' });
      const value = line.slice(eq + 1).trim();
      env[line.slice(0, eq).trim()] = /^(["']).*\1$/.test(value) && value.length >= 2 ? value.slice(1, -1) : value;
    }
  }
  for (const k of Object.keys(env)) {
    if (!ENV_NAME_PATTERN.test(k)) throw new AppError('VALIDATION_ERROR', `env_vars name ${JSON.stringify(k.slice(0, 100))} ${ENV_NAME_RULE}`, { field: `env_vars.${k.slice(0, 100)}` });
  }
  return env;
}

/** Reads the multipart deploy into the adapter's input. @throws AppError VALIDATION_ERROR naming the field, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE */
async function readDeploy(req: Request): Promise<FaasDeployInput> {
  const parts = await readMultipart(req, DEPLOY_FILES, 'fields: function_name, code, requirements, env_vars');
  const unknown = [...parts.fields.keys()].find((k) => !DEPLOY_FIELDS.has(k));
  if (unknown !== undefined) throw new AppError('VALIDATION_ERROR', `unknown field '${unknown.slice(0, 100)}' (known: ${[...DEPLOY_FIELDS].join(', ')})`, { field: unknown.slice(0, 100) });
  /** A field given once, as a file or as text. */
  const one = (name: string): { text: string; filename: string } | undefined => {
    const texts = parts.fields.get(name) ?? [];
    const file = parts.files.get(name);
    if (texts.length + (file ? 1 : 0) > 1) throw new AppError('VALIDATION_ERROR', `${name} is given more than once`, { field: name });
    return file ?? (texts.length ? { text: texts[0]!, filename: '' } : undefined);
  };
  const functionName = one('function_name')?.text;
  if (functionName === undefined || functionName === '') throw new AppError('VALIDATION_ERROR', 'function_name is required', { field: 'function_name' });
  const code = one('code');
  if (!code || code.text.trim() === '') throw new AppError('VALIDATION_ERROR', 'code is required: the code file (or the code as text)', { field: 'code' });
  const requirements = one('requirements');
  const envVars = one('env_vars');
  const input: FaasDeployInput = { functionName, code: code.text, codeFilename: code.filename };
  if (requirements) input.requirements = (runtime) => parseRequirements(runtime, requirements.text);
  if (envVars) input.env = parseEnvVars(envVars.text);
  const text = (name: string) => one(name)?.text;
  const [runtime, handler, executionType, timeoutMs, memoryMb] = ['runtime', 'handler', 'execution_type', 'timeout_ms', 'memory_mb'].map(text);
  if (runtime !== undefined) input.runtime = runtime;
  if (handler !== undefined) input.handler = handler;
  if (executionType !== undefined) input.executionType = executionType;
  if (timeoutMs !== undefined) input.timeoutMs = timeoutMs;
  if (memoryMb !== undefined) input.memoryMb = memoryMb;
  return input;
}

/** The answer of a finished run: its result, or EXECUTION_ERROR (or the code its failure maps to) with the run's message. */
function answerRun(res: Response, job: StoredJob): void {
  if (job.status === 'completed') {
    res.json({
      status: 'success',
      result: job.result,
      execution_time: formatExecutionTime(job.metadata?.elapsed_time ?? 0),
      timestamp: isoUtc(job.completed_at) ?? new Date().toISOString(),
      job_id: job.job_id,
    });
    return;
  }
  const code = isErrorCode(job.error_code) ? job.error_code : 'ALGORITHM_ERROR';
  const { status, body } = renderProjectFaasError(new AppError(code, job.error ?? `the run ended ${job.status}`, { job_id: job.job_id }));
  res.status(status).json(body);
}

/**
 * The project-FaaS API at `/api/v1` (docs/compat-project-faas.md): projects, functions addressed by
 * project and name, env and dependencies, over the native services. Answers are
 * `{"status": "success", ...}`; errors `{"status": "error", code, message, details: {field, reason}}`
 * (api/middleware/project-faas-errors.ts). Every success is 200 (an async function's accepted run 202).
 */
export const PROJECT_FAAS_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/api/v1/projects',
    operationId: 'faasListProjects',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: 'List projects with their function names',
    description: 'Every project (`default` included), oldest first. Native: GET /projects.',
    responses: { 200: json(FaasProjectListSchema, 'The projects'), ...faasErrors(...auth('read'), down) },
    handler: async ({ res, services }) => {
      res.json({ status: 'success', data: await svc(services).listProjects() });
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/projects/{project_name}',
    operationId: 'faasGetProject',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: 'A project: its functions, env (names; values are write-only) and Python dependencies',
    description: 'Native: GET /projects/{name}.',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasProjectSchema, 'The project'), ...faasErrors(badProject, ...auth('read'), noProject, down) },
    handler: async ({ req, res, services }) => {
      const data = await svc(services).getProject(projectOf(req));
      res.json({ status: 'success', data: { ...data, env: envNamesOnly(data.env) } });
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/projects/{project_name}/start',
    operationId: 'faasStartProject',
    access: 'write',
    tag: PROJECT_FAAS_TAG,
    summary: 'Start a project: its functions accept invocations again; idempotent',
    description: 'Native: POST /projects/{name}/start.',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasProjectStateSchema, 'The project, running'), ...faasErrors(badProject, ...auth('write'), noProject, down) },
    handler: async ({ req, res, services }) => {
      res.json(await svc(services).setProjectStatus(projectOf(req), 'running'));
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/projects/{project_name}/stop',
    operationId: 'faasStopProject',
    access: 'write',
    tag: PROJECT_FAAS_TAG,
    summary: 'Stop a project: its functions refuse invocations (409 EXECUTION_ERROR) until started; runs already started finish; idempotent',
    description: 'Native: POST /projects/{name}/stop.',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasProjectStateSchema, 'The project, stopped'), ...faasErrors(badProject, ...auth('write'), noProject, down) },
    handler: async ({ req, res, services }) => {
      res.json(await svc(services).setProjectStatus(projectOf(req), 'stopped'));
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/projects/{project_name}/env',
    operationId: 'faasGetProjectEnv',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: "A project's env: the names, every value masked (values are write-only)",
    description: 'Set it with the native PUT /projects/{name}/env. Native: GET /projects/{name}/env.',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasEnvSchema, 'The env'), ...faasErrors(badProject, ...auth('read'), noProject, down) },
    handler: async ({ req, res, services }) => {
      res.json({ status: 'success', data: envNamesOnly(await svc(services).projectEnv(projectOf(req))) });
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/projects/{project_name}/dependencies',
    operationId: 'faasGetProjectDependencies',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: "A project's Python requirement lines (installed before each function's own requirements)",
    description: 'Set them with the native PUT /projects/{name}/dependencies. Native: GET /projects/{name}/dependencies (`python`).',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasDependencyListSchema, 'The requirement lines'), ...faasErrors(badProject, ...auth('read'), noProject, down) },
    handler: async ({ req, res, services }) => {
      res.json({ status: 'success', data: await svc(services).projectDependencies(projectOf(req)) });
    },
  }),
  // Before /api/v1/functions/{project_name}/{function_name}: a POST to .../deploy reads its body as a stream.
  route({
    method: 'post',
    path: '/api/v1/functions/{project_name}/deploy',
    operationId: 'faasDeployFunction',
    access: 'write',
    tag: PROJECT_FAAS_TAG,
    body: 'stream',
    summary: 'Deploy a function into a project (multipart/form-data): create it, or deploy its next version',
    description:
      `Parts: \`function_name\`, \`code\` (a file or text, at most ${DEPLOY_CODE_MAX_BYTES} bytes), optional \`requirements\` (requirements.txt, at most ${DEPLOY_REQUIREMENTS_MAX_BYTES} bytes) and \`env_vars\` (a JSON object or KEY=VALUE lines). ` +
      'Python unless the code file ends in .js, .mjs or .cjs or `runtime` says nodejs; the handler is `handler`, or `main` when the code defines main and no handler. ' +
      "The project is created when new; the project's dependencies come before the requirements. With requirements the deploy waits (at most INVOKE_TIMEOUT_MS) until a worker installed them and answers `active`, or `failed` with build_log (or `building` when the wait ran out). Native: POST /functions, PUT /functions/{function_id}.",
    request: { params: FaasProjectParamsSchema, body: { contentType: 'multipart/form-data', schema: FaasDeployBodySchema } },
    responses: {
      200: json(FaasDeploySchema, 'Deployed'),
      ...faasErrors(
        [400, 'INVALID_PARAMETERS', 'code', 'does not compile: SyntaxError: invalid syntax (line 1, column 8)'],
        ...auth('write'),
        [409, 'INVALID_PARAMETERS', 'function_name', "a function named 'func1' already exists in project 'other' (function names are unique among all projects)"],
        [413, 'INVALID_PARAMETERS', 'code', `code file is larger than ${DEPLOY_CODE_MAX_BYTES} bytes`],
        [415, 'INVALID_PARAMETERS', null, 'this route takes multipart/form-data (fields: function_name, code, requirements, env_vars)'],
        down,
      ),
    },
    handler: async ({ req, res, services }) => {
      const service = svc(services);
      const fn = await service.deploy(projectOf(req), await readDeploy(req));
      res.json({
        status: 'success',
        message: 'Function deployed successfully',
        function: {
          name: fn.name,
          project: fn.project,
          status: fn.status,
          deployed_at: isoUtc(fn.updated_at),
          runtime: fn.runtime,
          handler: fn.handler,
          version: fn.version,
          ...(fn.status === 'failed' ? { build_log: fn.build_log } : {}),
        },
      });
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/functions/{project_name}/{function_name}/invoke',
    operationId: 'faasInvokeFunction',
    access: 'write',
    tag: PROJECT_FAAS_TAG,
    body: 'json',
    summary: 'Invoke a function with the JSON body as its event and wait for its result',
    description:
      'The body (any JSON; none: `{}`) is the event. A sync function answers when its run ended (at most INVOKE_TIMEOUT_MS, then 504 with details.job_id to poll GET /jobs/{job_id}); ' +
      "an async one answers 202 at once with the job to poll. A run that fails answers EXECUTION_ERROR with the function's error. Native: POST /functions/{function_id}/invoke.",
    request: { params: FaasFunctionParamsSchema, body: { schema: z.unknown().openapi({ example: { key: 'value' } }) } },
    responses: {
      200: json(FaasInvokeSchema, 'The result'),
      202: json(FaasInvokeAcceptedSchema, 'An async function: accepted'),
      ...faasErrors(
        [400, 'INVALID_PARAMETERS', 'body', 'request body is not valid JSON'],
        ...auth('write'),
        noFunction,
        [409, 'EXECUTION_ERROR', null, "project 'project1' is stopped: its functions refuse invocations until POST /projects/project1/start"],
        [413, 'INVALID_PARAMETERS', null, 'request body exceeds the limit of 1048576 bytes'],
        [429, 'RATE_LIMIT_ERROR', null, 'too many requests'],
        [500, 'EXECUTION_ERROR', null, 'ValueError: bad input'],
        down,
        [504, 'EXECUTION_ERROR', null, 'the function did not finish within the invocation wait; poll GET /jobs/a1b2c3d4e5f6 for its result'],
      ),
    },
    handler: async ({ req, res, services }) => {
      const event: unknown = req.body === undefined ? {} : req.body;
      const out = await svc(services).invoke(projectOf(req), functionOf(req), event, req.requestId);
      if (out.kind === 'accepted') {
        res.status(202).location(`/jobs/${out.job.job_id}`).json({ status: 'success', message: 'invocation accepted: poll GET /jobs/{job_id}', job_id: out.job.job_id, timestamp: isoUtc(out.job.created_at) });
        return;
      }
      answerRun(res, out.job);
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/functions/{project_name}',
    operationId: 'faasListFunctions',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: "A project's functions, newest first",
    description: 'Native: GET /functions?project=.',
    request: { params: FaasProjectParamsSchema },
    responses: { 200: json(FaasFunctionListSchema, 'The functions'), ...faasErrors(badProject, ...auth('read'), noProject, down) },
    handler: async ({ req, res, services }) => {
      res.json({ status: 'success', functions: await svc(services).listFunctions(projectOf(req)) });
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/functions/{project_name}/{function_name}',
    operationId: 'faasGetFunction',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: 'A function, with execution_count and last_executed from its run statistics',
    description: 'Native: GET /functions/{function_id} and GET /functions/{function_id}/metrics.',
    request: { params: FaasFunctionParamsSchema },
    responses: { 200: json(FaasFunctionSchema, 'The function'), ...faasErrors(badProject, ...auth('read'), noFunction, down) },
    handler: async ({ req, res, services }) => {
      res.json({ status: 'success', function: await svc(services).getFunction(projectOf(req), functionOf(req)) });
    },
  }),
  route({
    method: 'delete',
    path: '/api/v1/functions/{project_name}/{function_name}',
    operationId: 'faasDeleteFunction',
    access: 'write',
    tag: PROJECT_FAAS_TAG,
    summary: 'Delete a function',
    description: 'Runs already queued or running finish; their job records stay until their TTL. Native: DELETE /functions/{function_id}.',
    request: { params: FaasFunctionParamsSchema },
    responses: { 200: json(FaasMessageSchema, 'Deleted'), ...faasErrors(badProject, ...auth('write'), noFunction, down) },
    handler: async ({ req, res, services }) => {
      await svc(services).deleteFunction(projectOf(req), functionOf(req));
      res.json({ status: 'success', message: 'Function deleted successfully' });
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/env/system',
    operationId: 'faasGetSystemEnv',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: 'The system env every function gets first (FUNCTION_SYSTEM_ENV): the names, every value masked; never the service environment',
    description: 'Native: GET /env/system.',
    responses: { 200: json(FaasEnvSchema, 'The system env'), ...faasErrors(...auth('read'), down) },
    handler: ({ res, services }) => {
      res.json({ status: 'success', data: envNamesOnly(svc(services).systemEnv()) });
    },
  }),
  route({
    method: 'get',
    path: '/api/v1/dependencies/system',
    operationId: 'faasGetSystemDependencies',
    access: 'read',
    tag: PROJECT_FAAS_TAG,
    summary: 'The Python packages functions run with, as `name==version` (pip list of their interpreter)',
    description: 'Measured on this API host and cached 10 minutes. Native: GET /dependencies/system (`python.packages`).',
    responses: { 200: json(FaasDependencyListSchema, 'The packages'), ...faasErrors(...auth('read'), down) },
    handler: async ({ res, services }) => {
      res.json({ status: 'success', data: await svc(services).systemDependencies() });
    },
  }),
];
