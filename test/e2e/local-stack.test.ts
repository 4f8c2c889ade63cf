import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { eventually, http } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { track, untrack } from '../helpers/resources.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PRIME_17 = { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' };

/** `npm start` (node --import tsx scripts/start.ts) running as a child of the test. */
interface LocalStack {
  proc: ChildProcess;
  pid: number;
  apiUrl: string;
  workerPort: number;
  dataDir: string;
  /** stdout lines, parsed when JSON (the start process's own lines and its children's). */
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids of the redis-server, api and workers it started, as its log lines tell. */
  pids(): { redis: number[]; api: number[]; worker: number[] };
  /** Kills whatever is left (the start process's group, then every pid it logged) and removes DATA_DIR. */
  destroy(): Promise<void>;
}

/** Two consecutive free ports p and p + 1 (WORKER_PORT and WORKER_PORT + 1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await isFree(p + 1))) return p;
  }
  throw new Error('no two consecutive free ports');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Spawns `npm start`'s command in its own process group (as a terminal would), with a minimal env:
 * PORT, WORKER_PORT, WORKERS=2, DATA_DIR (a new temp dir), HOST=127.0.0.1, no REDIS_URL.
 */
async function spawnStart(extraEnv: Record<string, string> = {}): Promise<LocalStack> {
  const port = await freePort();
  let workerPort = await freePortPair();
  while (workerPort === port || workerPort + 1 === port) workerPort = await freePortPair();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'fnqueue-start-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKER_PORT: String(workerPort),
    WORKERS: '2',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ raw: line });
    }
    if (process.env.FNQUEUE_TEST_LOGS) process.stderr.write(`[start ${proc.pid}] ${line}\n`);
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (process.env.FNQUEUE_TEST_LOGS) process.stderr.write(`[start ${proc.pid} stderr] ${line}\n`);
  });

  const pids = () => ({
    redis: logs.filter((l) => l.message === 'redis-server started').map((l) => Number(l.pid)),
    api: [...new Set(logs.filter((l) => l.service === 'api' && typeof l.pid === 'number').map((l) => l.pid as number))],
    worker: [...new Set(logs.filter((l) => l.service === 'worker' && typeof l.pid === 'number').map((l) => l.pid as number))],
  });
  const stack: LocalStack = {
    proc,
    pid: proc.pid!,
    apiUrl: `http://127.0.0.1:${port}`,
    workerPort,
    dataDir,
    logs,
    stderr,
    exited,
    pids,
    destroy: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          proc.kill('SIGKILL');
        }
        await exited;
      }
      const p = pids();
      for (const pid of [...p.api, ...p.worker, ...p.redis]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
      untrack(stack);
    },
  };
  return track(`npm start ${proc.pid}`, stack, stack.destroy);
}

/** Waits until the API is ready and both workers answer /healthz. */
async function waitUp(stack: LocalStack): Promise<void> {
  await eventually(async () => {
    if (stack.proc.exitCode !== null) throw new Error(`npm start exited with ${stack.proc.exitCode}: ${stack.stderr.join('\n')}`);
    const ready = await http('GET', `${stack.apiUrl}/readyz`);
    const w1 = await http('GET', `http://127.0.0.1:${stack.workerPort}/healthz`);
    const w2 = await http('GET', `http://127.0.0.1:${stack.workerPort + 1}/healthz`);
    return ready.status === 200 && w1.status === 200 && w2.status === 200;
  }, 60_000, 200);
}

