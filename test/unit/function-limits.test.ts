import { expect } from 'chai';
import { FunctionCreateSchema } from '../../api/function-schemas.js';
import { EnvMapSchema } from '../../api/project-schemas.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';
import { MAX_DEPENDENCIES, MAX_DEPENDENCY_SPEC_CHARS, MAX_ENV_NAME_CHARS } from '../../shared/functions/limits.js';

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
});
