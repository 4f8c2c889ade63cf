import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { FunctionPool } from '../../worker/functions/function-pool.js';
import { validateDependencies } from '../../shared/functions/dependency-specs.js';
import { capLog, installDependencies, INSTALL_LOG_MAX_BYTES, MARKER_FILE } from '../../worker/functions/dependencies.js';
import { track, untrack } from '../helpers/resources.js';
import { FunctionBuilder } from '../../worker/functions/builds.js';
import type { FunctionVersion } from '../../shared/store/function-store.js';
import { buildNpmPackage, buildWheel } from '../helpers/packages.js';
import { processesWith } from '../helpers/processes.js';

/**
 * The dependency installer (docs/functions.md, "Dependencies") with real npm and pip, offline: local packages built
 * in a temp folder (an npm package folder, a hand-made Python wheel), then used by functions running
 * under bwrap as nobody.
 */

describe('dependency installer (real npm and pip, offline)', function () {
  this.timeout(120_000);
  let root: string;
  let local: string;
  let fnDir: string;
  let wheel: string;
  let npmPkg: string;

  before(() => {
    root = mkdtempSync(path.join(tmpdir(), 'fnq-deps-'));
    chmodSync(root, 0o755);
    local = path.join(root, 'local');
    fnDir = path.join(root, 'functions');
    mkdirSync(local);
    wheel = buildWheel(local, 'fnq_greet');
    npmPkg = buildNpmPackage(local, 'fnq-greet');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe('validation', () => {
    it('accepts registry names and versions, refuses options, URLs, git, aliases and paths outside the root', () => {
      expect(validateDependencies('nodejs', ['lodash', '@types/node@20', 'left-pad@^1.3.0', ' is-odd@latest ', '', '# comment'])).to.deep.equal(['lodash', '@types/node@20', 'left-pad@^1.3.0', 'is-odd@latest']);
      expect(validateDependencies('python', ['requests>=2.31.0', 'numpy==1.26.*', 'attrs[tests] >=22, <24', 'tomli; python_version < "3.11"'])).to.have.length(4);
      const refused: Array<['nodejs' | 'python', string]> = [
        ['nodejs', '--registry=http://evil'],
        ['nodejs', '-g'],
        ['nodejs', 'git+https://github.com/a/b.git'],
        ['nodejs', 'https://evil/x.tgz'],
        ['nodejs', 'x@npm:evil'],
        ['nodejs', 'user/repo'],
        ['nodejs', 'file:/etc'],
        ['nodejs', 'file:../x'],
        ['nodejs', 'a; rm -rf /'],
        ['python', '-e .'],
        ['python', '--index-url=http://evil'],
        ['python', '-r requirements.txt'],
        ['python', 'pkg @ https://evil/x.whl'],
        ['python', '/etc/passwd'],
        ['python', 'x; $(reboot)'],
      ];
      for (const [runtime, spec] of refused) {
        expect(() => validateDependencies(runtime, [spec], local), `${runtime} ${spec}`).to.throw(/dependencies\.0/);
      }
      // Local paths only under the root, and only when a root is configured.
      expect(validateDependencies('nodejs', [`file:${npmPkg}`], local)).to.deep.equal([`file:${npmPkg}`]);
      expect(() => validateDependencies('nodejs', [`file:${npmPkg}`])).to.throw(/FUNCTION_LOCAL_PACKAGES_DIR/);
      expect(() => validateDependencies('python', [`${local}/../x.whl`], local)).to.throw(/under FUNCTION_LOCAL_PACKAGES_DIR/);
      expect(() => validateDependencies('python', [`${local}/pkgdir`], local)).to.throw(/not a .whl/);
    });

    it('caps a log to its last 64 KB behind a marker', () => {
      const log = capLog('a'.repeat(200_000) + 'THE END');
      expect(Buffer.byteLength(log)).to.be.at.most(INSTALL_LOG_MAX_BYTES);
      expect(log).to.match(/^\[install log truncated: first \d+ bytes dropped\]/);
      expect(log.endsWith('THE END')).to.equal(true);
    });
  });

  describe('npm', () => {
    it('installs a local package without running its scripts, world-readable, once per list', async () => {
      rmSync('/tmp/fnq-postinstall-ran', { force: true });
      const dir = path.join(fnDir, 'fn-node', 'v1');
      const first = await installDependencies({ runtime: 'nodejs', dependencies: [`file:${npmPkg}`], dir, localRoot: local, timeoutMs: 60_000 });
      expect(first.ok, first.log).to.equal(true);
      expect(first.cached).to.equal(false);
      expect(first.deps_dir).to.equal(dir);
      const installed = path.join(dir, 'node_modules', 'fnq-greet');
      expect(statSync(installed).isDirectory(), 'copied, not a symlink (--install-links)').to.equal(true);
      expect(readFileSync(path.join(installed, 'index.js'), 'utf8')).to.contain('node hello');
      expect(existsSync('/tmp/fnq-postinstall-ran'), 'the postinstall script must not run (--ignore-scripts)').to.equal(false);
      for (const p of [fnDir, path.dirname(dir), dir, path.join(dir, 'node_modules'), installed]) expect(statSync(p).mode & 0o755, p).to.equal(0o755);
      expect(statSync(path.join(installed, 'index.js')).mode & 0o444).to.equal(0o444);
      const marker = JSON.parse(readFileSync(path.join(dir, MARKER_FILE), 'utf8'));
      expect(marker).to.include({ runtime: 'nodejs' });

      const second = await installDependencies({ runtime: 'nodejs', dependencies: [`file:${npmPkg}`], dir, localRoot: local });
      expect(second).to.include({ ok: true, cached: true });
      expect(second.duration_ms).to.be.below(first.duration_ms);
      // Concurrent callers of one folder share one install.
      const dir2 = path.join(fnDir, 'fn-node', 'v2');
      const [a, b] = await Promise.all([0, 1].map(() => installDependencies({ runtime: 'nodejs', dependencies: [`file:${npmPkg}`], dir: dir2, localRoot: local })));
      expect(a).to.equal(b);
      expect(readdirSync(path.join(fnDir, 'fn-node')).sort(), 'no temp folders left').to.deep.equal(['v1', 'v2']);
    });

    it('fails with npm\'s log and leaves no folder behind', async () => {
      const broken = path.join(local, 'broken-pkg');
      mkdirSync(broken);
      writeFileSync(path.join(broken, 'package.json'), '{ this is not json');
      const dir = path.join(fnDir, 'fn-broken', 'v1');
      const r = await installDependencies({ runtime: 'nodejs', dependencies: [`file:${broken}`], dir, localRoot: local, timeoutMs: 60_000 });
      expect(r.ok).to.equal(false);
      expect(r.exit_code).to.be.a('number').and.not.equal(0);
      expect(r.log).to.match(/EJSONPARSE|JSON/);
      expect(r.log).to.contain('installer exited with code');
      expect(existsSync(dir)).to.equal(false);
      expect(readdirSync(path.join(fnDir, 'fn-broken'))).to.deep.equal([]);
    });

    it('refuses a bad spec with the reason as the log, running nothing', async () => {
      const r = await installDependencies({ runtime: 'nodejs', dependencies: ['--registry=http://127.0.0.1:1'], dir: path.join(fnDir, 'fn-refused', 'v1') });
      expect(r).to.include({ ok: false, exit_code: null });
      expect(r.log).to.match(/^refused: dependencies\.0 looks like an option/);
    });

    it('kills the installer at its timeout (a registry that never answers)', async () => {
      const sockets = new Set<Socket>();
      const server: Server = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      track('hanging registry', server, async () => void server.close());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const cache = mkdtempSync(path.join(tmpdir(), 'fnq-npm-cache-'));
      // npm's settings reach the installer through its env option (the worker's environment by default).
      const env = { ...process.env, npm_config_registry: `http://127.0.0.1:${port}/`, npm_config_cache: cache };
      try {
        const dir = path.join(fnDir, 'fn-slow', 'v1');
        const started = Date.now();
        const r = await installDependencies({ runtime: 'nodejs', dependencies: ['fnq-never-published-package'], dir, timeoutMs: 3000, env });
        expect(Date.now() - started).to.be.below(10_000);
        expect(r).to.include({ ok: false, timed_out: true });
        expect(r.log).to.contain('install killed after 3000 ms');
        expect(existsSync(dir)).to.equal(false);
        await new Promise((res) => setTimeout(res, 300));
        expect(processesWith('fnq-never-published-package'), 'npm is gone').to.deep.equal([]);
      } finally {
        rmSync(cache, { recursive: true, force: true });
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => server.close(() => r()));
        untrack(server);
      }
    });
  });

  describe('pip', () => {
    it('installs a local wheel into <dir>/python, once', async () => {
      const dir = path.join(fnDir, 'fn-py', 'v1');
      const first = await installDependencies({ runtime: 'python', dependencies: [wheel], dir, localRoot: local, timeoutMs: 60_000 });
      expect(first.ok, first.log).to.equal(true);
      expect(first.deps_dir).to.equal(path.join(dir, 'python'));
      expect(first.log).to.match(/Successfully installed fnq[_-]greet/i);
      expect(readFileSync(path.join(dir, 'python', 'fnq_greet', '__init__.py'), 'utf8')).to.contain('py hello');
      expect(statSync(path.join(dir, 'python', 'fnq_greet')).mode & 0o755).to.equal(0o755);
      const again = await installDependencies({ runtime: 'python', dependencies: [wheel], dir, localRoot: local });
      expect(again).to.include({ ok: true, cached: true });
      // A different list for the same folder re-installs (the marker's hash differs).
      const wheel2 = buildWheel(local, 'fnq_other');
      const changed = await installDependencies({ runtime: 'python', dependencies: [wheel, wheel2], dir, localRoot: local, timeoutMs: 60_000 });
      expect(changed).to.include({ ok: true, cached: false });
      expect(existsSync(path.join(dir, 'python', 'fnq_other'))).to.equal(true);
    });

    it('fails with pip\'s log for a broken wheel', async () => {
      const bad = path.join(local, 'fnq_bad-1.0.0-py3-none-any.whl');
      writeFileSync(bad, 'not a zip');
      const r = await installDependencies({ runtime: 'python', dependencies: [bad], dir: path.join(fnDir, 'fn-pybad', 'v1'), localRoot: local, timeoutMs: 60_000 });
      expect(r.ok).to.equal(false);
      expect(r.log).to.match(/ERROR|zip/i);
      expect(existsSync(path.join(fnDir, 'fn-pybad', 'v1'))).to.equal(false);
    });
  });

  describe('build flow (FunctionBuilder)', () => {
    it('builds a version (status and log through the store), and installs lazily on another host', async () => {
      const calls: unknown[][] = [];
      const version = { function_id: 'abc123', version: 2, runtime: 'python', dependencies: [wheel] } as unknown as FunctionVersion;
      const store = {
        getVersion: async () => version,
        setStatus: async (...a: unknown[]) => {
          calls.push(['status', ...a]);
          return true;
        },
        setDepsDir: async (...a: unknown[]) => void calls.push(['deps_dir', ...a]),
      };
      const builder = new FunctionBuilder({ store, functionsDir: path.join(root, 'host-a'), timeoutMs: 60_000, localRoot: local });
      const r = await builder.build('abc123', 2);
      expect(r?.ok, r?.log).to.equal(true);
      const depsDir = path.join(root, 'host-a', 'abc123', 'v2', 'python');
      expect(calls[0]).to.deep.equal(['deps_dir', 'abc123', 2, depsDir]);
      expect(calls[1]!.slice(0, 4)).to.deep.equal(['status', 'abc123', 2, 'active']);
      expect(String(calls[1]![4])).to.match(/Successfully installed/);
      // Another host (another FUNCTIONS_DIR): the first run installs there, later runs reuse it.
      const hostB = new FunctionBuilder({ store, functionsDir: path.join(root, 'host-b'), timeoutMs: 60_000, localRoot: local });
      expect(await hostB.ensureInstalled(version)).to.equal(path.join(root, 'host-b', 'abc123', 'v2', 'python'));
      expect(existsSync(path.join(root, 'host-b', 'abc123', 'v2', 'python', 'fnq_greet'))).to.equal(true);
      expect(await hostB.ensureInstalled({ ...version, dependencies: [] })).to.equal(undefined);
      // A failing install fails the build, and a run on a host where it fails is refused with the log.
      const broken = { ...version, version: 3, dependencies: [path.join(local, 'missing-1.0-py3-none-any.whl')] } as FunctionVersion;
      const failing = new FunctionBuilder({ store: { ...store, getVersion: async () => broken }, functionsDir: path.join(root, 'host-a'), timeoutMs: 60_000, localRoot: local });
      const f = await failing.build('abc123', 3);
      expect(f?.ok).to.equal(false);
      expect(calls.at(-1)!.slice(0, 4)).to.deep.equal(['status', 'abc123', 3, 'failed']);
      const err = await failing.ensureInstalled(broken).then(() => null, (e: unknown) => e as { code: string; details: { build_log: string } });
      expect(err?.code).to.equal('CONFLICT');
      expect(err?.details.build_log).to.contain('local package not found');
    });
  });

  describe('used by FunctionPool under bwrap', () => {
    let pool: FunctionPool;
    before(async () => {
      pool = new FunctionPool({ sandbox: 'bwrap' });
      track('function pool', pool, () => pool.close());
      expect((await pool.start()).isolated).to.equal(true);
    });
    after(async () => {
      await pool.close();
      untrack(pool);
    });

    it('a nodejs function requires, and a python function imports, what was installed', async () => {
      const nodeDir = path.join(fnDir, 'fn-use-node', 'v1');
      const pyDir = path.join(fnDir, 'fn-use-py', 'v1');
      const [n, p] = await Promise.all([
        installDependencies({ runtime: 'nodejs', dependencies: [`file:${npmPkg}`], dir: nodeDir, localRoot: local, timeoutMs: 60_000 }),
        installDependencies({ runtime: 'python', dependencies: [wheel], dir: pyDir, localRoot: local, timeoutMs: 60_000 }),
      ]);
      expect(n.ok, n.log).to.equal(true);
      expect(p.ok, p.log).to.equal(true);
      const base = { version: 1, env: {}, timeout_ms: 10_000, memory_mb: 256, max_output_bytes: 65536 };
      const node = await pool.run({ ...base, function_id: 'fn-use-node', runtime: 'nodejs', code: 'const greet = require("fnq-greet");\nfunction handler(e) { return greet(e.who) }', deps_dir: n.deps_dir }, { who: 'a' });
      expect(node.result).to.equal('node hello a');
      const py = await pool.run({ ...base, function_id: 'fn-use-py', runtime: 'python', code: 'import fnq_greet\ndef handler(e):\n    return fnq_greet.greet(e["who"])', deps_dir: p.deps_dir }, { who: 'b' });
      expect(py.result).to.equal('py hello b');
    });
  });
});
