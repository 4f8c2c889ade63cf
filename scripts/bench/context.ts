/** What every phase of `npm run bench` is handed, and the results it fills in. */
import type { CpuMeter, CpuRow, RssPeaks } from './cpu.js';
import type { LatencyStats } from './measure.js';
import type { BenchOptions } from './options.js';
import type { ProcessGroup } from './processes.js';
import type { ShardedRun } from './sharded.js';
import type { BatchResult } from './batch.js';
import type { InstructionsResult } from './instructions.js';
import type { PairedResult } from './paired.js';
import type { RecordsResult } from './records.js';

/** The reference floor servers (floors.ts), in the order they run. */
export const FLOOR_KINDS = ['http', 'express', 'express+add'] as const;
export type FloorKind = (typeof FLOOR_KINDS)[number];

/** How long a phase may submit its async jobs, and then wait for them to finish. */
export const ASYNC_SUBMIT_LIMIT_MS = 60_000;
export const ASYNC_FINISH_LIMIT_MS = 60_000;

/** The async end-to-end phase's figures (async.ts). */
export interface AsyncResult {
  perSecond: number;
  seconds: number;
  submitSeconds: number;
  failed: number;
  submitErrors: number;
}

/** The hand-written Express + BullMQ service's figures (handwritten-stack.ts), measured as fnqueue's. */
export interface HandwrittenResults {
  invoke1?: LatencyStats;
  invoke50?: LatencyStats;
  jobs50?: LatencyStats & { errors: string };
  async?: AsyncResult;
  /**
   * Its sandboxed workers fed by BullMQ's addBulk of 1,000 from the bench (no HTTP, 2 calls in
   * flight): first add to last completion, jobs/s. What running PrimeChecker in a forked child per
   * job allows with batches, beside the no-op Worker's figure (the batch phase's baseline).
   */
  bulkAsync?: { perSecond: number; seconds: number };
}

/** Everything measured; a phase that did not run leaves its fields unset. */
export interface Results {
  baseSeq?: LatencyStats;
  baseConc?: LatencyStats;
  baseBulk?: number;
  baseAsync?: { perSecond: number; seconds: number; submitSeconds: number };
  invoke1?: LatencyStats;
  echo1?: LatencyStats;
  invoke50?: LatencyStats;
  jobs50?: LatencyStats & { errors: string };
  async?: AsyncResult;
  /** The hand-written baseline (BENCH_PHASES `handwritten`). */
  hand?: HandwrittenResults;
  floors?: Partial<Record<FloorKind, LatencyStats>>;
  /** The batch phase (batch.ts): POST /jobs/batch accept rate and async end to end with batches. */
  batch?: BatchResult;
  /** Plain BullMQ's async end to end with addBulk of 1,000 (the batch phase's baseline). */
  baseBulkAsync?: { perSecond: number; seconds: number };
  /** The records phase (records.ts): Redis CPU and commands per job of BullMQ's add, the record create and the record finish. */
  records?: RecordsResult;
  /** The instructions phase (instructions.ts): redis-server instructions per job of the same three calls, under callgrind. */
  instructions?: InstructionsResult;
  /** The paired phase (paired.ts): /invoke against both services in turns. */
  paired?: PairedResult;
  /** The sharded phase's runs (sharded.ts): 1 shard, then 3, on a local 3-master cluster. */
  sharded?: ShardedRun[];
}

/** The bench's shared state, handed to each phase. */
export interface BenchContext {
  opts: BenchOptions;
  procs: ProcessGroup;
  meter: CpuMeter;
  /** Peak VmRSS per service and role while each service runs. */
  rss: RssPeaks;
  redis: { url: string; port: number; pid: number };
  /** Where BENCH_PROFILE's profiles go; undefined without BENCH_PROFILE. */
  profileDir?: string;
  res: Results;
  cpuRows: CpuRow[];
  /** The CPU rows of the phases run against both services, by `<service>:<phase>` (e.g. `fnqueue:invoke50`, `hand-written:async`). */
  rows: Record<string, CpuRow>;
  /** Per profiled phase, its window on the monotonic clock (µs), for the profile summaries. */
  windows: Record<string, { from: number; to: number }>;
}
