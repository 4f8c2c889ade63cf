import { expect } from 'chai';
import { FunctionPool } from '../../worker/functions/function-pool.js';
import type { FunctionSpec } from '../../worker/functions/function-run.js';
import { FunctionRunError } from '../../worker/functions/function-run-error.js';
import { cgroupMemoryLimitBytes, defaultHostsMemoryBudgetMb } from '../../worker/functions/memory-budget.js';
import { sandboxStatus } from '../../worker/functions/sandbox.js';
import { alive } from '../helpers/processes.js';
import { track, untrack } from '../helpers/resources.js';

let seq = 0;
/** A Python spec of 128 MB with a fresh function id; `sleep` seconds before answering when the event asks. */
function spec(over: Partial<FunctionSpec> = {}): FunctionSpec {
  const code = 'import time\ndef handler(e):\n    if isinstance(e, dict) and e.get("sleep"):\n        time.sleep(e["sleep"])\n    return e';
  return { function_id: `budget-${process.pid}-${++seq}`, version: 1, runtime: 'python', code, env: {}, timeout_ms: 10_000, memory_mb: 128, max_output_bytes: 64 * 1024, ...over };
}

async function failure(p: Promise<unknown>): Promise<FunctionRunError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').to.be.instanceOf(FunctionRunError);
  return err as FunctionRunError;
}

/**
 * Samples the pool's reservation every few ms (and the sum of its live processes' memory_mb) and
 * keeps the largest seen, to show the budget is never passed, even for a moment.
 */
function watchReserved(pool: FunctionPool): { max: () => number; maxHosts: () => number; stop: () => void } {
  let max = 0;
  let maxHosts = 0;
  const sample = () => {
    const u = pool.memoryUsage();
    const listed = pool.processes().reduce((a, p) => a + p.memory_mb, 0);
    max = Math.max(max, u.reserved_mb, listed);
    maxHosts = Math.max(maxHosts, u.hosts);
  };
  const timer = setInterval(sample, 5);
  return {
    max: () => (sample(), max),
    maxHosts: () => maxHosts,
    stop: () => clearInterval(timer),
  };
}

