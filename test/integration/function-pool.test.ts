import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import winston from 'winston';
import { MIN_MEMORY_MB } from '../../shared/functions/limits.js';
import { checkSyntax } from '../../shared/functions/syntax-check.js';
import { FunctionPool } from '../../worker/functions/function-pool.js';
import { LOG_LINE_OVERHEAD_BYTES, type FunctionRunResult, type FunctionSpec } from '../../worker/functions/function-run.js';
import { FunctionRunError } from '../../worker/functions/function-run-error.js';
import { sandboxStatus } from '../../worker/functions/sandbox.js';
import { probeCgroups } from '../../worker/functions/cgroups.js';
import { eventually } from '../helpers/http.js';
import { track, untrack } from '../helpers/resources.js';
import { alive, processesWith } from '../helpers/processes.js';
import { startRedisServer } from '../../scripts/lib/redis-server.js';
import { createLogger, withLogContext, type Logger } from '../../shared/logger.js';

let seq = 0;

/** A Python function whose profile hook starts a busy daemon thread once the host has sent the result (after its own thread count). */
const PY_BUSY_THREAD_AFTER_RESULT = [
  'import sys, threading',
  'def burn():',
  '    while True: pass',
  'def hook(frame, event, arg):',
  "    if event == 'return' and frame.f_code.co_name == '_send':",
  '        sys.setprofile(None)',
  '        threading.Thread(target=burn, daemon=True).start()',
  'def handler(e):',
  '    sys.setprofile(hook)',
  "    return 'hidden'",
].join('\n');

/** A spec with a fresh function id (so no test reuses another's warm process). */
function spec(runtime: 'nodejs' | 'python', code: string, over: Partial<FunctionSpec> = {}): FunctionSpec {
  return { function_id: `fn-${process.pid}-${++seq}`, version: 1, runtime, code, env: {}, timeout_ms: 5000, memory_mb: 256, max_output_bytes: 64 * 1024, ...over };
}

async function failure(p: Promise<unknown>): Promise<FunctionRunError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').to.be.instanceOf(FunctionRunError);
  return err as FunctionRunError;
}

function newPool(opts: ConstructorParameters<typeof FunctionPool>[0] = {}): FunctionPool {
  const pool = new FunctionPool(opts);
  track('function pool', pool, () => pool.close());
  return pool;
}

async function closePool(pool: FunctionPool): Promise<void> {
  await pool.close();
  untrack(pool);
}

/**
 * Pids of processes in a host cgroup of this worker (whatever pid namespace they are in), from
 * /proc/<pid>/cgroup, except those in `baseline` (the shared pool's warm hosts).
 */
function processesInOurCgroups(baseline: Set<number> = new Set()): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!baseline.has(Number(name)) && readFileSync(`/proc/${name}/cgroup`, 'latin1').includes(`/fnqueue-${process.pid}/`)) found.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Host cgroup folders of this worker in the pids and memory hierarchies. */
function hostCgroupDirs(): string[] {
  const cg = probeCgroups();
  if (!cg.ok) return [];
  const out: string[] = [];
  for (const dir of [cg.roots.pids, cg.roots.memory]) {
    try {
      for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) out.push(path.join(dir, d.name));
    } catch {
      /* removed */
    }
  }
  return out;
}

