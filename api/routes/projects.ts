import path from 'node:path';
import type busboy from 'busboy';
import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../shared/errors/index.js';
import { checkProjectName, type ProjectService } from '../services/project-service.js';
import { assertKnownKeys } from '../middleware/validate.js';
import { DependencyListsSchema, DeployResultSchema, ProjectDependenciesSchema, ProjectEnvPutSchema, ProjectEnvSchema, ProjectListSchema, ProjectNameParamsSchema, ProjectSchema, ProjectStateSchema, SystemDependenciesSchema, SystemEnvSchema } from '../schemas/projects.js';
import { ENV_NAME_PATTERN, ENV_NAME_RULE, MAX_PROJECT_ENV_VALUE_BYTES, MAX_PROJECT_ENV_VARS } from '../../shared/functions/limits.js';
import { refuseMaskedEnv, withEnvNamesOnly } from './redaction.js';
import { errors, json, located } from './responses.js';
import { route, type Route, type RouteContext, type RouteServices } from './route.js';

export type { FunctionCreator } from './route.js';

/** Largest code file of a multipart deploy, in bytes (the functions API's own code limit applies too). */
export const DEPLOY_CODE_MAX_BYTES = 1024 * 1024;
/** Largest requirements file of a multipart deploy, in bytes. */
export const DEPLOY_REQUIREMENTS_MAX_BYTES = 64 * 1024;
/** Largest text field of a multipart deploy (`env` JSON included), in bytes. */
export const DEPLOY_FIELD_MAX_BYTES = 64 * 1024;
/** Most parts (fields + files) in one multipart deploy. */
const DEPLOY_MAX_PARTS = 64;

/** A file field a multipart body may carry: the part it fills (two names may fill one part) and its size limit in bytes. */
export interface MultipartFileField {
  part: string;
  maxBytes: number;
}

/** The file fields of this API's multipart deploy: the code (`file` or `code`) and `requirements`. */
const DEPLOY_FILES: Readonly<Record<string, MultipartFileField>> = {
  file: { part: 'code', maxBytes: DEPLOY_CODE_MAX_BYTES },
  code: { part: 'code', maxBytes: DEPLOY_CODE_MAX_BYTES },
  requirements: { part: 'requirements', maxBytes: DEPLOY_REQUIREMENTS_MAX_BYTES },
};

/**
 * busboy, imported with the first multipart body rather than at startup: only the multipart deploys
 * read one (the API's memory bound, docs/performance.md).
 */
let busboyModule: Promise<typeof busboy> | undefined;
const loadBusboy = () => (busboyModule ??= import('busboy').then((m) => m.default));

/** The parts of a multipart body, read within the limits above: text fields by name (repeatable), files by part. */
export interface MultipartParts {
  fields: Map<string, string[]>;
  files: Map<string, { filename: string; text: string }>;
}

/**
 * Reads a multipart/form-data body with busboy, within the limits above: the files `files` names
 * (default: a code file, field `file` or `code`, and an optional `requirements` file), and text fields.
 * @param hint what the body should hold, for the 415 message.
 * @throws AppError UNSUPPORTED_MEDIA_TYPE when not multipart, PAYLOAD_TOO_LARGE past a limit,
 *   VALIDATION_ERROR for an unknown or repeated file field or a malformed body.
 */
