/**
 * The build flow of function versions with dependencies (point 6): a version is created
 * `building` and a job goes to the `builds` queue (one per version: jobId `<function_id>-v<version>`);
 * a worker takes it, installs the dependencies into `FUNCTIONS_DIR/<function_id>/v<version>/` on its
 * host ({@link installDependencies}) and sets the version `active` or `failed`, with the install log
 * as the version's and the record's `build_log`. Every worker serves the builds queue, whatever its
 * pool. A worker on another host installs lazily on the first run of that version there
 * ({@link FunctionBuilder.ensureInstalled}: the same idempotent call, a no-op once installed).
 */
import path from 'node:path';
import type { Job, Queue } from 'bullmq';
import { AppError, dependenciesNotInstalled } from '../../shared/errors/index.js';
import type { FunctionStore, FunctionVersion } from '../../shared/store/function-store.js';
import type { Logger } from '../../shared/logger.js';
import type { BuildJobData } from '../../shared/queue/builds-queue.js';
import { installDependencies, type InstallResult } from './dependencies.js';

// The builds queue's data and enqueue live in shared/queue/builds-queue.ts (the API enqueues builds too).

/** Function ids that may name a folder (the service's ids are 12 hex characters; nothing with `/` or `..`). */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The version folder of a function version: `<functionsDir>/<function_id>/v<version>`.
 * @throws AppError VALIDATION_ERROR for an id or version that cannot name a folder.
 */
export function versionDir(functionsDir: string, functionId: string, version: number): string {
  if (!SAFE_ID.test(functionId) || !Number.isInteger(version) || version < 1) {
    throw new AppError('VALIDATION_ERROR', 'function_id and version must name a folder', { function_id: functionId, version });
  }
  return path.join(functionsDir, functionId, `v${version}`);
}

/** What a {@link FunctionBuilder} needs. */
export interface FunctionBuilderOptions {
  store: Pick<FunctionStore, 'getVersion' | 'setStatus' | 'setDepsDir'>;
  /** FUNCTIONS_DIR, absolute (config `functionsDir()`). */
  functionsDir: string;
  /** FUNCTION_BUILD_TIMEOUT_MS. */
  timeoutMs: number;
  /** FUNCTION_LOCAL_PACKAGES_DIR. */
  localRoot?: string;
  logger?: Logger;
  /** Python interpreter whose pip installs (the pool's). */
  python?: string;
  /** Environment npm's and pip's settings come from (see installDependencies' `env`). Default the service's. */
  env?: Record<string, string | undefined>;
}

/** Installs function versions' dependencies on this host: the builds worker's job, and lazily before a run. */
export class FunctionBuilder {
  /** Versions installed on this host by this process (`<function_id> v<version>` → deps_dir): a warm run costs no file read. */
  private readonly ready = new Map<string, string>();

  constructor(private readonly opts: FunctionBuilderOptions) {}

  private install(v: Pick<FunctionVersion, 'function_id' | 'version' | 'runtime' | 'dependencies'>): Promise<InstallResult> {
    return installDependencies({
      runtime: v.runtime,
      dependencies: v.dependencies,
      dir: versionDir(this.opts.functionsDir, v.function_id, v.version),
      timeoutMs: this.opts.timeoutMs,
      localRoot: this.opts.localRoot,
      logger: this.opts.logger,
      python: this.opts.python,
      env: this.opts.env,
    });
  }

  /**
   * Builds one version (the builds queue's processor): installs its dependencies, then sets it
   * `active` (recording deps_dir) or `failed`, with the install log. A version that has expired
   * or has no dependencies is set active without installing.
   * @returns the install result, or null when the version no longer exists.
   */
  async build(functionId: string, version: number): Promise<InstallResult | null> {
    const v = await this.opts.store.getVersion(functionId, version);
    if (!v) return null;
    if (v.dependencies.length === 0) {
      await this.opts.store.setStatus(functionId, version, 'active');
      return null;
    }
    const result = await this.install(v);
    if (result.ok) await this.opts.store.setDepsDir(functionId, version, result.deps_dir);
    const log = result.cached && !result.log ? `dependencies already installed on this host (${result.deps_dir})\n` : result.log;
    await this.opts.store.setStatus(functionId, version, result.ok ? 'active' : 'failed', log);
    this.opts.logger?.info(result.ok ? 'function build succeeded' : 'function build failed', { function_id: functionId, version, duration_ms: result.duration_ms, timed_out: result.timed_out });
    return result;
  }

  /**
   * The deps_dir a run of `v` should use on this host, installing first when this host has not yet
   * (lazy install on first use; a no-op once installed). Undefined when the version has no dependencies.
   * @throws AppError CONFLICT when the install fails here (details.build_log holds the log).
   */
  async ensureInstalled(v: Pick<FunctionVersion, 'function_id' | 'version' | 'runtime' | 'dependencies'>): Promise<string | undefined> {
    if (v.dependencies.length === 0) return undefined;
    const key = `${v.function_id} v${v.version}`;
    const known = this.ready.get(key);
    if (known) return known;
    const result = await this.install(v);
    if (!result.ok) {
      throw dependenciesNotInstalled(v.function_id, v.version, result.log);
    }
    if (this.ready.size >= 10_000) this.ready.clear();
    this.ready.set(key, result.deps_dir);
    return result.deps_dir;
  }

  /** A BullMQ processor for the builds queue. */
  processor(): (job: Job<BuildJobData>) => Promise<{ ok: boolean } | null> {
    return async (job) => {
      const r = await this.build(job.data.function_id, job.data.version);
      return r && { ok: r.ok };
    };
  }
}
