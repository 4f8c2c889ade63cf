import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

/**
 * The production build (docs/deployment.md#the-image): `npm run build` compiles to plain
 * JavaScript, and the compiled api and worker run with `node` alone, no tsx, loading their runtime
 * files (Lua scripts, algorithm children, function hosts) from the build. Built into its own
 * folder under dist/ so a developer's dist/ is left as it is.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT_DIR = path.join(ROOT, 'dist', `.test-${process.pid}`);

function run(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('the compiled build (node dist/..., no tsx)', function () {
  // tsc over the whole product takes a while on a loaded machine.
  this.timeout(180_000);
  let redis: TestRedis;
  let dataDir: string;
  const procs: ServiceProcess[] = [];
  let api: ServiceProcess;

  before(async () => {
    const built = await run(['--import', 'tsx', 'scripts/build.ts', '--out-dir', OUT_DIR], 170_000);
    expect(built.code, built.stdout + built.stderr).to.equal(0);
    redis = await startRedis();
    dataDir = await mkdtemp(path.join(tmpdir(), 'fnq-build-'));
    const env = { REDIS_URL: redis.url, QUEUE_PREFIX: `e2eb${Math.random().toString(36).slice(2, 8)}`, DATA_DIR: dataDir, WORKER_CONCURRENCY: '1' };
    api = await startService('api', env, 30_000, { distDir: OUT_DIR });
    procs.push(api);
    procs.push(await startService('worker', env, 30_000, { distDir: OUT_DIR }));
  });

  after(async () => {
    for (const proc of procs.splice(0).reverse()) await proc.stop('SIGKILL');
    await redis?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await rm(OUT_DIR, { recursive: true, force: true });
  });

  it('holds JavaScript and the runtime files only, beside the modules that load them', async () => {
    const files = await filesUnder(OUT_DIR);
    expect(files.filter((f) => f.endsWith('.ts'))).to.deep.equal([]);
    expect(files).to.include.members([
      'api/main.js',
      'worker/main.js',
      'worker/algorithms/algorithm-child.js',
      'worker/functions/runtimes/node-host.mjs',
      'worker/functions/runtimes/python-host.py',
      'shared/store/lua/job-create.lua',
      'shared/store/lua/includes/job-helpers.lua',
      'scripts/keys.js',
      'scripts/healthcheck.js',
    ]);
    const lua = (await readdir(path.join(ROOT, 'shared/store/lua'), { recursive: true })).filter((f) => f.endsWith('.lua'));
    for (const f of lua) expect(files, f).to.include(path.join('shared/store/lua', f));
  });

  it('runs a job end to end: the compiled api enqueues it, the compiled worker runs it in an algorithm child', async () => {
    const status = await http('GET', `${api.url}/status`);
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(status.body.version).to.equal(pkg.version);

    const res = await http('POST', `${api.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const done = await eventually(async () => {
      const job = await http('GET', `${api.url}/jobs/${res.body.job_id}`);
      return job.body.status === 'completed' || job.body.status === 'failed' ? job.body : undefined;
    }, 30_000);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.result).to.include({ number: 17, is_prime: true });
  });

  for (const [runtime, code] of [
    ['nodejs', 'function handler(event) { return { got: event } }'],
    ['python', 'def handler(event): return {"got": event}'],
  ] as const) {
    it(`runs a ${runtime} function in its host (worker/functions/runtimes/ of the build)`, async () => {
      const fn = await http('POST', `${api.url}/functions`, { name: `build-${runtime}-${process.pid}`, runtime, code, execution_type: 'sync' });
      expect(fn.status, JSON.stringify(fn.body)).to.equal(201);
      const res = await http('POST', `${api.url}/functions/${fn.body.function_id}/invoke`, { n: 1 });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.result, JSON.stringify(res.body)).to.deep.equal({ got: { n: 1 } });
    });
  }

  it("answers the image's HEALTHCHECK from whichever service runs, and fails it when none answers", async () => {
    const check = path.join(OUT_DIR, 'scripts/healthcheck.js');
    const worker = procs[1]!;
    const closed = 'http://127.0.0.1:1/healthz';
    expect((await run([check, `${api.url}/readyz`, closed], 20_000)).code).to.equal(0);
    expect((await run([check, closed, `${worker.url}/healthz`], 20_000)).code).to.equal(0);
    expect((await run([check, closed], 20_000)).code).to.equal(1);
  });
});