export async function readMultipart(req: Request, files: Readonly<Record<string, MultipartFileField>> = DEPLOY_FILES, hint = 'fields: file or code, requirements, name, runtime, execution_type, env'): Promise<MultipartParts> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `this route takes multipart/form-data (${hint})`, { content_type: type.slice(0, 100) });
  }
  const fileNames = Object.keys(files).join(', ');
  const partCount = new Set(Object.values(files).map((f) => f.part)).size;
  const maxFileBytes = Math.max(...Object.values(files).map((f) => f.maxBytes));
  const makeBusboy = await loadBusboy();
  // A body whose client went away while busboy was first imported would never end: refused now.
  if (req.destroyed) throw new AppError('VALIDATION_ERROR', 'request body could not be read: the connection closed', { field: 'body' });
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = makeBusboy({
        headers: req.headers,
        limits: { fileSize: maxFileBytes, files: partCount, fields: DEPLOY_MAX_PARTS, parts: DEPLOY_MAX_PARTS, fieldSize: DEPLOY_FIELD_MAX_BYTES, fieldNameSize: 100, headerPairs: 50 },
        defParamCharset: 'utf8',
      });
    } catch (err) {
      reject(new AppError('VALIDATION_ERROR', `malformed multipart body: ${(err as Error).message}`, { field: 'body' }));
      return;
    }
    const parts: MultipartParts = { fields: new Map(), files: new Map() };
    const started = new Set<string>();
    let failed: AppError | undefined;
    const fail = (e: AppError) => {
      if (failed) return;
      failed = e;
      req.unpipe(bb);
      req.resume(); // drain the rest so the answer can be read
      reject(e);
    };
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new AppError('PAYLOAD_TOO_LARGE', `field ${name.slice(0, 100)} is larger than ${DEPLOY_FIELD_MAX_BYTES} bytes`, { field: name.slice(0, 100), limit_bytes: DEPLOY_FIELD_MAX_BYTES }));
      const list = parts.fields.get(name) ?? [];
      list.push(value);
      parts.fields.set(name, list);
    });
    bb.on('file', (name, stream, info) => {
      const rule = Object.hasOwn(files, name) ? files[name] : undefined;
      if (!rule || started.has(rule.part)) {
        stream.resume();
        return fail(new AppError('VALIDATION_ERROR', rule ? `only one ${name} file is accepted` : `unknown file field '${name.slice(0, 100)}' (${fileNames})`, { field: name.slice(0, 100) }));
      }
      started.add(rule.part);
      const limit = rule.maxBytes;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          stream.resume();
          return fail(new AppError('PAYLOAD_TOO_LARGE', `${name} file is larger than ${limit} bytes`, { field: name, limit_bytes: limit }));
        }
        chunks.push(c);
      });
      stream.on('limit', () => fail(new AppError('PAYLOAD_TOO_LARGE', `${name} file is larger than ${limit} bytes`, { field: name, limit_bytes: limit })));
      stream.on('end', () => {
        if (!failed) parts.files.set(rule.part, { filename: info.filename ?? '', text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    bb.on('partsLimit', () => fail(new AppError('PAYLOAD_TOO_LARGE', `more than ${DEPLOY_MAX_PARTS} parts`, { limit_parts: DEPLOY_MAX_PARTS })));
    bb.on('filesLimit', () => fail(new AppError('VALIDATION_ERROR', `at most ${partCount} files: ${fileNames}`, { field: 'body' })));
    bb.on('fieldsLimit', () => fail(new AppError('PAYLOAD_TOO_LARGE', `more than ${DEPLOY_MAX_PARTS} fields`, { limit_parts: DEPLOY_MAX_PARTS })));
    bb.on('error', (err: Error) => fail(new AppError('VALIDATION_ERROR', `malformed multipart body: ${err.message}`, { field: 'body' })));
    bb.on('close', () => {
      if (!failed) resolve(parts);
    });
    req.on('error', (err) => fail(new AppError('VALIDATION_ERROR', `request body could not be read: ${err.message}`, { field: 'body' })));
    req.pipe(bb);
  });
}

/** The runtime of a deploy: the `runtime` field, else the code file's extension (.py → python; .js, .mjs, .cjs → nodejs). */
function runtimeOf(field: string | undefined, filename: string): string {
  if (field) return field;
  const ext = path.extname(filename).toLowerCase();
  if (ext === '.py') return 'python';
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs') return 'nodejs';
  throw new AppError('VALIDATION_ERROR', `runtime is required: give the runtime field, or a code file ending in .py, .js, .mjs or .cjs (got ${JSON.stringify(filename.slice(0, 100))})`, { field: 'runtime' });
}

/**
 * The dependency list of a requirements file: for nodejs a package.json (its `dependencies` as
 * `name@range`) or one npm spec per line; for python requirements.txt lines. Blank lines and `#`
 * comments are dropped; the installer validates each spec.
 */
export function parseRequirements(runtime: string, text: string): string[] {
  const trimmed = text.trim();
  if (runtime === 'nodejs' && trimmed.startsWith('{')) {
    let pkg: unknown;
    try {
      pkg = JSON.parse(trimmed);
    } catch (err) {
      throw new AppError('VALIDATION_ERROR', `requirements is not valid JSON: ${(err as Error).message}`, { field: 'requirements' });
    }
    const deps = (pkg as { dependencies?: unknown })?.dependencies ?? {};
    if (typeof deps !== 'object' || deps === null || Array.isArray(deps) || !Object.values(deps).every((v) => typeof v === 'string')) {
      throw new AppError('VALIDATION_ERROR', 'requirements: package.json dependencies must be an object of name: version', { field: 'requirements' });
    }
    return Object.entries(deps as Record<string, string>).map(([n, v]) => (v.startsWith('file:') ? v : `${n}@${v}`));
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** The `env` fields: one JSON object, or repeated `KEY=VALUE` strings. @throws AppError VALIDATION_ERROR naming `env` or `env.<NAME>`. */
export function parseEnvFields(values: string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const env: Record<string, string> = {};
  for (const v of values) {
    const t = v.trim();
    if (t.startsWith('{')) {
      let obj: unknown;
      try {
        obj = JSON.parse(t);
      } catch (err) {
        throw new AppError('VALIDATION_ERROR', `env is not valid JSON: ${(err as Error).message}`, { field: 'env' });
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new AppError('VALIDATION_ERROR', 'env must be a JSON object or KEY=VALUE', { field: 'env' });
      for (const [k, val] of Object.entries(obj)) {
        if (typeof val !== 'string') throw new AppError('VALIDATION_ERROR', `env.${k.slice(0, 100)} must be a string`, { field: `env.${k.slice(0, 100)}` });
        env[k] = val;
      }
      continue;
    }
    const eq = v.indexOf('=');
    if (eq <= 0) throw new AppError('VALIDATION_ERROR', 'env must be a JSON object or KEY=VALUE', { field: 'env' });
    env[v.slice(0, eq)] = v.slice(eq + 1);
  }
  for (const k of Object.keys(env)) {
    if (!ENV_NAME_PATTERN.test(k)) throw new AppError('VALIDATION_ERROR', `env name ${JSON.stringify(k.slice(0, 100))} ${ENV_NAME_RULE}`, { field: `env.${k.slice(0, 100)}` });
  }
  return env;
}

/** One text field, refused when repeated. */
function single(fields: Map<string, string[]>, name: string): string | undefined {
  const v = fields.get(name);
  if (!v) return undefined;
  if (v.length > 1) throw new AppError('VALIDATION_ERROR', `${name} is given more than once`, { field: name });
  return v[0];
}

/** Known text fields of a multipart deploy. */
const DEPLOY_FIELDS = new Set(['name', 'function_name', 'runtime', 'execution_type', 'handler', 'env', 'env_vars', 'timeout_ms', 'memory_mb']);

/** The project service, or 503 when the app was built without Redis (unit tests). */
function need(services: RouteServices): ProjectService {
  if (!services.projects) throw new AppError('SERVICE_UNAVAILABLE', 'projects are not available');
  return services.projects;
}

const nameOf = (req: Request) => String(req.params.name);
const params = ProjectNameParamsSchema;
const notFound: [number, string] = [404, 'PROJECT_NOT_FOUND'];
const badName: [number, string] = [400, 'VALIDATION_ERROR (bad project name)'];
const down: [number, string] = [503, 'SERVICE_UNAVAILABLE'];

/** The multipart deploy handler: reads the parts, builds the body of POST /functions, creates the function. */
async function deploy({ req, res, services }: RouteContext<unknown>): Promise<void> {
  const service = need(services);
  const project = checkProjectName(nameOf(req));
  const createFunction = services.createFunction;
  if (!createFunction) throw new AppError('SERVICE_UNAVAILABLE', 'functions are not available');
  const parts = await readMultipart(req);
  const code = parts.files.get('code');
  const requirements = parts.files.get('requirements');
  const unknown = [...parts.fields.keys()].find((k) => !DEPLOY_FIELDS.has(k));
  if (unknown !== undefined) throw new AppError('VALIDATION_ERROR', `unknown field '${unknown.slice(0, 100)}' (known: ${[...DEPLOY_FIELDS].join(', ')})`, { field: unknown.slice(0, 100) });
  if (!code) throw new AppError('VALIDATION_ERROR', 'a code file is required (field file or code)', { field: 'file' });
  const runtime = runtimeOf(single(parts.fields, 'runtime'), code.filename);
  const name = single(parts.fields, 'name') ?? single(parts.fields, 'function_name');
  if (name === undefined) throw new AppError('VALIDATION_ERROR', 'name is required', { field: 'name' });
  const own = requirements ? parseRequirements(runtime, requirements.text) : [];
  const projectDeps = runtime === 'python' || runtime === 'nodejs' ? await service.dependenciesFor(project, runtime) : [];
  const env = parseEnvFields([...(parts.fields.get('env') ?? []), ...(parts.fields.get('env_vars') ?? [])]);
  const body: Record<string, unknown> = { name, runtime, code: code.text, project, execution_type: single(parts.fields, 'execution_type') ?? 'sync' };
  const deps = [...projectDeps, ...own];
  if (deps.length) body.dependencies = deps;
  refuseMaskedEnv(env);
  if (env) body.env = env;
  const handler = single(parts.fields, 'handler');
  if (handler !== undefined) body.handler = handler;
  for (const f of ['timeout_ms', 'memory_mb'] as const) {
    const v = single(parts.fields, f);
    if (v !== undefined) body[f] = /^\d+$/.test(v) ? Number(v) : v;
  }
  await service.ensure(project);
  const record = await createFunction(body, req.requestId);
  res.status(201).location(`/functions/${record.function_id}`).json({
    function_id: record.function_id,
    name: record.name,
    project: record.project,
    runtime: record.runtime,
    status: record.status,
    version: record.version,
    dependencies: record.dependencies,
  });
}

/**
 * Projects (docs/functions.md#projects; the project FaaS API reference): `/projects`,
 * `/projects/{name}` (+ start, stop, env, dependencies, multipart function deploy), `/env/system`,
 * `/dependencies/system`. Without the project service: 503; without `createFunction`, the deploy
 * route answers 503.
 */
export const PROJECT_ROUTES: readonly Route[] = [
  route({
    method: 'get',
    path: '/projects',
    operationId: 'listProjects',
    access: 'read',
    tag: 'projects',
    summary: 'List projects with their status and function count',
    description: '`default` (the project of functions that name none) is always listed.',
    responses: { 200: json(ProjectListSchema, 'Projects, oldest first'), ...errors(down) },
    handler: async ({ res, services }) => {
      res.json(await need(services).list());
    },
  }),
  route({
    method: 'get',
    path: '/projects/{name}',
    operationId: 'getProject',
    access: 'read',
    tag: 'projects',
    summary: 'Read a project: functions, env (names only: values are write-only), dependencies, status',
    request: { params },
    responses: { 200: json(ProjectSchema, 'The project'), ...errors(badName, notFound, down) },
    handler: async ({ req, res, services }) => {
      res.json(withEnvNamesOnly(await need(services).get(nameOf(req))));
    },
  }),
  route({
    method: 'post',
    path: '/projects/{name}/start',
    operationId: 'startProject',
    access: 'write',
    tag: 'projects',
    summary: 'Start a project: its functions accept invocations again; idempotent',
    request: { params },
    responses: { 200: json(ProjectStateSchema, 'The project, running'), ...errors(badName, notFound, down) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).setStatus(nameOf(req), 'running'));
    },
  }),
  route({
    method: 'post',
    path: '/projects/{name}/stop',
    operationId: 'stopProject',
    access: 'write',
    tag: 'projects',
    summary: 'Stop a project: its functions refuse invocations (409 CONFLICT naming the project) until started; runs already started finish; idempotent',
    request: { params },
    responses: { 200: json(ProjectStateSchema, 'The project, stopped'), ...errors(badName, notFound, down) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).setStatus(nameOf(req), 'stopped'));
    },
  }),
  route({
    method: 'get',
    path: '/projects/{name}/env',
    operationId: 'getProjectEnv',
    access: 'read',
    tag: 'projects',
    summary: "A project's env (layered between the system env and each function's own): the names, every value masked (write-only)",
    request: { params },
    responses: { 200: json(ProjectEnvSchema, 'The env'), ...errors(badName, notFound, down) },
    handler: async ({ req, res, services }) => {
      res.json(withEnvNamesOnly(await need(services).getEnv(nameOf(req))));
    },
  }),
  route({
    method: 'put',
    path: '/projects/{name}/env',
    operationId: 'putProjectEnv',
    access: 'write',
    tag: 'projects',
    body: 'json',
    summary: "Replace (or, with merge: true, merge onto) a project's env; creates the project when new",
    description: `Names match \`^[A-Za-z_][A-Za-z0-9_]*$\`; values are strings of at most ${MAX_PROJECT_ENV_VALUE_BYTES} bytes; at most ${MAX_PROJECT_ENV_VARS} variables. Applies to invocations from then on.`,
    request: { params, body: { schema: ProjectEnvPutSchema } },
    responses: { 200: json(ProjectEnvSchema, 'The new env: names, values masked'), ...errors([400, 'VALIDATION_ERROR (field env.<NAME>)'], [413, 'PAYLOAD_TOO_LARGE'], down) },
    handler: async ({ req, res, services }) => {
      const service = need(services);
      checkProjectName(nameOf(req));
      assertKnownKeys(ProjectEnvPutSchema, req.body);
      refuseMaskedEnv((req.body as { env?: unknown } | undefined)?.env);
      res.json(withEnvNamesOnly(await service.putEnv(nameOf(req), req.body)));
    },
  }),
  route({
    method: 'get',
    path: '/projects/{name}/dependencies',
    operationId: 'getProjectDependencies',
    access: 'read',
    tag: 'projects',
    summary: "A project's dependency lists per runtime",
    request: { params },
    responses: { 200: json(ProjectDependenciesSchema, 'The lists'), ...errors(badName, notFound, down) },
    handler: async ({ req, res, services }) => {
      res.json(await need(services).getDependencies(nameOf(req)));
    },
  }),
  route({
    method: 'put',
    path: '/projects/{name}/dependencies',
    operationId: 'putProjectDependencies',
    access: 'write',
    tag: 'projects',
    body: 'json',
    summary: "Replace a project's dependency lists; creates the project when new",
    description:
      'Each spec is validated as the installer would (npm names and versions, requirement lines; no options, URLs or git; local paths only under FUNCTION_LOCAL_PACKAGES_DIR). ' +
      "The list of a function's runtime is installed before its own dependencies for functions deployed into the project afterwards; existing versions keep theirs.",
    request: { params, body: { schema: DependencyListsSchema } },
    responses: { 200: json(ProjectDependenciesSchema, 'The new lists'), ...errors([400, 'VALIDATION_ERROR (field python.<i> or nodejs.<i>)'], down) },
    handler: async ({ req, res, services }) => {
      const service = need(services);
      checkProjectName(nameOf(req));
      assertKnownKeys(DependencyListsSchema, req.body);
      res.json(await service.putDependencies(nameOf(req), req.body));
    },
  }),
  route({
    method: 'post',
    path: '/projects/{name}/functions',
    operationId: 'deployProjectFunction',
    access: 'write',
    tag: 'projects',
    body: 'stream',
    summary: 'Deploy a function into a project from a code file (multipart/form-data)',
    description:
      `Parts: the code file (field \`file\` or \`code\`, at most ${DEPLOY_CODE_MAX_BYTES} bytes), an optional \`requirements\` file (requirements.txt lines, npm specs one per line, or a package.json; at most ${DEPLOY_REQUIREMENTS_MAX_BYTES} bytes), ` +
      'and fields `name` (or `function_name`), `runtime` (else from the file extension: .py → python; .js, .mjs, .cjs → nodejs), `execution_type` (default sync), `handler`, `timeout_ms`, `memory_mb`, ' +
      "and `env` (a JSON object, or repeated KEY=VALUE fields). The project's dependencies of that runtime come first, then the requirements. Validated and created as POST /functions does; " +
      'with dependencies the function is `building` until a worker installed them (then `active`, or `failed` with build_log).',
    request: {
      params,
      body: {
        contentType: 'multipart/form-data',
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
    responses: {
      201: located(DeployResultSchema, 'Created', '/functions/{function_id}'),
      ...errors([400, 'VALIDATION_ERROR (the field, or the compiler message for code)'], [409, 'CONFLICT (the name is taken)'], [413, 'PAYLOAD_TOO_LARGE'], [415, 'UNSUPPORTED_MEDIA_TYPE (not multipart/form-data)'], down),
    },
    handler: deploy,
  }),
  route({
    method: 'get',
    path: '/env/system',
    operationId: 'getSystemEnv',
    access: 'read',
    tag: 'projects',
    summary: 'The system env every function gets first (FUNCTION_SYSTEM_ENV): the names, every value masked; never the service environment',
    responses: { 200: json(SystemEnvSchema, 'The system env'), ...errors(down) },
    handler: ({ res, services }) => {
      res.json(withEnvNamesOnly(need(services).systemEnv()));
    },
  }),
  route({
    method: 'get',
    path: '/dependencies/system',
    operationId: 'getSystemDependencies',
    access: 'read',
    tag: 'projects',
    summary: 'What the runtimes provide to every function: versions of Node, npm, Python and pip, Node builtin modules and pip list',
    description: 'Measured on this API host and cached 10 minutes.',
    responses: { 200: json(SystemDependenciesSchema, 'Runtimes and packages'), ...errors(down) },
    handler: async ({ res, services }) => {
      res.json(await need(services).systemDependencies());
    },
  }),
];
