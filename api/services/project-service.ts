/**
 * Projects (the project FaaS API reference): a name grouping functions (`function.project`, default
 * `default`), with its own env (a Redis hash, layered between the system env and the function's),
 * dependency lists per runtime, and a state, `running` or `stopped`: a stopped project's functions
 * refuse invocation ({@link isProjectRunning}, checked on invoke).
 *
 * Stored by shared/store/project-store.ts (records, env) and shared/store/function-store.ts (functions).
 * A project exists once it has a record (created by a deploy into it, PUT env or dependencies,
 * {@link ProjectService.ensure}) or functions; `default` always exists.
 */
import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import type { RedisConnection as Redis } from '../../shared/queue/redis.js';
import { z } from 'zod';
import { toolEnv } from '../../shared/config.js';
import { AppError, projectNotFound, validationError } from '../../shared/errors/index.js';
import { PROJECT_NAME_PATTERN, PROJECT_NAME_RULE } from '../../shared/schemas/project-name.js';
import { DEFAULT_PROJECT, type FunctionRecord, type FunctionStore } from '../../shared/store/function-store.js';
import { redact } from '../../shared/logger.js';
import type { Keys } from '../../shared/store/keys.js';
import { EnvStore, ProjectStore } from '../../shared/store/project-store.js';
import { resolveRuntime } from '../../shared/functions/runtimes.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';
import { MAX_PROJECT_ENV_VARS } from '../../shared/functions/limits.js';
import { DependencyListsSchema, EnvMapSchema, ProjectEnvPutSchema, type ProjectDependenciesSchema, type ProjectListSchema, type ProjectSchema, type ProjectStateSchema, type SystemDependenciesSchema } from '../schemas/projects.js';

/** A project's state. */
export type ProjectStatus = 'running' | 'stopped';
/** Dependency lists of a project, per runtime. */
export type DependencyLists = z.infer<typeof DependencyListsSchema>;

/** How long GET /dependencies/system's figures are cached per API process, in ms (pip list takes ~0.5 s). */
const SYSTEM_DEPS_TTL_MS = 10 * 60_000;
/** Longest a version probe (`npm --version`, `pip list`) may take, in ms. */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * Whether a project's functions may be invoked: true unless the project was stopped
 * (POST /projects/{name}/stop). An unknown project counts as running. One HGET.
 */
export async function isProjectRunning(redis: Redis, keys: Keys, name: string): Promise<boolean> {
  return new ProjectStore(redis, keys).isRunning(name);
}


/** `name` if it is a valid project name. @throws AppError VALIDATION_ERROR (field `name`). */
export function checkProjectName(name: string): string {
  if (!PROJECT_NAME_PATTERN.test(name)) {
    throw new AppError('VALIDATION_ERROR', `name must be ${PROJECT_NAME_RULE}`, { field: 'name', value: name.slice(0, 100) });
  }
  return name;
}

/** Env values with secret-looking names and credentials in values masked (shared/logger.ts's redaction rules). */
export function redactEnv(env: Record<string, string>): Record<string, string> {
  return redact(env) as Record<string, string>;
}

/** What a {@link ProjectService} needs. */
export interface ProjectServiceOptions {
  /** A command connection (the request connection). */
  redis: Redis;
  keys: Keys;
  functions: Pick<FunctionStore, 'list' | 'idsOfProject' | 'projectsOfAll' | 'count'>;
  /** FUNCTION_LOCAL_PACKAGES_DIR, for validating local package paths in dependency lists. */
  localPackagesDir?: string;
  /** Python interpreter functions run with (for GET /dependencies/system). Default `python3`. */
  python?: string;
  /** FUNCTION_SYSTEM_ENV: the system env layer (GET /env/system shows it redacted). */
  systemEnv?: Readonly<Record<string, string>>;
}

/** Projects, their env and dependencies, and the system env and dependencies. */
export class ProjectService {
  private systemDeps?: { at: number; value: Promise<z.infer<typeof SystemDependenciesSchema>> };

  private readonly store: ProjectStore;
  private readonly env: EnvStore;

  constructor(private readonly opts: ProjectServiceOptions) {
    this.store = new ProjectStore(opts.redis, opts.keys);
    this.env = new EnvStore(opts.redis, opts.keys);
  }

  /** Creates the project's record if it has none (status running). Idempotent. */
  async ensure(name: string): Promise<void> {
    checkProjectName(name);
    await this.store.ensure(name, new Date().toISOString());
  }

  /** The record, or null when the project does not exist (see the module comment). */
  private async read(name: string): Promise<Record<string, string> | null> {
    const { record: h, functionCount: count } = await this.store.readWithCount(name);
    if (h.name) return h;
    if (name === DEFAULT_PROJECT || count > 0) return { name };
    return null;
  }

  /** @throws AppError PROJECT_NOT_FOUND. */
  private async mustRead(name: string): Promise<Record<string, string>> {
    checkProjectName(name);
    const h = await this.read(name);
    if (!h) throw projectNotFound(name);
    return h;
  }

