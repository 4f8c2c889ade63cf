/**
 * Dependency installer of user functions (docs/functions.md, "Dependencies"): installs a function version's
 * `dependencies` once into a per-version folder that {@link FunctionSpec.deps_dir} then points at
 * (bound read-only into the sandbox, read by `nobody`).
 *
 * Rules, and why:
 * - **No shell.** npm and pip are spawned with an argument array; every spec is validated first
 *   (shared/functions/dependency-specs.ts) and one that looks like an option (`-e`, `--index-url=...`) is
 *   refused, so a spec can only ever name a package.
 * - **No code runs at install.** npm runs with `--ignore-scripts` (no preinstall/install/postinstall
 *   scripts: they would run as the worker's user, root in the container, outside any sandbox). A
 *   package that needs a build script (native addons) therefore does not work; pure JS does. pip runs
 *   with `--only-binary=:all:`: wheels only, never an sdist's setup.py. A package without a wheel for
 *   this platform fails to install with pip's message in the log.
 * - **Sources.** npm: registry names (`lodash`, `@scope/pkg`, `name@1.2.3`, `name@^1`, `name@latest`)
 *   and `file:<absolute path>` under FUNCTION_LOCAL_PACKAGES_DIR (a folder or a .tgz, copied in with
 *   `--install-links`, never symlinked: the sandbox binds node_modules only). pip: requirement lines
 *   (`name`, `name[extra]`, `name==1.0`, `name>=1,<2`, `; python_version >= "3.8"` markers) and the
 *   absolute path of a `.whl` under FUNCTION_LOCAL_PACKAGES_DIR. URLs, git, `npm:` aliases, other
 *   paths and pip options are refused. Without FUNCTION_LOCAL_PACKAGES_DIR no local path is accepted.
 * - **Once per version, atomically.** The result lives in `dir` with a marker file holding the hash
 *   of the runtime and the dependency list; a second call with the same list is a no-op. The install
 *   goes to a temporary sibling folder that is renamed onto `dir` only when it succeeded, so a reader
 *   never sees half an install, and two installers racing on one host both end with the same folder.
 * - **World-readable** result (dirs 0755, files 0644 or 0755): functions run as nobody.
 * - **Time-limited**: the installer's process group is killed (SIGKILL) at `timeoutMs`.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inheritableEnv } from '../../shared/config.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';
import { SANDBOX_PATH } from '../../shared/functions/executables.js';
import { resolveRuntime, type FunctionRuntime } from '../../shared/functions/runtimes.js';
import type { Logger } from '../../shared/logger.js';
import { redactText } from '../../shared/logger.js';


/** Largest install log kept, in bytes: the tail is kept (errors come last), behind a marker line. */
export const INSTALL_LOG_MAX_BYTES = 64 * 1024;
/** Name of the marker file in a version folder (JSON: {@link InstallMarker}). */
export const MARKER_FILE = '.fnqueue-deps.json';
/** Default install time limit (FUNCTION_BUILD_TIMEOUT_MS's default), in ms. */
export const DEFAULT_INSTALL_TIMEOUT_MS = 300_000;

/** What {@link installDependencies} installs, and where. */
export interface InstallRequest {
  runtime: FunctionRuntime;
  /** npm specs (nodejs) or requirement lines (python); see the module comment for what is accepted. Empty: an empty folder is made. */
  dependencies: readonly string[];
  /** The version folder, absolute, e.g. `FUNCTIONS_DIR/<function_id>/v<version>`. Created (with its parents) when missing. */
  dir: string;
  /** Kill the installer after this many ms. Default {@link DEFAULT_INSTALL_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Start/finish lines go here. */
  logger?: Logger;
  /** Root under which local package paths (`file:` for npm, `.whl` for pip) are accepted; unset: none are. */
  localRoot?: string;
  /** Python interpreter whose pip installs (the one functions run with). Default `python3` on PATH, resolved like the pool does. */
  python?: string;
  /** npm command. Default `npm` on PATH. */
  npm?: string;
  /**
   * The environment the installer's variables are taken from (PATH, HOME, npm_config_*, PIP_*, proxies:
   * see {@link installerEnv}). Default the service's, as read by shared/config.ts's inheritableEnv().
   */
  env?: Record<string, string | undefined>;
}

/** The outcome of {@link installDependencies}. */
export interface InstallResult {
  ok: boolean;
  /** npm's or pip's output (stdout and stderr interleaved), at most {@link INSTALL_LOG_MAX_BYTES}; on refusal, the reason. */
  log: string;
  /** Wall time of this call, in ms. */
  duration_ms: number;
  /** True when the folder was already installed with this list (nothing ran). */
  cached: boolean;
  /** What FunctionSpec.deps_dir should be on success: `dir` for nodejs (holds node_modules), `dir/python` for python. */
  deps_dir: string;
  /** The installer's exit code; null when it did not run or was killed. */
  exit_code: number | null;
  /** True when it was killed at `timeoutMs`. */
  timed_out: boolean;
}

