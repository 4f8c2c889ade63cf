import { expect } from 'chai';
import { withLogContext } from '../../shared/logger.js';
import { ChildPool } from '../../worker/algorithms/child-pool.js';
import { eventually } from '../helpers/http.js';
import { track, untrack } from '../helpers/resources.js';
import { memoryLogger } from '../helpers/stack.js';
import { alive } from '../helpers/processes.js';

describe('ChildPool (real child processes)', () => {
  let pool: ChildPool;
  let lines: Array<Record<string, unknown>>;

  beforeEach(async () => {
    const mem = memoryLogger();
    lines = mem.lines;
    pool = new ChildPool({ size: 2, timeoutMs: 1000, logger: mem.logger });
    track('child pool', pool, () => pool.close());
    await pool.start();
  });
  afterEach(async () => {
    await pool.close();
    untrack(pool);
  });

  it('keeps size warm children and runs algorithms in them', async () => {
    expect(pool.pids()).to.have.length(2);
    const out = await pool.run('PrimeChecker', { number: 91 });
    expect(out.result).to.deep.equal({ number: 91, is_prime: false, factors: [7, 13], algorithm: 'trial_division' });
    expect(out.elapsedMs).to.be.a('number').and.at.least(0);
  });

  it('reuses warm children: many runs, no new processes', async () => {
    const before = pool.pids().sort();
    await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run('PrimeChecker', { number: i })));
    expect(pool.pids().sort()).to.deep.equal(before);
  });

  it('runs at most size at once: the third run waits for a free child', async () => {
    const t0 = Date.now();
    await Promise.all([0, 1, 2].map(() => pool.run('Sleep', { ms: 300 })));
    expect(Date.now() - t0).to.be.at.least(580);
  });

  it('kills a run past its timeout with TIMEOUT, replaces the child, and never reuses it', async () => {
    const before = pool.pids();
    const err = await pool.run('Sleep', { ms: 10_000, spin: true }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).to.equal('TIMEOUT');
    expect(err?.message).to.contain('timed out after 1000 ms');
    await eventually(async () => pool.aliveCount === 2 && before.filter(alive).length === 1);
    const after = pool.pids();
    expect(after.filter((p) => !before.includes(p))).to.have.length(1);
    expect((await pool.run('PrimeChecker', { number: 5 })).result).to.include({ is_prime: true });
  });

  it('fails only the run whose child crashed and replaces that child', async () => {
    const [crash, ok] = await Promise.allSettled([pool.run('Crash', { code: 7 }), pool.run('Sleep', { ms: 200 })]);
    expect(crash.status).to.equal('rejected');
    expect((crash as PromiseRejectedResult).reason.code).to.equal('ALGORITHM_ERROR');
    expect((crash as PromiseRejectedResult).reason.message).to.contain('exit code 7');
    expect(ok.status).to.equal('fulfilled');
    await eventually(async () => pool.aliveCount === 2);
  });

  it('reports an algorithm that throws as ALGORITHM_ERROR and bad params as VALIDATION_ERROR, keeping the child', async () => {
    const before = pool.pids().sort();
    const thrown = await pool.run('Crash', { throw: true }).then(() => ({ code: 'none' }), (e: { code: string }) => e);
    expect(thrown.code).to.equal('ALGORITHM_ERROR');
    const invalid = await pool.run('PrimeChecker', { number: 'x' }).then(() => ({ code: 'none' }), (e: { code: string }) => e);
    expect(invalid.code).to.equal('VALIDATION_ERROR');
    expect(pool.pids().sort()).to.deep.equal(before);
  });

  it("logs the child's stdout and stderr through the parent logger with the run's context", async () => {
    await withLogContext({ job_id: 'abcabcabcabc' }, () =>
      pool.run('Echo', { print: 'printed-by-child' }, { logContext: { job_id: 'abcabcabcabc', algorithm: 'Echo', attempt: 1 } }),
    );
    const printed = await eventually(async () => {
      const found = lines.filter((l) => l.message === 'printed-by-child');
      return found.length === 2 && found;
    });
    for (const line of printed) expect(line).to.include({ job_id: 'abcabcabcabc', algorithm: 'Echo', attempt: 1 });
    expect(printed.map((l) => l.source).sort()).to.deep.equal(['runner.stderr', 'runner.stdout']);
  });

  it('kills every child on close and refuses new runs', async () => {
    const pids = pool.pids();
    await pool.close();
    for (const pid of pids) expect(alive(pid)).to.equal(false);
    const err = await pool.run('PrimeChecker', { number: 3 }).then(() => ({ code: 'none' }), (e: { code: string }) => e);
    expect(err.code).to.equal('SERVICE_UNAVAILABLE');
  });
});