  /** Whether the project exists (see the module comment). @throws AppError VALIDATION_ERROR for a bad name. */
  async exists(name: string): Promise<boolean> {
    checkProjectName(name);
    return (await this.read(name)) !== null;
  }

  /**
   * Every project name: those with a record (oldest first), `default`, and any named by a function
   * created through POST /functions without a record yet (one HGET per function, pipelined).
   */
  private async names(): Promise<string[]> {
    const [recorded, projects] = await Promise.all([this.store.recordedNames(), this.opts.functions.projectsOfAll()]);
    const names = new Set(recorded);
    names.add(DEFAULT_PROJECT);
    for (const project of projects) if (project) names.add(project);
    return [...names];
  }

  /** GET /projects: every project (with `default`), oldest first, with its status and function count. */
  async list(): Promise<z.infer<typeof ProjectListSchema>> {
    const names = await this.names();
    const rows = await this.store.readMany(names);
    const projects = names.map((name, i) => {
      const h = rows[i]?.record ?? {};
      return {
        name,
        status: (h.status === 'stopped' ? 'stopped' : 'running') as ProjectStatus,
        function_count: rows[i]?.functionCount ?? 0,
        created_at: h.created_at ?? null,
        updated_at: h.updated_at ?? null,
      };
    });
    return { projects, total: projects.length };
  }

  /** GET /projects/{name}: the project with its functions, env (redacted) and dependencies. @throws PROJECT_NOT_FOUND */
  async get(name: string): Promise<z.infer<typeof ProjectSchema>> {
    const h = await this.mustRead(name);
    const [{ functions }, env] = await Promise.all([this.opts.functions.list({ project: name, limit: 10_000, offset: 0 }), this.env.project(name)]);
    return {
      name,
      status: h.status === 'stopped' ? 'stopped' : 'running',
      function_count: functions.length,
      functions: functions.map((f: FunctionRecord) => ({
        function_id: f.function_id,
        name: f.name,
        runtime: f.runtime,
        execution_type: f.execution_type,
        status: f.status,
        version: f.version,
        updated_at: f.updated_at,
      })),
      env: redactEnv(env),
      dependencies: parseDeps(h.dependencies),
      created_at: h.created_at ?? null,
      updated_at: h.updated_at ?? null,
      started_at: h.started_at ?? null,
      stopped_at: h.stopped_at ?? null,
    };
  }

  /**
   * POST /projects/{name}/start|stop: sets the state (idempotent). Stopping refuses new invocations of
   * the project's functions; runs already started finish. @throws PROJECT_NOT_FOUND
   */
  async setStatus(name: string, status: ProjectStatus): Promise<z.infer<typeof ProjectStateSchema>> {
    await this.mustRead(name);
    await this.ensure(name);
    const now = new Date().toISOString();
    const timeField = status === 'running' ? 'started_at' : 'stopped_at';
    await this.store.setFields(name, { status, [timeField]: now, updated_at: now });
    return {
      status: 'success',
      message: status === 'running' ? `project '${name}' started` : `project '${name}' stopped`,
      project: { name, status, ...(status === 'running' ? { start_time: now } : { stop_time: now }) },
    };
  }

  /** GET /status's figures: projects in total, running and stopped (`default` included), and functions deployed. */
  async counts(): Promise<{ total: number; running: number; stopped: number; functions: number }> {
    const names = await this.names();
    const [functions, statuses] = await Promise.all([this.opts.functions.count(), this.store.statuses(names)]);
    const stopped = statuses.filter((s) => s === 'stopped').length;
    return { total: names.length, running: names.length - stopped, stopped, functions };
  }

  /** Whether the project's functions may be invoked (see {@link isProjectRunning}). */
  isRunning(name: string): Promise<boolean> {
    return this.store.isRunning(name);
  }

  /** GET /projects/{name}/env (redacted). @throws PROJECT_NOT_FOUND */
  async getEnv(name: string): Promise<{ project: string; env: Record<string, string> }> {
    await this.mustRead(name);
    return { project: name, env: redactEnv(await this.env.project(name)) };
  }

  /**
   * PUT /projects/{name}/env: replaces the env (or merges onto it with `merge: true`, where null
   * removes a name). Creates the project when new. Answers the result, redacted.
   * @throws AppError VALIDATION_ERROR naming `env.<NAME>`.
   */
  async putEnv(name: string, body: unknown): Promise<{ project: string; env: Record<string, string> }> {
    checkProjectName(name);
    const parsed = ProjectEnvPutSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error, body);
    const { env, merge } = parsed.data;
    const current = merge ? await this.env.project(name) : {};
    const next: Record<string, string> = { ...current };
    for (const [k, v] of Object.entries(env)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    const checked = EnvMapSchema.safeParse(next);
    if (!checked.success) throw validationError(checked.error, next, ['env']);
    if (Object.keys(next).length > MAX_PROJECT_ENV_VARS) throw new AppError('VALIDATION_ERROR', `env must hold at most ${MAX_PROJECT_ENV_VARS} variables`, { field: 'env' });
    await this.ensure(name);
    await this.env.replaceProject(name, next, new Date().toISOString());
    return { project: name, env: redactEnv(next) };
  }

