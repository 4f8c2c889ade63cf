/**
 * Dependency specs of a function (docs/functions.md, "Dependencies"): which npm specs and pip
 * requirement lines are accepted, checked by the API at deploy and again by the worker's installer
 * (worker/functions/dependencies.ts) before anything runs.
 *
 * npm: registry names (`lodash`, `@scope/pkg`, `name@1.2.3`, `name@^1`, `name@latest`) and
 * `file:<absolute path>` under FUNCTION_LOCAL_PACKAGES_DIR. pip: requirement lines (`name`,
 * `name[extra]`, `name==1.0`, `name>=1,<2`, `; python_version >= "3.8"` markers) and the absolute
 * path of a `.whl` under FUNCTION_LOCAL_PACKAGES_DIR. URLs, git, `npm:` aliases, other paths and
 * options (anything starting with `-`) are refused, so a spec can only ever name a package.
 * Without FUNCTION_LOCAL_PACKAGES_DIR no local path is accepted.
 */
import path from 'node:path';
import { AppError } from '../errors/index.js';
import { MAX_DEPENDENCIES, MAX_DEPENDENCY_SPEC_CHARS } from './limits.js';
import type { FunctionRuntime } from './runtimes.js';

// npm package names (npm's validate-npm-package-name rules, restricted to what the registry accepts today).
const NPM_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
// A version, range or dist-tag after `@`: semver ranges use these characters (`^1.2.3`, `>=1 <2`, `1.x || 2`).
const NPM_RANGE = /^[A-Za-z0-9.^~<>=*|+ -]{1,100}$/;
// PEP 508 name, optional extras, optional version specifiers, optional environment marker.
const PY_NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const PY_SPEC = '(?:===|==|!=|<=|>=|~=|<|>)\\s*[A-Za-z0-9.*+!_-]+';
const PY_REQUIREMENT = new RegExp(`^${PY_NAME}\\s*(?:\\[\\s*${PY_NAME}(?:\\s*,\\s*${PY_NAME})*\\s*\\])?\\s*(?:\\(?\\s*${PY_SPEC}(?:\\s*,\\s*${PY_SPEC})*\\s*\\)?)?\\s*(?:;[A-Za-z0-9_ .'"<>=!~(),-]+)?$`);

/** One accepted dependency, normalised for the installer's command line. */
interface Accepted {
  /** The argument given to npm or pip. */
  arg: string;
}

const refuse = (index: number, spec: string, reason: string) =>
  new AppError('VALIDATION_ERROR', `dependencies.${index} ${reason}: ${JSON.stringify(spec.slice(0, 100))}`, { field: `dependencies.${index}`, reason });

/**
 * Checks a dependency list for `runtime` (see the module comment for the rules) and returns the
 * installer arguments. Blank lines and `#` comments (requirements.txt style) are dropped.
 * @throws AppError VALIDATION_ERROR naming `dependencies.<i>` and why.
 */
export function validateDependencies(runtime: FunctionRuntime, dependencies: readonly string[], localRoot?: string): string[] {
  if (!Array.isArray(dependencies)) throw new AppError('VALIDATION_ERROR', 'dependencies must be an array of strings', { field: 'dependencies' });
  const out: Accepted[] = [];
  dependencies.forEach((raw, i) => {
    if (typeof raw !== 'string') throw refuse(i, String(raw), 'must be a string');
    const spec = raw.trim();
    if (spec === '' || spec.startsWith('#')) return;
    if (spec.length > MAX_DEPENDENCY_SPEC_CHARS) throw refuse(i, spec, `is longer than ${MAX_DEPENDENCY_SPEC_CHARS} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(spec)) throw refuse(i, spec, 'contains control characters');
    if (spec.startsWith('-')) throw refuse(i, spec, 'looks like an option; only package specs are accepted');
    out.push({ arg: runtime === 'nodejs' ? npmArg(i, spec, localRoot) : pipArg(i, spec, localRoot) });
  });
  if (out.length > MAX_DEPENDENCIES) throw new AppError('VALIDATION_ERROR', `dependencies has more than ${MAX_DEPENDENCIES} entries`, { field: 'dependencies' });
  return out.map((a) => a.arg);
}

/** A local path under `localRoot` (resolved lexically; symlinks are checked at install by {@link checkLocalRealpaths}). */
function localPath(i: number, spec: string, p: string, localRoot: string | undefined): string {
  if (!localRoot) throw refuse(i, spec, 'is a local path, and FUNCTION_LOCAL_PACKAGES_DIR is not set: only registry packages are accepted');
  if (!path.isAbsolute(p)) throw refuse(i, spec, 'must be an absolute path');
  const root = path.resolve(localRoot);
  const resolved = path.resolve(p);
  if (resolved !== p.replace(/\/+$/, '') || !(resolved + '/').startsWith(root + '/') || resolved === root) {
    throw refuse(i, spec, `must be a path under FUNCTION_LOCAL_PACKAGES_DIR (${root})`);
  }
  return resolved;
}

function npmArg(i: number, spec: string, localRoot: string | undefined): string {
  if (spec.startsWith('file:')) return `file:${localPath(i, spec, spec.slice(5), localRoot)}`;
  // name, @scope/name, name@range, @scope/name@range
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? undefined : spec.slice(at + 1);
  if (!NPM_NAME.test(name) || name.length > 214) throw refuse(i, spec, 'is not an npm package name (name, @scope/name, name@version or file:<path>)');
  if (range !== undefined && (!NPM_RANGE.test(range) || range.trim() === '')) throw refuse(i, spec, 'has a version that is not a semver range or tag (URLs, git and npm: aliases are refused)');
  return spec;
}

function pipArg(i: number, spec: string, localRoot: string | undefined): string {
  if (spec.startsWith('/') || spec.startsWith('file:')) {
    const p = spec.startsWith('file://') ? spec.slice(7) : spec.startsWith('file:') ? spec.slice(5) : spec;
    if (!p.endsWith('.whl')) throw refuse(i, spec, 'is a local path that is not a .whl file (only wheels are installed: no setup.py runs)');
    return localPath(i, spec, p, localRoot);
  }
  if (!PY_REQUIREMENT.test(spec)) throw refuse(i, spec, 'is not a requirement line (name, name[extra], name==1.0, name>=1,<2; URLs, paths and pip options are refused)');
  return spec;
}
