import { z } from 'zod';
import type { Algorithm } from './algorithm.js';
import { crash, echo, sleep } from './diagnostics.js';
import { primeChecker } from './prime-checker.js';

/**
 * Every algorithm the service offers. To add one: write `shared/algorithms/<name>.ts` exporting a
 * `defineAlgorithm({...})`, and add it to this list.
 */
const ALGORITHMS: readonly Algorithm<any, unknown>[] = [primeChecker];

/** Registered only with DIAGNOSTIC_ALGORITHMS=true. */
const DIAGNOSTIC_ALGORITHMS: readonly Algorithm<any, unknown>[] = [echo, sleep, crash];

/** The FunctionalScaffold API reference: `POST /invoke` without `algorithm` runs this one. */
export const DEFAULT_ALGORITHM = primeChecker.name;

/** Description of an algorithm for GET /algorithms. */
export interface AlgorithmInfo {
  name: string;
  version: string;
  description: string;
  /** JSON Schema (draft 2020-12) of params. */
  params_schema: unknown;
}

/** The algorithms a process serves, by name. */
export class AlgorithmRegistry {
  private readonly byName = new Map<string, Algorithm<any, unknown>>();

  constructor(opts: { diagnostic?: boolean } = {}) {
    for (const a of [...ALGORITHMS, ...(opts.diagnostic ? DIAGNOSTIC_ALGORITHMS : [])]) this.byName.set(a.name, a);
  }

  /** The algorithm called `name`, or undefined. */
  get(name: string): Algorithm<any, unknown> | undefined {
    return this.byName.get(name);
  }

  /** Names, in registration order (details.available_algorithms). */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every algorithm's description and params JSON Schema. */
  describe(): AlgorithmInfo[] {
    return [...this.byName.values()].map((a) => ({
      name: a.name,
      version: a.version,
      description: a.description,
      params_schema: z.toJSONSchema(a.params, { io: 'input', unrepresentable: 'any' }),
    }));
  }
}