  /** GET /projects/{name}/dependencies. @throws PROJECT_NOT_FOUND */
  async getDependencies(name: string): Promise<z.infer<typeof ProjectDependenciesSchema>> {
    const h = await this.mustRead(name);
    return { project: name, dependencies: parseDeps(h.dependencies) };
  }

  /** A project's dependency list for one runtime (added before a deployed function's own; empty for an unknown project). */
  async dependenciesFor(name: string, runtime: 'python' | 'nodejs'): Promise<string[]> {
    return parseDeps((await this.store.field(name, 'dependencies')) ?? undefined)[runtime];
  }

  /**
   * PUT /projects/{name}/dependencies `{python?: [...], nodejs?: [...]}`: replaces the lists after
   * validating each spec as the installer would. They apply to functions deployed into the project
   * afterwards (each version installs its own list once); existing versions keep theirs.
   * @throws AppError VALIDATION_ERROR naming `<runtime>.<i>`.
   */
  async putDependencies(name: string, body: unknown): Promise<z.infer<typeof ProjectDependenciesSchema>> {
    checkProjectName(name);
    const parsed = DependencyListsSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error, body);
    const lists = parsed.data;
    for (const runtime of ['python', 'nodejs'] as const) {
      try {
        validateDependencies(runtime, lists[runtime], this.opts.localPackagesDir);
      } catch (err) {
        if (err instanceof AppError) {
          const field = String(err.details.field ?? 'dependencies').replace(/^dependencies/, runtime);
          throw new AppError('VALIDATION_ERROR', err.message.replace(/^dependencies/, runtime), { ...err.details, field });
        }
        throw err;
      }
    }
    const clean = { python: lists.python.map((s) => s.trim()).filter((s) => s && !s.startsWith('#')), nodejs: lists.nodejs.map((s) => s.trim()).filter((s) => s && !s.startsWith('#')) };
    await this.ensure(name);
    await this.store.setFields(name, { dependencies: JSON.stringify(clean), updated_at: new Date().toISOString() });
    return { project: name, dependencies: clean };
  }

  /** GET /env/system: the system env layer every function gets first (FUNCTION_SYSTEM_ENV), redacted; never the service's own environment. */
  systemEnv(): { env: Record<string, string> } {
    return { env: redactEnv({ ...(this.opts.systemEnv ?? {}) }) };
  }

  /**
   * GET /dependencies/system: what the runtimes provide to every function: Node's version, npm's and
   * the builtin modules; Python's version, pip's and `pip list` of the interpreter functions run with.
   * Measured on this API's host, cached {@link SYSTEM_DEPS_TTL_MS}.
   */
  systemDependencies(): Promise<z.infer<typeof SystemDependenciesSchema>> {
    if (!this.systemDeps || Date.now() - this.systemDeps.at > SYSTEM_DEPS_TTL_MS) {
      const value = probeSystemDependencies(this.opts.python);
      this.systemDeps = { at: Date.now(), value };
      value.catch(() => (this.systemDeps = undefined));
    }
    return this.systemDeps.value;
  }
}

/** The dependency lists stored in a project record. */
function parseDeps(raw: string | undefined): DependencyLists {
  if (!raw) return { python: [], nodejs: [] };
  try {
    return DependencyListsSchema.parse(JSON.parse(raw));
  } catch {
    return { python: [], nodejs: [] };
  }
}

/** Runs a probe command (no shell), resolving its stdout, or null when it fails. */
function probe(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 8 * 1024 * 1024, env: toolEnv() }, (err, stdout) => resolve(err ? null : String(stdout)));
  });
}

async function probeSystemDependencies(python?: string): Promise<z.infer<typeof SystemDependenciesSchema>> {
  const py = await resolveRuntime('python', python).catch(() => null);
  const [npmVersion, pipVersion, pipList] = await Promise.all([
    probe('npm', ['--version']),
    py ? probe(py.executable, ['-m', 'pip', '--version', '--disable-pip-version-check']) : Promise.resolve(null),
    py ? probe(py.executable, ['-m', 'pip', 'list', '--format=json', '--disable-pip-version-check']) : Promise.resolve(null),
  ]);
  let packages: Array<{ name: string; version: string }> = [];
  try {
    packages = (JSON.parse(pipList ?? '[]') as Array<{ name: string; version: string }>).map((p) => ({ name: String(p.name), version: String(p.version) }));
  } catch {
    packages = [];
  }
  return {
    nodejs: { version: process.version, npm_version: npmVersion?.trim() || null, builtin_modules: builtinModules.filter((m) => !m.startsWith('_')) },
    python: { version: py?.version ?? null, pip_version: /^pip (\S+)/.exec(pipVersion ?? '')?.[1] ?? null, packages },
    checked_at: new Date().toISOString(),
  };
}