/** The marker file's content. */
export interface InstallMarker {
  hash: string;
  runtime: FunctionRuntime;
  dependencies: string[];
  installed_at: string;
  duration_ms: number;
}

/** Refuses a local path whose real path (symlinks followed) leaves the root. */
async function checkLocalRealpaths(args: readonly string[], runtime: FunctionRuntime, localRoot: string | undefined): Promise<string | null> {
  if (!localRoot) return null;
  const root = await realpath(localRoot).catch(() => path.resolve(localRoot));
  for (const a of args) {
    const p = runtime === 'nodejs' ? (a.startsWith('file:') ? a.slice(5) : null) : a.startsWith('/') ? a : null;
    if (!p) continue;
    let real: string;
    try {
      real = await realpath(p);
    } catch {
      return `local package not found: ${p}`;
    }
    if (!(real + '/').startsWith(root + '/')) return `local package ${p} resolves outside FUNCTION_LOCAL_PACKAGES_DIR`;
  }
  return null;
}

/** The marker hash of a list: sha256 of the runtime and the accepted arguments, in order. */
export function dependencyHash(runtime: FunctionRuntime, args: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify([runtime, ...args])).digest('hex');
}

/** The folder FunctionSpec.deps_dir names for a version folder. */
export function depsDirOf(runtime: FunctionRuntime, dir: string): string {
  return runtime === 'python' ? path.join(dir, 'python') : dir;
}

/** Reads a version folder's marker; null when missing or unreadable. */
export async function readMarker(dir: string): Promise<InstallMarker | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, MARKER_FILE), 'utf8')) as InstallMarker;
  } catch {
    return null;
  }
}

/** Installs in flight in this process, by folder: a second caller waits for the first. */
const inFlight = new Map<string, Promise<InstallResult>>();

/**
 * Installs `dependencies` for `runtime` into `dir`, once (see the module comment). Never throws for
 * a failed install: `ok` is false and `log` says why (a refused spec, npm's or pip's error, the
 * timeout).
 */
export function installDependencies(req: InstallRequest): Promise<InstallResult> {
  const dir = path.resolve(req.dir);
  const running = inFlight.get(dir);
  if (running) return running;
  const p = doInstall({ ...req, dir }).finally(() => inFlight.delete(dir));
  inFlight.set(dir, p);
  return p;
}