/** Sum of `algorithm_executions_total{algorithm="PrimeChecker",...}` over its statuses. */
function primeExecutions(metricsText: string): number {
  return [...metricsText.matchAll(/^algorithm_executions_total\{algorithm="PrimeChecker",status="[^"]+"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

/** Waits for the start process to exit; fails past `timeoutMs`. */
async function exitWithin(stack: LocalStack, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const out = await Promise.race([
    stack.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`npm start did not exit within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return { ...out, ms: Date.now() - t0 };
}

/**
 * Asserts a stop was clean: the start process exits 0 within 15 s, every process it started is
 * gone, the api drained once and both workers drained. Returns the `service:message` log lines.
 */
async function expectStoppedCleanly(stack: LocalStack, pids: ReturnType<LocalStack['pids']>): Promise<string[]> {
  const { code, signal } = await exitWithin(stack, 15_000);
  expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
  for (const pid of [...pids.redis, ...pids.api, ...pids.worker]) expect(alive(pid), `pid ${pid} after`).to.equal(false);
  const messages = stack.logs.map((l) => `${String(l.service)}:${String(l.message)}`);
  expect(messages.filter((m) => m === 'api:api stopped'), 'the api drained').to.have.length(1);
  expect(messages.filter((m) => m === 'worker:worker stopped'), 'both workers drained').to.have.length(2);
  return messages;
}

describe('npm start (the local stack: its own redis-server, the api and 2 workers)', function () {
  this.timeout(90_000);
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.destroy();
    stack = undefined;
  });

  it('starts redis-server with AOF in DATA_DIR, and the api and both workers answer requests of the FunctionalScaffold API reference', async () => {
    stack = await spawnStart();
    await waitUp(stack);
    const s = stack;

    const redisPids = s.pids().redis;
    expect(redisPids).to.have.length(1);
    expect(alive(redisPids[0]!)).to.equal(true);
    expect(readdirSync(s.dataDir)).to.include('appendonlydir');
    expect(readdirSync(path.join(s.dataDir, 'appendonlydir')).some((f) => f.endsWith('.aof'))).to.equal(true);

    const invoke = await http('POST', `${s.apiUrl}/invoke`, { number: 17 });
    expect(invoke.status, invoke.text).to.equal(200);
    expect(invoke.body).to.include({ status: 'success' });
    expect(invoke.body.result).to.deep.equal(PRIME_17);

    const created = await http('POST', `${s.apiUrl}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
    expect(created.status, created.text).to.equal(202);
    const record = await eventually(async () => {
      const r = await http('GET', `${s.apiUrl}/jobs/${created.body.job_id}`);
      return r.body.status === 'completed' && r.body;
    });
    expect(record.result).to.deep.equal(PRIME_17);

    const healthz = await http('GET', `${s.apiUrl}/healthz`);
    expect(healthz.status).to.equal(200);
    expect(healthz.body.status).to.equal('healthy');
    const readyz = await http('GET', `${s.apiUrl}/readyz`);
    expect(readyz.status).to.equal(200);
    expect(readyz.body.status).to.equal('ready');
    for (const port of [s.workerPort, s.workerPort + 1]) {
      const w = await http('GET', `http://127.0.0.1:${port}/healthz`);
      expect(w.status, `worker on ${port}`).to.equal(200);
      expect(w.body.status).to.equal('healthy');
    }

    // Runs spread over both workers; the API's /metrics counts them all.
    const workerCount = async (port: number) => primeExecutions((await http('GET', `http://127.0.0.1:${port}/metrics`)).text);
    let sent = 0;
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => http('POST', `${s.apiUrl}/invoke`, { number: 1000 + i })));
      results.forEach((r) => expect(r.status, r.text).to.equal(200));
      sent += 20;
      if ((await workerCount(s.workerPort)) > 0 && (await workerCount(s.workerPort + 1)) > 0) break;
    }
    const [w1, w2] = [await workerCount(s.workerPort), await workerCount(s.workerPort + 1)];
    expect(w1, 'PrimeChecker runs on worker 1').to.be.above(0);
    expect(w2, 'PrimeChecker runs on worker 2').to.be.above(0);
    expect(w1 + w2).to.equal(sent + 2);
    const apiCount = await eventually(async () => {
      const n = primeExecutions((await http('GET', `${s.apiUrl}/metrics`)).text);
      return n === w1 + w2 && n;
    }, 5000);
    expect(apiCount).to.be.at.least(20);
  });

  it('stops everything on SIGTERM: exits 0, the api and workers drain, and no process it started remains', async () => {
    stack = await spawnStart();
    await waitUp(stack);
    const pids = stack.pids();
    expect(pids.redis).to.have.length(1);
    expect(pids.api).to.have.length(1);
    expect(pids.worker).to.have.length(2);
    for (const pid of [...pids.redis, ...pids.api, ...pids.worker]) expect(alive(pid), `pid ${pid} before`).to.equal(true);

    process.kill(stack.pid, 'SIGTERM');
    const messages = await expectStoppedCleanly(stack, pids);
    expect(messages).to.include('start:stopped');
  });

  // Ctrl-C in a terminal, and `kill -TERM -- -<pgid>` (shell job control, `timeout`): the signal
  // reaches start, the api and the workers at once, and start then sends SIGTERM to each of them too.
  for (const [how, sig] of [['Ctrl-C (SIGINT to its process group)', 'SIGINT'], ['SIGTERM to its process group', 'SIGTERM']] as const) {
    it(`stops everything on ${how}, letting an in-flight /invoke finish`, async () => {
      stack = await spawnStart({ DIAGNOSTIC_ALGORITHMS: 'true' });
      await waitUp(stack);
      const pids = stack.pids();

      const s = stack;
      const inflight = http('POST', `${s.apiUrl}/invoke`, { algorithm: 'Sleep', params: { ms: 1500 } });
      inflight.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
      // The job is active on a worker (queue depth from the API's /metrics).
      await eventually(async () => /^bullmq_job_count\{queue="jobs", state="active"\} [1-9]/m.test((await http('GET', `${s.apiUrl}/metrics`)).text), 10_000);
      process.kill(-s.pid, sig);

      const res = await inflight;
      expect(res.status, res.text).to.equal(200);
      expect(res.body.result.slept_ms).to.be.at.least(1500);
      await expectStoppedCleanly(stack, pids);
    });
  }

  it('exits non-zero with one clear message naming the fixes when redis-server is not on PATH and REDIS_URL is unset', async () => {
    // PATH holds node and nothing else (node's own directory, /usr/bin here, also holds redis-server).
    const binDir = mkdtempSync(path.join(tmpdir(), 'fnqueue-path-'));
    try {
      symlinkSync(process.execPath, path.join(binDir, 'node'));
      stack = await spawnStart({ PATH: binDir });
      const { code } = await exitWithin(stack, 30_000);
      expect(code).to.be.a('number').and.not.equal(0);
      const text = stack.stderr.join('\n');
      expect(text).to.contain('redis-server was not found on PATH, and REDIS_URL is not set.');
      expect(text.split('redis-server was not found').length - 1, 'said once').to.equal(1);
      expect(text).to.match(/install Redis/i);
      expect(text).to.contain('REDIS_URL=redis://');
      expect(text).to.contain('docker compose up');
      expect(text).not.to.match(/\bat .*\.(ts|js):\d+/);
      expect(stack.pids()).to.deep.equal({ redis: [], api: [], worker: [] });
    } finally {
      rmSync(binDir, { recursive: true, force: true });
    }
  });
});
