/** The hand-written baseline's sandboxed processor (BASELINE, not fnqueue): PrimeChecker on `job.data.number`. */
import type { SandboxedJob } from 'bullmq';
import { checkPrime } from '../../../shared/algorithms/prime-checker.js';

export default async function process(job: SandboxedJob<{ number: number }>) {
  return checkPrime(job.data.number);
}
