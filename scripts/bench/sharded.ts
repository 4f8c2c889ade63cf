/**
 * The sharded phase of `npm run bench` (docs/performance.md, docs/deployment.md#cluster-with-shards):
 * a local Redis Cluster of 3 masters (no replicas, scripts/lib/redis-server.ts), the real API and
 * BENCH_WORKERS workers on it through REDIS_CLUSTER_NODES, once with QUEUE_SHARDS=1 and once with
 * QUEUE_SHARDS=3 (each its own QUEUE_PREFIX). Each run submits BENCH_SHARD_JOBS PrimeChecker jobs
 * through POST /jobs (50 in flight) and waits until all completed. Per master it reads the commands
 * served (INFO commandstats, reset before the run with CONFIG RESETSTAT) and the Redis CPU used
 * (INFO cpu used_cpu_sys + used_cpu_user, the run's delta), and prints commands per job per master
 * and Redis CPU per job on the busiest master, one shard against three.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { redisInfo, startRedisCluster, type RedisCluster } from '../lib/redis-server.js';
import { Redis } from 'ioredis';
import { ASYNC_FINISH_LIMIT_MS, ASYNC_SUBMIT_LIMIT_MS, type BenchContext } from './context.js';
import { startFnqueue } from './fnqueue-stack.js';
import { redisCpuSeconds } from './cpu.js';
import { fmt, fmtInt, log, sleep, table } from './measure.js';

/** What one run measured on one master. */
export interface MasterLoad {
  port: number;
  /** Commands served in the run (INFO commandstats calls, the bench's own INFO and CONFIG left out). */
  calls: number;
  /** Redis CPU used in the run, seconds (used_cpu_sys + used_cpu_user). */
  cpuSeconds: number;
}

/** One run of the sharded phase. */
export interface ShardedRun {
  shards: number;
  jobs: number;
  seconds: number;
  masters: MasterLoad[];
}

const OWN_COMMANDS = new Set(['info', 'config', 'cluster', 'ping']);

async function commandCalls(port: number): Promise<number> {
  const stats = await redisInfo(port, 'commandstats');
  let calls = 0;
  for (const [name, value] of Object.entries(stats)) {
    if (OWN_COMMANDS.has(name.replace(/^cmdstat_/, '').split('|')[0]!)) continue;
    calls += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return calls;
}

async function resetStats(port: number): Promise<void> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.config('RESETSTAT');
  } finally {
    c.disconnect();
  }
}

/** Submits `count` jobs, 50 in flight, then polls GET /jobs until all are completed. @throws Error past the time limits. */
async function submitAndFinish(baseUrl: string, count: number): Promise<{ seconds: number; accepted: number }> {
  const pool = new Pool(baseUrl, { connections: 50, pipelining: 1 });
  const body = JSON.stringify({ algorithm: 'PrimeChecker', params: { number: 17 } });
  const t0 = performance.now();
  let next = 0;
  let accepted = 0;
  let refused = 0;
  try {
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < count && performance.now() - t0 < ASYNC_SUBMIT_LIMIT_MS) {
          next++;
          try {
            const r = await pool.request({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body });
            await r.body.dump();
            if (r.statusCode === 202) accepted++;
            else refused++;
          } catch {
            refused++;
          }
        }
      }),
    );
    const deadline = performance.now() + ASYNC_FINISH_LIMIT_MS;
    let done = 0;
    while (performance.now() < deadline) {
      const r = await pool.request({ method: 'GET', path: '/jobs?status=completed&algorithm=PrimeChecker&limit=1' });
      done = r.statusCode === 200 ? ((await r.body.json()) as { total: number }).total : (await r.body.dump(), done);
      if (done >= accepted) break;
      await sleep(250);
    }
    if (done < accepted) throw new Error(`sharded: ${accepted - done}/${accepted} jobs not completed within ${ASYNC_FINISH_LIMIT_MS / 1000} s`);
    if (refused > 0) log(`sharded: ${refused} submissions refused or failed`);
    return { seconds: (performance.now() - t0) / 1000, accepted };
  } finally {
    await pool.close();
  }
}

async function oneRun(ctx: BenchContext, cluster: RedisCluster, shards: number): Promise<ShardedRun> {
  const stack = await startFnqueue(ctx, {
    env: { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_SHARDS: String(shards) },
    redisPids: cluster.nodes.map((n) => n.server.child.pid!),
  });
  try {
    const masters = (await Promise.all(cluster.nodes.map(async (n) => ((await n.role()) === 'master' ? n.port : undefined)))).filter((p): p is number => p !== undefined);
    await Promise.all(masters.map(resetStats));
    const cpuBefore = await Promise.all(masters.map(redisCpuSeconds));
    log(`sharded: QUEUE_SHARDS=${shards}: ${ctx.opts.shardJobs} jobs via POST /jobs (50 in flight) on ${masters.length} masters`);
    const { seconds, accepted } = await submitAndFinish(stack.baseUrl, ctx.opts.shardJobs);
    const [calls, cpuAfter] = await Promise.all([Promise.all(masters.map(commandCalls)), Promise.all(masters.map(redisCpuSeconds))]);
    return { shards, jobs: accepted, seconds, masters: masters.map((port, i) => ({ port, calls: calls[i]!, cpuSeconds: cpuAfter[i]! - cpuBefore[i]! })) };
  } finally {
    await stack.stop();
  }
}

/**
 * Runs the phase: starts the cluster, one run with 1 shard and one with 3, stops the cluster.
 * @throws Error when the cluster does not form or a run's jobs do not finish in time (the cluster is stopped either way).
 */
export async function runSharded(ctx: BenchContext): Promise<void> {
  log('sharded: starting a local Redis Cluster, 3 masters, no replicas');
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  try {
    ctx.res.sharded = [];
    for (const shards of [1, 3]) ctx.res.sharded.push(await oneRun(ctx, cluster, shards));
  } finally {
    await cluster.destroy();
  }
}

/** The phase's tables: per run and master, commands (per job, share) and Redis CPU per job; then the busiest master of each run. */
export function reportSharded(runs: readonly ShardedRun[]): string {
  if (runs.length === 0) return '';
  const rows: string[][] = [];
  const busiest: string[][] = [];
  for (const run of runs) {
    const total = run.masters.reduce((n, m) => n + m.calls, 0);
    for (const m of run.masters) {
      rows.push([`QUEUE_SHARDS=${run.shards}`, `:${m.port}`, fmtInt(m.calls), fmt(m.calls / run.jobs, 1), `${fmt(total ? (100 * m.calls) / total : 0, 0)} %`, fmt((m.cpuSeconds * 1e6) / run.jobs, 0)]);
    }
    const top = [...run.masters].sort((a, b) => b.cpuSeconds - a.cpuSeconds)[0]!;
    busiest.push([`QUEUE_SHARDS=${run.shards}`, fmtInt(run.jobs), fmt(run.jobs / run.seconds, 0), `:${top.port}`, fmt(top.calls / run.jobs, 1), fmt((top.cpuSeconds * 1e6) / run.jobs, 0), fmt(total / run.jobs, 1)]);
  }
  return (
    '\nSharded queues on a local Redis Cluster (3 masters): commands per job per master (INFO commandstats) and Redis CPU per job (INFO cpu, sys + user):\n' +
    table(['run', 'master', 'commands', 'per job', 'share', 'Redis CPU µs/job'], rows) +
    '\nBusiest master (by Redis CPU) of each run:\n' +
    table(['run', 'jobs', 'jobs/s', 'master', 'commands/job there', 'Redis CPU µs/job there', 'commands/job, all masters'], busiest) +
    '\n'
  );
}
