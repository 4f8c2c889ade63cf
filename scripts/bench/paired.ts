/**
 * The paired phase of `npm run bench` (BENCH_PHASES `paired`): fnqueue and the hand-written service
 * (handwritten-stack.ts) both running on the bench's redis-server, measured in turns rather than
 * one after the other. On the shared 2-core VM the machine's speed moves by a third within minutes
 * (the runner children do the same work in both services, yet fnqueue's cost 0.82× the
 * hand-written's CPU per async job in one run and 1.09× in the next; docs/performance.md), so a
 * ratio of two loads measured a minute apart says where the VM was as much as where the code is.
 * Here each load runs in {@link PAIRED_ROUNDS} short turns per service, the order swapped every
 * round (hand-written, fnqueue, fnqueue, hand-written, ...), and the turns' latencies are pooled
 * per service: both figures see the same stretch of the VM's time. The service not under load sits idle meanwhile
 * (its workers blocked on Redis, its runner children waiting).
 * Loads: POST /invoke {"number":17} at 1 connection (p50, p99) and at 50 connections (req/s).
 */
import { Queue } from 'bullmq';
import { TARGETS } from './bounds.js';
import type { BenchContext } from './context.js';
import { startFnqueue } from './fnqueue-stack.js';
import { HANDWRITTEN_PREFIX, HANDWRITTEN_QUEUE } from './handwritten/protocol.js';
import { startHandwritten } from './handwritten-stack.js';
import { cannon, describeErrors, fmt, fmtInt, log, stats, table, type LatencyStats } from './measure.js';
import type { ServiceStack } from './stack.js';

/** Turns per service and load. */
export const PAIRED_ROUNDS = 6;

/** One load measured in turns: each service's pooled figures, and the ratio fnqueue / hand-written of every round. */
export interface PairedLoad {
  fnqueue: LatencyStats;
  hand: LatencyStats;
  /** Per round: fnqueue's p50 over the hand-written's (1 connection), or its req/s over theirs (50). */
  roundRatios: number[];
}

/** The paired phase's figures. */
export interface PairedResult {
  /** Seconds of each turn. */
  turnS: number;
  invoke1: PairedLoad;
  invoke50: PairedLoad;
}

const BODY = { number: 17 };

/**
 * Runs `connections` connections of POST /invoke against both stacks in {@link PAIRED_ROUNDS}
 * rounds of one turn each (`turnS` s), alternating which goes first.
 * @throws Error when a turn answers anything but 2xx (the figures would compare different work).
 */
async function alternate(stacks: { fnqueue: ServiceStack; hand: ServiceStack }, connections: number, turnS: number): Promise<PairedLoad> {
  const lat = { fnqueue: [] as number[], hand: [] as number[] };
  const secs = { fnqueue: 0, hand: 0 };
  const roundRatios: number[] = [];
  for (let round = 0; round < PAIRED_ROUNDS; round++) {
    const order = round % 2 === 0 ? (['hand', 'fnqueue'] as const) : (['fnqueue', 'hand'] as const);
    const got: Partial<Record<'fnqueue' | 'hand', LatencyStats>> = {};
    for (const who of order) {
      const run = await cannon(`${stacks[who].baseUrl}/invoke`, BODY, connections, turnS);
      if (run.errors || Object.keys(run.non2xx).length) throw new Error(`paired: ${stacks[who].name} at ${connections} connections: ${describeErrors(run)}`);
      for (const l of run.latencies) lat[who].push(l);
      secs[who] += run.seconds;
      got[who] = run.stats;
    }
    roundRatios.push(connections === 1 ? got.fnqueue!.p50 / got.hand!.p50 : got.fnqueue!.perSecond / got.hand!.perSecond);
  }
  return { fnqueue: stats(lat.fnqueue, secs.fnqueue), hand: stats(lat.hand, secs.hand), roundRatios };
}

