import { expect } from 'chai';
import { checkPrime, PrimeCheckerParamsSchema } from '../../shared/algorithms/prime-checker.js';

/** Reference: naive trial division. */
function isPrimeNaive(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

describe('PrimeChecker', () => {
  it('answers the example of the FunctionalScaffold API reference: 17 is prime with no factors', () => {
    expect(checkPrime(17)).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
  });

  it('factorises composites into primes with repeats, in ascending order', () => {
    expect(checkPrime(12).factors).to.deep.equal([2, 2, 3]);
    expect(checkPrime(1024).factors).to.deep.equal(Array(10).fill(2));
    expect(checkPrime(999_983 * 999_979).factors).to.deep.equal([999_979, 999_983]);
    expect(checkPrime(25).factors).to.deep.equal([5, 5]);
    expect(checkPrime(49).factors).to.deep.equal([7, 7]);
  });

  it('treats 0, 1 and negatives as not prime with no factors', () => {
    for (const n of [0, 1, -1, -2, -17, Number.MIN_SAFE_INTEGER]) {
      expect(checkPrime(n)).to.include({ number: n, is_prime: false }).and.to.have.property('factors').that.deep.equals([]);
    }
  });

  it('agrees with naive trial division on 0..5000, and factors multiply back', () => {
    for (let n = 0; n <= 5000; n++) {
      const r = checkPrime(n);
      expect(r.is_prime, `n=${n}`).to.equal(isPrimeNaive(n));
      if (n >= 2 && !r.is_prime) {
        expect(r.factors.reduce((a, b) => a * b, 1), `n=${n}`).to.equal(n);
        for (const f of r.factors) expect(isPrimeNaive(f), `factor ${f} of ${n}`).to.equal(true);
      }
    }
  });

  it('is exact at the top of the safe integers', () => {
    expect(checkPrime(Number.MAX_SAFE_INTEGER).factors).to.deep.equal([6361, 69431, 20394401]);
    expect(checkPrime(9_007_199_254_740_881).is_prime).to.equal(true); // the largest safe prime
    expect(checkPrime(2 ** 52).factors).to.have.length(52);
  });

  describe('params schema', () => {
    it('accepts any safe integer', () => {
      for (const n of [0, -5, 17, Number.MAX_SAFE_INTEGER]) expect(PrimeCheckerParamsSchema.safeParse({ number: n }).success).to.equal(true);
    });
    it('refuses a string, a fraction, an unsafe integer, a missing number and unknown keys', () => {
      expect(PrimeCheckerParamsSchema.safeParse({ number: 'abc' }).error?.issues[0]?.message).to.equal('must be an integer');
      expect(PrimeCheckerParamsSchema.safeParse({ number: 1.5 }).error?.issues[0]?.message).to.equal('must be an integer');
      expect(PrimeCheckerParamsSchema.safeParse({ number: 2 ** 60 }).success).to.equal(false);
      expect(PrimeCheckerParamsSchema.safeParse({}).error?.issues[0]?.message).to.equal('is required');
      expect(PrimeCheckerParamsSchema.safeParse({ number: 3, extra: 1 }).success).to.equal(false);
    });
  });
});
