import { randomUUID } from 'node:crypto';
import type { RedisConnection as Redis } from './queue/redis.js';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Keys } from './store/keys.js';
import { MetricsSnapshotStore } from './store/metrics-snapshot-store.js';
import { ASYNC_RUN_END, RunCounterStore, runCounterField } from './store/run-counter-store.js';

const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The FunctionalScaffold API reference's metrics, every name and label of its table, in one registry
 * per process, plus two for user functions. `status` of http_requests_total is `success` (< 400) or
 * `error` as in the reference's example.
 *
 * No label value is ever chosen by a user (docs/operations.md#metrics): `algorithm` is an algorithm's
 * name from the fixed registry (shared/algorithms/registry.ts), and a function run counts in
 * `function_invocations_total` and `function_execution_duration_seconds`, whose labels are fixed sets.
 * Per-function figures are on `GET /functions/{function_id}/metrics`. See {@link algorithmLabel}.
 */
export function createMetrics(registry = new Registry()) {
  const registers = [registry];
  const metrics = {
    registry,
    httpRequestsTotal: new Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'endpoint', 'status'] as const, registers }),
    httpRequestDuration: new Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request latency in seconds', labelNames: ['method', 'endpoint'] as const, buckets: DURATION_BUCKETS_S, registers }),
    httpRequestsInProgress: new Gauge({ name: 'http_requests_in_progress', help: 'HTTP requests in progress', registers }),
    algorithmExecutionsTotal: new Counter({ name: 'algorithm_executions_total', help: 'Algorithm executions', labelNames: ['algorithm', 'status'] as const, registers }),
    algorithmExecutionDuration: new Histogram({ name: 'algorithm_execution_duration_seconds', help: 'Algorithm execution time in seconds', labelNames: ['algorithm'] as const, buckets: DURATION_BUCKETS_S, registers }),
    jobsCreatedTotal: new Counter({ name: 'jobs_created_total', help: 'Asynchronous jobs created', labelNames: ['algorithm'] as const, registers }),
    jobsCompletedTotal: new Counter({ name: 'jobs_completed_total', help: 'Asynchronous jobs finished', labelNames: ['algorithm', 'status'] as const, registers }),
    jobExecutionDuration: new Histogram({ name: 'job_execution_duration_seconds', help: 'Asynchronous job execution time (started to finished) in seconds', labelNames: ['algorithm'] as const, buckets: DURATION_BUCKETS_S, registers }),
    /** Function runs by outcome: `success`, `error`, `cancelled`. Never labelled with the function's (user-chosen) name or id. */
    functionInvocationsTotal: new Counter({ name: 'function_invocations_total', help: 'User function invocations by outcome: success, error, cancelled', labelNames: ['status'] as const, registers }),
    /** Run time of function invocations, seconds, all functions together. */
    functionExecutionDuration: new Histogram({ name: 'function_execution_duration_seconds', help: 'User function execution time in seconds', buckets: DURATION_BUCKETS_S, registers }),
    webhookDeliveriesTotal: new Counter({ name: 'webhook_deliveries_total', help: 'Webhook delivery attempts by outcome: success, retry (failed, will retry), failed (gave up)', labelNames: ['status'] as const, registers }),
  };
  // Known outcomes start at 0, so every series exists before its first event.
  for (const status of ['success', 'retry', 'failed']) metrics.webhookDeliveriesTotal.inc({ status }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The `algorithm` label of a job's metrics: its algorithm's name, or undefined for a function job,
 * whose `algorithm` field holds the function's user-chosen name and so is never a label value
 * (count it in `function_invocations_total` instead).
 */
export function algorithmLabel(job: { algorithm: string; function_id?: string | null }): string | undefined {
  return job.function_id ? undefined : job.algorithm;
}

/**
 * The counters of finished runs. Besides each process's own registry, they are counted in Redis by
 * the script that writes the run's end on its record (shared/store/run-counter-store.ts), so the
 * deployment's `/metrics` counts every run whose end the record shows exactly once, whatever process
 * is killed (docs/operations.md#metrics).
 */
export const RUN_COUNTERS: ReadonlySet<string> = new Set(['algorithm_executions_total', 'jobs_completed_total', 'function_invocations_total']);

/** What a job's run counters read: the algorithm (or function), and sync or async. */
interface CountedJob {
  algorithm: string;
  function_id?: string | null;
  mode?: string;
}

/**
 * The run counter fields (runCounterField) of one run's end: its execution (`algorithm_executions_total`
 * or, for a function, `function_invocations_total`, status `success` or `error`), and for an async
 * algorithm job that ends here (`final`: no retry follows), `jobs_completed_total` with the record's status.
 */
export function runEndCounters(job: CountedJob, failed: boolean, final: 'completed' | 'failed' | undefined): string[] {
  const label = algorithmLabel(job);
  const status = failed ? 'error' : 'success';
  if (!label) return [runCounterField('function_invocations_total', { status })];
  // Both counters in one field (one HINCRBY): `final` is then the record's status of this `status`.
  if (final && job.mode === 'async') return [runCounterField(ASYNC_RUN_END, { algorithm: label, status })];
  return [runCounterField('algorithm_executions_total', { algorithm: label, status })];
}

/** The run counter fields of a job cancelled before its end (`jobs_completed_total` or `function_invocations_total`, status `cancelled`). */
export function cancelCounters(job: CountedJob): string[] {
  const label = algorithmLabel(job);
  return [label ? runCounterField('jobs_completed_total', { algorithm: label, status: 'cancelled' }) : runCounterField('function_invocations_total', { status: 'cancelled' })];
}

/** The run counter fields of an async algorithm job BullMQ failed outside its run (`jobs_completed_total`, status `failed`). */
export function failedOutsideRunCounters(job: CountedJob): string[] {
  const label = algorithmLabel(job);
  return label && job.mode === 'async' ? [runCounterField('jobs_completed_total', { algorithm: label, status: 'failed' })] : [];
}

/**
 * Gauges an API's `/metrics` sets at each scrape from what Redis holds now (never pushed or summed
 * across processes; docs/operations.md#metrics):
 * - `fnqueue_redis_up`: 1 when the scrape could read the deployment's metrics from Redis, else 0
 *   (the answer then holds this process's counts only);
 * - `fnqueue_workers{status,state}`: workers in the registry (GET /workers) by `status` (`online`,
 *   `offline`) and last reported `state` (`running`, `draining`, `stopped`): offline but not
 *   `stopped` is a worker that vanished without a graceful shutdown.
 */
export function createScrapeGauges() {
  const registry = new Registry();
  const registers = [registry];
  const gauges = {
    registry,
    redisUp: new Gauge({ name: 'fnqueue_redis_up', help: 'Whether this scrape could read the deployment metrics from Redis (1) or not (0)', registers }),
    workers: new Gauge({ name: 'fnqueue_workers', help: 'Workers in the registry by status (online, offline) and last reported state (running, draining, stopped)', labelNames: ['status', 'state'] as const, registers }),
  };
  return {
    ...gauges,
    /** Sets the gauges from one reading: `workers` is the registry's list, undefined when Redis did not answer. */
    set(workers: ReadonlyArray<{ status: string; state: string }> | undefined): void {
      gauges.redisUp.set(workers ? 1 : 0);
      gauges.workers.reset();
      if (!workers) return;
      for (const status of ['online', 'offline']) for (const state of ['running', 'draining', 'stopped']) gauges.workers.set({ status, state }, 0);
      for (const w of workers) gauges.workers.inc({ status: w.status, state: w.state });
    },
  };
}

/** Adds Node.js process metrics (CPU, memory, event loop lag) under `fnqueue_` to a process-local registry. */
export function addProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'fnqueue_' });
}

