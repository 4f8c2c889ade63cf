/** The reference floors phase of `npm run bench` (the servers are floor-server.ts). */
import { freePort } from '../../shared/net/free-port.js';
import { FLOOR_KINDS, type BenchContext } from './context.js';
import { cpuDiff, type Roles } from './cpu.js';
import { cannon, log } from './measure.js';
import { stopProc } from './processes.js';

/**
 * The reference floors: each floor server in turn, POST /jobs at 50 connections for BENCH_DURATION_S
 * after a 1 s warm-up, no workers running.
 * @throws Error when a floor server does not start within 30 s.
 */
export async function runFloors(ctx: BenchContext): Promise<void> {
  const { res, cpuRows, opts: cfg, meter } = ctx;
  res.floors = {};
  for (const kind of FLOOR_KINDS) {
    const port = await freePort();
    const m = ctx.procs.node(`floor-${kind}`, 'scripts/bench/floor-server.ts', cfg.childEnv, { args: [kind, String(port), String(ctx.redis.port)], ipc: true });
    const proc = m.proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`floor server ${kind} did not start: ${m.tail.join('\n')}`)), 30_000);
      proc.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.once('exit', () => reject(new Error(`floor server ${kind} exited: ${m.tail.join('\n')}`)));
    });
    const url = `http://127.0.0.1:${port}/jobs`;
    const body = { algorithm: 'PrimeChecker', params: { number: 17 } };
    log(`floor: ${kind}, POST /jobs at 50 conns: warm-up 1 s, then ${cfg.durationS} s`);
    await cannon(url, body, 50, 1);
    const roles = (): Roles => ({ bench: [process.pid], floor: [proc.pid!], redis: [ctx.redis.pid] });
    const a = await meter.snap(roles());
    const run = await cannon(url, body, 50, cfg.durationS);
    cpuRows.push(cpuDiff(`floor: ${kind}, 50 conns`, a, await meter.snap(roles()), run.stats.n));
    res.floors[kind] = run.stats;
    await stopProc(m, 10_000);
  }
}