async function doInstall(req: InstallRequest): Promise<InstallResult> {
  const started = performance.now();
  const depsDir = depsDirOf(req.runtime, req.dir);
  const result = (ok: boolean, log: string, extra: Partial<InstallResult> = {}): InstallResult => ({
    ok,
    log: capLog(log),
    duration_ms: Math.round(performance.now() - started),
    cached: false,
    deps_dir: depsDir,
    exit_code: null,
    timed_out: false,
    ...extra,
  });

  let args: string[];
  try {
    args = validateDependencies(req.runtime, req.dependencies, req.localRoot);
  } catch (err) {
    return result(false, `refused: ${(err as Error).message}\n`);
  }
  const hash = dependencyHash(req.runtime, args);
  const marker = await readMarker(req.dir);
  if (marker?.hash === hash && existsSync(depsDir)) return result(true, '', { cached: true, exit_code: 0 });

  const localProblem = await checkLocalRealpaths(args, req.runtime, req.localRoot);
  if (localProblem) return result(false, `refused: ${localProblem}\n`);

  const parent = path.dirname(req.dir);
  await mkdirReadable(parent);
  const tmp = path.join(parent, `.tmp-${path.basename(req.dir)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { mode: 0o755 });
  try {
    let run: RunOutcome = { code: 0, timedOut: false, log: '' };
    if (req.runtime === 'nodejs') {
      // Always a package.json, so node_modules exists and the folder is a valid --prefix even with no deps.
      await writeFile(path.join(tmp, 'package.json'), JSON.stringify({ name: 'fnqueue-function-deps', private: true }, null, 2) + '\n');
      if (args.length) {
        run = await runInstaller(
          req.npm ?? 'npm',
          ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--install-links', '--no-update-notifier', '--omit=dev', '--prefix', tmp, '--', ...args],
          tmp,
          req.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
          req.env,
        );
      }
      await mkdir(path.join(tmp, 'node_modules'), { recursive: true });
    } else {
      const target = path.join(tmp, 'python');
      await mkdir(target);
      if (args.length) {
        const python = (await resolveRuntime('python', req.python, req.env?.PATH)).executable;
        run = await runInstaller(
          python,
          ['-m', 'pip', 'install', '--target', target, '--no-input', '--disable-pip-version-check', '--only-binary=:all:', '--no-warn-script-location', '--', ...args],
          tmp,
          req.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
          req.env,
        );
      }
    }
    if (run.timedOut) {
      return result(false, `${run.log}\ninstall killed after ${req.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS} ms (FUNCTION_BUILD_TIMEOUT_MS)\n`, { timed_out: true });
    }
    if (run.code !== 0) return result(false, `${run.log}\ninstaller exited with code ${run.code}\n`, { exit_code: run.code });

    const duration = Math.round(performance.now() - started);
    const content: InstallMarker = { hash, runtime: req.runtime, dependencies: args, installed_at: new Date().toISOString(), duration_ms: duration };
    await writeFile(path.join(tmp, MARKER_FILE), JSON.stringify(content) + '\n');
    await makeWorldReadable(tmp);
    await swapInto(tmp, req.dir, hash);
    req.logger?.info('function dependencies installed', { runtime: req.runtime, dir: req.dir, count: args.length, duration_ms: duration });
    return result(true, run.log, { exit_code: run.code });
  } catch (err) {
    req.logger?.warn('function dependency install failed', { dir: req.dir, error: String(err) });
    return result(false, `install failed: ${(err as Error).message}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Puts the finished install at `dir`: a plain rename when `dir` is absent; when another installer
 * got there first with the same hash, keeps theirs; when `dir` holds something else (an older,
 * failed or different install), moves it aside, renames, then removes the old one.
 */
async function swapInto(tmp: string, dir: string, hash: string): Promise<void> {
  try {
    await rename(tmp, dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  if ((await readMarker(dir))?.hash === hash) return; // a concurrent install of the same list won
  const old = `${tmp}-old`;
  await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/** mkdir -p with every created folder 0755 (folders above a version folder must be traversable). */
async function mkdirReadable(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755).catch(() => undefined);
}

/** Gives everyone read access (and execute where the owner has it) to a tree; symlinks are left as they are. */
export async function makeWorldReadable(root: string): Promise<void> {
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      await chmod(p, (st.mode & 0o7777) | 0o755);
      for (const name of await readdir(p)) stack.push(path.join(p, name));
    } else {
      const exec = st.mode & 0o100 ? 0o055 : 0;
      await chmod(p, (st.mode & 0o7777) | 0o444 | exec);
    }
  }
}

interface RunOutcome {
  code: number | null;
  timedOut: boolean;
  log: string;
}

/**
 * The installer's environment: PATH, HOME (npm's and pip's caches) and locale from this process, plus
 * the installers' own settings (npm_config_*, PIP_*, proxies) so a registry can be configured; never
 * the service's other variables (REDIS_URL, secrets).
 */
export function installerEnv(source: Record<string, string | undefined> = inheritableEnv()): Record<string, string> {
  const env: Record<string, string> = { PATH: source.PATH ?? SANDBOX_PATH, HOME: source.HOME ?? '/tmp', LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue;
    if (/^(npm_config_|NPM_CONFIG_|PIP_|PYENV|HTTPS?_PROXY$|NO_PROXY$|https?_proxy$|no_proxy$)/.test(k)) env[k] = v;
  }
  env.npm_config_update_notifier = 'false';
  return env;
}

/** Runs an installer in its own process group, collecting a capped log; kills the group at `timeoutMs`. */
function runInstaller(command: string, args: string[], cwd: string, timeoutMs: number, source: Record<string, string | undefined> | undefined): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: installerEnv(source), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let kept = 0;
    let dropped = 0;
    const take = (b: Buffer) => {
      chunks.push(b);
      kept += b.length;
      while (kept > INSTALL_LOG_MAX_BYTES * 2 && chunks.length > 1) {
        const first = chunks.shift()!;
        kept -= first.length;
        dropped += first.length;
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    const finish = (code: number | null, extra = '') => {
      clearTimeout(timer);
      const head = dropped ? `[${dropped} bytes of earlier output dropped]\n` : '';
      resolve({ code, timedOut, log: redactText(head + Buffer.concat(chunks).toString('utf8') + extra) });
    };
    child.on('error', (err) => finish(null, `\ncould not start ${command}: ${err.message}\n`));
    child.on('close', (code) => finish(code));
  });
}

/** The last {@link INSTALL_LOG_MAX_BYTES} of a log, behind a marker line when cut. */
export function capLog(log: string): string {
  const buf = Buffer.from(log, 'utf8');
  if (buf.length <= INSTALL_LOG_MAX_BYTES) return log;
  const marker = `[install log truncated: first ${buf.length - INSTALL_LOG_MAX_BYTES} bytes dropped]\n`;
  return marker + buf.subarray(buf.length - INSTALL_LOG_MAX_BYTES + Buffer.byteLength(marker)).toString('utf8');
}
