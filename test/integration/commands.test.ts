import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { eventually, expectError, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { Redis } from 'ioredis';
import { recordScheduledRun, scheduledRunTemplate } from '../../shared/jobs/submit.js';
import { JobStore, newJobId, toPublicRecord } from '../../shared/store/job-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { CommandRunError, CommandRunner } from '../../worker/commands/command-runner.js';
import { CommandResultSchema } from '../../shared/schemas/command.js';
import { JobRecordSchema } from '../../shared/schemas/job-record.js';

/**
 * Command jobs (docs/commands.md) through the API and a real worker, in the real bubblewrap sandbox,
 * on a real redis-server: exit codes, output capture and its cap, the timeout of a process tree,
 * retries with retry_interval_ms, env layering without the worker's env, no network, no write outside
 * the work dir, the allow-list, and the refusal without isolation (the runner with a bwrap that fails).
 */

const ms = (iso: string) => Date.parse(iso.replace('+00:00', 'Z'));
const bash = (script: string, extra: Record<string, unknown> = {}) => ({ command: { cmd: 'bash', args: ['-c', script], ...extra } });

async function submit(stack: Stack, body: Record<string, unknown>) {
  const res = await http('POST', `${stack.url}/jobs`, body);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.job_id as string;
}

async function ended(stack: Stack, jobId: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const res = await http('GET', `${stack.url}/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body?.status) ? res.body : undefined;
  }, timeoutMs, 25);
}

async function run(stack: Stack, body: Record<string, unknown>) {
  return ended(stack, await submit(stack, body));
}

async function logsOf(stack: Stack, jobId: string) {
  const res = await http('GET', `${stack.url}/jobs/${jobId}/logs`);
  expect(res.status).to.equal(200);
  return res.body as { logs: Array<{ stream: string; line: string; attempt: number }>; truncated: boolean };
}

async function attemptsOf(stack: Stack, jobId: string) {
  return (await http('GET', `${stack.url}/jobs/${jobId}/attempts`)).body.attempts as any[];
}

/** Pids of processes whose command line is exactly `argv` (read from /proc). */
function pidsOf(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1') === want) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z ');
  } catch {
    return false;
  }
};

describe('command jobs (api and worker in-process, bubblewrap, real Redis)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    // A variable of the worker's own environment that must never reach a command.
    process.env.FNQ_WORKER_ONLY_SECRET = 'worker-secret-value';
    stack = await startStack(redis.url, {
      WORKER_CONCURRENCY: '4',
      JOB_MAX_RETRIES: '5',
      FUNCTION_SYSTEM_ENV: JSON.stringify({ SYS_ONLY: 'sys', LAYERED: 'system', PROJ_OVER: 'system' }),
    });
  });
  after(async () => {
    delete process.env.FNQ_WORKER_ONLY_SECRET;
    await stack?.close();
    await redis?.destroy();
  });

  describe('the request', () => {
    it('takes exactly one target, naming the field otherwise, and writes nothing', async () => {
      const before = (await http('GET', `${stack.url}/jobs?limit=1`)).body.total;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, 'algorithm'],
        [{ algorithm: 'Echo', params: {}, command: { cmd: 'true' } }, 'command'],
        [{ command: { cmd: 'true' }, params: {} }, 'params'],
        [{ command: { cmd: './run.sh' } }, 'command.cmd'],
        [{ command: { cmd: '' } }, 'command.cmd'],
        [{ command: { cmd: 'true', args: 'x' } }, 'command.args'],
        [{ command: { cmd: 'true', env: { '1BAD': 'x' } } }, 'command.env.1BAD'],
        [{ command: { cmd: 'true', shell: true } }, 'command.shell'],
        [{ command: { cmd: 'true', max_output_size: 0 } }, 'command.max_output_size'],
        [{ algorithm: 'Echo', params: {}, project: 'p' }, 'project'],
      ];
      for (const [body, field] of cases) {
        const res = await http('POST', `${stack.url}/jobs`, body);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, JSON.stringify(body)).to.equal(field);
      }
      // A refused env value is named, never echoed.
      const secret = await http('POST', `${stack.url}/jobs`, { command: { cmd: 'true', env: { K: 'a\0b' } } });
      expectError(secret, 400, 'VALIDATION_ERROR');
      expect(JSON.stringify(secret.body)).to.not.contain('a\\u0000b');
      expect((await http('GET', `${stack.url}/jobs?limit=1`)).body.total).to.equal(before);
    });

    it('shows the command on the record with env values redacted, and max_output_size capped at JOB_LOGS_MAX_BYTES', async () => {
      const id = await submit(stack, { command: { cmd: 'true', env: { TOKEN: 'very-secret' }, max_output_size: 64 * 1024 * 1024 } });
      const record = (await http('GET', `${stack.url}/jobs/${id}`)).body;
      expect(record.algorithm).to.equal('command');
      expect(record.command).to.deep.equal({ cmd: 'true', args: [], env: { TOKEN: '[redacted]' }, capture_output: true, max_output_size: stack.config.JOB_LOGS_MAX_BYTES });
      expect(JSON.stringify(record)).to.not.contain('very-secret');
      expect((await ended(stack, id)).status).to.equal('completed');
    });
  });

  it('completes with exit code 0: result with the stdout tail, the output as job logs, exit_code 0 on the attempt', async () => {
    const rec = await run(stack, bash('echo Hello World; echo oops >&2'));
    expect(rec.status, JSON.stringify(rec)).to.equal('completed');
    expect(rec.result).to.include({ exit_code: 0, stdout_tail: 'Hello World\n', stderr_tail: 'oops\n', output_truncated: false });
    expect(rec.metadata).to.include({ algorithm: 'command', version: '1' });
    // The record and its result are exactly the documented shapes (the OpenAPI document's).
    expect(JobRecordSchema.strict().parse(rec)).to.deep.equal(rec);
    expect(CommandResultSchema.strict().parse(rec.result)).to.deep.equal(rec.result);
    expect(Object.keys(rec)).to.deep.equal(Object.keys(JobRecordSchema.shape).filter((k) => k in rec));
    const logs = await logsOf(stack, rec.job_id);
    expect(logs.logs.map((l) => [l.stream, l.line])).to.deep.equal([
      ['stdout', 'Hello World'],
      ['stderr', 'oops'],
    ]);
    expect((await attemptsOf(stack, rec.job_id))[0]).to.include({ status: 'completed', exit_code: 0 });
  });

  it('fails on a non-zero exit with the exit code and the end of stderr, recorded on the attempt', async () => {
    const rec = await run(stack, bash('echo some output; echo "it broke here" >&2; exit 3'));
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.contain('exited with code 3').and.contain('it broke here');
    const [attempt] = await attemptsOf(stack, rec.job_id);
    expect(attempt).to.include({ status: 'failed', exit_code: 3, error_code: 'ALGORITHM_ERROR' });
    expect((await logsOf(stack, rec.job_id)).logs.map((l) => l.line)).to.deep.equal(['some output', 'it broke here']);
    const missing = await run(stack, { command: { cmd: 'no-such-program-here' } });
    expect(missing.status).to.equal('failed');
    expect(missing.error).to.match(/exited with code \d+/).and.contain('no-such-program-here');
  });

  it('caps the captured output at max_output_size with a visible marker line; capture_output false stores none', async () => {
    const rec = await run(stack, bash('for i in $(seq 1 200); do echo "line number $i"; done', { max_output_size: 500 }));
    expect(rec.status).to.equal('completed');
    expect(rec.result.output_truncated).to.equal(true);
    const logs = await logsOf(stack, rec.job_id);
    expect(logs.truncated).to.equal(true);
    expect(logs.logs.at(-1)!.line).to.equal('[output truncated at 500 bytes]');
    expect(logs.logs[0]!.line).to.equal('line number 1');
    expect(logs.logs.length).to.be.below(20);
    const quiet = await run(stack, bash('echo hidden', { capture_output: false }));
    expect(quiet.result).to.include({ exit_code: 0, stdout_tail: null, stderr_tail: null });
    expect((await logsOf(stack, quiet.job_id)).logs).to.deep.equal([]);
  });

  it('kills the whole process tree at timeout_ms (TIMEOUT), children included', async () => {
    const secs = `${900 + Math.floor(Math.random() * 99)}.${Math.floor(Math.random() * 1000)}`;
    const id = await submit(stack, { ...bash(`sleep ${secs} & sleep ${secs} & bash -c "sleep ${secs}" & wait`), timeout_ms: 3000 });
    const pids = await eventually(async () => {
      const found = pidsOf(['sleep', secs]);
      return found.length === 3 ? found : undefined;
    }, 10_000);
    const rec = await ended(stack, id);
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.contain('timed out after 3000 ms');
    expect((await attemptsOf(stack, id))[0]).to.include({ status: 'timeout', error_code: 'TIMEOUT' });
    await eventually(async () => pids.every((p) => !alive(p)), 5000);
  });

  it('retries a failed attempt after retry_interval_ms, each attempt with its own exit code and logs', async () => {
    const rec = await run(stack, { ...bash('echo try; exit 7'), max_retries: 2, retry_interval_ms: 700 });
    expect(rec.status).to.equal('failed');
    const attempts = await attemptsOf(stack, rec.job_id);
    expect(attempts.map((a) => [a.status, a.exit_code])).to.deep.equal([
      ['failed', 7],
      ['failed', 7],
      ['failed', 7],
    ]);
    for (let i = 1; i < attempts.length; i++) expect(ms(attempts[i].started_at) - ms(attempts[i - 1].finished_at)).to.be.at.least(650);
    expect((await logsOf(stack, rec.job_id)).logs.map((l) => l.attempt)).to.deep.equal([1, 2, 3]);
  });

  it('layers the env: base, system, project, the job; never the worker environment', async () => {
    const put = await http('PUT', `${stack.url}/projects/cmdproj/env`, { env: { PROJ_ONLY: 'proj', LAYERED: 'project', PROJ_OVER: 'project' } });
    expect(put.status, JSON.stringify(put.body)).to.be.oneOf([200, 201]);
    const rec = await run(stack, { command: { cmd: 'env', env: { LAYERED: 'job', JOB_ONLY: 'job' } }, project: 'cmdproj' });
    expect(rec.status, JSON.stringify(rec)).to.equal('completed');
    const env = Object.fromEntries((await logsOf(stack, rec.job_id)).logs.map((l) => l.line.split(/=(.*)/s).slice(0, 2)));
    expect(env).to.include({ SYS_ONLY: 'sys', PROJ_ONLY: 'proj', JOB_ONLY: 'job', LAYERED: 'job', PROJ_OVER: 'project', HOME: '/work', PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' });
    for (const leaked of ['FNQ_WORKER_ONLY_SECRET', 'REDIS_URL', 'QUEUE_PREFIX', 'NODE_OPTIONS']) expect(env).to.not.have.property(leaked);
    expect(rec.project).to.equal('cmdproj');
    const plain = await run(stack, { command: { cmd: 'env' } });
    const env2 = Object.fromEntries((await logsOf(stack, plain.job_id)).logs.map((l) => l.line.split(/=(.*)/s).slice(0, 2)));
    expect(env2).to.include({ SYS_ONLY: 'sys', LAYERED: 'system' });
    expect(env2).to.not.have.property('PROJ_ONLY');
  });

  it('has no network: a TCP connect to a listener on the host fails and the listener sees nothing', async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as { port: number }).port;
      const rec = await run(stack, bash(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`));
      expect(rec.status).to.equal('failed');
      expect(rec.error).to.contain('exited with code 1');
      expect((await logsOf(stack, rec.job_id)).logs.map((l) => l.line)).to.not.include('connected');
      expect(connections).to.equal(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('may write its work dir and /tmp, nothing else (read-only filesystem)', async () => {
    const ok = await run(stack, bash('touch /work/a && echo x > ./b && touch /tmp/c && pwd && ls /work'));
    expect(ok.status, JSON.stringify(ok)).to.equal('completed');
    expect((await logsOf(stack, ok.job_id)).logs.map((l) => l.line)).to.deep.equal(['/work', 'a', 'b']);
    for (const target of ['/usr/x', '/etc/x', '/x', '/bin/x']) {
      const rec = await run(stack, bash(`touch ${target}`));
      expect(rec.status, target).to.equal('failed');
      expect(rec.error, target).to.match(/Read-only file system|Permission denied/);
    }
  });

  it('runs a command and waits with POST /invoke', async () => {
    const res = await http('POST', `${stack.url}/invoke`, bash('echo Hello World'));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.result).to.include({ exit_code: 0, stdout_tail: 'Hello World\n' });
    const failed = await http('POST', `${stack.url}/invoke`, bash('exit 2'));
    expectError(failed, 500, 'ALGORITHM_ERROR');
  });

  it('cancels a running command, killing it', async () => {
    const secs = `${800 + Math.floor(Math.random() * 99)}.${Math.floor(Math.random() * 1000)}`;
    const id = await submit(stack, bash(`sleep ${secs}`));
    const [pid] = await eventually(async () => {
      const found = pidsOf(['sleep', secs]);
      return found.length === 1 ? found : undefined;
    }, 10_000);
    expect((await http('POST', `${stack.url}/jobs/${id}/cancel`)).status).to.equal(200);
    await eventually(async () => !alive(pid!), 5000);
    expect((await ended(stack, id)).status).to.equal('cancelled');
  });

  it("gives a scheduled command run's record its command, as a submitted one (the submit path's builders)", async () => {
    const conn = new Redis(redis.url, { lazyConnect: true });
    try {
      const store = new JobStore(conn, keysFor(stack.config.QUEUE_PREFIX), 60);
      const command = { cmd: 'bash', args: ['-c', 'true'], env: { K: 'v' }, capture_output: true, max_output_size: 1024 };
      const template = scheduledRunTemplate({ algorithm: 'command', params: {}, mode: 'async', options: {}, schedule_id: 'sched1', command, project: 'p1' }, 60);
      expect(template.data).to.include({ project: 'p1' });
      const jobId = newJobId();
      await recordScheduledRun(store, { id: jobId, data: template.data, timestamp: Date.now(), opts: {} }, jobId);
      const record = toPublicRecord((await store.get(jobId))!);
      expect(record).to.include({ algorithm: 'command', schedule_id: 'sched1', project: 'p1' });
      expect(record.command).to.deep.equal({ ...command, env: { K: '[redacted]' } });
      await store.remove(jobId, 'command');
    } finally {
      conn.disconnect();
    }
  });

  describe('COMMAND_ALLOWLIST', () => {
    let listed: Stack;
    before(async () => {
      listed = await startStack(redis.url, { COMMAND_ALLOWLIST: 'bash,/usr/bin/env' });
    });
    after(async () => {
      await listed?.close();
    });

    it('refuses a command it does not name at submit (403) and runs those it names', async () => {
      for (const cmd of ['sh', '/usr/bin/bash', 'env']) {
        const res = await http('POST', `${listed.url}/jobs`, { command: { cmd } });
        expectError(res, 403, 'FORBIDDEN');
        expect(res.body.details).to.include({ field: 'command.cmd', reason: 'command_not_allowed', cmd });
        expect(res.body.details.allowed).to.deep.equal(['bash', '/usr/bin/env']);
      }
      expect((await run(listed, bash('true'))).status).to.equal('completed');
      expect((await run(listed, { command: { cmd: '/usr/bin/env' } })).status).to.equal('completed');
    });

    it('is checked again by the worker: a command its list does not name fails without retry', async () => {
      const runner = new CommandRunner({ sandbox: 'auto', memoryMb: 256, maxProcesses: 64, maxLogLines: 100, allowlist: ['bash'] });
      await runner.start();
      const err = await runner.run({ cmd: 'sh', args: [], env: {}, capture_output: true, max_output_size: 1024 }, {}, 'allow-test', 5000).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(CommandRunError);
      expect(err).to.include({ code: 'FORBIDDEN' });
      expect((err as CommandRunError).details).to.include({ reason: 'command_not_allowed', retry: false });
    });
  });

  describe('without isolation', () => {
    let dir: string;
    before(async () => {
      // A bwrap that cannot isolate (as where namespaces are forbidden): found first on the search path.
      dir = await mkdtemp(path.join(tmpdir(), 'fnq-nobwrap-'));
      await writeFile(path.join(dir, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n');
      await chmod(path.join(dir, 'bwrap'), 0o755);
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses every command (FORBIDDEN, no retry) unless FUNCTION_SANDBOX=off', async () => {
      const spec = { cmd: 'bash', args: ['-c', 'echo ran; echo "$HOME"'], env: {}, capture_output: true, max_output_size: 4096 };
      const refusing = new CommandRunner({ sandbox: 'auto', memoryMb: 256, maxProcesses: 64, maxLogLines: 100, searchPath: dir });
      expect((await refusing.start()).isolated).to.equal(false);
      const err = await refusing.run(spec, {}, 'refused', 5000).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(CommandRunError);
      expect(err).to.include({ code: 'FORBIDDEN' });
      expect((err as CommandRunError).message).to.contain('FUNCTION_SANDBOX');
      expect((err as CommandRunError).details).to.include({ reason: 'sandbox_unavailable', retry: false });

      const off = new CommandRunner({ sandbox: 'off', memoryMb: 256, maxProcesses: 64, maxLogLines: 100, searchPath: dir });
      await off.start();
      const out = await off.run({ ...spec, args: ['-c', 'echo ran; echo "${FNQ_WORKER_ONLY_SECRET:-unset}"'] }, { PATH: '/usr/bin:/bin' }, 'unisolated', 5000);
      expect(out.result.exit_code).to.equal(0);
      expect(out.report.logs.map((l) => l.line)).to.deep.equal(['ran', 'unset']);
      // A background child left holding the output pipe is killed with the run's process group.
      const secs = `${700 + Math.floor(Math.random() * 99)}.${Math.floor(Math.random() * 1000)}`;
      const left = await off.run({ ...spec, args: ['-c', `sleep ${secs} & echo started`] }, { PATH: '/usr/bin:/bin' }, 'leftover', 10_000);
      expect(left.report.logs.map((l) => l.line)).to.deep.equal(['started']);
      await eventually(async () => pidsOf(['sleep', secs]).length === 0, 5000);
    });
  });
});