/** How long a process's last snapshot counts after its last push: a finished worker's counts stay visible this long. */
export const METRICS_SNAPSHOT_TTL_SECONDS = 86_400;

/**
 * Shares one process's metrics (the FunctionalScaffold API reference's) with the whole deployment: every `intervalMs` it writes the
 * registry as prom-client JSON to Redis; {@link aggregateDeploymentMetrics} sums all processes.
 * Pushing snapshots keeps prom-client's own types and aggregation; the counters of finished runs
 * ({@link RUN_COUNTERS}) are counted in Redis instead, as a kill loses what was not pushed yet.
 */
export class MetricsPublisher {
  /** This process's id in the metrics index. */
  readonly processId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  private readonly snapshots: MetricsSnapshotStore;

  constructor(
    redis: Redis,
    keys: Keys,
    private readonly registry: Registry,
  ) {
    this.snapshots = new MetricsSnapshotStore(redis, keys);
  }

  /** Starts pushing every `intervalMs` (default 1000 ms). */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.push().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  /** Writes the snapshot now. Rejects when Redis is unreachable. */
  async push(): Promise<void> {
    const snapshot = JSON.stringify(await this.registry.getMetricsAsJSON());
    await this.snapshots.push(this.processId, snapshot, METRICS_SNAPSHOT_TTL_SECONDS);
  }

