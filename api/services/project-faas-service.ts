/**
 * The project-FaaS API's use cases (docs/compat-project-faas.md): functions addressed by project
 * and name, projects, their env and dependencies, and the system's, mapped onto the native
 * function and project services (no second implementation: the name → id index is the function
 * store's, runs are the native invocations, run statistics the native metrics).
 */
import path from 'node:path';
import { AppError, functionNameTaken, projectNotFound } from '../../shared/errors/index.js';
import { PROJECT_NAME_PATTERN, PROJECT_NAME_RULE } from '../../shared/schemas/project-name.js';
import { DEFAULT_HANDLER, type FunctionRecord } from '../../shared/store/function-store.js';
import type { StoredJob } from '../../shared/schemas/job-record.js';
import { FUNCTION_NAME_PATTERN } from '../schemas/functions.js';
import type { FunctionService } from './function-service.js';
import type { ProjectService, ProjectStatus } from './project-service.js';

/** A time as the project-FaaS API writes it: ISO 8601 in UTC with `Z` (fnqueue's records write `+00:00`). */
export function isoUtc(time: string): string;
export function isoUtc(time: string | null | undefined): string | null;
export function isoUtc(time: string | null | undefined): string | null {
  if (!time) return null;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}

/** Seconds as the project-FaaS API's `execution_time`: to the millisecond, with `s` (`0.5s`, `0.001s`). */
export function formatExecutionTime(seconds: number): string {
  return `${Math.round(seconds * 1000) / 1000}s`;
}

/** A top-level Python `def name(` (or `async def`), or `name =`. */
const pythonDefines = (code: string, name: string) => new RegExp(`^(?:async[ \\t]+)?def[ \\t]+${name}[ \\t]*\\(|^${name}[ \\t]*=`, 'm').test(code);

/**
 * The handler a deploy without a `handler` field gets: `handler`, or `main` for Python code that
 * defines a top-level `main` and no `handler` (the project-FaaS API's functions define `main`).
 * Read from the source text (nothing of it runs); the deploy's compile check and the first run
 * report a handler that is not there.
 */
export function defaultHandlerOf(runtime: 'python' | 'nodejs', code: string): string {
  if (runtime === 'python' && !pythonDefines(code, DEFAULT_HANDLER) && pythonDefines(code, 'main')) return 'main';
  return DEFAULT_HANDLER;
}

/**
 * A function's description: the docstring of its Python handler (its first paragraph, whitespace
 * collapsed), read from the source text; null for Node.js code and a handler without one.
 */
export function descriptionOf(fn: Pick<FunctionRecord, 'runtime' | 'code' | 'handler'>): string | null {
  if (fn.runtime !== 'python' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(fn.handler)) return null;
  const def = new RegExp(`^(?:async[ \\t]+)?def[ \\t]+${fn.handler}[ \\t]*\\(.*?\\)[^:\\n]*:[ \\t]*\\r?\\n(?:[ \\t]*\\r?\\n)*[ \\t]+[rRuU]?("{3}|'{3}|"|')([\\s\\S]*?)\\1`, 'm');
  const doc = def.exec(fn.code)?.[2];
  const first = doc?.trim().split(/\r?\n[ \t]*\r?\n/)[0]?.replace(/\s+/g, ' ').trim();
  return first ? first.slice(0, 1000) : null;
}

/** `project_name` if valid. @throws AppError VALIDATION_ERROR (field `project_name`). */
export function checkFaasProjectName(name: string): string {
  if (!PROJECT_NAME_PATTERN.test(name)) throw new AppError('VALIDATION_ERROR', `project_name must be ${PROJECT_NAME_RULE}`, { field: 'project_name', issues: [{ field: 'project_name', message: `must be ${PROJECT_NAME_RULE}` }] });
  return name;
}

