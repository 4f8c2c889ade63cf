import { z } from 'zod';
import { defineAlgorithm } from './algorithm.js';

/** Params of PrimeChecker (the FunctionalScaffold API reference: `{"number": 17}`). */
export const PrimeCheckerParamsSchema = z.strictObject({
  number: z
    .number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be an integer') })
    .int({ error: 'must be an integer' })
    .min(Number.MIN_SAFE_INTEGER, { error: 'must be a safe integer (|n| <= 9007199254740991)' })
    .max(Number.MAX_SAFE_INTEGER, { error: 'must be a safe integer (|n| <= 9007199254740991)' })
    .meta({ description: 'The integer to check; any safe integer, 0, 1 and negatives included', example: 17 }),
});
export type PrimeCheckerParams = z.infer<typeof PrimeCheckerParamsSchema>;

/** Result of PrimeChecker, the FunctionalScaffold API reference's shape. */
export interface PrimeCheckerResult {
  number: number;
  is_prime: boolean;
  /** Prime factorisation of a composite in ascending order with repeats (12 → [2, 2, 3]); `[]` otherwise. */
  factors: number[];
  algorithm: 'trial_division';
}

/**
 * Trial division by 2, 3 and then 6k ± 1 up to √n. Exact for every safe integer because every
 * intermediate stays below 2^53. At most ~3.2e7 divisions (a prime near 2^53), well under a second.
 *
 * Numbers below 2 (0, 1 and negatives) are neither prime nor composite: `is_prime: false, factors: []`.
 * Primes also get `factors: []` (the FunctionalScaffold API reference); composites get their full prime factorisation.
 */
export function checkPrime(n: number): PrimeCheckerResult {
  const result = (is_prime: boolean, factors: number[]): PrimeCheckerResult => ({ number: n, is_prime, factors, algorithm: 'trial_division' });
  if (n < 2) return result(false, []);
  const factors: number[] = [];
  let rest = n;
  for (const p of [2, 3]) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  for (let d = 5; d * d <= rest; d += 6) {
    while (rest % d === 0) {
      factors.push(d);
      rest /= d;
    }
    const e = d + 2;
    while (rest % e === 0) {
      factors.push(e);
      rest /= e;
    }
  }
  if (rest > 1) factors.push(rest);
  if (factors.length === 1) return result(true, []);
  return result(false, factors);
}

/** The FunctionalScaffold API reference's default algorithm. */
export const primeChecker = defineAlgorithm({
  name: 'PrimeChecker',
  version: '1.0.0',
  description: 'Checks whether an integer is prime by trial division and factorises composites.',
  params: PrimeCheckerParamsSchema,
  run: (params) => checkPrime(params.number),
});