  /** Stops the timer and pushes a last snapshot (best effort). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.push().catch(() => undefined);
  }
}

/**
 * The deployment's metrics (the FunctionalScaffold API reference's) as Prometheus text: this process's live registry summed with the
 * last snapshot of every other process (prom-client's AggregatorRegistry: counters and histograms sum),
 * except the {@link RUN_COUNTERS}, which are the totals counted in Redis with each record's end.
 * @param selfId the caller's processId, whose (older) snapshot is skipped.
 */
export async function aggregateDeploymentMetrics(redis: Redis, keys: Keys, local: Registry, selfId: string): Promise<string> {
  const cutoff = Date.now() - METRICS_SNAPSHOT_TTL_SECONDS * 1000;
  const snapshots = await new MetricsSnapshotStore(redis, keys).readOthers(selfId, cutoff);
  const own = await local.getMetricsAsJSON();
  // The run counters come from Redis (counted with each record's end), not from the processes' pushes.
  const notRun = (metrics: Array<{ name: string }>) => metrics.filter((m) => !RUN_COUNTERS.has(m.name));
  const all: object[] = [notRun(own)];
  for (const s of snapshots) all.push(notRun(JSON.parse(s) as Array<{ name: string }>));
  const counted = await new RunCounterStore(redis, keys).all();
  const help = new Map(own.map((m) => [m.name, m.help]));
  all.push(
    [...RUN_COUNTERS].map((name) => ({
      name,
      help: help.get(name) ?? name,
      type: 'counter',
      aggregator: 'sum',
      values: counted.filter((c) => c.name === name).map((c) => ({ labels: c.labels, value: c.value })),
    })),
  );
  return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
}

/**
 * Joins Prometheus text expositions into one valid exposition: one HELP and TYPE per family and
 * each family's samples together (BullMQ's exportPrometheusMetrics gives one text per queue, each
 * with its own HELP/TYPE lines, which the format allows only once).
 * @param keep when given, only families whose name passes.
 */
export function mergeExpositions(texts: readonly string[], keep: (family: string) => boolean = () => true): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { meta: [], samples: [] }));
    return f;
  };
  for (const text of texts) {
    let current: string | undefined;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const meta = /^# (?:HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        current = meta[1]!;
        const f = family(current);
        if (!f.meta.some((m) => m.slice(0, 6) === line.slice(0, 6))) f.meta.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      family(current ?? /^[^{\s]+/.exec(line)![0]).samples.push(line);
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) if (keep(name)) out.push(...f.meta, ...f.samples);
  return out.length ? `${out.join('\n')}\n` : '';
}

/**
 * Sums the samples of one exposition that carry the same name and labels, keeping the first one's
 * place: the queues of one pool in every shard (QUEUE_SHARDS) are all named alike, and BullMQ
 * exports each as its own `bullmq_job_count{queue="jobs", state="…"}` series.
 */
export function sumSameSeries(text: string): string {
  const out: string[] = [];
  const at = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (!sample) {
      out.push(line);
      continue;
    }
    const [, series, value] = sample as unknown as [string, string, string];
    const i = at.get(series);
    if (i === undefined) {
      at.set(series, out.length);
      out.push(line);
    } else {
      const previous = Number(/\S+$/.exec(out[i]!)![0]);
      out[i] = `${series} ${previous + Number(value)}`;
    }
  }
  return out.join('\n');
}