/** `function_name` if valid. @throws AppError VALIDATION_ERROR (field `function_name`). */
export function checkFaasFunctionName(name: string): string {
  const rule = 'must be 1-64 letters, digits, _ . or -, starting with a letter or digit';
  if (!FUNCTION_NAME_PATTERN.test(name)) throw new AppError('VALIDATION_ERROR', `function_name ${rule}`, { field: 'function_name', issues: [{ field: 'function_name', message: rule }] });
  return name;
}

/** fnqueue's field names → the project-FaaS deploy's (`name` → `function_name`, `env…` → `env_vars…`, `dependencies…` → `requirements`). */
function deployField(field: string): string {
  if (field === 'name') return 'function_name';
  if (/^env(\.|$)/.test(field)) return field.replace(/^env/, 'env_vars');
  if (/^dependencies(\.|$)/.test(field)) return 'requirements';
  return field;
}

/** The same error with its field (and the field at the start of its message) named as the deploy names it. */
function renamedForDeploy(err: unknown): unknown {
  if (!(err instanceof AppError) || typeof err.details.field !== 'string') return err;
  const from = err.details.field;
  const to = deployField(from);
  if (to === from) return err;
  const message = err.message.startsWith(from) ? `${to}${err.message.slice(from.length)}` : err.message;
  const issues = Array.isArray(err.details.issues) ? (err.details.issues as Array<{ field?: string; message?: string }>).map((i) => ({ ...i, field: typeof i.field === 'string' ? deployField(i.field) : i.field })) : undefined;
  return new AppError(err.code, message, { ...err.details, field: to, ...(issues ? { issues } : {}) }, { cause: err });
}

/** A function deploy as read from the multipart body (api/routes/project-faas.ts). */
export interface FaasDeployInput {
  functionName: string;
  code: string;
  /** The code file's name (empty for a text field): `.js`, `.mjs`, `.cjs` mean nodejs. */
  codeFilename: string;
  /** Requirement lines (already parsed from the requirements part), installed after the project's. */
  requirements?: (runtime: 'python' | 'nodejs') => string[];
  env?: Record<string, string>;
  runtime?: string;
  handler?: string;
  executionType?: string;
  timeoutMs?: number | string;
  memoryMb?: number | string;
}

/** A function as the project-FaaS API lists it. */
export interface FaasFunctionSummary {
  name: string;
  description: string | null;
  status: FunctionRecord['status'];
  last_executed: string | null;
}

/** How an invocation ended: finished (completed or failed), or accepted (an async function's run, to poll). */
export type FaasInvokeOutcome = { kind: 'finished'; job: StoredJob } | { kind: 'accepted'; job: StoredJob };

/** How often a deploy that waits for its build reads the function's status, in ms. */
const BUILD_POLL_MS = 250;

/** See the module comment. */
export class ProjectFaasService {
  /**
   * @param buildWaitMs how long a deploy with requirements waits for their install before it
   *   answers (INVOKE_TIMEOUT_MS), in ms; it then answers the status it reached (`building` when the wait ran out).
   */
  constructor(
    private readonly functions: FunctionService,
    private readonly projects: ProjectService,
    private readonly buildWaitMs = 0,
  ) {}

