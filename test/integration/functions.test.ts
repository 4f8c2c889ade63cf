import { expect } from 'chai';
import { Redis } from 'ioredis';
import { FunctionStore } from '../../shared/store/function-store.js';
import { keysFor } from '../../shared/store/keys.js';
import { eventually, expectError, http, type JsonResponse } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver } from '../helpers/webhook-receiver.js';

const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

describe('/functions (api and worker in-process, real Redis, real sandboxed processes)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack;
  let conn: Redis;
  let seq = 0;
  const unique = (prefix = 'fn') => `${prefix}-${process.pid}-${++seq}`;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { FUNCTION_SANDBOX: 'bwrap', WORKER_CONCURRENCY: '4', INVOKE_TIMEOUT_MS: '20000' });
    conn = new Redis(redis.url);
  });
  after(async () => {
    conn?.disconnect();
    await stack?.close();
    await redis?.destroy();
  });

  const post = (path: string, body?: unknown, headers?: Record<string, string>) => http('POST', `${stack.url}${path}`, body, headers);
  const get = (path: string) => http('GET', `${stack.url}${path}`);
  const put = (path: string, body: unknown) => http('PUT', `${stack.url}${path}`, body);
  const del = (path: string) => http('DELETE', `${stack.url}${path}`);

  /** Deploys a function and expects 201. */
  async function deploy(body: Record<string, unknown>): Promise<any> {
    const res = await post('/functions', { name: unique(), ...body });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body;
  }

  /** Waits until a job has ended and returns its record. */
  async function finished(jobId: string): Promise<any> {
    return eventually(async () => {
      const r = await get(`/jobs/${jobId}`);
      return ['completed', 'failed', 'cancelled'].includes(r.body.status) ? r.body : undefined;
    }, 30_000);
  }

  describe('the function API reference examples, verbatim', () => {
    for (const [runtime, code] of [
      ['python', 'def handler(event): return event'],
      ['nodejs', 'function handler(event) { return event }'],
    ] as const) {
      it(`${runtime}: sync invoke answers the finished job record`, async () => {
        const name = unique('myFunction');
        const created = await post('/functions', { name, runtime, code, execution_type: 'sync' });
        expect(created.status).to.equal(201);
        expect(created.body.function_id).to.match(/^[0-9a-f]{12}$/);
        expect(created.body).to.include({ id: created.body.function_id, name, runtime, code, execution_type: 'sync', version: 1, status: 'active', handler: 'handler', project: 'default' });
        expect(created.headers.get('location')).to.equal(`/functions/${created.body.function_id}`);

        const res = await post(`/functions/${created.body.function_id}/invoke`, { param1: 'value1', param2: 'value2' });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body).to.include({ status: 'completed', algorithm: name, function_id: created.body.function_id, error: null });
        expect(res.body.job_id).to.match(/^[0-9a-f]{12}$/);
        expect(res.body.result).to.deep.equal({ param1: 'value1', param2: 'value2' });
        expect(res.body.metadata).to.include({ algorithm: name, version: '1' });
        expect(res.body.metadata.elapsed_time).to.be.a('number');

        // GET /jobs/{job_id} serves the function job too, with function_id.
        const job = await get(`/jobs/${res.body.job_id}`);
        expect(job.status).to.equal(200);
        expect(job.body).to.include({ job_id: res.body.job_id, status: 'completed', function_id: created.body.function_id });
      });

      it(`${runtime}: async invoke answers 202 with the pending record, then completes`, async () => {
        const fn = await deploy({ runtime, code, execution_type: 'async' });
        const res = await post(`/functions/${fn.function_id}/invoke`, [1, 'two', { three: 3 }]);
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        expect(res.body).to.include({ status: 'pending', function_id: fn.function_id, algorithm: fn.name, result: null });
        expect(res.headers.get('location')).to.equal(`/jobs/${res.body.job_id}`);
        const done = await finished(res.body.job_id);
        expect(done.status).to.equal('completed');
        expect(done.result).to.deep.equal([1, 'two', { three: 3 }]);
      });
    }

    it('an empty body is the event {} and a JSON string is an event', async () => {
      const fn = await deploy({ runtime: 'nodejs', code: 'function handler(event) { return { got: event } }' });
      const none = await post(`/functions/${fn.function_id}/invoke`);
      expect(none.status).to.equal(200);
      expect(none.body.result).to.deep.equal({ got: {} });
      const str = await post(`/functions/${fn.function_id}/invoke`, '"hello"');
      expect(str.body.result).to.deep.equal({ got: 'hello' });
    });

    it('a failing handler gives a failed job record (200 for sync) with the error', async () => {
      const fn = await deploy({ runtime: 'python', code: 'def handler(event):\n    raise ValueError("bad input")\n' });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('failed');
      expect(res.body.error).to.contain('ValueError: bad input');
      expect(res.body.metadata).to.equal(null);
    });
  });

  describe('CRUD and validation', () => {
    it('shows env names only, never a value, in every answer (whatever the name); the function still gets the values', async () => {
      const env: Record<string, string> = {
        STRIPE_KEY: 'sk_live_stripe0001',
        SIGNING_KEY: 'signing-value-0002',
        ENCRYPTION_KEY: 'encryption-value-0003',
        OPENAI_KEY: 'sk-openai-value-0004',
        AWS_ACCESS_KEY_ID: 'AKIAVALUE00000005',
        GITHUB_PAT: 'ghp_value0000000006',
        AUTH: 'auth-value-0007',
        SESSION_ID: 'session-value-0008',
        GREETING: 'plain-value-0009',
      };
      const masked = Object.fromEntries(Object.keys(env).map((k) => [k, '[redacted]']));
      const leaks = (text: string) => Object.values(env).filter((v) => text.includes(v));
      const created = await post('/functions', { name: unique(), runtime: 'nodejs', code: 'function handler(e) { return e.names.map((n) => process.env[n]) }', env });
      expect(created.status, created.text).to.equal(201);
      const id = created.body.function_id as string;
      const answers = [
        created,
        await get(`/functions/${id}`),
        await get('/functions?limit=100'),
        await put(`/functions/${id}`, { env: { ...env, EXTRA: 'extra-value-0010' } }),
        await get(`/functions/${id}`),
        await get('/projects/default'),
      ];
      for (const res of answers) {
        expect(res.status, res.text).to.equal(200 + (res === created ? 1 : 0));
        expect(leaks(res.text), res.text.slice(0, 300)).to.deep.equal([]);
        expect(res.text).not.to.contain('extra-value-0010');
      }
      expect(created.body.env).to.deep.equal(masked);
      expect(answers[1]!.body.env).to.deep.equal(masked);
      expect(answers[2]!.body.functions.find((f: any) => f.function_id === id).env).to.deep.equal(masked);
      expect(answers[3]!.body.env).to.deep.equal({ ...masked, EXTRA: '[redacted]' });
      // Write-only, not dropped: the function reads every value.
      const run = await post(`/functions/${id}/invoke`, { names: [...Object.keys(env), 'EXTRA'] });
      expect(run.status, run.text).to.equal(200);
      expect(run.body.result).to.deep.equal([...Object.values(env), 'extra-value-0010']);
      expect(leaks((await get(`/jobs/${run.body.job_id}`)).text.replace(JSON.stringify(run.body.result), ''))).to.deep.equal([]);
      // Sending back the env a read showed is refused, not stored as the mask.
      const echoed = await put(`/functions/${id}`, { env: answers[4]!.body.env });
      expectError(echoed, 400, 'VALIDATION_ERROR');
      expect(echoed.body.details.field).to.match(/^env\./);
      expectError(await post('/functions', { name: unique(), runtime: 'nodejs', code: 'function handler() {}', env: { A: '[redacted]' } }), 400, 'VALIDATION_ERROR');
      expect((await post(`/functions/${id}/invoke`, { names: ['STRIPE_KEY'] })).body.result).to.deep.equal([env.STRIPE_KEY]);
      expect((await del(`/functions/${id}`)).status).to.equal(204);
    });

    it('lists, reads, updates (new version only for code changes) and deletes', async () => {
      const fn = await deploy({ runtime: 'nodejs', code: 'function handler(e) { return 1 }', env: { GREETING: 'hi' } });
      const list = await get('/functions?limit=100');
      expect(list.status).to.equal(200);
      expect(list.body).to.include({ limit: 100, offset: 0 });
      expect(list.body.total).to.be.at.least(1);
      expect(list.body.functions.map((f: any) => f.function_id)).to.include(fn.function_id);
      const one = await get(`/functions/${fn.function_id}`);
      expect(one.body).to.deep.include({ function_id: fn.function_id, env: { GREETING: '[redacted]' }, timeout_ms: 30000, memory_mb: 256, max_output_bytes: 1048576, dependencies: [] });

      const renamed = await put(`/functions/${fn.function_id}`, { name: `${fn.name}-b`, execution_type: 'async' });
      expect(renamed.status, JSON.stringify(renamed.body)).to.equal(200);
      expect(renamed.body).to.include({ name: `${fn.name}-b`, execution_type: 'async', version: 1 });
      // The old name is free again.
      await deploy({ name: fn.name, runtime: 'python', code: 'def handler(e): return 1' });

      const updated = await put(`/functions/${fn.function_id}`, { code: 'function handler(e) { return 2 }' });
      expect(updated.body).to.include({ version: 2, code: 'function handler(e) { return 2 }', name: `${fn.name}-b` });
      expect(Date.parse(updated.body.updated_at)).to.be.at.least(Date.parse(fn.updated_at));

      const gone = await del(`/functions/${fn.function_id}`);
      expect(gone.status).to.equal(204);
      expectError(await get(`/functions/${fn.function_id}`), 404, 'FUNCTION_NOT_FOUND');
      expectError(await del(`/functions/${fn.function_id}`), 404, 'FUNCTION_NOT_FOUND');
      expectError(await post(`/functions/${fn.function_id}/invoke`, {}), 404, 'FUNCTION_NOT_FOUND');
      // Its name can be used again.
      await deploy({ name: `${fn.name}-b`, runtime: 'nodejs', code: 'function handler() {}' });
    });

    it('refuses a bad runtime, empty code, code over FUNCTION_CODE_MAX_BYTES and unknown keys (400 with the field)', async () => {
      const bad = await post('/functions', { name: unique(), runtime: 'ruby', code: 'x', execution_type: 'sync' });
      expectError(bad, 400, 'VALIDATION_ERROR');
      expect(bad.body.details.field).to.equal('runtime');
      for (const code of ['', '   \n']) {
        const empty = await post('/functions', { name: unique(), runtime: 'python', code });
        expectError(empty, 400, 'VALIDATION_ERROR');
        expect(empty.body.details.field).to.equal('code');
      }
      const big = await post('/functions', { name: unique(), runtime: 'nodejs', code: `function handler() {}\n//${'x'.repeat(300 * 1024)}` });
      expectError(big, 400, 'VALIDATION_ERROR');
      expect(big.body.details.field).to.equal('code');
      expect(big.body.message).to.contain('FUNCTION_CODE_MAX_BYTES');
      const unknown = await post('/functions', { name: unique(), runtime: 'nodejs', code: 'function handler() {}', colour: 'red' });
      expectError(unknown, 400, 'VALIDATION_ERROR');
      expect(unknown.body.details.field).to.equal('colour');
      const unknownParam = await get('/functions?colour=red');
      expectError(unknownParam, 400, 'VALIDATION_ERROR');
      expect(unknownParam.body.details.field).to.equal('colour');
      expect(unknownParam.body.message).to.match(/^unknown query parameter 'colour'/);
      const lowMemory = await post('/functions', { name: unique(), runtime: 'nodejs', code: 'function handler() {}', memory_mb: 40 });
      expectError(lowMemory, 400, 'VALIDATION_ERROR');
      expect(lowMemory.body.details.field).to.equal('memory_mb');
      const badName = await post('/functions', { name: '../etc', runtime: 'nodejs', code: 'function handler() {}' });
      expect(badName.body.details.field).to.equal('name');
      // A NUL cannot be in a process environment: refused at deploy, not at every invocation.
      const nul = await post('/functions', { name: unique(), runtime: 'python', code: 'def handler(e): return e', env: { A: 'x\u0000y' } });
      expectError(nul, 400, 'VALIDATION_ERROR');
      expect(nul.body.message).to.contain('NUL');
    });

    it("refuses a syntax error at deploy with the compiler's message (both runtimes, and on update)", async () => {
      const py = await post('/functions', { name: unique(), runtime: 'python', code: 'def handler(event) return event' });
      expectError(py, 400, 'VALIDATION_ERROR');
      expect(py.body.details.field).to.equal('code');
      expect(py.body.message).to.match(/SyntaxError: .*line 1/);
      expect(py.body.details.compiler_message).to.match(/^SyntaxError/);
      const js = await post('/functions', { name: unique(), runtime: 'nodejs', code: 'function handler(event) { return event ' });
      expectError(js, 400, 'VALIDATION_ERROR');
      expect(js.body.details.field).to.equal('code');
      expect(js.body.message).to.contain('SyntaxError');
      const fn = await deploy({ runtime: 'nodejs', code: 'function handler(e) { return e }' });
      const upd = await put(`/functions/${fn.function_id}`, { code: 'function handler( {' });
      expectError(upd, 400, 'VALIDATION_ERROR');
      expect((await get(`/functions/${fn.function_id}`)).body.version).to.equal(1);
    });

    it('names are unique: 409 CONFLICT on create and on rename', async () => {
      const a = await deploy({ runtime: 'python', code: 'def handler(e): return e' });
      const dup = await post('/functions', { name: a.name, runtime: 'nodejs', code: 'function handler() {}' });
      expectError(dup, 409, 'CONFLICT');
      expect(dup.body.details.name).to.equal(a.name);
      const b = await deploy({ runtime: 'python', code: 'def handler(e): return e' });
      const rename = await put(`/functions/${b.function_id}`, { name: a.name });
      expectError(rename, 409, 'CONFLICT');
      // Concurrent creates of one name: exactly one wins.
      const name = unique('race');
      const results = await Promise.all(Array.from({ length: 5 }, () => post('/functions', { name, runtime: 'python', code: 'def handler(e): return e' })));
      expect(results.filter((r) => r.status === 201)).to.have.length(1);
      expect(results.filter((r) => r.status === 409)).to.have.length(4);
    });

    it('unknown ids give 404 FUNCTION_NOT_FOUND everywhere', async () => {
      for (const id of ['aaaaaaaaaaaa', 'not-an-id']) {
        expectError(await get(`/functions/${id}`), 404, 'FUNCTION_NOT_FOUND');
        expectError(await put(`/functions/${id}`, { code: 'x' }), 404, 'FUNCTION_NOT_FOUND');
        expectError(await post(`/functions/${id}/invoke`, {}), 404, 'FUNCTION_NOT_FOUND');
        expectError(await get(`/functions/${id}/jobs`), 404, 'FUNCTION_NOT_FOUND');
        expectError(await get(`/functions/${id}/metrics`), 404, 'FUNCTION_NOT_FOUND');
      }
      expectError(await http('PATCH', `${stack.url}/functions/aaaaaaaaaaaa`), 405, 'METHOD_NOT_ALLOWED');
    });

    it('a function that is not active refuses invocations with 409', async () => {
      const fn = await deploy({ runtime: 'python', code: 'def handler(e): return e' });
      const store = new FunctionStore(conn, keysFor(stack.config.QUEUE_PREFIX));
      await store.setStatus(fn.function_id, 1, 'failed', 'pip: no matching distribution');
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expectError(res, 409, 'CONFLICT');
      expect(res.body.details.status).to.equal('failed');
      expect(res.body.message).to.contain('failed');
      expect((await get(`/functions/${fn.function_id}`)).body).to.include({ status: 'failed', build_log: 'pip: no matching distribution' });
      await store.setStatus(fn.function_id, 1, 'building');
      expectError(await post(`/functions/${fn.function_id}/invoke`, {}), 409, 'CONFLICT');
    });
  });

  describe('versions', () => {
    it('an update makes a new version; a job already running finishes on the old one', async () => {
      const fn = await deploy({ runtime: 'python', execution_type: 'async', code: 'import time\ndef handler(e):\n    time.sleep(1.5)\n    return "v1"\n' });
      const first = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(first.status).to.equal(202);
      await eventually(async () => (await get(`/jobs/${first.body.job_id}`)).body.status === 'running', 10_000);
      const upd = await put(`/functions/${fn.function_id}`, { code: 'def handler(e):\n    return "v2"\n', execution_type: 'sync' });
      expect(upd.body.version).to.equal(2);
      const second = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(second.status).to.equal(200);
      expect(second.body.result).to.equal('v2');
      expect(second.body.metadata.version).to.equal('2');
      const old = await finished(first.body.job_id);
      expect(old.status).to.equal('completed');
      expect(old.result).to.equal('v1');
      expect(old.metadata.version).to.equal('1');
    });
  });

  describe('sandbox', () => {
    it('kills an infinite loop at its timeout (TIMEOUT) and the worker keeps serving', async () => {
      const fn = await deploy({ runtime: 'nodejs', code: 'function handler() { for (;;) {} }', timeout_ms: 1000 });
      const t0 = Date.now();
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('failed');
      expect(res.body.error).to.contain('timed out after 1000 ms');
      expect(Date.now() - t0).to.be.below(10_000);
      const attempts = await get(`/jobs/${res.body.job_id}/attempts`);
      expect(attempts.body.attempts[0]).to.include({ status: 'timeout', error_code: 'TIMEOUT' });
      const ok = await deploy({ runtime: 'python', code: 'def handler(e): return "still serving"' });
      const after = await post(`/functions/${ok.function_id}/invoke`, {});
      expect(after.body.result).to.equal('still serving');
      // The same function runs again (a fresh process).
      const again = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(again.body.status).to.equal('failed');
    });

    it('stops a 2 GB allocation with a clear out-of-memory error', async () => {
      const py = await deploy({ runtime: 'python', code: 'def handler(e):\n    b = bytearray(2 * 1024 ** 3)\n    return len(b)\n' });
      const res = await post(`/functions/${py.function_id}/invoke`, {});
      expect(res.body.status).to.equal('failed');
      expect(res.body.error).to.match(/ran out of memory at its 256 MB limit/);
      const js = await deploy({ runtime: 'nodejs', code: 'function handler() { const a = []; for (;;) a.push(Buffer.alloc(64 * 1024 * 1024, 1)); }' });
      const res2 = await post(`/functions/${js.function_id}/invoke`, {});
      expect(res2.body.status).to.equal('failed');
      expect(res2.body.error).to.match(/ran out of memory at its 256 MB limit/);
    });

    it('truncates 100 MB of output with the marker, visible in the logs endpoint', async () => {
      const fn = await deploy({ runtime: 'nodejs', code: "function handler() { const mb = 'x'.repeat(1024 * 1024 - 1); for (let i = 0; i < 100; i++) console.log(mb); return 'done' }", timeout_ms: 20000 });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(res.body.status, res.body.error).to.equal('completed');
      expect(res.body.result).to.equal('done');
      const logs = await get(`/jobs/${res.body.job_id}/logs`);
      expect(logs.status).to.equal(200);
      expect(logs.body.truncated).to.equal(true);
      const lines: any[] = logs.body.logs;
      expect(lines[lines.length - 1].line).to.equal('[output truncated at 1048576 bytes]');
      const kept = lines.slice(0, -1).reduce((n: number, l: any) => n + Buffer.byteLength(l.line) + 1, 0);
      expect(kept).to.be.at.most(1048576);
    });

    it("gives a function only its own env layers, never the service's (no REDIS_URL)", async () => {
      const keys = keysFor(stack.config.QUEUE_PREFIX);
      const project = unique('proj');
      await conn.hset(keys.projectEnv(project), 'LAYER', 'project', 'PROJECT_ONLY', 'p');
      const fn = await deploy({ runtime: 'python', project, env: { LAYER: 'function' }, code: 'import os\ndef handler(e):\n    return dict(os.environ)\n' });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(res.body.status).to.equal('completed');
      const env = res.body.result as Record<string, string>;
      expect(env).to.not.have.property('REDIS_URL');
      expect(Object.values(env).join(' ')).to.not.contain(redis.url);
      expect(env).to.include({ LAYER: 'function', PROJECT_ONLY: 'p' });
      const js = await deploy({ runtime: 'nodejs', code: 'function handler() { return process.env.REDIS_URL ?? null }' });
      expect((await post(`/functions/${js.function_id}/invoke`, {})).body.result).to.equal(null);
    });

    it('under bwrap: a socket connect fails and a write outside /tmp fails (a write to /tmp works)', async () => {
      const code = [
        'import socket',
        'def handler(e):',
        '    out = {}',
        '    try:',
        `        socket.create_connection(("127.0.0.1", ${redis.port}), timeout=2).close()`,
        '        out["connect"] = "connected"',
        '    except OSError as err:',
        '        out["connect"] = "refused: %s" % err',
        '    for path in ["/etc/fnq-test", "/work/fnq-test", "/fnq-test"]:',
        '        try:',
        '            open(path, "w").write("x")',
        '            out[path] = "written"',
        '        except OSError as err:',
        '            out[path] = "refused: %s" % err',
        '    open("/tmp/ok", "w").write("x")',
        '    out["/tmp"] = open("/tmp/ok").read()',
        '    return out',
      ].join('\n');
      const fn = await deploy({ runtime: 'python', code });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      expect(res.body.status, res.body.error).to.equal('completed');
      expect(res.body.result.connect).to.match(/^refused/);
      for (const p of ['/etc/fnq-test', '/work/fnq-test', '/fnq-test']) expect(res.body.result[p], p).to.match(/^refused/);
      expect(res.body.result['/tmp']).to.equal('x');
    });
  });

  describe('logs, jobs and metrics', () => {
    it('GET /jobs/{job_id}/logs with tail, since and until', async () => {
      const fn = await deploy({ runtime: 'python', code: 'import sys\ndef handler(e):\n    print("one")\n    print("two", file=sys.stderr)\n    print("three")\n    return 1\n' });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      const id = res.body.job_id;
      const all = await get(`/jobs/${id}/logs`);
      expect(all.status).to.equal(200);
      expect(all.body).to.include({ job_id: id, total: 3, truncated: false });
      // stdout and stderr are two pipes: lines keep their order within a stream, not across them.
      expect(all.body.logs.filter((l: any) => l.stream === 'stdout').map((l: any) => l.line)).to.deep.equal(['one', 'three']);
      expect(all.body.logs.filter((l: any) => l.stream === 'stderr').map((l: any) => l.line)).to.deep.equal(['two']);
      expect(all.body.logs[0].attempt).to.equal(1);
      const tail = await get(`/jobs/${id}/logs?tail=1`);
      expect(tail.body.logs).to.deep.equal([all.body.logs[2]]);
      expect(tail.body.total).to.equal(3);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect((await get(`/jobs/${id}/logs?since=${future}`)).body.logs).to.deep.equal([]);
      const past = Math.floor((Date.now() - 3_600_000) / 1000);
      expect((await get(`/jobs/${id}/logs?until=${past}`)).body.logs).to.deep.equal([]);
      expect((await get(`/jobs/${id}/logs?since=${past}&until=${encodeURIComponent(future)}`)).body.total).to.equal(3);
      expectError(await get(`/jobs/${id}/logs?tail=-1`), 400, 'VALIDATION_ERROR');
      expectError(await get(`/jobs/${id}/logs?since=yesterday`), 400, 'VALIDATION_ERROR');
      expectError(await get('/jobs/aaaaaaaaaaaa/logs'), 404, 'JOB_NOT_FOUND');
      // An algorithm job has no captured logs.
      const algo = await post('/invoke', { number: 17 });
      expect(algo.status).to.equal(200);
      const jobs = await get('/jobs?algorithm=PrimeChecker&limit=1');
      const algoLogs = await get(`/jobs/${jobs.body.jobs[0].job_id}/logs`);
      expect(algoLogs.body).to.deep.include({ logs: [], total: 0, truncated: false });
    });

    it('GET /functions/{function_id}/jobs pages newest first', async () => {
      const fn = await deploy({ runtime: 'nodejs', code: 'function handler(e) { return e.n }' });
      const ids: string[] = [];
      for (let n = 0; n < 3; n++) {
        ids.push((await post(`/functions/${fn.function_id}/invoke`, { n })).body.job_id);
        await sleep(5);
      }
      const page1 = await get(`/functions/${fn.function_id}/jobs?limit=2`);
      expect(page1.status).to.equal(200);
      expect(page1.body).to.include({ function_id: fn.function_id, total: 3, limit: 2, offset: 0 });
      expect(page1.body.jobs.map((j: any) => j.job_id)).to.deep.equal([ids[2], ids[1]]);
      expect(page1.body.jobs[0]).to.include({ function_id: fn.function_id, status: 'completed', result: 2 });
      const page2 = await get(`/functions/${fn.function_id}/jobs?limit=2&offset=2`);
      expect(page2.body.jobs.map((j: any) => j.job_id)).to.deep.equal([ids[0]]);
      expectError(await get(`/functions/${fn.function_id}/jobs?limit=0`), 400, 'VALIDATION_ERROR');
      // GET /jobs?function_id= lists the same jobs.
      expect((await get(`/jobs?function_id=${fn.function_id}`)).body.total).to.equal(3);
    });

    it("never makes a function's name or id a label value on /metrics; its runs count in function_invocations_total", async () => {
      const runsCounted = async () => {
        const text = await (await fetch(`${stack.url}/metrics`)).text();
        const line = /^function_invocations_total\{status="success"\} (\d+)/m.exec(text);
        return { text, count: line ? Number(line[1]) : 0 };
      };
      const before = (await runsCounted()).count;
      const name = unique('LabelCanary.Fn');
      const sync = await deploy({ name, runtime: 'nodejs', code: 'function handler(e) { return 1 }', execution_type: 'sync' });
      const asyncFn = await deploy({ name: `${name}-async`, runtime: 'nodejs', code: 'function handler(e) { return 2 }', execution_type: 'async' });
      expect((await post(`/functions/${sync.function_id}/invoke`, {})).body.status).to.equal('completed');
      const accepted = await post(`/functions/${asyncFn.function_id}/invoke`, {});
      expect(accepted.status).to.equal(202);
      await finished(accepted.body.job_id);
      // The worker's counts reach the API's /metrics with its next snapshot (every second).
      const { text } = await eventually(async () => {
        const now = await runsCounted();
        return now.text.includes(name) || now.count >= before + 2 ? now : undefined;
      }, 15_000);
      expect(text).not.to.contain(name);
      expect(text).not.to.contain(sync.function_id);
      expect(text).not.to.contain(asyncFn.function_id);
      // The per-function figures stay on the function's own metrics.
      expect((await get(`/functions/${sync.function_id}/metrics`)).body.invocations).to.deep.equal({ total: 1, successful: 1, failed: 0 });
    });

    it('metrics match the runs made', async () => {
      const fn = await deploy({ runtime: 'python', code: 'def handler(e):\n    if e.get("fail"):\n        raise RuntimeError("asked to fail")\n    return sum(range(200000))\n' });
      const empty = await get(`/functions/${fn.function_id}/metrics`);
      // The function API reference's fields are not nullable: zeros before the first run.
      expect(empty.body).to.deep.include({ invocations: { total: 0, successful: 0, failed: 0 }, success_rate: 0, avg_execution_time: '0ms', cpu_usage: '0%', memory_usage: '0MB', p95_execution_time_ms: null });
      const runs: JsonResponse[] = [];
      for (const ev of [{}, {}, {}, { fail: true }]) runs.push(await post(`/functions/${fn.function_id}/invoke`, ev));
      expect(runs.map((r) => r.body.status)).to.deep.equal(['completed', 'completed', 'completed', 'failed']);
      const m = (await get(`/functions/${fn.function_id}/metrics`)).body;
      expect(m.invocations).to.deep.equal({ total: 4, successful: 3, failed: 1 });
      expect(m.success_rate).to.equal(75);
      expect(m.duration_samples).to.equal(4);
      expect(m.avg_execution_time_ms).to.be.above(0);
      expect(m.avg_execution_time).to.equal(`${m.avg_execution_time_ms}ms`);
      expect(m.p95_execution_time_ms).to.be.at.least(m.avg_execution_time_ms * 0.999);
      // Each successful job's metadata.elapsed_time (s) is the same measurement: p95 of 4 runs (nearest rank) is their maximum.
      const elapsedMs = runs.slice(0, 3).map((r) => r.body.metadata.elapsed_time * 1000);
      expect(m.p95_execution_time_ms).to.be.at.least(Math.max(...elapsedMs) - 0.01);
      expect(m.avg_execution_time_ms * 4).to.be.at.least(elapsedMs.reduce((x, y) => x + y, 0) - 0.01);
      expect(m.cpu_time_ms.total).to.be.above(0);
      expect(m.cpu_time_ms.avg).to.be.closeTo(m.cpu_time_ms.total / 4, 0.01);
      expect(m.cpu_usage).to.match(/^\d+(\.\d)?%$/);
      expect(m.peak_memory_bytes.max).to.be.above(1024 * 1024);
      expect(m.memory_usage).to.match(/^\d+(\.\d)?MB$/);
      expect(m.last_invoked_at).to.be.a('string');
    });

    it('functions report progress: context.progress in Node, fnqueue.progress in Python, on the record and its live events', async () => {
      const node = await deploy({
        runtime: 'nodejs',
        execution_type: 'sync',
        code: "async function handler(event, context) { context.progress(30, 'loading'); await new Promise((r) => setTimeout(r, 150)); context.progress(60, 'half'); return 'ok' }",
      });
      const nodeRun = await post(`/functions/${node.function_id}/invoke`, {});
      expect(nodeRun.status, nodeRun.text).to.equal(200);
      expect(nodeRun.body.status).to.equal('completed');
      expect(nodeRun.body.progress).to.include({ percent: 60, message: 'half' });

      const py = await deploy({ runtime: 'python', execution_type: 'async', code: 'import time, fnqueue\ndef handler(event):\n    fnqueue.progress(42, "py step")\n    time.sleep(0.3)\n    fnqueue.progress(250)\n    return 1' });
      const accepted = await post(`/functions/${py.function_id}/invoke`, {});
      const events = await (await fetch(`${stack.url}/jobs/${accepted.body.job_id}/events`, { signal: AbortSignal.timeout(15_000) })).text();
      expect(events).to.contain('"percent":42,"message":"py step"');
      const done = await finished(accepted.body.job_id);
      expect(done.progress).to.include({ percent: 100, message: null }); // clamped to 0-100
    });

    it('takes a webhook and job options as query parameters, as POST /jobs takes them', async () => {
      const receiver = await startHookReceiver(answerWith(200));
      try {
        const fn = await deploy({ runtime: 'nodejs', execution_type: 'async', code: 'function handler(event) { return { twice: event.n * 2 } }' });
        const url = `/functions/${fn.function_id}/invoke?webhook=${encodeURIComponent(receiver.url)}&priority=5&max_retries=1&timeout_ms=5000`;
        const res = await post(url, { n: 21 });
        expect(res.status, res.text).to.equal(202);
        expect(res.body).to.include({ priority: 5, max_retries: 1, timeout_ms: 5000 });
        const hook = await eventually(async () => receiver.received[0], 10_000);
        expect(hook.body).to.include({ job_id: res.body.job_id, status: 'completed', algorithm: fn.name });
        expect(hook.body.result).to.deep.equal({ twice: 42 });
        expectError(await post(`/functions/${fn.function_id}/invoke?priority=5000`, {}), 400, 'VALIDATION_ERROR');
        expectError(await post(`/functions/${fn.function_id}/invoke?webhook=ftp://x`, {}), 400, 'VALIDATION_ERROR');
      } finally {
        await receiver.close();
      }
    });

    it('cancelling a running function job kills its run', async () => {
      const fn = await deploy({ runtime: 'python', execution_type: 'async', code: 'import time\ndef handler(e):\n    time.sleep(30)\n    return 1\n' });
      const res = await post(`/functions/${fn.function_id}/invoke`, {});
      await eventually(async () => (await get(`/jobs/${res.body.job_id}`)).body.status === 'running', 10_000);
      const t0 = Date.now();
      const cancel = await post(`/jobs/${res.body.job_id}/cancel`);
      expect(cancel.status).to.equal(200);
      expect(cancel.body.status).to.equal('cancelled');
      const attempt = await eventually(async () => {
        const a = (await get(`/jobs/${res.body.job_id}/attempts`)).body.attempts[0];
        return a?.status === 'cancelled' ? a : undefined;
      }, 10_000);
      expect(attempt.finished_at).to.be.a('string');
      expect(Date.now() - t0).to.be.below(10_000);
    });

    it('a sync invocation past INVOKE_TIMEOUT_MS answers 504 TIMEOUT with the job_id to poll', async () => {
      const quick = await startStack(redis.url, { INVOKE_TIMEOUT_MS: '300' });
      try {
        const created = await http('POST', `${quick.url}/functions`, { name: unique(), runtime: 'python', code: 'import time\ndef handler(e):\n    time.sleep(1)\n    return "late"\n' });
        expect(created.status).to.equal(201);
        const res = await http('POST', `${quick.url}/functions/${created.body.function_id}/invoke`, {});
        expectError(res, 504, 'TIMEOUT');
        expect(res.body.details.job_id).to.match(/^[0-9a-f]{12}$/);
        const done = await eventually(async () => {
          const r = await http('GET', `${quick.url}/jobs/${res.body.details.job_id}`);
          return r.body.status === 'completed' ? r.body : undefined;
        }, 15_000);
        expect(done.result).to.equal('late');
      } finally {
        await quick.close();
      }
    });

    it('the OpenAPI document lists every functions path', async () => {
      const doc = (await get('/openapi.json')).body;
      for (const p of ['/functions', '/functions/{function_id}', '/functions/{function_id}/invoke', '/functions/{function_id}/jobs', '/functions/{function_id}/metrics', '/jobs/{job_id}/logs']) {
        expect(doc.paths, p).to.have.property(p);
      }
    });
  });
});
