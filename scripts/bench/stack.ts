/** What the bench drives in a service under test (fnqueue, or the hand-written baseline): its processes, one measured load, its finished jobs. */
import { performance } from 'node:perf_hooks';
import type { BenchContext } from './context.js';
import { cpuDiff, type Roles } from './cpu.js';
import { cannon, log, monoUs, sleep, type CannonRun } from './measure.js';
import { alive, type Managed } from './processes.js';

/** Jobs finished, completed and failed. */
export interface FinishedTotals {
  completed: number;
  failed: number;
}

/** The jobs finished since {@link ServiceStack.watchFinished}. */
export interface FinishedWatch {
  /** Completed and failed so far. */
  counts(): Promise<FinishedTotals>;
  /** Stops watching. */
  stop(): Promise<void>;
}

/**
 * A {@link FinishedWatch} over `read`, a look at a service's finished-job totals (since it
 * started): its counts are the totals less those of its first look, taken now; `stop` releases
 * what `read` uses.
 */
export async function finishedSince(read: () => Promise<FinishedTotals>, stop: () => Promise<void>): Promise<FinishedWatch> {
  const before = await read();
  return {
    counts: async () => {
      const now = await read();
      return { completed: now.completed - before.completed, failed: now.failed - before.failed };
    },
    stop,
  };
}

/**
 * Waits (at most ASYNC_FINISH_LIMIT_MS, looking every 20 ms) until `count` jobs finished.
 * @returns the jobs not finished, those that failed, and when the count was reached (performance.now()).
 */
export async function waitFinished(watch: FinishedWatch, count: number, limitMs: number): Promise<{ pending: number; failed: number; at: number }> {
  const deadline = performance.now() + limitMs;
  let done = { completed: 0, failed: 0 };
  while (performance.now() < deadline) {
    done = await watch.counts();
    if (done.completed + done.failed >= count) return { pending: 0, failed: done.failed, at: performance.now() };
    await sleep(20);
  }
  return { pending: count - done.completed - done.failed, failed: done.failed, at: performance.now() };
}

/** A running service under load from the bench. */
export interface ServiceStack {
  /** Its label in the tables. */
  name: 'fnqueue' | 'hand-written';
  /** `http://127.0.0.1:<port>` of its API. */
  baseUrl: string;
  /** Pids per role now (the runner children change): bench, api, workers, runners, redis. */
  roles(): Roles;
  /**
   * One measured load: a warm-up (3 s the first time, to warm the fresh processes' JIT, else 1 s),
   * then BENCH_DURATION_S of POST `body` to `url` over `connections` connections (at BENCH_RATE
   * when set and connections > 1); adds its CPU row (`<name>: <label>`, also under `rows[<name>:<id>]`)
   * and its profile window `id`.
   */
  measured(id: string, label: string, url: string, body: object, connections: number): Promise<CannonRun>;
  /**
   * Stops its workers taking jobs (they stay up, idle) until the function it resolves to is called;
   * jobs submitted meanwhile wait in their queue. For a phase that measures submission alone.
   */
  pauseWorkers?(): Promise<() => Promise<void>>;
  /** Starts counting the jobs that finish from now on. */
  watchFinished(): Promise<FinishedWatch>;
  /** Stops its processes (they drain) and reports those that logged warnings. */
  stop(): Promise<void>;
}

/** The {@link ServiceStack.measured} of the service `name` whose processes `roles` gives. */
export function measuredLoad(ctx: BenchContext, name: ServiceStack['name'], roles: () => Roles): ServiceStack['measured'] {
  const cfg = ctx.opts;
  let first = true;
  return async (id, label, url, body, connections) => {
    const warmS = first ? 3 : 1;
    first = false;
    log(`${name}: ${label}: warm-up ${warmS} s, then ${cfg.durationS} s${connections > 1 && cfg.rate ? ` at a fixed ${cfg.rate} req/s` : ''}`);
    const rate = connections > 1 ? cfg.rate : undefined;
    await cannon(url, body, connections, warmS, rate);
    const a = await ctx.meter.snap(roles());
    const from = monoUs();
    const run = await cannon(url, body, connections, cfg.durationS, rate);
    if (name === 'fnqueue') ctx.windows[id] = { from, to: monoUs() };
    const row = cpuDiff(`${name}: ${label}`, a, await ctx.meter.snap(roles()), run.stats.n + Object.values(run.non2xx).reduce((x, y) => x + y, 0));
    ctx.cpuRows.push(row);
    ctx.rows[`${name}:${id}`] = row;
    return run;
  };
}

/**
 * Resolves once GET `url` answers 200.
 * @throws Error when `who` exits first or `limitMs` passes.
 */
export async function waitOk(url: string, who: Managed, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (!alive(who.proc)) throw new Error(`${who.name} exited during start:\n${who.tail.join('\n')}`);
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`${who.name}: ${url} not 200 within ${limitMs / 1000} s:\n${who.tail.join('\n')}`);
}