  /** The function once its version's build ended (`active` or `failed`), or as it is when {@link buildWaitMs} ran out. */
  private async afterBuild(fn: FunctionRecord): Promise<FunctionRecord> {
    const deadline = Date.now() + this.buildWaitMs;
    let current = fn;
    while (current.status === 'building' && current.version === fn.version && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, BUILD_POLL_MS));
      const read = await this.functions.findByName(fn.name);
      if (!read || read.function_id !== fn.function_id) return current;
      current = read;
    }
    return current;
  }

  /** @throws AppError PROJECT_NOT_FOUND. */
  private async mustExist(project: string): Promise<void> {
    checkFaasProjectName(project);
    if (!(await this.projects.exists(project))) throw projectNotFound(project);
  }

  /**
   * The function `name` of `project`.
   * @throws AppError VALIDATION_ERROR for a bad name, PROJECT_NOT_FOUND, FUNCTION_NOT_FOUND (details.field `function_name`).
   */
  async resolve(project: string, name: string): Promise<FunctionRecord> {
    checkFaasProjectName(project);
    checkFaasFunctionName(name);
    const fn = await this.functions.findByName(name);
    if (fn && fn.project === project) return fn;
    await this.mustExist(project);
    throw new AppError('FUNCTION_NOT_FOUND', `no function named '${name}' in project '${project}'`, { field: 'function_name', project, function_name: name });
  }

  /** A function as lists show it; last_executed is the end of its last finished run (its run statistics), in UTC. */
  private async summary(fn: FunctionRecord): Promise<FaasFunctionSummary> {
    return { name: fn.name, description: descriptionOf(fn), status: fn.status, last_executed: isoUtc((await this.functions.metrics(fn.function_id)).last_invoked_at) };
  }

  /** The functions of `project`, newest first (every one: projects hold few). */
  private async functionsOf(project: string): Promise<FunctionRecord[]> {
    return (await this.functions.list({ project, limit: 10_000, offset: 0 })).functions;
  }

  /** GET /api/v1/projects: every project with its function names. */
  async listProjects() {
    const { projects } = await this.projects.list();
    return Promise.all(
      projects.map(async (p) => ({
        name: p.name,
        status: p.status,
        functions: (await this.functionsOf(p.name)).map((f) => f.name),
        created_at: isoUtc(p.created_at),
        updated_at: isoUtc(p.updated_at),
      })),
    );
  }

  /** GET /api/v1/projects/{project_name}: env as stored (the route masks it), the Python dependencies. @throws PROJECT_NOT_FOUND */
  async getProject(project: string) {
    checkFaasProjectName(project);
    const p = await this.projects.get(project);
    return {
      name: p.name,
      status: p.status,
      functions: await Promise.all((await this.functionsOf(project)).map((f) => this.summary(f))),
      env: p.env,
      dependencies: p.dependencies.python,
      created_at: isoUtc(p.created_at),
      updated_at: isoUtc(p.updated_at),
    };
  }

  /** POST /api/v1/projects/{project_name}/start|stop (the native answer is already the reference's). @throws PROJECT_NOT_FOUND */
  setProjectStatus(project: string, status: ProjectStatus) {
    checkFaasProjectName(project);
    return this.projects.setStatus(project, status);
  }

  /** GET /api/v1/projects/{project_name}/env: as stored (the route masks it). @throws PROJECT_NOT_FOUND */
  async projectEnv(project: string): Promise<Record<string, string>> {
    checkFaasProjectName(project);
    return (await this.projects.getEnv(project)).env;
  }

  /** GET /api/v1/projects/{project_name}/dependencies: the Python requirement lines. @throws PROJECT_NOT_FOUND */
  async projectDependencies(project: string): Promise<string[]> {
    checkFaasProjectName(project);
    return (await this.projects.getDependencies(project)).dependencies.python;
  }

  /** GET /api/v1/env/system: the system env layer (the route masks it). */
  systemEnv(): Record<string, string> {
    return this.projects.systemEnv().env;
  }

  /** GET /api/v1/dependencies/system: the Python packages functions run with, as `name==version` (pip list). */
  async systemDependencies(): Promise<string[]> {
    return (await this.projects.systemDependencies()).python.packages.map((p) => `${p.name}==${p.version}`);
  }

  /**
   * POST /api/v1/functions/{project_name}/deploy: creates the function in the project, or, when the
   * project already has a function of that name, deploys its next version (code, runtime, handler,
   * requirements; env and limits when given). Python unless told otherwise. With requirements, it
   * waits for their install (at most `buildWaitMs`) and answers the status reached.
   * @throws AppError VALIDATION_ERROR naming the deploy's fields; CONFLICT (field function_name)
   *   when another project has a function of that name.
   */
  async deploy(project: string, input: FaasDeployInput): Promise<FunctionRecord> {
    checkFaasProjectName(project);
    checkFaasFunctionName(input.functionName);
    const ext = path.extname(input.codeFilename).toLowerCase();
    const runtime = input.runtime ?? (['.js', '.mjs', '.cjs'].includes(ext) ? 'nodejs' : 'python');
    if (runtime !== 'python' && runtime !== 'nodejs') throw new AppError('VALIDATION_ERROR', "runtime must be 'python' or 'nodejs'", { field: 'runtime', issues: [{ field: 'runtime', message: "must be 'python' or 'nodejs'" }] });
    const dependencies = [...(await this.projects.dependenciesFor(project, runtime)), ...(input.requirements?.(runtime) ?? [])];
    const body: Record<string, unknown> = { runtime, code: input.code, handler: input.handler ?? defaultHandlerOf(runtime, input.code), dependencies };
    if (input.env) body.env = input.env;
    if (input.executionType !== undefined) body.execution_type = input.executionType;
    for (const [key, value] of [['timeout_ms', input.timeoutMs], ['memory_mb', input.memoryMb]] as const) {
      if (value !== undefined) body[key] = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    }
    try {
      const existing = await this.functions.findByName(input.functionName);
      if (existing && existing.project !== project) {
        const taken = functionNameTaken(input.functionName, existing.function_id);
        throw new AppError('CONFLICT', `${taken.message} in project '${existing.project}' (function names are unique among all projects)`, { field: 'function_name', project: existing.project });
      }
      const fn = existing ? await this.functions.update(existing.function_id, body) : await this.functions.create({ ...body, name: input.functionName, project });
      await this.projects.ensure(project);
      return await this.afterBuild(fn);
    } catch (err) {
      throw renamedForDeploy(err);
    }
  }

  /** GET /api/v1/functions/{project_name}. @throws PROJECT_NOT_FOUND */
  async listFunctions(project: string): Promise<FaasFunctionSummary[]> {
    await this.mustExist(project);
    return Promise.all((await this.functionsOf(project)).map((f) => this.summary(f)));
  }

  /** GET /api/v1/functions/{project_name}/{function_name}: with execution_count and last_executed from its run statistics. */
  async getFunction(project: string, name: string) {
    const fn = await this.resolve(project, name);
    const metrics = await this.functions.metrics(fn.function_id);
    return {
      name: fn.name,
      description: descriptionOf(fn),
      parameters: {},
      status: fn.status,
      created_at: isoUtc(fn.created_at),
      updated_at: isoUtc(fn.updated_at),
      last_executed: isoUtc(metrics.last_invoked_at),
      execution_count: metrics.invocations.total,
      project: fn.project,
      runtime: fn.runtime,
      handler: fn.handler,
      version: fn.version,
      execution_type: fn.execution_type,
    };
  }

  /** DELETE /api/v1/functions/{project_name}/{function_name}. @throws PROJECT_NOT_FOUND, FUNCTION_NOT_FOUND */
  async deleteFunction(project: string, name: string): Promise<void> {
    const fn = await this.resolve(project, name);
    await this.functions.delete(fn.function_id);
  }

  /**
   * POST /api/v1/functions/{project_name}/{function_name}/invoke: the native invocation with `event`;
   * a sync function's caller waits for the run (INVOKE_TIMEOUT_MS).
   * @throws AppError as FunctionService.invoke; TIMEOUT (details.job_id) when the wait ran out;
   *   JOB_NOT_FOUND when the job was removed while waited for.
   */
  async invoke(project: string, name: string, event: unknown, requestId: string): Promise<FaasInvokeOutcome> {
    const fn = await this.resolve(project, name);
    const out = await this.functions.invoke(fn.function_id, event, {}, requestId);
    if (out.kind === 'async') return { kind: 'accepted', job: out.job };
    if (out.outcome.kind === 'timeout') {
      throw new AppError('TIMEOUT', `the function did not finish within the invocation wait; poll GET /jobs/${out.job_id} for its result`, { field: null, job_id: out.job_id });
    }
    if (out.outcome.kind === 'gone') throw new AppError('JOB_NOT_FOUND', `the run of '${name}' was removed before it finished`, { job_id: out.job_id });
    return { kind: 'finished', job: out.outcome.job };
  }
}
