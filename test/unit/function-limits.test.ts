import { expect } from 'chai';
import { FunctionCreateSchema } from '../../api/schemas/functions.js';
import { EnvMapSchema } from '../../api/schemas/projects.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';
import {
  MAX_DEPENDENCIES,
  MAX_DEPENDENCY_SPEC_CHARS,
  MAX_ENV_NAME_CHARS,
  MAX_FUNCTION_ENV_VALUE_CHARS,
  MAX_FUNCTION_ENV_VARS,
  MAX_PROJECT_ENV_VALUE_BYTES,
  MAX_PROJECT_ENV_VARS,
} from '../../shared/functions/limits.js';

const deploy = (extra: Record<string, unknown>) => FunctionCreateSchema.safeParse({ name: 'f', runtime: 'nodejs', code: 'function handler() {}', ...extra });

describe('function limits (one definition for the API and the worker)', () => {
  it('refuses a dependency spec one character over the limit at deploy and in the installer alike', () => {
    const ok = `a${'b'.repeat(MAX_DEPENDENCY_SPEC_CHARS - 1)}`;
    const long = `${ok}c`;
    expect(deploy({ dependencies: [ok] }).success).to.equal(true);
    expect(deploy({ dependencies: [long] }).success).to.equal(false);
    expect(() => validateDependencies('nodejs', [ok.slice(0, 214)])).not.to.throw();
    expect(() => validateDependencies('nodejs', [long])).to.throw(`longer than ${MAX_DEPENDENCY_SPEC_CHARS} characters`);
  });

  it('refuses more than MAX_DEPENDENCIES entries at deploy and in the installer alike', () => {
    const list = Array.from({ length: MAX_DEPENDENCIES + 1 }, (_, i) => `pkg${i}`);
    expect(deploy({ dependencies: list.slice(0, MAX_DEPENDENCIES) }).success).to.equal(true);
    expect(deploy({ dependencies: list }).success).to.equal(false);
    expect(() => validateDependencies('nodejs', list)).to.throw(`more than ${MAX_DEPENDENCIES} entries`);
  });

  it('takes env names up to MAX_ENV_NAME_CHARS for functions and projects alike', () => {
    const ok = 'A'.repeat(MAX_ENV_NAME_CHARS);
    const long = `${ok}B`;
    expect(deploy({ env: { [ok]: 'v' } }).success).to.equal(true);
    expect(deploy({ env: { [long]: 'v' } }).success).to.equal(false);
    expect(EnvMapSchema.safeParse({ [ok]: 'v' }).success).to.equal(true);
    expect(EnvMapSchema.safeParse({ [long]: 'v' }).success).to.equal(false);
  });

  it('holds function and project env to the limits of shared/functions/limits.ts (each defined once)', () => {
    const vars = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`V${i}`, 'v']));
    expect(deploy({ env: vars(MAX_FUNCTION_ENV_VARS) }).success).to.equal(true);
    expect(deploy({ env: vars(MAX_FUNCTION_ENV_VARS + 1) }).success).to.equal(false);
    expect(deploy({ env: { V: 'x'.repeat(MAX_FUNCTION_ENV_VALUE_CHARS) } }).success).to.equal(true);
    expect(deploy({ env: { V: 'x'.repeat(MAX_FUNCTION_ENV_VALUE_CHARS + 1) } }).success).to.equal(false);
    expect(EnvMapSchema.safeParse(vars(MAX_PROJECT_ENV_VARS)).success).to.equal(true);
    expect(EnvMapSchema.safeParse(vars(MAX_PROJECT_ENV_VARS + 1)).success).to.equal(false);
    // Project values count UTF-8 bytes: "é" is 2 of them.
    expect(EnvMapSchema.safeParse({ V: 'é'.repeat(MAX_PROJECT_ENV_VALUE_BYTES / 2) }).success).to.equal(true);
    expect(EnvMapSchema.safeParse({ V: `${'é'.repeat(MAX_PROJECT_ENV_VALUE_BYTES / 2)}x` }).success).to.equal(false);
    // The values themselves are unchanged by defining them once.
    expect([MAX_FUNCTION_ENV_VARS, MAX_FUNCTION_ENV_VALUE_CHARS, MAX_PROJECT_ENV_VARS, MAX_PROJECT_ENV_VALUE_BYTES]).to.deep.equal([100, 32 * 1024, 200, 4096]);
  });

  it('names both the pattern and the length cap when a project env name is refused', () => {
    const result = EnvMapSchema.safeParse({ [`${'A'.repeat(MAX_ENV_NAME_CHARS)}B`]: 'v' });
    expect(result.success).to.equal(false);
    // zod reports a bad record key as one issue holding the key's own issues.
    const issues = result.error?.issues ?? [];
    const message = issues.flatMap((i) => ('issues' in i ? (i.issues as { message: string }[]).map((n) => n.message) : [i.message])).join('; ');
    expect(message).to.include('^[A-Za-z_][A-Za-z0-9_]*$');
    expect(message).to.include(`at most ${MAX_ENV_NAME_CHARS} characters`);
  });
});
