import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { track, untrack } from '../helpers/resources.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'clients/typescript/dist/cli.js');

/** What a finished CLI process printed and its exit code. */
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running CLI process. */
interface Running {
  proc: ChildProcess;
  done: Promise<Run>;
}

/** Starts `command args` (default: node and the built CLI) with `env`; killed after `timeoutMs`. */
function start(args: readonly string[], env: Record<string, string>, opts: { command?: string; timeoutMs?: number } = {}): Running {
  const command = opts.command ?? process.execPath;
  const argv = opts.command ? [...args] : [CLI, ...args];
  const proc = spawn(command, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { proc };
  track(`cli ${args.join(' ')}`, handle, async () => {
    proc.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const done = new Promise<Run>((resolve) =>
    proc.once('close', (code) => {
      clearTimeout(timer);
      untrack(handle);
      resolve({ code, stdout, stderr });
    }),
  );
  return { proc, done };
}

/**
 * The `fnqueue` CLI (clients/typescript/src/cli.ts, built by `npm test`'s pretest), run as a
 * process against a real API and worker on a real redis-server (docs/clients/cli.md).
 */
describe('the fnqueue CLI (a real process against api and worker in-process, real Redis)', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const cli = (args: readonly string[], extraEnv: Record<string, string> = {}) => start(args, { ...env, ...extraEnv }).done;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { FUNCTION_SANDBOX: 'bwrap' });
    env = { FNQUEUE_URL: stack.url };
    dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-cli-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await stack?.close();
    await redis?.destroy();
  });

  describe('invoke', () => {
    it('prints the result of `invoke PrimeChecker number=17` (a number from key=value) and exits 0', async () => {
      const run = await cli(['invoke', 'PrimeChecker', 'number=17']);
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout)).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
    });

    it('works as `npx fnqueue` from the repository root (the workspace bin)', async () => {
      const run = await start(['fnqueue', 'invoke', 'PrimeChecker', 'number=12'], env, { command: 'npx' }).done;
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout)).to.deep.include({ number: 12, is_prime: false });
    });

    it('prints the whole answer as one JSON line with --json, and takes --url over FNQUEUE_URL', async () => {
      const port = await freePort();
      const run = await cli(['--json', '--url', stack.url, 'invoke', 'Echo', '-d', '{"value":{"a":[1,2]}}', 'print=hi'], { FNQUEUE_URL: `http://127.0.0.1:${port}` });
      expect(run.code, run.stderr).to.equal(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines).to.have.length(1);
      const answer = JSON.parse(lines[0]!);
      expect(answer).to.include({ status: 'success' });
      expect(answer.result).to.deep.equal({ value: { a: [1, 2] } });
    });
  });

  describe('exit codes', () => {
    it('1 for a failed job, 5 for a refusal (its code on stderr, or the error JSON with --json), 6 when unreachable', async () => {
      const failed = await cli(['invoke', 'Crash', 'throw=true']);
      expect(failed.code).to.equal(1);
      expect(failed.stderr).to.include('ALGORITHM_ERROR').and.include('Crash algorithm threw on purpose');

      const refused = await cli(['invoke', 'NoSuchAlgorithm']);
      expect(refused.code).to.equal(5);
      expect(refused.stderr).to.match(/ALGORITHM_NOT_FOUND: algorithm 'NoSuchAlgorithm' not found \(HTTP 404, request [0-9a-f-]{36}\)/);

      const json = await cli(['--json', 'invoke', 'PrimeChecker', 'number=abc']);
      expect(json.code).to.equal(5);
      expect(JSON.parse(json.stdout)).to.deep.include({ error: 'VALIDATION_ERROR', status: 400 });

      const port = await freePort();
      const down = await cli(['status'], { FNQUEUE_URL: `http://127.0.0.1:${port}` });
      expect(down.code).to.equal(6);
      expect(down.stderr).to.include('UNREACHABLE');
    });

    it('2 for bad usage: an unknown command or option, a word without =, a missing file', async () => {
      for (const args of [['bogus'], ['invoke'], ['invoke', 'PrimeChecker', 'nonsense'], ['jobs', 'list', '--bogus'], ['functions', 'deploy', path.join(dir, 'missing.py')]]) {
        const run = await cli(args);
        expect(run.code, `${args.join(' ')}: ${run.stderr}`).to.equal(2);
        expect(run.stderr).to.not.equal('');
      }
      // An API URL that is no http(s) URL is bad usage too, not an unreachable API (6).
      for (const [args, env] of [[['--url', 'notaurl', 'status'], {}], [['status'], { FNQUEUE_URL: 'ftp://127.0.0.1/' }]] as const) {
        const run = await cli([...args], env);
        expect(run.code, `${args.join(' ')}: ${run.stderr}`).to.equal(2);
        expect(run.stderr).to.match(/API URL/);
      }
      expect((await cli(['--help'])).code).to.equal(0);
    });

    it('3 when the wait passes --timeout (the job goes on), 4 for a cancelled job, 130 for Ctrl-C', async () => {
      const submitted = await cli(['jobs', 'submit', 'Sleep', 'ms=4000']);
      expect(submitted.code, submitted.stderr).to.equal(0);
      const jobId = submitted.stdout.trim();
      expect(jobId).to.match(/^[0-9a-f]{12}$/);
      const timedOut = await cli(['jobs', 'wait', jobId, '--timeout', '300']);
      expect(timedOut.code).to.equal(3);
      expect(timedOut.stderr).to.include('WAIT_TIMEOUT');

      const waiting = start(['jobs', 'wait', jobId], env);
      await eventually(async () => (await http('GET', `${stack.url}/jobs/${jobId}`)).body.status === 'running', 10_000, 50);
      const cancel = await cli(['jobs', 'cancel', jobId]);
      expect(cancel.code, cancel.stderr).to.equal(0);
      expect(cancel.stdout).to.include(`job ${jobId} cancelled`);
      const waited = await waiting.done;
      expect(waited.code, waited.stderr).to.equal(4);
      expect(waited.stderr).to.include(`job ${jobId} cancelled`);
      // Cancelling again: the API's 409 CONFLICT.
      expect((await cli(['jobs', 'cancel', jobId])).code).to.equal(5);

      const long = (await cli(['jobs', 'submit', 'Sleep', 'ms=5000'])).stdout.trim();
      const interrupted = start(['jobs', 'wait', long], env);
      // Its first status line says the wait (and its Ctrl-C handler) is in place.
      let seen = '';
      interrupted.proc.stderr!.on('data', (c: Buffer) => (seen += c.toString('utf8')));
      await eventually(async () => seen.includes(`job ${long} `), 15_000, 50);
      interrupted.proc.kill('SIGINT');
      const stopped = await interrupted.done;
      expect(stopped.code).to.equal(130);
      expect(stopped.stderr).to.include(`stopped waiting; job ${long} goes on`);
      expect((await http('GET', `${stack.url}/jobs/${long}`)).body.status).to.be.oneOf(['running', 'completed']);
    });
  });

  describe('waiting with progress', () => {
    it('prints one plain line per progress report when stderr is not a terminal, the result on stdout', async () => {
      const run = await cli(['jobs', 'submit', 'Sleep', 'ms=1200', 'steps=3', '--wait']);
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout).slept_ms).to.be.at.least(1200);
      const lines = run.stderr.trim().split('\n');
      const id = /^job ([0-9a-f]{12}) submitted$/.exec(lines[0]!)![1];
      for (const want of ['running 25% step 1 of 4', 'running 50% step 2 of 4', 'running 75% step 3 of 4', '100% done']) {
        expect(lines.some((l) => l.startsWith(`job ${id} `) && l.includes(want)), `${want} in ${run.stderr}`).to.equal(true);
      }
      expect(lines.at(-1)).to.match(new RegExp(`^job ${id} completed in [0-9.]+ s$`));
    });

    it('draws a live bar on a terminal (run under script(1), a pseudo-terminal)', async () => {
      const command = `${process.execPath} ${CLI} jobs submit Sleep ms=1200 steps=3 --wait`;
      const run = await start(['-qfec', command, '/dev/null'], env, { command: 'script' }).done;
      expect(run.code, run.stdout).to.equal(0);
      // cli-progress redraws the line in place: carriage returns or cursor moves, the bar's glyphs, the percents.
      expect(run.stdout).to.match(/\u001b\[|\r/);
      expect(run.stdout).to.include('\u2588');
      expect(run.stdout).to.match(/\] 50% running · step 2 of 4/);
      expect(run.stdout).to.match(/\] 100% (running|completed) · done/);
    });

    it('prints the final record with --json and no progress lines', async () => {
      const run = await cli(['--json', 'jobs', 'submit', 'Sleep', 'ms=300', 'steps=1', '--wait']);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
      const record = JSON.parse(run.stdout);
      expect(record).to.include({ status: 'completed', algorithm: 'Sleep' });
      expect(record.progress).to.include({ percent: 100, message: 'done' });
    });
  });

  describe('jobs', () => {
    it('get, list (a table; --json an array) and a failed job’s exit code from jobs wait', async () => {
      const id = (await cli(['jobs', 'submit', 'Crash', 'throw=true'])).stdout.trim();
      const waited = await cli(['jobs', 'wait', id, '--poll']);
      expect(waited.code).to.equal(1);
      expect(waited.stderr).to.include(`job ${id} failed: Crash algorithm threw on purpose`);

      const got = await cli(['--json', 'jobs', 'get', id]);
      expect(JSON.parse(got.stdout)).to.include({ job_id: id, status: 'failed' });

      const table = await cli(['jobs', 'list', '--status', 'failed', '-n', '5']);
      expect(table.code, table.stderr).to.equal(0);
      const [header, ...rows] = table.stdout.trim().split('\n');
      expect(header).to.match(/^JOB_ID\s+STATUS\s+ALGORITHM\s+CREATED\s+COMPLETED\s+PROGRESS$/);
      expect(rows.some((r) => r.startsWith(`${id}  failed  Crash`))).to.equal(true);

      const all = JSON.parse((await cli(['--json', 'jobs', 'list', '--all', '--algorithm', 'Crash'])).stdout) as Array<{ algorithm: string }>;
      expect(all.length).to.be.at.least(2);
      expect(all.every((j) => j.algorithm === 'Crash')).to.equal(true);

      const unknown = await cli(['jobs', 'get', 'a1b2c3d4e5f6']);
      expect(unknown.code).to.equal(5);
      expect(unknown.stderr).to.include('JOB_NOT_FOUND');
    });
  });

  describe('functions and logs', () => {
    it('deploys FILE, invokes it with key=value, shows its logs, follows an async one’s logs, removes it', async function () {
      this.timeout(120_000);
      const file = path.join(dir, 'double.py');
      writeFileSync(file, 'def handler(event):\n    print("doubling", event["n"])\n    return {"double": event["n"] * 2}\n');
      const deployed = await cli(['functions', 'deploy', file, '--runtime', 'python', '--name', 'cli-double']);
      expect(deployed.code, deployed.stderr).to.equal(0);
      const id = deployed.stdout.trim();
      expect(deployed.stderr).to.include(`deployed cli-double as ${id} (python, sync, version 1, active)`);

      const invoked = await cli(['functions', 'invoke', id, 'n=21']);
      expect(invoked.code, invoked.stderr).to.equal(0);
      expect(JSON.parse(invoked.stdout)).to.deep.equal({ double: 42 });
      const logs = await cli(['functions', 'logs', id]);
      expect(logs.stdout).to.equal('doubling 21\n');

      const listed = await cli(['functions', 'list']);
      expect(listed.stdout).to.match(new RegExp(`${id}\\s+cli-double\\s+python\\s+sync\\s+1\\s+active`));

      const slow = path.join(dir, 'slow.py');
      writeFileSync(slow, 'import sys, time\ndef handler(event):\n    for i in range(3):\n        print("line", i, flush=True)\n        time.sleep(0.3)\n    print("warn", file=sys.stderr, flush=True)\n    return {"ok": True}\n');
      const slowId = (await cli(['functions', 'deploy', slow, '--async'])).stdout.trim();
      const pending = await cli(['functions', 'invoke', slowId]);
      expect(pending.code, pending.stderr).to.equal(0);
      const jobId = pending.stdout.trim();
      expect(jobId).to.match(/^[0-9a-f]{12}$/);
      const followed = await cli(['jobs', 'logs', jobId, '--follow']);
      expect(followed.code, followed.stderr).to.equal(0);
      expect(followed.stdout).to.equal('line 0\nline 1\nline 2\n');
      expect(followed.stderr).to.equal('warn\n');

      const waitedFn = await cli(['functions', 'invoke', slowId, '--wait']);
      expect(waitedFn.code, waitedFn.stderr).to.equal(0);
      expect(JSON.parse(waitedFn.stdout)).to.deep.equal({ ok: true });

      for (const fid of [id, slowId]) expect((await cli(['functions', 'rm', fid])).code).to.equal(0);
      const gone = await cli(['functions', 'get', id]);
      expect(gone.code).to.equal(5);
      expect(gone.stderr).to.include('FUNCTION_NOT_FOUND');
    });
  });

  describe('schedules, workers, status', () => {
    it('creates, lists, disables and removes a schedule; shows workers and status', async () => {
      const created = await cli(['schedules', 'create', 'cli-tick', '--every-ms', '60000', '--algorithm', 'Echo', 'value=1']);
      expect(created.code, created.stderr).to.equal(0);
      const sid = created.stdout.trim();
      const list = await cli(['schedules', 'list']);
      expect(list.stdout).to.match(new RegExp(`${sid}\\s+cli-tick\\s+every 60000 ms\\s+Echo\\s+true`));
      expect((await cli(['schedules', 'disable', sid])).stdout).to.include(`schedule ${sid} disabled`);
      expect(JSON.parse((await cli(['--json', 'schedules', 'get', sid])).stdout)).to.include({ enabled: false });
      expect((await cli(['schedules', 'rm', sid])).code).to.equal(0);
      expect((await cli(['schedules', 'create', 'x', '--algorithm', 'Echo'])).code).to.equal(2);

      const workers = await cli(['workers']);
      expect(workers.code, workers.stderr).to.equal(0);
      expect(workers.stdout.split('\n')[1]).to.match(/^\S+\s+online\s+running\s+2\s+/);
      const status = await cli(['status']);
      expect(status.stdout).to.match(/^fnqueue \S+ at http:\/\/127\.0\.0\.1:\d+, up /);
      expect(status.stdout).to.match(/workers 1 online, 0 offline/);
      expect(JSON.parse((await cli(['--json', 'status'])).stdout)).to.include({ status: 'running' });
    });
  });

  describe('keys and credentials (AUTH_ENABLED=true)', () => {
    let authed: Stack;
    before(async () => {
      authed = await startStack(redis.url, { AUTH_ENABLED: 'true' });
    });
    after(async () => {
      await authed?.close();
    });

    it('creates a key in Redis (as npm run keys), which --api-key and FNQUEUE_API_KEY then send; lists and revokes it', async () => {
      const redisArgs = ['--redis-url', redis.url, '--queue-prefix', authed.config.QUEUE_PREFIX];
      const created = await cli(['keys', 'create', '--name', 'cli-test', '--scope', 'read', ...redisArgs]);
      expect(created.code, created.stderr).to.equal(0);
      const key = created.stdout.trim();
      expect(key.length).to.be.greaterThan(20);
      const url = { FNQUEUE_URL: authed.url };

      const anonymous = await cli(['status'], url);
      expect(anonymous.code).to.equal(5);
      expect(anonymous.stderr).to.include('UNAUTHORIZED');
      expect((await cli(['--api-key', key, 'status'], url)).code).to.equal(0);
      expect((await cli(['workers'], { ...url, FNQUEUE_API_KEY: key })).code).to.equal(0);
      const forbidden = await cli(['--api-key', key, 'jobs', 'submit', 'Echo'], url);
      expect(forbidden.code).to.equal(5);
      expect(forbidden.stderr).to.include('FORBIDDEN');

      const listed = JSON.parse((await cli(['--json', 'keys', 'list', ...redisArgs])).stdout) as Array<{ id: string; name: string }>;
      const record = listed.find((k) => k.name === 'cli-test')!;
      expect(record).to.not.equal(undefined);
      expect(JSON.stringify(listed)).to.not.include(key);
      const revoked = await cli(['keys', 'revoke', record.id, ...redisArgs]);
      expect(revoked.code, revoked.stderr).to.equal(0);
      await eventually(async () => (await cli(['--api-key', key, 'status'], url)).code === 5, 15_000, 500);
      expect((await cli(['keys', 'revoke', 'nope', ...redisArgs])).code).to.equal(1);
      expect((await cli(['keys', 'create', ...redisArgs])).code).to.equal(2);
    });
  });
});