describe('FunctionPool memory budget (real sandboxed processes)', function () {
  this.timeout(60_000);

  before(async function () {
    if (!(await sandboxStatus('auto')).isolated) this.skip();
  });

  function newPool(opts: ConstructorParameters<typeof FunctionPool>[0] = {}): FunctionPool {
    const pool = new FunctionPool({ sandbox: 'bwrap', ...opts });
    track('function pool', pool, () => pool.close());
    return pool;
  }

  async function closePool(pool: FunctionPool): Promise<void> {
    await pool.close();
    untrack(pool);
  }

  it('defaults to half of the machine memory, or of the cgroup limit when lower', () => {
    const gib = 1024 * 1024 * 1024;
    expect(defaultHostsMemoryBudgetMb(8 * gib, undefined)).to.equal(4096);
    expect(defaultHostsMemoryBudgetMb(8 * gib, 2 * gib)).to.equal(1024);
    expect(defaultHostsMemoryBudgetMb(2 * gib, 8 * gib)).to.equal(1024);
    const limit = cgroupMemoryLimitBytes();
    if (limit !== undefined) expect(limit).to.be.a('number').and.above(0);
    const pool = new FunctionPool({ sandbox: 'bwrap' });
    expect(pool.memoryUsage()).to.deep.equal({ budget_mb: defaultHostsMemoryBudgetMb(), reserved_mb: 0, rss_mb: 0, hosts: 0, idle_hosts: 0 });
  });

  it('starting a third 128 MB host under a 300 MB budget stops the least recently used idle one first', async () => {
    const pool = newPool({ memoryBudgetMb: 300 });
    const watch = watchReserved(pool);
    try {
      const [a, b, c] = [spec(), spec(), spec()];
      const pidA = (await pool.run(a, 1)).host_pid!;
      const pidB = (await pool.run(b, 1)).host_pid!;
      // A is used again: B is now the least recently used.
      expect((await pool.run(a, 2)).host_pid).to.equal(pidA);
      const usage = pool.memoryUsage();
      expect(usage).to.include({ budget_mb: 300, reserved_mb: 256, hosts: 2, idle_hosts: 2 });
      // Measured: two idle Python hosts (bwrap and the interpreter), well under their reservation.
      expect(usage.rss_mb).to.be.a('number').and.above(5).and.below(256);

      const third = await pool.run(c, 3);
      expect(third.cold_start).to.equal(true);
      expect(alive(pidB), "B's host (least recently used) is gone").to.equal(false);
      expect(alive(pidA), "A's host stays warm").to.equal(true);
      expect(pool.processes().map((p) => p.function_id).sort()).to.deep.equal([a.function_id, c.function_id].sort());
      expect(pool.memoryUsage()).to.include({ reserved_mb: 256, hosts: 2 });
      // A is still warm; B starts cold again and evicts A (now older than C).
      expect((await pool.run(a, 4)).cold_start).to.equal(false);
      const again = await pool.run(b, 5);
      expect(again.cold_start).to.equal(true);
      expect(alive(third.host_pid!)).to.equal(false);
      expect(alive(pidA)).to.equal(true);
      expect(watch.max()).to.be.at.most(300);
      expect(watch.maxHosts()).to.equal(2);
    } finally {
      watch.stop();
      await closePool(pool);
    }
  });

  it('makes an invocation wait while busy hosts hold the budget, bounded by its timeout_ms', async () => {
    const pool = newPool({ memoryBudgetMb: 300 });
    const watch = watchReserved(pool);
    try {
      const [a, b, c] = [spec(), spec(), spec()];
      const slowA = pool.run(a, { sleep: 1.5 });
      const slowB = pool.run(b, { sleep: 1.5 });
      // Both are busy: a third function gets no process until one ends, instead of over-committing.
      const t0 = performance.now();
      const waited = pool.run(c, 'c');
      const short = failure(pool.run(spec({ timeout_ms: 300 }), 'never'));
      const err = await short;
      expect(err.code).to.equal('TIMEOUT');
      expect(err.message).to.match(/waited 300 ms for memory.*300 MB budget \(FUNCTION_HOSTS_MEMORY_BUDGET_MB\)/);
      expect(err.details).to.include({ budget_mb: 300 });
      expect(pool.memoryUsage()).to.include({ reserved_mb: 256, hosts: 2, idle_hosts: 0 });
      const [ra, rb, rc] = await Promise.all([slowA, slowB, waited]);
      expect(rc.result).to.equal('c');
      expect(rc.cold_start).to.equal(true);
      // It started once A or B had finished (and its idle host was stopped for it).
      expect(performance.now() - t0).to.be.above(1000);
      expect([ra.host_pid, rb.host_pid].filter((pid) => alive(pid!))).to.have.length(1);
      expect(watch.max()).to.be.at.most(300);
    } finally {
      watch.stop();
      await closePool(pool);
    }
  });

  it('keeps FIFO order for memory: a small run behind a waiting big one starts only when that one gives up', async () => {
    const pool = newPool({ memoryBudgetMb: 320 });
    const watch = watchReserved(pool);
    try {
      const slowA = pool.run(spec(), { sleep: 1.5 });
      const slowB = pool.run(spec(), { sleep: 1.5 });
      const t0 = performance.now();
      // 256 + 256 > 320: waits; 256 + 64 would fit, but it queued later.
      const big = failure(pool.run(spec({ memory_mb: 256, timeout_ms: 400 }), 'big'));
      const small = pool.run(spec({ memory_mb: 64 }), 'small').then((r) => ({ r, at: performance.now() - t0 }));
      const err = await big;
      expect(err.code).to.equal('TIMEOUT');
      const { r, at } = await small;
      expect(r.result).to.equal('small');
      expect(at, 'the small run waited for the big one to give up').to.be.above(350);
      const ends = await Promise.all([slowA, slowB]).then(() => performance.now() - t0);
      expect(at, 'and did not wait for the busy hosts').to.be.below(ends);
      expect(watch.max()).to.be.at.most(320);
    } finally {
      watch.stop();
      await closePool(pool);
    }
  });

  it('fails at once a function whose memory_mb alone is above the budget', async () => {
    const pool = newPool({ memoryBudgetMb: 100 });
    try {
      const err = await failure(pool.run(spec({ memory_mb: 128 }), 1));
      expect(err.code).to.equal('ALGORITHM_ERROR');
      expect(err.reason).to.equal('memory_budget');
      expect(err.message).to.include('memory_mb (128 MB) is above');
      expect(err.details).to.include({ memory_mb: 128, budget_mb: 100 });
      expect(pool.processes()).to.have.length(0);
      expect((await pool.run(spec({ memory_mb: 64 }), 2)).result).to.equal(2);
    } finally {
      await closePool(pool);
    }
  });
});
