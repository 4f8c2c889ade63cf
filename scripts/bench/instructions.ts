/**
 * The instructions phase of `npm run bench`: the record layer's calls of the records phase
 * (records.ts: BullMQ's `Queue.add`, `JobStore.createCounted`, `JobStore.finish`), each counted in
 * the instructions redis-server runs per job, under valgrind's callgrind, on a redis-server of its
 * own. Instructions, unlike CPU seconds, barely move from run to run on a shared VM (within about
 * 0.5 % for one build, whatever else the machine does: the job ids and the interleaving of the
 * calls differ), so two builds' counts compare where their CPU figures drown in the noise. Each call runs `BENCH_INSTRUCTION_JOBS` jobs, IN_FLIGHT (50) at a
 * time, after an uncounted warm-up of 500; callgrind counts only between its zero and its dump
 * (`callgrind_control -z`, `-d`), so the warm-up and Redis' start are left out.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { newJobId } from '../../shared/store/job-store.js';
import type { BenchContext } from './context.js';
import { fmt, fmtInt, log, table } from './measure.js';
import { drive, IN_FLIGHT, recordCalls, type RecordCalls } from './records.js';

/** Uncounted jobs before each counted run (scripts loaded, the store's structures allocated). */
const WARM_UP_JOBS = 500;

/** Instructions redis-server ran per job of each call (callgrind's `Ir`). */
export interface InstructionsResult {
  jobs: number;
  add: number;
  create: number;
  finish: number;
}

/** Whether `command --version` runs. */
function runs(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The instructions of callgrind's dump number `n` (its `summary:` line) under `dir`. */
function dumpedInstructions(dir: string, n: number): number {
  const file = path.join(dir, `callgrind.out.${n}`);
  if (!existsSync(file)) throw new Error(`instructions: callgrind wrote no dump ${n} in ${dir}`);
  const m = /^summary:\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`instructions: no summary line in ${file}`);
  return Number(m[1]);
}

/**
 * Counts the instructions per job of BullMQ's add, the record create and the record finish into
 * `ctx.res.instructions`. Skipped, with a line saying so, when valgrind or callgrind_control is
 * missing.
 * @throws Error when a call fails or callgrind writes no dump.
 */
export async function runInstructions(ctx: BenchContext): Promise<void> {
  if (!runs('valgrind') || !runs('callgrind_control')) {
    log('instructions: valgrind (callgrind) is not installed; phase skipped');
    return;
  }
  const n = ctx.opts.instructionJobs;
  // An absolute path: redis-server changes its working directory to its --dir as it starts.
  const out = mkdtempSync(path.join(tmpdir(), 'fnqueue-bench-callgrind-'));
  const ids = Array.from({ length: WARM_UP_JOBS + n }, () => newJobId());
  const bullIds = Array.from({ length: WARM_UP_JOBS + n }, () => newJobId());
  let redis: RedisServer | undefined;
  let calls: RecordCalls | undefined;
  try {
    redis = await startRedisServer({ tempPrefix: 'fnqueue-bench-redis-', wrap: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${path.join(out, 'callgrind.out')}`] });
    const pid = String(redis.child.pid);
    calls = await recordCalls(redis.port);
    let dumps = 0;
    /** Callgrind's count per job of `op` over list[WARM_UP_JOBS..], after `op` over the warm-up ids uncounted. */
    const count = async (label: string, list: string[], op: (id: string) => Promise<void>): Promise<number> => {
      await drive(WARM_UP_JOBS, (i) => op(list[i]!));
      execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' });
      const done = await drive(n, (i) => op(list[WARM_UP_JOBS + i]!));
      execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
      if (done < n) throw new Error(`instructions: ${label}: only ${done}/${n} jobs within the time limit`);
      return dumpedInstructions(out, ++dumps) / n;
    };
    log(`instructions: redis-server under callgrind: BullMQ Queue.add, JobStore.createCounted, JobStore.finish, ${n} jobs each after ${WARM_UP_JOBS} uncounted`);
    const add = await count('BullMQ Queue.add', bullIds, calls.add);
    const create = await count('JobStore.createCounted', ids, calls.create);
    const finish = await count('JobStore.finish', ids, calls.finish);
    ctx.res.instructions = { jobs: n, add, create, finish };
  } finally {
    await calls?.cleanup(ids);
    await redis?.destroy();
    rmSync(out, { recursive: true, force: true });
  }
}

/** The phase's table: instructions per job of each call, against BullMQ's add. */
export function reportInstructions(r: InstructionsResult | undefined): string {
  if (!r) return '';
  const row = (label: string, x: number) => [label, fmtInt(x), `${fmt(x / r.add)}×`];
  return (
    `\nredis-server instructions per job (valgrind callgrind, ${fmtInt(r.jobs)} jobs per call, ${IN_FLIGHT} in flight; within about 0.5 % from run to run):\n` +
    table(
      ['call', 'instructions/job', 'vs add'],
      [
        row('BullMQ Queue.add (fnqueue default job options)', r.add),
        row('JobStore.createCounted (record + MAX_QUEUED_BYTES count)', r.create),
        row('JobStore.finish (completed, attempt, counters, release)', r.finish),
        row("fnqueue's record layer per async job (create + finish)", r.create + r.finish),
      ],
    )
  );
}