/**
 * Drops the jobs the hand-written phase's `POST /jobs` load left waiting in its queue (BullMQ's
 * `Queue.drain`), so that its workers here start idle.
 * @returns how many were waiting.
 */
async function drainHandwritten(ctx: BenchContext): Promise<number> {
  const queue = new Queue(HANDWRITTEN_QUEUE, { connection: { host: '127.0.0.1', port: ctx.redis.port }, prefix: HANDWRITTEN_PREFIX });
  queue.on('error', () => undefined);
  try {
    const waiting = await queue.count();
    await queue.drain(true);
    return waiting;
  } finally {
    await queue.close();
  }
}

/**
 * Starts both services (their peak memory under `hand-written (paired)` and `fnqueue (paired)`, no
 * CPU profile), warms each (3 s at each load), then measures /invoke at 1 and at 50 connections in
 * turns of BENCH_DURATION_S / 2 s, rounded, at least 1 s.
 * @throws Error when a service does not start or a turn fails.
 */
export async function runPaired(ctx: BenchContext): Promise<PairedResult> {
  const turnS = Math.max(1, Math.round(ctx.opts.durationS / 2));
  const started: ServiceStack[] = [];
  try {
    const left = await drainHandwritten(ctx);
    if (left > 0) log(`paired: dropped ${left} jobs an earlier phase left waiting in the hand-written service's queue`);
    const hand = await startHandwritten(ctx, 'hand-written (paired)');
    started.push(hand);
    const fnqueue = await startFnqueue(ctx, { rssLabel: 'fnqueue (paired)', profile: false });
    started.push(fnqueue);
    log(`paired: warm-up of both services (3 s at 1 and at 50 connections each)`);
    for (const stack of started) for (const c of [1, 50]) await cannon(`${stack.baseUrl}/invoke`, BODY, c, 3);
    log(`paired: POST /invoke {"number":17}, 1 conn: ${PAIRED_ROUNDS} rounds of a ${turnS} s turn each, the order swapped every round`);
    const invoke1 = await alternate({ fnqueue, hand }, 1, turnS);
    log(`paired: POST /invoke {"number":17}, 50 conns: ${PAIRED_ROUNDS} rounds of a ${turnS} s turn each`);
    const invoke50 = await alternate({ fnqueue, hand }, 50, turnS);
    return { turnS, invoke1, invoke50 };
  } finally {
    await Promise.allSettled(started.map((s) => s.stop()));
  }
}

/** The paired phase's table (empty when it did not run). */
export function reportPaired(r: PairedResult | undefined): string {
  if (!r) return '';
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}×`;
  return (
    `\nfnqueue against the hand-written service in turns (both running; ${PAIRED_ROUNDS} rounds of a ${r.turnS} s turn per service and load, the order swapped every round; latencies pooled):\n` +
    table(
      ['measure', 'fnqueue', 'hand-written', 'ratio', 'ratio per round', 'target'],
      [
        ['/invoke {"number":17}, 1 conn: p50 ms', fmt(r.invoke1.fnqueue.p50), fmt(r.invoke1.hand.p50), `${fmt(r.invoke1.fnqueue.p50 / r.invoke1.hand.p50)}×`, range(r.invoke1.roundRatios), `≤ ${TARGETS.p50}×`],
        ['/invoke {"number":17}, 1 conn: p99 ms', fmt(r.invoke1.fnqueue.p99), fmt(r.invoke1.hand.p99), `${fmt(r.invoke1.fnqueue.p99 / r.invoke1.hand.p99)}×`, '', `≤ ${TARGETS.p99}×`],
        ['/invoke {"number":17}, 50 conns: req/s', fmtInt(r.invoke50.fnqueue.perSecond), fmtInt(r.invoke50.hand.perSecond), `${fmt(r.invoke50.fnqueue.perSecond / r.invoke50.hand.perSecond)}×`, range(r.invoke50.roundRatios), `≥ ${TARGETS.rate}×`],
      ],
      [0],
    )
  );
}