describe('FunctionPool (real sandboxed processes)', function () {
  let pool: FunctionPool;
  const savedRedisUrl = process.env.REDIS_URL;

  before(async () => {
    // The worker's own secrets must never reach a function.
    process.env.REDIS_URL = 'redis://:s3cret@127.0.0.1:6379/0';
    process.env.FNQ_TEST_SECRET = 'from-the-worker';
    pool = newPool({ sandbox: 'bwrap' });
    const status = await pool.start();
    expect(status.isolated, `bwrap isolation: ${status.reason}`).to.equal(true);
  });
  after(async () => {
    await closePool(pool);
    if (savedRedisUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedRedisUrl;
    delete process.env.FNQ_TEST_SECRET;
  });

  describe('handlers', () => {
    it('runs the examples of the function API reference verbatim in both runtimes', async () => {
      const node = await pool.run(spec('nodejs', 'function handler(event) { return event }'), { a: 1, s: 'x' });
      expect(node.result).to.deep.equal({ a: 1, s: 'x' });
      const py = await pool.run(spec('python', 'def handler(event): return event'), { a: 1, s: 'x' });
      expect(py.result).to.deep.equal({ a: 1, s: 'x' });
      for (const r of [node, py]) {
        expect(r.cold_start).to.equal(true);
        expect(r.duration_ms).to.be.a('number').and.above(0);
        expect(r.cpu_ms).to.be.a('number').and.at.least(0);
        expect(r.peak_rss_bytes).to.be.a('number').and.above(1024 * 1024);
        expect(r.truncated).to.equal(false);
      }
    });

    it('finds exported, async, CommonJS and ES module handlers in Node', async () => {
      const cases: Array<[string, string]> = [
        ['module.exports.handler', 'module.exports.handler = (e) => ({ via: "module.exports", n: e.n })'],
        ['exports.handler async', 'exports.handler = async (e) => { await new Promise((r) => setTimeout(r, 5)); return { via: "exports", n: e.n } }'],
        ['async function', 'async function handler(e) { return { via: "async", n: e.n } }'],
        ['module.exports = fn', 'module.exports = function (e) { return { via: "function export", n: e.n } }'],
        ['const arrow', 'const handler = (e) => ({ via: "const", n: e.n })'],
        ['ESM named', 'export function handler(e) { return { via: "esm", n: e.n } }'],
        ['ESM default', 'export default async function (e) { return { via: "esm default", n: e.n } }'],
        ['ESM non-exported', 'import os from "node:os";\nfunction handler(e) { return { via: "esm top-level", n: e.n, os: typeof os.cpus } }'],
        ['ESM top-level await', 'const base = await Promise.resolve(40);\nexport const handler = (e) => ({ via: "tla", n: base + e.n })'],
      ];
      const results = await Promise.all(cases.map(([, code]) => pool.run(spec('nodejs', code), { n: 2 })));
      expect(results.map((r) => r.result)).to.deep.equal([
        { via: 'module.exports', n: 2 },
        { via: 'exports', n: 2 },
        { via: 'async', n: 2 },
        { via: 'function export', n: 2 },
        { via: 'const', n: 2 },
        { via: 'esm', n: 2 },
        { via: 'esm default', n: 2 },
        { via: 'esm top-level', n: 2, os: 'function' },
        { via: 'tla', n: 42 },
      ]);
    });

    it('runs async def and a custom handler name in Python, and passes the context when asked', async () => {
      const code = ['import asyncio', 'async def handler(event):', '    await asyncio.sleep(0.01)', '    return {"doubled": event["n"] * 2}'].join('\n');
      expect((await pool.run(spec('python', code), { n: 21 })).result).to.deep.equal({ doubled: 42 });
      const ctx = await pool.run(spec('python', 'def main(event, context):\n    return [event, context["function_id"].startswith("fn-")]', { handler: 'main' }), 'hi');
      expect(ctx.result).to.deep.equal(['hi', true]);
    });

    it('loads dependencies from deps_dir, read-only, in both runtimes', async () => {
      const deps = mkdtempSync(path.join(tmpdir(), 'fnq-deps-test-'));
      try {
        chmodSync(deps, 0o755);
        const pkg = path.join(deps, 'node', 'node_modules', 'fnq-fixture-greet');
        mkdirSync(pkg, { recursive: true });
        writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fnq-fixture-greet', version: '1.0.0', main: 'index.js' }));
        writeFileSync(path.join(pkg, 'index.js'), 'module.exports = (n) => `hello ${n}`;\n');
        const pyPkg = path.join(deps, 'py', 'fnq_fixture_greet');
        mkdirSync(pyPkg, { recursive: true });
        writeFileSync(path.join(pyPkg, '__init__.py'), 'def greet(n):\n    return "hello " + n\n');
        const nodeDeps = path.join(deps, 'node');
        const cjs = await pool.run(spec('nodejs', 'const greet = require("fnq-fixture-greet");\nfunction handler(e) { return greet(e) }', { deps_dir: nodeDeps }), 'cjs');
        const esm = await pool.run(spec('nodejs', 'import greet from "fnq-fixture-greet";\nexport const handler = (e) => greet(e)', { deps_dir: nodeDeps }), 'esm');
        const py = await pool.run(spec('python', 'import fnq_fixture_greet\ndef handler(e):\n    return fnq_fixture_greet.greet(e)', { deps_dir: path.join(deps, 'py') }), 'py');
        expect([cjs.result, esm.result, py.result]).to.deep.equal(['hello cjs', 'hello esm', 'hello py']);
        const write = await pool.run(
          spec('nodejs', 'const fs = require("fs");\nfunction handler() { try { fs.writeFileSync(require.resolve("fnq-fixture-greet"), "x"); return "written" } catch (e) { return e.code } }', { deps_dir: nodeDeps }),
          null,
        );
        expect(write.result).to.equal('EROFS');
      } finally {
        rmSync(deps, { recursive: true, force: true });
      }
    });

    it('fails a result that is not JSON with a clear error, in both runtimes', async () => {
      const fn = await failure(pool.run(spec('nodejs', 'function handler() { return { ok: 1, cb: () => 1 } }'), null));
      expect(fn.code).to.equal('ALGORITHM_ERROR');
      expect(fn.reason).to.equal('invalid_result');
      expect(fn.message).to.equal("the handler's result is not JSON-serializable: result.cb is a function");
      const map = await failure(pool.run(spec('nodejs', 'function handler() { return [1, new Map()] }'), null));
      expect(map.message).to.contain('result[1] is a Map');
      const big = await failure(pool.run(spec('nodejs', 'function handler() { return 10n }'), null));
      expect(big.message).to.contain('BigInt');
      const py = await failure(pool.run(spec('python', 'def handler(e):\n    return {"s": {1, 2}}'), null));
      expect(py.reason).to.equal('invalid_result');
      expect(py.message).to.contain("not JSON-serializable").and.contain('set');
      const nan = await failure(pool.run(spec('python', 'def handler(e):\n    return float("nan")'), null));
      expect(nan.reason).to.equal('invalid_result');
      const huge = await failure(pool.run(spec('nodejs', 'function handler() { return "x".repeat(7 * 1024 * 1024) }'), null));
      expect(huge.reason).to.equal('result_too_large');
      expect(huge.message).to.match(/^the handler's result is \d+ bytes of JSON, over the 1048576 byte limit \(JOB_RESULT_MAX_BYTES\); it was not stored$/);
      const bad = await pool.run(spec('nodejs', 'function handler() {}', { handler: 'class' }), null).catch((e: { code: string }) => e);
      expect(bad).to.include({ code: 'VALIDATION_ERROR' });
    });

    it("reports a thrown error with the user's message and only the user's stack frames, keeping the process", async () => {
      const s = spec('nodejs', 'function inner() {\n  throw new TypeError("boom: " + 1)\n}\nfunction handler(e) {\n  return inner()\n}');
      const err = await failure(pool.run(s, null));
      expect(err.code).to.equal('ALGORITHM_ERROR');
      expect(err.reason).to.equal('handler_error');
      const lines = err.message.split('\n');
      expect(lines[0]).to.equal('TypeError: boom: 1');
      expect(lines.slice(1)).to.have.length(2);
      expect(lines[1]).to.match(/at inner \(function\.js:2:9\)/);
      expect(lines[2]).to.match(/at handler \(function\.js:5:10\)/);
      expect(err.message).not.to.match(/node-host|node:internal|\/fn\//);
      expect(err.details).to.include({ error_type: 'TypeError', error_message: 'boom: 1' });
      // A handler error does not cost the warm process.
      const again = await failure(pool.run(s, null));
      expect(again.report.host_pid).to.equal(err.report.host_pid);
      expect(again.report.cold_start).to.equal(false);

      const py = await failure(pool.run(spec('python', 'def handler(event):\n    x = 1\n    raise ValueError("bad value %d" % x)'), null));
      expect(py.reason).to.equal('handler_error');
      expect(py.message.split('\n')[0]).to.equal('ValueError: bad value 1');
      expect(py.message).to.contain('File "function.py", line 3, in handler').and.contain('raise ValueError');
      expect(py.message).not.to.contain('python-host');
    });

    it('fails only the invocation whose process crashed or threw asynchronously, and replaces that process', async () => {
      const s = spec('nodejs', 'function handler(e) {\n  if (e === "exit") process.exit(3);\n  if (e === "late") { setTimeout(() => { throw new Error("thrown later") }, 1); return new Promise(() => {}) }\n  return "ok"\n}');
      const first = await pool.run(s, 'hi');
      const exit = await failure(pool.run(s, 'exit'));
      expect(exit.reason).to.equal('crashed');
      expect(exit.message).to.equal("the function's process exited with code 3");
      const late = await failure(pool.run(s, 'late'));
      expect(late.reason).to.equal('handler_error');
      expect(late.message.split('\n')[0]).to.equal('Error: uncaught exception: thrown later');
      expect(late.report.host_pid).not.to.equal(first.host_pid);
      const next = await pool.run(s, 'again');
      expect(next.result).to.equal('ok');
      expect([first.host_pid, late.report.host_pid]).not.to.include(next.host_pid);
      const py = await failure(pool.run(spec('python', 'import os\ndef handler(e):\n    os._exit(4)'), null));
      expect(py.message).to.equal("the function's process exited with code 4");
    });

    it('fails clearly when the code has no handler or does not load', async () => {
      const none = await failure(pool.run(spec('nodejs', 'function main() {}'), null));
      expect(none.reason).to.equal('load_error');
      expect(none.message).to.contain("no function named 'handler'");
      const syntax = await failure(pool.run(spec('python', 'def handler(:\n  pass'), null));
      expect(syntax.reason).to.equal('load_error');
      expect(syntax.message).to.contain('SyntaxError');
      const throws = await failure(pool.run(spec('nodejs', 'throw new Error("top-level failure")'), null));
      expect(throws.message).to.contain('Error: top-level failure');
    });
  });

  describe('limits', () => {
    it('kills an infinite loop at its timeout with its whole process tree, and keeps serving', async () => {
      const token = `987.${process.pid}${++seq}`;
      const code = [
        'const { spawn } = require("child_process");',
        'function handler(e) {',
        '  if (e === "loop") {',
        `    spawn("sleep", ["${token}"], { detached: true, stdio: "ignore" });`,
        '    for (;;) {}',
        '  }',
        '  return "served"',
        '}',
      ].join('\n');
      const s = spec('nodejs', code, { timeout_ms: 700 });
      const warm = await pool.run(s, 'warm');
      const t0 = Date.now();
      const pending = failure(pool.run(s, 'loop'));
      await eventually(async () => processesWith(token).length > 0, 5000, 20);
      const err = await pending;
      const took = Date.now() - t0;
      expect(err.code).to.equal('TIMEOUT');
      expect(err.reason).to.equal('timeout');
      expect(err.message).to.equal('the function timed out after 700 ms');
      expect(took).to.be.within(650, 2500);
      await eventually(async () => processesWith(token).length === 0 && !alive(warm.host_pid!), 5000, 20);
      const next = await pool.run(s, 'next');
      expect(next.result).to.equal('served');
      expect(next.host_pid).not.to.equal(warm.host_pid);
      expect(next.cold_start).to.equal(true);
    });

    it('times out a Python loop too', async () => {
      const err = await failure(pool.run(spec('python', 'def handler(e):\n    while True:\n        pass', { timeout_ms: 400 }), null));
      expect(err.code).to.equal('TIMEOUT');
    });

    it('stops a 2 GB allocation with an out-of-memory error in both runtimes, and keeps serving', async () => {
      const nodeSpec = spec('nodejs', 'function handler(e) { if (e === "ok") return "fine"; const b = Buffer.alloc(2 * 1024 ** 3, 1); return b.length }', { memory_mb: 256 });
      const node = await failure(pool.run(nodeSpec, 'big'));
      expect(node.code).to.equal('ALGORITHM_ERROR');
      expect(node.reason).to.equal('out_of_memory');
      expect(node.message).to.match(/^the function ran out of memory at its 256 MB limit/);
      expect((await pool.run(nodeSpec, 'ok')).result).to.equal('fine');

      const heap = await failure(pool.run(spec('nodejs', 'const keep = [];\nfunction handler() { for (;;) keep.push(new Array(100000).fill(Math.random())) }', { memory_mb: 128 }), null));
      expect(heap.reason).to.equal('out_of_memory');
      expect(heap.message).to.contain('128 MB');

      const pySpec = spec('python', 'def handler(e):\n    if e == "ok":\n        return "fine"\n    b = bytearray(2 * 1024 ** 3)\n    return len(b)', { memory_mb: 256 });
      const py = await failure(pool.run(pySpec, 'big'));
      expect(py.reason).to.equal('out_of_memory');
      expect(py.message).to.match(/^the function ran out of memory at its 256 MB limit/);
      expect((await pool.run(pySpec, 'ok')).result).to.equal('fine');
    });

    it('truncates 100 MB of output at max_output_bytes with a marker, and still finishes within seconds', async function () {
      // Generous bounds: reading 100 MB through a pipe takes seconds on a loaded 2-core machine.
      this.timeout(60_000);
      const cap = 10_000;
      const node = spec('nodejs', 'function handler() {\n  console.log("first line");\n  const mb = "x".repeat(1024 * 1024);\n  for (let i = 0; i < 100; i++) process.stdout.write(mb + "\\n");\n  console.error("on stderr");\n  return "done"\n}', { max_output_bytes: cap, timeout_ms: 20_000 });
      const py = spec('python', 'import sys\ndef handler(e):\n    print("first line")\n    mb = "y" * (1024 * 1024)\n    for i in range(100):\n        print(mb)\n    print("on stderr", file=sys.stderr)\n    return "done"', { max_output_bytes: cap, timeout_ms: 20_000 });
      for (const s of [node, py]) {
        const t0 = Date.now();
        const r = await pool.run(s, null);
        expect(Date.now() - t0).to.be.below(20_000);
        expect(r.result).to.equal('done');
        expect(r.truncated).to.equal(true);
        expect(r.logs[0]).to.include({ stream: 'stdout', line: 'first line' });
        const marker = r.logs.filter((l) => l.line === `[output truncated at ${cap} bytes]`);
        expect(marker).to.have.length(1);
        // Each line costs its bytes plus LOG_LINE_OVERHEAD_BYTES against the cap.
        const bytes = r.logs.filter((l) => !marker.includes(l)).reduce((n, l) => n + Buffer.byteLength(l.line) + LOG_LINE_OVERHEAD_BYTES, 0);
        expect(bytes).to.be.at.most(cap);
        expect(bytes).to.be.at.least(cap - LOG_LINE_OVERHEAD_BYTES);
        // The next invocation starts with a clean slate.
        const small = await pool.run({ ...s }, null);
        expect(small.truncated).to.equal(true);
        expect(small.logs.length).to.be.below(10);
      }
    });

    it('captures stdout and stderr lines per invocation, with time stamps', async () => {
      const s = spec('nodejs', 'function handler(e) { console.log("out " + e); console.error("err " + e); process.stdout.write("no newline " + e); return e }');
      const a = await pool.run(s, 1);
      const b = await pool.run(s, 2);
      expect(a.logs.map((l) => `${l.stream}:${l.line}`).sort()).to.deep.equal(['stderr:err 1', 'stdout:no newline 1', 'stdout:out 1']);
      expect(b.logs.map((l) => `${l.stream}:${l.line}`).sort()).to.deep.equal(['stderr:err 2', 'stdout:no newline 2', 'stdout:out 2']);
      expect(new Date(a.logs[0]!.ts).toISOString()).to.equal(a.logs[0]!.ts);
      const py = await pool.run(spec('python', 'import sys\ndef handler(e):\n    print("out", e)\n    print("err", e, file=sys.stderr)\n    return e'), 3);
      expect(py.logs.map((l) => `${l.stream}:${l.line}`).sort()).to.deep.equal(['stderr:err 3', 'stdout:out 3']);
    });

    it("gives a function only its own env: the worker's REDIS_URL never leaks", async () => {
      const env = { GREETING: 'hello', API_TOKEN: 'fn-secret' };
      const node = await pool.run(spec('nodejs', 'function handler() { return process.env }', { env }), null);
      const py = await pool.run(spec('python', 'import os\ndef handler(e):\n    return dict(os.environ)', { env }), null);
      for (const r of [node, py]) {
        const seen = r.result as Record<string, string>;
        expect(seen).not.to.have.property('REDIS_URL');
        expect(seen).not.to.have.property('FNQ_TEST_SECRET');
        expect(seen).to.include({ GREETING: 'hello', API_TOKEN: 'fn-secret', HOME: '/tmp' });
        expect(Object.keys(seen).sort()).to.deep.equal(['API_TOKEN', 'GREETING', 'HOME', 'LANG', 'PATH']);
      }
    });
  });

  describe('isolation under bwrap', () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((s) => s.end('reachable'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as { port: number }).port;
    });
    after(async () => {
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('has no network: a socket connect fails in both runtimes (a server on the host loopback is unreachable)', async () => {
      const node = await pool.run(
        spec('nodejs', 'const net = require("net");\nfunction handler(e) {\n  return new Promise((resolve) => {\n    const s = net.connect(e.port, e.host, () => resolve("connected"));\n    s.on("error", (err) => resolve(err.code));\n  })\n}'),
        { host: '127.0.0.1', port },
      );
      expect(node.result).to.be.oneOf(['ECONNREFUSED', 'ENETUNREACH']);
      const outside = await pool.run(spec('nodejs', 'const net = require("net");\nfunction handler() { return new Promise((resolve) => { const s = net.connect(80, "1.1.1.1", () => resolve("connected")); s.on("error", (err) => resolve(err.code)) }) }'), null);
      expect(outside.result).to.equal('ENETUNREACH');
      const py = await pool.run(
        spec('python', 'import socket\ndef handler(e):\n    s = socket.socket()\n    s.settimeout(2)\n    try:\n        s.connect((e["host"], e["port"]))\n        return "connected"\n    except OSError as err:\n        return type(err).__name__'),
        { host: '127.0.0.1', port },
      );
      expect(py.result).to.be.oneOf(['ConnectionRefusedError', 'OSError']);
    });

    it('has a read-only filesystem except a private /tmp, and none of the service files', async () => {
      const code = [
        'const fs = require("fs");',
        'function attempt(f) { try { f(); return "ok" } catch (e) { return e.code } }',
        'function handler(e) {',
        '  return {',
        '    tmp: attempt(() => { fs.writeFileSync("/tmp/x.txt", "hi"); if (fs.readFileSync("/tmp/x.txt", "utf8") !== "hi") throw new Error() }),',
        '    root: attempt(() => fs.writeFileSync("/x.txt", "hi")),',
        '    usr: attempt(() => fs.writeFileSync("/usr/x.txt", "hi")),',
        '    etc: attempt(() => fs.writeFileSync("/etc/passwd", "hi")),',
        '    code: attempt(() => fs.writeFileSync(__filename, "hi")),',
        '    dev: attempt(() => fs.writeFileSync("/dev/x", "hi")),',
        '    service: fs.existsSync(e.service),',
        '    uid: process.getuid(),',
        '  }',
        '}',
      ].join('\n');
      const r = await pool.run(spec('nodejs', code), { service: path.resolve('package.json') });
      expect(r.result).to.deep.equal({ tmp: 'ok', root: 'EROFS', usr: 'EROFS', etc: 'EROFS', code: 'EROFS', dev: 'EROFS', service: false, uid: process.getuid!() === 0 ? 65534 : process.getuid!() });
      const py = await pool.run(
        spec('python', 'def handler(e):\n    out = {}\n    for p in ["/tmp/y.txt", "/y.txt", "/usr/y.txt"]:\n        try:\n            open(p, "w").write("x")\n            out[p] = "ok"\n        except OSError as err:\n            out[p] = err.errno\n    return out'),
        null,
      );
      expect(py.result).to.deep.equal({ '/tmp/y.txt': 'ok', '/y.txt': 30, '/usr/y.txt': 30 });
      // /tmp is private to the process: another function does not see x.txt.
      const other = await pool.run(spec('nodejs', 'function handler() { return require("fs").existsSync("/tmp/x.txt") }'), null);
      expect(other.result).to.equal(false);
    });
  });

  describe('warm processes', () => {
    it('reuses the process of a function version (faster) and never shares it across functions', async () => {
      const code = 'let calls = 0;\nfunction handler() { return ++calls }';
      const a = spec('nodejs', code);
      const first = await pool.run(a, null);
      const second = await pool.run(a, null);
      expect(first.cold_start).to.equal(true);
      expect(second.cold_start).to.equal(false);
      expect(second.host_pid).to.equal(first.host_pid);
      expect(second.result).to.equal(2);
      expect(second.duration_ms).to.be.below(first.startup_ms!);
      // Same code, another function: its own process and state.
      const other = await pool.run({ ...a, function_id: `${a.function_id}-other` }, null);
      expect(other.host_pid).not.to.equal(first.host_pid);
      expect(other.result).to.equal(1);
      // A new version gets its own process too.
      const v2 = await pool.run({ ...a, version: 2 }, null);
      expect(v2.host_pid).not.to.equal(first.host_pid);
      expect(v2.result).to.equal(1);
      const py = spec('python', 'calls = 0\ndef handler(e):\n    global calls\n    calls += 1\n    return calls');
      const p1 = await pool.run(py, null);
      const p2 = await pool.run(py, null);
      expect([p1.result, p2.result, p2.host_pid === p1.host_pid, p2.cold_start]).to.deep.equal([1, 2, true, false]);
    });

    it('runs one invocation per process at a time, queueing beyond maxProcessesPerFunction', async () => {
      const one = newPool({ sandbox: 'bwrap', maxProcessesPerFunction: 1 });
      try {
        const s = spec('nodejs', 'async function handler() { await new Promise((r) => setTimeout(r, 150)); return process.pid }');
        const t0 = Date.now();
        const rs: FunctionRunResult[] = await Promise.all([one.run(s, null), one.run(s, null), one.run(s, null)]);
        expect(Date.now() - t0).to.be.at.least(440);
        expect(new Set(rs.map((r) => r.host_pid)).size).to.equal(1);
        expect(one.processes()).to.have.length(1);
      } finally {
        await closePool(one);
      }
    });

    it('recycles a process after maxInvocationsPerProcess, reaps idle ones, and cancels a running invocation', async () => {
      const small = newPool({ sandbox: 'bwrap', maxInvocationsPerProcess: 3, idleTimeoutMs: 300 });
      try {
        const s = spec('python', 'def handler(e):\n    import time\n    if e == "slow":\n        time.sleep(30)\n    return e');
        const pids: Array<number | null> = [];
        for (let i = 0; i < 4; i++) pids.push((await small.run(s, i)).host_pid);
        expect(pids[0]).to.equal(pids[1]).and.equal(pids[2]);
        expect(pids[3]).not.to.equal(pids[0]);
        await eventually(async () => !alive(pids[0]!), 5000, 20);
        await eventually(async () => small.processes().length === 0, 5000, 50);

        const pending = failure(small.run(s, 'slow', { run_id: 'job-to-cancel' }));
        await eventually(async () => small.processes().some((p) => p.state === 'busy'), 5000, 10);
        await new Promise((r) => setTimeout(r, 100));
        expect(small.cancel('job-to-cancel')).to.equal(true);
        const err = await pending;
        expect(err.reason).to.equal('cancelled');
        expect(err.report.run_id).to.equal('job-to-cancel');
        expect(small.cancel('job-to-cancel')).to.equal(false);
      } finally {
        await closePool(small);
      }
    });

    it('fails a load that never ends at startTimeoutMs + timeout_ms, killing it', async () => {
      const p = newPool({ sandbox: 'bwrap', startTimeoutMs: 300 });
      try {
        const t0 = Date.now();
        const err = await failure(p.run(spec('python', 'while True:\n    pass\ndef handler(e):\n    return e', { timeout_ms: 200 }), null));
        expect(err.code).to.equal('TIMEOUT');
        expect(err.message).to.equal('the function did not finish loading within 500 ms');
        expect(Date.now() - t0).to.be.within(450, 3000);
        await eventually(async () => p.processes().length === 0, 5000, 20);
      } finally {
        await closePool(p);
      }
    });

    it('kills every process on close and refuses new invocations', async () => {
      const p = newPool({ sandbox: 'bwrap' });
      const r = await p.run(spec('nodejs', 'function handler() { return 1 }'), null);
      const slow = failure(p.run(spec('nodejs', 'function handler() { for (;;) {} }'), null));
      await eventually(async () => p.processes().length === 2, 5000, 10);
      await closePool(p);
      expect((await slow).code).to.equal('SERVICE_UNAVAILABLE');
      expect(alive(r.host_pid!)).to.equal(false);
      expect((await failure(p.run(spec('nodejs', 'function handler() {}'), null))).code).to.equal('SERVICE_UNAVAILABLE');
    });
  });

  describe('where bubblewrap cannot isolate', () => {
    it('refuses every run unless the sandbox is off, naming FUNCTION_SANDBOX and the reason, and logs it at start', async () => {
      // Tools from a folder that is not bound into the sandbox: bwrap's probe fails, as it does where
      // namespaces are forbidden (the exact reason differs; the refusal carries whichever it is).
      const bin = mkdtempSync(path.join(tmpdir(), 'fnq-nobwrap-'));
      try {
        for (const tool of ['prlimit', 'setpriv', 'python3', 'node']) {
          const found = ['/usr/bin', '/bin', '/usr/local/bin'].map((d) => path.join(d, tool)).find((f) => existsSync(f));
          if (found) symlinkSync(found, path.join(bin, tool));
        }
        const logged: Array<[string, string]> = [];
        const logger = { error: (m: string) => logged.push(['error', m]), warn: (m: string) => logged.push(['warn', m]), info: () => undefined, debug: () => undefined } as unknown as Logger;
        for (const sandbox of ['auto', 'bwrap'] as const) {
          const p = newPool({ sandbox, searchPath: bin, logger });
          try {
            const status = await p.start();
            expect(status.isolated).to.equal(false);
            const err = await failure(p.run(spec('python', 'def handler(e):\n    return 1'), null));
            expect(err.code).to.equal('SERVICE_UNAVAILABLE');
            expect(status.reason).to.be.a('string').and.not.equal('');
            expect(err.message).to.contain('FUNCTION_SANDBOX=off').and.contain(status.reason!);
            expect((err.details as { sandbox?: string }).sandbox).to.equal(sandbox);
            expect(logged.filter(([level, m]) => level === 'error' && m.includes('FUNCTION_SANDBOX'))).to.have.length(1);
            logged.length = 0;
          } finally {
            await closePool(p);
          }
        }
        const off = newPool({ sandbox: 'off', searchPath: bin, logger });
        try {
          expect((await off.run(spec('python', 'def handler(e):\n    return 1'), null)).result).to.equal(1);
          expect(logged.map(([level]) => level)).to.deep.equal(['warn']);
        } finally {
          await closePool(off);
        }
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
    });
  });

  describe('without bwrap (sandbox: off)', () => {
    it('still kills the process tree at the timeout, gives only the env, and says isolation is off', async () => {
      const off = newPool({ sandbox: 'off' });
      try {
        expect((await off.start()).isolated).to.equal(false);
        expect((await sandboxStatus('off')).reason).to.contain('off');
        const token = `986.${process.pid}${++seq}`;
        const code = `const { spawn } = require("child_process");\nfunction handler() {\n  spawn("sleep", ["${token}"], { detached: true, stdio: "ignore" });\n  spawn("sleep", ["${token}"], { stdio: "ignore" });\n  for (;;) {}\n}`;
        const pending = failure(off.run(spec('nodejs', code, { timeout_ms: 600 }), null));
        await eventually(async () => processesWith(token).length === 2, 5000, 20);
        expect((await pending).code).to.equal('TIMEOUT');
        await eventually(async () => processesWith(token).length === 0, 5000, 20);
        const env = await off.run(spec('python', 'import os\ndef handler(e):\n    return sorted(os.environ)', { env: { ONLY: '1' } }), null);
        const deps = mkdtempSync(path.join(tmpdir(), 'fnq-deps-off-'));
        try {
          mkdirSync(path.join(deps, 'node_modules', 'fnq-fixture-off'), { recursive: true });
          writeFileSync(path.join(deps, 'node_modules', 'fnq-fixture-off', 'index.js'), 'module.exports = () => "from deps";\n');
          const esm = await off.run(spec('nodejs', 'export { default as handler } from "fnq-fixture-off/index.js";\n', { deps_dir: deps }), null);
          const cjs = await off.run(spec('nodejs', 'const d = require("fnq-fixture-off");\nfunction handler() { return d() + " (cjs)" }', { deps_dir: deps }), null);
          expect([esm.result, cjs.result]).to.deep.equal(['from deps', 'from deps (cjs)']);
        } finally {
          rmSync(deps, { recursive: true, force: true });
        }
        expect(env.result).to.deep.equal(['HOME', 'LANG', 'ONLY', 'PATH']);
        const oom = await failure(off.run(spec('python', 'def handler(e):\n    return len(bytearray(2 * 1024 ** 3))', { memory_mb: 128 }), null));
        expect(oom.reason).to.equal('out_of_memory');
      } finally {
        await closePool(off);
      }
    });
  });

  describe('red-team hardening', () => {
    const forkBurners = 'import os\ndef handler(e):\n for i in range(2):\n  if os.fork()==0:\n   os.setsid()\n   while True: pass\n return "x"';

    it('retires the host right after a run that left background processes, in both runtimes (cgroup count)', async () => {
      const baseline = new Set(processesInOurCgroups());
      const p = newPool({ sandbox: 'bwrap' });
      try {
        expect((await p.start()).cgroups, 'cgroups usable on this machine').to.equal(true);
        const py = spec('python', forkBurners);
        const t0 = Date.now();
        const r = await p.run(py, null);
        expect(r.result).to.equal('x');
        expect(Date.now() - t0).to.be.below(3000);
        // The host and both daemonized burners are killed, and the next run gets a fresh host.
        await eventually(async () => !alive(r.host_pid!) && processesInOurCgroups(baseline).length === 0, 5000, 20);
        const again = await p.run(py, null);
        expect(again.cold_start).to.equal(true);
        await eventually(async () => !alive(again.host_pid!), 5000, 20);

        const token = `1000.${process.pid}${++seq}`;
        const node = spec('nodejs', `const { spawn } = require("child_process");\nfunction handler(e) {\n  if (e === "bg") spawn("/bin/sh", ["-c", 'trap "" TERM; exec sleep ${token}'], { detached: true, stdio: "ignore" });\n  if (e === "sync") require("child_process").execSync("true");\n  return e\n}`);
        // A child that ended before the result costs nothing: the warm host stays.
        const s1 = await p.run(node, 'sync');
        const s2 = await p.run(node, 'sync');
        expect(s2.host_pid).to.equal(s1.host_pid);
        const bg = await p.run(node, 'bg');
        expect(bg.result).to.equal('bg');
        expect(bg.host_pid).to.equal(s1.host_pid);
        await eventually(async () => processesWith(token).length === 0 && !alive(bg.host_pid!), 5000, 20);
        expect((await p.run(node, 'sync')).cold_start).to.equal(true);
      } finally {
        await closePool(p);
      }
    });

    it('retires such a host without cgroups too (the host counts its sandbox /proc, or its children without bwrap)', async () => {
      for (const sandbox of ['bwrap', 'off'] as const) {
        const p = newPool({ sandbox, cgroups: false });
        try {
          const status = await p.start();
          expect(status.cgroups).to.equal(false);
          expect(status.cgroupsReason).to.contain('cgroups: false');
          const token = `1000.${process.pid}${++seq}`;
          // Without bwrap only direct children are seen: the background child stays a child here.
          const code = `import subprocess\ndef handler(e):\n    subprocess.Popen(["sleep", "${token}"])\n    return "started"`;
          const r = await p.run(spec('python', code), null);
          expect(r.result).to.equal('started');
          await eventually(async () => processesWith(token).length === 0 && !alive(r.host_pid!), 5000, 20);
        } finally {
          await closePool(p);
        }
      }
    });

    it('gives a function only fds 0-3 of what its worker inherited, with and without bwrap (docs/functions.md, "The function sandbox")', async function () {
      this.timeout(60_000);
      const dir = mkdtempSync(path.join(tmpdir(), 'fnq-inherited-'));
      const file = path.join(dir, 'appended');
      try {
        for (const sandbox of ['bwrap', 'off'] as const) {
          // As `exec 200</dir 201>>file; npm start` would start it: both without close-on-exec.
          const script = 'exec 200<"$1" 201>>"$2"; shift 2; exec "$@"';
          const args = ['-c', script, 'sh', dir, file, process.execPath, '--import', 'tsx', path.join(import.meta.dirname, '../helpers/fd-probe.ts'), sandbox];
          const stdout = await new Promise<string>((resolve, reject) =>
            execFile('/bin/bash', args, { cwd: path.join(import.meta.dirname, '../..'), timeout: 50_000 }, (err, out, errText) => (err ? reject(new Error(`${err.message}\n${errText}`)) : resolve(out))),
          );
          const seen = JSON.parse(stdout.trim().split('\n').pop()!) as Record<'python' | 'nodejs', Record<string, [string, string]>>;
          for (const runtime of ['python', 'nodejs'] as const) {
            const fds = seen[runtime];
            const label = `${runtime} (${sandbox}): ${JSON.stringify(fds)}`;
            expect(Object.keys(fds), label).to.include.members(['0', '1', '2', '3']);
            expect(fds, label).not.to.have.any.keys('200', '201');
            for (const [fd, [target, flags]] of Object.entries(fds)) {
              expect(target, label).not.to.contain(dir);
              // Above 3 only the runtime's own descriptors, all close-on-exec: nothing came through exec.
              if (Number(fd) > 3) expect(parseInt(flags, 8) & 0o2000000, `fd ${fd} of ${label}`).to.not.equal(0);
            }
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("keeps the embedded Redis's data dir (and so its AOF of every function's env) from nobody: mode 0700, an existing dir chmodded", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'fnq-datadir-'));
      chmodSync(dir, 0o755);
      const server = await startRedisServer({ dir, appendonly: true });
      try {
        await eventually(async () => readdirSync(dir).length > 0, 5000, 20);
        expect((statSync(dir).mode & 0o777).toString(8)).to.equal('700');
      } finally {
        await server.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('retires the host after a run that left a thread, a worker_thread or a timer behind; plain runs stay warm', async function () {
      this.timeout(60_000);
      const p = newPool({ sandbox: 'bwrap' });
      try {
        // A daemon thread burning CPU after the result: the host is killed, not reused.
        const burner = spec('python', 'import threading\ndef handler(e):\n    def burn():\n        while True: pass\n    threading.Thread(target=burn, daemon=True).start()\n    return "left"');
        const r = await p.run(burner, null);
        expect(r.result).to.equal('left');
        await eventually(async () => !alive(r.host_pid!), 3000, 20);
        expect((await p.run(burner, null)).cold_start).to.equal(true);
        // An armed interval timer: its signal handler would run between invocations.
        const itimer = await p.run(spec('python', 'import signal\ndef handler(e):\n    signal.signal(signal.SIGALRM, lambda *a: None)\n    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)\n    return 1'), null);
        await eventually(async () => !alive(itimer.host_pid!), 3000, 20);
        // A thread that ended before the result costs nothing.
        const joined = spec('python', 'import threading\ndef handler(e):\n    t = threading.Thread(target=lambda: None)\n    t.start()\n    t.join()\n    return 2');
        const j1 = await p.run(joined, null);
        const j2 = await p.run(joined, null);
        expect(j2.host_pid).to.equal(j1.host_pid);
        // An async handler stays warm; one that leaves a task on the host's event loop does not.
        const asyncPy = spec('python', 'import asyncio\nasync def handler(e):\n    await asyncio.sleep(0.001)\n    if e == "task":\n        asyncio.ensure_future(asyncio.sleep(30))\n    return e');
        const a1 = await p.run(asyncPy, 'plain');
        const a2 = await p.run(asyncPy, 'task');
        expect(a2.host_pid).to.equal(a1.host_pid);
        await eventually(async () => !alive(a2.host_pid!), 3000, 20);

        const node = spec(
          'nodejs',
          [
            "const { Worker } = require('worker_threads');",
            "const fs = require('fs');",
            'async function handler(e) {',
            "  if (e === 'worker') new Worker('for (;;) {}', { eval: true, resourceLimits: { codeRangeSizeMb: 16 } }).unref();",
            "  if (e === 'interval') setInterval(() => { for (let i = 0; i < 1e6; i++); }, 5);",
            "  if (e === 'unref') setInterval(() => { for (let i = 0; i < 1e6; i++); }, 5).unref();",
            "  if (e === 'port') { const { port1, port2 } = new (require('worker_threads').MessageChannel)(); port1.on('message', (m) => port2.postMessage(m)); port2.on('message', (m) => port1.postMessage(m)); port1.postMessage(1); port1.unref(); port2.unref(); }",
            "  if (e === 'fs') await fs.promises.readFile('/etc/hostname').catch(() => null);",
            "  if (e === 'timeout') await new Promise((r) => setTimeout(r, 5));",
            '  return e;',
            '}',
          ].join('\n'),
        );
        // fs through libuv's thread pool and a timer that fired: the same warm host serves them all.
        const w1 = await p.run(node, 'fs');
        const w2 = await p.run(node, 'timeout');
        const w3 = await p.run(node, 'fs');
        expect([w2.host_pid, w3.host_pid]).to.deep.equal([w1.host_pid, w1.host_pid]);
        for (const e of ['worker', 'interval', 'unref', 'port']) {
          const left = await p.run(node, e);
          expect(left.result).to.equal(e);
          await eventually(async () => !alive(left.host_pid!), 3000, 20);
          expect((await p.run(node, 'fs')).cold_start, e).to.equal(true);
        }
      } finally {
        await closePool(p);
      }
    });

    for (const cgroups of [true, false]) {
      it(`retires an idle host whose tree starts threads or processes or burns CPU after the result, seen from the worker (the host cannot hide it), cgroups ${cgroups ? 'on' : 'off'}`, async function () {
        this.timeout(60_000);
        const p = newPool({ sandbox: 'bwrap', cgroups });
        try {
          const before = new Set(processesInOurCgroups());
          // Python: a profile hook starts a busy daemon thread once the host has sent the result (after its own thread count).
          const py = spec('python', PY_BUSY_THREAD_AFTER_RESULT);
          // Node: the result's socket write starts a busy worker thread.
          const node = spec(
            'nodejs',
            [
              "const net = require('net');",
              "const { Worker } = require('worker_threads');",
              'function handler(e) {',
              '  const write = net.Socket.prototype.write;',
              '  net.Socket.prototype.write = function (chunk, ...rest) {',
              "    if (String(chunk).includes('\"result\"')) { net.Socket.prototype.write = write; new Worker('for(;;){}', { eval: true, resourceLimits: { codeRangeSizeMb: 16 } }).unref(); }",
              '    return write.call(this, chunk, ...rest);',
              '  };',
              "  return 'hidden';",
              '}',
            ].join('\n'),
          );
          // Python: the same hook forks a process that sleeps (no CPU, one thread): the tree has one
          // process more than the host loaded with.
          const sleeper = spec(
            'python',
            [
              'import os, sys, time',
              'def hook(frame, event, arg):',
              "    if event == 'return' and frame.f_code.co_name == '_send':",
              '        sys.setprofile(None)',
              '        if os.fork() == 0:',
              '            time.sleep(30)',
              '            os._exit(0)',
              'def handler(e):',
              '    sys.setprofile(hook)',
              "    return 'hidden'",
            ].join('\n'),
          );
          // Python: a thread alive when the host loaded, ended before the result (the host's own
          // count starts before the module loads), leaves no room for a sleeping thread started
          // 10 ms after the result.
          const loadThread = spec(
            'python',
            [
              'import signal, sys, threading, time',
              't0 = threading.Thread(target=lambda: time.sleep(0.2)); t0.start()',
              'def later(sig, frm):',
              '    threading.Thread(target=lambda: time.sleep(30), daemon=True).start()',
              'def hook(frame, event, arg):',
              "    if event == 'return' and frame.f_code.co_name == '_send':",
              '        sys.setprofile(None)',
              '        signal.signal(signal.SIGALRM, later)',
              '        signal.setitimer(signal.ITIMER_REAL, 0.01)',
              'def handler(e):',
              '    t0.join()',
              '    sys.setprofile(hook)',
              "    return 'hidden'",
            ].join('\n'),
          );
          // Python: a process forked while loading and reaped by the handler, then a sleeping thread
          // started as the result goes out: the processes the host loaded with are one fewer.
          const loadProcess = spec(
            'python',
            [
              'import os, sys, threading, time',
              'c = os.fork()',
              'if c == 0:',
              '    time.sleep(0.2)',
              '    os._exit(0)',
              'def hook(frame, event, arg):',
              "    if event == 'return' and frame.f_code.co_name == '_send':",
              '        sys.setprofile(None)',
              '        threading.Thread(target=lambda: time.sleep(30), daemon=True).start()',
              'def handler(e):',
              '    os.waitpid(c, 0)',
              '    sys.setprofile(hook)',
              "    return 'hidden'",
            ].join('\n'),
          );
          // Python: a thread started while loading (the host's own count, falsified here as the
          // function's code can, lets it live past the result) forks a sleeping process after the
          // result and ends: the thread count stays, the process is one the host did not load with.
          const handover = spec(
            'python',
            [
              'import os, sys, threading, time',
              "sys.modules['__main__']._stray_threads = lambda baseline: 0",
              'go = threading.Event()',
              'def later():',
              '    go.wait()',
              '    time.sleep(0.05)',
              '    if os.fork() == 0:',
              '        time.sleep(30)',
              '        os._exit(0)',
              'threading.Thread(target=later, daemon=True).start()',
              'def handler(e):',
              '    go.set()',
              "    return 'hidden'",
            ].join('\n'),
          );
          const cases = [
            ['python process forked by a thread of its load', handover],
            ['python thread', py],
            ['node worker thread', node],
            ['python process', sleeper],
            ['python thread after a thread of its load ended', loadThread],
            ['python thread after a process of its load ended', loadProcess],
          ] as const;
          for (const [name, s] of cases) {
            const r = await p.run(s, null);
            expect(r.result).to.equal('hidden');
            const t0 = Date.now();
            await eventually(async () => !alive(r.host_pid!), 1500, 20);
            expect(Date.now() - t0, name).to.be.below(1500);
            // Its whole sandbox is gone (nothing left burning CPU), and the next run starts cold.
            await eventually(async () => processesInOurCgroups(before).length === 0, 1500, 20);
            expect((await p.run(s, null)).cold_start, name).to.equal(true);
          }
          // Well-behaved functions (one leaving garbage for the collector) keep their warm host across audits.
          const plainNode = spec('nodejs', 'function handler(e) {\n  const a = [];\n  for (let i = 0; i < 2e5; i++) a.push({ i, s: "x" + i });\n  return a.length;\n}');
          const plainPy = spec('python', 'def handler(e):\n    return len([str(i) for i in range(200000)])');
          for (const s of [plainNode, plainPy]) {
            const a = await p.run(s, null);
            await new Promise((r) => setTimeout(r, 1500));
            const b = await p.run(s, null);
            await new Promise((r) => setTimeout(r, 1000));
            const c = await p.run(s, null);
            expect([b.host_pid, c.host_pid], s.runtime).to.deep.equal([a.host_pid, a.host_pid]);
          }
        } finally {
          await closePool(p);
        }
      });
    }

    it("logs an audit's retirement without the log context of the job that released the host", async function () {
      this.timeout(30_000);
      const lines: Array<Record<string, unknown>> = [];
      const sink = new PassThrough();
      sink.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      });
      const p = newPool({ sandbox: 'bwrap', logger: createLogger('test', 'debug', [new winston.transports.Stream({ stream: sink })]) });
      try {
        // A busy thread started once the result went out: retired by the audit.
        const s = spec('python', PY_BUSY_THREAD_AFTER_RESULT);
        const r = await withLogContext({ job_id: 'job-of-the-run', algorithm: 'the-run' }, () => p.run(s, null));
        await eventually(async () => !alive(r.host_pid!), 3000, 20);
        const retired = await (async () => {
          for (let i = 0; i < 100 && !lines.some((l) => l.message === 'idle function process kept working after its result; retiring it'); i++) await new Promise((res) => setTimeout(res, 20));
          return lines.find((l) => l.message === 'idle function process kept working after its result; retiring it');
        })();
        expect(retired, JSON.stringify(lines)).to.include({ function_id: s.function_id, level: 'warn' });
        expect(retired).not.to.have.any.keys('job_id', 'algorithm');
      } finally {
        await closePool(p);
      }
    });

    it('caps the tasks of a host with pids.max (maxProcessesPerHost): a fork bomb stops there', async () => {
      const baseline = new Set(processesInOurCgroups());
      const p = newPool({ sandbox: 'bwrap', maxProcessesPerHost: 16 });
      try {
        const code = 'import os, time\ndef handler(e):\n    made = 0\n    for i in range(60):\n        try:\n            pid = os.fork()\n        except OSError:\n            continue\n        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n        made += 1\n    return made';
        const r = await p.run(spec('python', code), null);
        // 16 tasks: the outer bwrap, its init and the host take 3.
        expect(r.result).to.equal(13);
        await eventually(async () => processesInOurCgroups(baseline).length === 0, 5000, 20);
      } finally {
        await closePool(p);
      }
    });

    it('caps the total memory of a host and its children (memory_mb + /tmp) with an out-of-memory error', async () => {
      const baseline = new Set(processesInOurCgroups());
      const p = newPool({ sandbox: 'bwrap', tmpMb: 16 });
      try {
        // 10 children of 60 MB each (touched) under memory_mb 128: 600 MB, with a 144 MB cgroup.
        const code = [
          'import os, time',
          'def handler(e):',
          '    r, w = os.pipe()',
          '    for i in range(10):',
          '        if os.fork() == 0:',
          '            b = b"x" * (60 * 1024 * 1024)',
          '            os.write(w, b"k")',
          '            time.sleep(30)',
          '            os._exit(0)',
          '    os.close(w)',
          '    got = 0',
          '    deadline = time.time() + 3',
          '    while time.time() < deadline and got < 10:',
          '        time.sleep(0.05)',
          '        try:',
          '            os.set_blocking(r, False)',
          '            got += len(os.read(r, 64))',
          '        except BlockingIOError:',
          '            pass',
          '    return got',
        ].join('\n');
        const err = await failure(p.run(spec('python', code, { memory_mb: 128 }), null));
        expect(err.reason).to.equal('out_of_memory');
        expect(err.message).to.match(/^the function ran out of memory at its 128 MB limit \(the kernel killed \d+ of its processes at the 144 MB total/);
        await eventually(async () => processesInOurCgroups(baseline).length === 0, 5000, 20);
      } finally {
        await closePool(p);
      }
    });

    it('removes its cgroups when hosts end and on close, and sweeps those of dead workers at start', async () => {
      const cg = probeCgroups();
      expect(cg.ok).to.equal(true);
      if (!cg.ok) return;
      const before = new Set(hostCgroupDirs());
      const p = newPool({ sandbox: 'bwrap' });
      await p.run(spec('nodejs', 'function handler() { return 1 }'), null);
      const mine = hostCgroupDirs().filter((d) => !before.has(d));
      expect(mine).to.have.length(2);
      await closePool(p);
      for (const d of mine) expect(() => readdirSync(d)).to.throw();
      // A worker that crashed (pid 999999 > pid_max) left its folders: the next pool start removes them.
      const dead = [path.join(path.dirname(cg.roots.pids), 'fnqueue-999999'), path.join(path.dirname(cg.roots.memory), 'fnqueue-999999')];
      for (const d of dead) mkdirSync(path.join(d, 'h1'), { recursive: true });
      const q = newPool({ sandbox: 'bwrap' });
      await q.start();
      await closePool(q);
      for (const d of dead) expect(() => readdirSync(d)).to.throw();
    });

    it('keeps at most maxLogLines lines of 1 MB of newlines, counting a per-line overhead, quickly', async () => {
      const node = spec('nodejs', 'function handler() { process.stdout.write("\\n".repeat(1024 * 1024)); return "done" }', { max_output_bytes: 2 * 1024 * 1024 });
      const py = spec('python', 'import sys\ndef handler(e):\n    sys.stdout.write("\\n" * (1024 * 1024))\n    return "done"', { max_output_bytes: 2 * 1024 * 1024 });
      for (const s of [node, py]) {
        const t0 = Date.now();
        const r = await pool.run(s, null);
        expect(Date.now() - t0).to.be.below(3000);
        expect(r.result).to.equal('done');
        expect(r.truncated).to.equal(true);
        expect(r.logs.length).to.equal(10_001);
        expect(r.logs[10_000]!.line).to.equal('[output truncated at 10000 lines]');
      }
      // Within the byte cap first: 1 MB of newlines is 32768 lines' worth of overhead.
      const small = await pool.run({ ...node, function_id: `${node.function_id}-b`, max_output_bytes: 64 * 1024 }, null);
      expect(small.logs.length).to.equal(2048 + 1);
      expect(small.logs.at(-1)!.line).to.equal(`[output truncated at ${64 * 1024} bytes]`);
    });

    it('fails a run and retires its host when the function forges protocol messages on fd 3', async () => {
      const forge = (msg: string) => `const fs = require("fs");\nfunction handler(e) {\n  if (e === "forge") fs.writeSync(3, JSON.stringify(${msg}) + "\\n");\n  return new Promise((r) => setTimeout(() => r("real"), 100))\n}`;
      for (const msg of [
        '{ type: "load_error", error: { kind: "load_error", name: "Error", message: "forged", stack: [] } }',
        '{ type: "ready", load_ms: 1, module: "commonjs" }',
        '{ type: "result", id: 1, ok: true, result: "forged", handler_ms: 0, cpu_ms: 0, peak_rss_bytes: 0, marks: 0 }',
      ]) {
        const s = spec('nodejs', forge(msg));
        const warm = await pool.run(s, 'ok');
        const err = await failure(pool.run(s, 'forge'));
        expect(err.reason).to.equal('crashed');
        expect(err.message).to.match(/^the function's process broke the host protocol \(.*\); the function must not write to fd 3$/);
        const next = await pool.run(s, 'ok');
        expect(next.cold_start).to.equal(true);
        expect(next.host_pid).not.to.equal(warm.host_pid);
      }
      const py = spec('python', 'import os, time\ndef handler(e):\n    os.write(3, b\'{"type":"ready","load_ms":1,"module":"python"}\\n\')\n    time.sleep(0.1)\n    return "real"');
      expect((await failure(pool.run(py, null))).message).to.contain('broke the host protocol');
    });

    it('takes only own properties or real top-level bindings as Node handlers', async () => {
      for (const handler of ['constructor', 'toString', 'hasOwnProperty', 'fetch']) {
        const err = await failure(pool.run(spec('nodejs', 'const x = 1', { handler }), 'echo'));
        expect(err.reason).to.equal('load_error');
        expect(err.message).to.contain(`no function named '${handler}'`);
      }
      const exp = await failure(pool.run(spec('nodejs', 'module.exports = { other() {} }', { handler: 'valueOf' }), null));
      expect(exp.message).to.contain("no function named 'valueOf'");
      const esm = await failure(pool.run(spec('nodejs', 'export default { a: 1 }', { handler: 'toString' }), null));
      expect(esm.message).to.contain("no function named 'toString'");
      // A real binding of that name is fine.
      const own = await pool.run(spec('nodejs', 'function toString(e) { return "mine " + e }', { handler: 'toString' }), 1);
      expect(own.result).to.equal('mine 1');
    });

    it("falls back to the exception's type name when its __str__ and __repr__ both raise (Python)", async () => {
      const code = 'class Nasty(Exception):\n    def __str__(self):\n        raise RuntimeError("no str")\n    def __repr__(self):\n        raise RuntimeError("no repr")\ndef handler(e):\n    if e == "ok":\n        return "fine"\n    raise Nasty()';
      const s = spec('python', code);
      const err = await failure(pool.run(s, 'boom'));
      expect(err.reason).to.equal('handler_error');
      expect(err.message.split('\n')[0]).to.equal('Nasty: Nasty');
      expect(err.details).to.include({ error_type: 'Nasty' });
      const ok = await pool.run(s, 'ok');
      expect(ok.result).to.equal('fine');
      expect(ok.host_pid).to.equal(err.report.host_pid);
      const load = await failure(pool.run(spec('python', code.replace('def handler', 'raise Nasty()\ndef handler')), null));
      expect(load.reason).to.equal('load_error');
      expect(load.message).to.contain('Nasty');
    });

    it('exports the smallest memory_mb each runtime starts in, and says a load ran out of memory', async () => {
      expect(MIN_MEMORY_MB).to.deep.equal({ nodejs: 96, python: 32 });
      for (const runtime of ['nodejs', 'python'] as const) {
        const r = await pool.run(spec(runtime, runtime === 'nodejs' ? 'function handler(e) { return e }' : 'def handler(e): return e', { memory_mb: MIN_MEMORY_MB[runtime] }), 'small');
        expect(r.result).to.equal('small');
      }
      const bad = await pool.run(spec('nodejs', 'function handler() {}', { memory_mb: 64 }), null).catch((e: { code: string }) => e);
      expect(bad).to.include({ code: 'VALIDATION_ERROR' });
      const node = await failure(pool.run(spec('nodejs', 'const keep = [];\nfor (;;) keep.push(new Array(100000).fill(Math.random()));\nfunction handler() {}', { memory_mb: 128 }), null));
      expect(node.reason).to.equal('out_of_memory');
      expect(node.message).to.match(/^the function ran out of memory at its 128 MB limit while loading/);
      const py = await failure(pool.run(spec('python', 'keep = bytearray(2 * 1024 ** 3)\ndef handler(e):\n    return 1', { memory_mb: 64 }), null));
      expect(py.reason).to.equal('out_of_memory');
      expect(py.message).to.match(/^the function ran out of memory at its 64 MB limit while loading/);
    });
  });

  describe('checkSyntax', () => {
    it('returns null for valid code and the compiler message for a syntax error, without running the code', async () => {
      expect(await checkSyntax('nodejs', 'function handler(event) { return event }')).to.equal(null);
      expect(await checkSyntax('nodejs', 'return 1')).to.equal(null);
      expect(await checkSyntax('nodejs', 'import x from "y";\nexport function handler() { return x }')).to.equal(null);
      expect(await checkSyntax('nodejs', 'process.exit(3); function handler(e) { return e }')).to.equal(null);
      expect(await checkSyntax('nodejs', 'function handler(event) {\n  return event\n}}')).to.equal("SyntaxError: Unexpected token '}' (line 3)");
      expect(await checkSyntax('nodejs', 'import x from "y";\nexport const a = ;')).to.equal("SyntaxError: Unexpected token ';' (line 2)");
      expect(await checkSyntax('python', 'def handler(event): return event')).to.equal(null);
      expect(await checkSyntax('python', 'import sys\nsys.exit(3)\ndef handler(e):\n    return e')).to.equal(null);
      expect(await checkSyntax('python', 'def handler(event)\n    return event')).to.match(/^SyntaxError: expected ':' \(line 1, column \d+\)$/);
      expect(await checkSyntax('python', 'def handler(e):\nreturn e')).to.match(/^IndentationError: expected an indented block .*\(line 2, column \d+\)$/);
    });
  });
});
