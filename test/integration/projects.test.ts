import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { eventually, expectError, http } from '../helpers/http.js';
import { buildNpmPackage, buildWheel } from '../helpers/packages.js';

/**
 * Projects (docs/functions.md; the project FaaS API reference) over real HTTP against an API and a worker in-process on a
 * real Redis: listing and reading, start/stop refusing then allowing invocations, project env and
 * dependencies with validation, the system env (redacted) and dependencies (measured), the multipart
 * deploy of a Python file with a requirements wheel and of a Node file, then invoking them, and the
 * build flow (building → active | failed with build_log).
 */
describe('projects, env, dependencies and multipart deploy (real Redis, HTTP, worker, npm and pip)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let stack: Stack;
  let root: string;
  let local: string;
  let wheel: string;
  let npmPkg: string;

  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'fnq-projects-'));
    chmodSync(root, 0o755);
    local = path.join(root, 'local');
    mkdirSync(local);
    wheel = buildWheel(local, 'fnq_projgreet');
    npmPkg = buildNpmPackage(local, 'fnq-projgreet');
    redis = await startRedis();
    stack = await startStack(redis.url, {
      FUNCTIONS_DIR: path.join(root, 'functions'),
      FUNCTION_LOCAL_PACKAGES_DIR: local,
      FUNCTION_SYSTEM_ENV: JSON.stringify({ DB_HOST: 'db.internal', DB_PASSWORD: 'hunter2', SERVICE_URL: 'https://user:pw@svc.example', STRIPE_KEY: 'sk_live_system', AUTH: 'system-auth' }),
    });
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  /** Sends a multipart deploy with Node's own FormData. */
  async function deploy(project: string, parts: Array<[string, string] | [string, string, string]>): Promise<{ status: number; body: any }> {
    const form = new FormData();
    for (const p of parts) {
      if (p.length === 3) form.append(p[0], new Blob([p[2]]), p[1]);
      else form.append(p[0], p[1]);
    }
    const res = await fetch(`${stack.url}/projects/${project}/functions`, { method: 'POST', body: form });
    return { status: res.status, body: await res.json() };
  }

  /** Waits until a function leaves `building`. */
  async function built(functionId: string): Promise<any> {
    return eventually(async () => {
      const r = await http('GET', `${stack.url}/functions/${functionId}`);
      return r.body.status !== 'building' && r.body;
    }, 60_000, 200);
  }

  describe('projects', () => {
    it('lists default, 404s an unknown project, 400s a bad name', async () => {
      const list = await http('GET', `${stack.url}/projects`);
      expect(list.status).to.equal(200);
      expect(list.body.projects.map((p: any) => p.name)).to.include('default');
      expectError(await http('GET', `${stack.url}/projects/nope`), 404, 'PROJECT_NOT_FOUND');
      expectError(await http('POST', `${stack.url}/projects/nope/stop`), 404, 'PROJECT_NOT_FOUND');
      expectError(await http('GET', `${stack.url}/projects/Bad%20Name`), 400, 'VALIDATION_ERROR');
      expectError(await http('DELETE', `${stack.url}/projects/default`), 405, 'METHOD_NOT_ALLOWED');
    });

    it('takes one rule for project names: POST /functions refuses a name the /projects/{name} routes would refuse', async () => {
      const body = { runtime: 'python', code: 'def handler(event): return event', execution_type: 'sync' };
      for (const project of ['My.Project', 'Shop', 'a.b', '-shop', 'x'.repeat(64)]) {
        expectError(await http('GET', `${stack.url}/projects/${encodeURIComponent(project)}`), 400, 'VALIDATION_ERROR');
        const res = await http('POST', `${stack.url}/functions`, { ...body, name: `rule-${process.pid}`, project });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field, project).to.equal('project');
        expect(res.body.message, project).to.contain('lowercase');
      }
      // A name both accept: the function is created and its project can be read and stopped.
      const ok = await http('POST', `${stack.url}/functions`, { ...body, name: `rule-ok-${process.pid}`, project: 'rule_ok-1' });
      expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
      expect((await http('GET', `${stack.url}/projects/rule_ok-1`)).status).to.equal(200);
      expect((await http('POST', `${stack.url}/projects/rule_ok-1/stop`)).status).to.equal(200);
      expect((await http('POST', `${stack.url}/projects/rule_ok-1/start`)).status).to.equal(200);
    });

    it('a stopped project refuses invocations with 409 naming it; start brings them back', async () => {
      const created = await http('POST', `${stack.url}/functions`, { name: 'shop-echo', runtime: 'python', code: 'def handler(event): return event', execution_type: 'sync', project: 'shop' });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const id = created.body.function_id;
      const ok = await http('POST', `${stack.url}/functions/${id}/invoke`, { a: 1 });
      expect(ok.status, JSON.stringify(ok.body)).to.equal(200);

      const stopped = await http('POST', `${stack.url}/projects/shop/stop`);
      expect(stopped.status).to.equal(200);
      expect(stopped.body).to.deep.include({ status: 'success' });
      expect(stopped.body.project).to.include({ name: 'shop', status: 'stopped' });
      const refused = await http('POST', `${stack.url}/functions/${id}/invoke`, { a: 2 });
      expectError(refused, 409, 'CONFLICT');
      expect(refused.body.message).to.contain("project 'shop' is stopped");
      expect(refused.body.details).to.include({ project: 'shop', reason: 'project_stopped' });

      const project = await http('GET', `${stack.url}/projects/shop`);
      expect(project.body).to.include({ name: 'shop', status: 'stopped', function_count: 1 });
      expect(project.body.functions[0]).to.include({ function_id: id, name: 'shop-echo', status: 'active' });
      const listed = (await http('GET', `${stack.url}/projects`)).body.projects.find((p: any) => p.name === 'shop');
      expect(listed).to.include({ status: 'stopped', function_count: 1 });
      const status = await http('GET', `${stack.url}/status`);
      expect(status.body.projects.stopped).to.equal(1);
      expect(status.body.total_functions).to.be.at.least(1);
      expect(status.body.active_projects).to.equal(status.body.projects.total - 1);
      expect(status.body.memory_usage).to.match(/^\d+MB$/);
      expect(status.body.uptime).to.match(/^\d+(s|m)|h|d/);

      expect((await http('POST', `${stack.url}/projects/shop/start`)).body.project).to.include({ status: 'running' });
      const again = await http('POST', `${stack.url}/functions/${id}/invoke`, { a: 3 });
      expect(again.status, JSON.stringify(again.body)).to.equal(200);
    });
  });

  describe('env', () => {
    it('replaces and merges a project env, validates names and sizes, shows names only (values write-only), and functions read it', async () => {
      const secrets = { STRIPE_KEY: 'sk_live_p1', SIGNING_KEY: 'sign-p2', ENCRYPTION_KEY: 'enc-p3', OPENAI_KEY: 'sk-p4', AWS_ACCESS_KEY_ID: 'AKIAP5', GITHUB_PAT: 'ghp_p6', AUTH: 'auth-p7', SESSION_ID: 'sess-p8' };
      const hidden = (names: string[]) => Object.fromEntries(names.map((n) => [n, '[redacted]']));
      const put = await http('PUT', `${stack.url}/projects/envp/env`, { env: { ENVIRONMENT: 'dev', API_TOKEN: 'tok-123', ...secrets } });
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      expect(put.body.env).to.deep.equal(hidden(['ENVIRONMENT', 'API_TOKEN', ...Object.keys(secrets)]));
      const merged = await http('PUT', `${stack.url}/projects/envp/env`, { env: { REGION: 'eu', ENVIRONMENT: null }, merge: true });
      const names = ['API_TOKEN', ...Object.keys(secrets), 'REGION'];
      expect(merged.body.env).to.deep.equal(hidden(names));
      const read = await http('GET', `${stack.url}/projects/envp/env`);
      expect(read.body).to.deep.equal({ project: 'envp', env: hidden(names) });
      const project = await http('GET', `${stack.url}/projects/envp`);
      expect(project.body.env).to.deep.equal(hidden(names));
      for (const res of [put, merged, read, project]) for (const value of ['dev', 'tok-123', 'eu', ...Object.values(secrets)]) expect(res.text).not.to.contain(`"${value}"`);
      // Sending back the env a read showed is refused (it would store the mask), merged or not.
      for (const merge of [false, true]) {
        const echoed = await http('PUT', `${stack.url}/projects/envp/env`, { env: read.body.env, merge });
        expectError(echoed, 400, 'VALIDATION_ERROR');
        expect(echoed.body.details.field).to.equal('env.API_TOKEN');
      }

      const badName = await http('PUT', `${stack.url}/projects/envp/env`, { env: { '1BAD': 'x' } });
      expectError(badName, 400, 'VALIDATION_ERROR');
      expect(badName.body.details.field).to.match(/^env/);
      // A refused env entry is named, its value never echoed (env values are write-only).
      const badKey = await http('PUT', `${stack.url}/projects/envp/env`, { env: { 'BAD KEY': 'S3CR3T-badkey' } });
      expectError(badKey, 400, 'VALIDATION_ERROR');
      expect(badKey.text).not.to.contain('S3CR3T');
      const badValue = await http('PUT', `${stack.url}/projects/envp/env`, { env: { GOOD: 'S3CR3T-nul\u0000' } });
      expectError(badValue, 400, 'VALIDATION_ERROR');
      expect(badValue.text).not.to.contain('S3CR3T');
      expectError(await http('PUT', `${stack.url}/projects/envp/env`, { env: { BIG: 'x'.repeat(4097) } }), 400, 'VALIDATION_ERROR');
      expectError(await http('PUT', `${stack.url}/projects/envp/env`, { env: { N: 5 } }), 400, 'VALIDATION_ERROR');
      const extra = await http('PUT', `${stack.url}/projects/envp/env`, { env: {}, extra: 1 });
      expectError(extra, 400, 'VALIDATION_ERROR');
      expect(extra.body.details.field).to.equal('extra');
      expect(extra.body.message).to.equal('extra is not a known field');
      expectError(await http('PUT', `${stack.url}/projects/envp/env`, [1]), 400, 'VALIDATION_ERROR');

      // A function of the project sees system → project → own env, and never the service's.
      const fn = await http('POST', `${stack.url}/functions`, {
        name: 'env-reader',
        runtime: 'nodejs',
        project: 'envp',
        execution_type: 'sync',
        env: { OWN: 'yes' },
        code: 'function handler() { return { token: process.env.API_TOKEN, region: process.env.REGION, db: process.env.DB_HOST, own: process.env.OWN, redis: process.env.REDIS_URL ?? null } }',
      });
      expect(fn.status, JSON.stringify(fn.body)).to.equal(201);
      const run = await http('POST', `${stack.url}/functions/${fn.body.function_id}/invoke`, {});
      expect(run.status, JSON.stringify(run.body)).to.equal(200);
      expect(run.body.result).to.deep.equal({ token: 'tok-123', region: 'eu', db: 'db.internal', own: 'yes', redis: null });
    });

    it('GET /env/system shows the names of FUNCTION_SYSTEM_ENV, never a value, never the service env', async () => {
      const res = await http('GET', `${stack.url}/env/system`);
      expect(res.status).to.equal(200);
      expect(res.body.env).to.deep.equal({ DB_HOST: '[redacted]', DB_PASSWORD: '[redacted]', SERVICE_URL: '[redacted]', STRIPE_KEY: '[redacted]', AUTH: '[redacted]' });
      for (const value of ['db.internal', 'hunter2', 'svc.example', 'sk_live_system', 'system-auth']) expect(res.text).not.to.contain(value);
      expect(JSON.stringify(res.body)).not.to.contain('REDIS_URL');
    });
  });

  describe('dependencies', () => {
    it('stores validated project dependency lists', async () => {
      const put = await http('PUT', `${stack.url}/projects/deps/dependencies`, { python: ['requests>=2.31.0'], nodejs: ['lodash@^4.17.21', '# comment'] });
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      expect(put.body).to.deep.equal({ project: 'deps', dependencies: { python: ['requests>=2.31.0'], nodejs: ['lodash@^4.17.21'] } });
      expect((await http('GET', `${stack.url}/projects/deps/dependencies`)).body).to.deep.equal(put.body);
      const bad = await http('PUT', `${stack.url}/projects/deps/dependencies`, { python: ['--index-url=http://evil'] });
      expectError(bad, 400, 'VALIDATION_ERROR');
      expect(bad.body.details.field).to.equal('python.0');
      expectError(await http('PUT', `${stack.url}/projects/deps/dependencies`, { ruby: [] }), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/projects/nodeps/dependencies`), 404, 'PROJECT_NOT_FOUND');
    });

    it('GET /dependencies/system reports the real runtimes and pip list', async () => {
      const res = await http('GET', `${stack.url}/dependencies/system`);
      expect(res.status).to.equal(200);
      expect(res.body.nodejs.version).to.equal(process.version);
      expect(res.body.nodejs.npm_version).to.equal(execFileSync('npm', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      expect(res.body.nodejs.builtin_modules).to.include.members(['fs', 'http', 'crypto']);
      const pyVersion = execFileSync('python3', ['-c', 'import sys; print(sys.version.split()[0])']).toString().trim();
      expect(res.body.python.version).to.equal(pyVersion);
      const pip = /^pip (\S+)/.exec(execFileSync('python3', ['-m', 'pip', '--version']).toString())![1];
      expect(res.body.python.pip_version).to.equal(pip);
      expect(res.body.python.packages).to.deep.include({ name: 'pip', version: pip });
    });
  });

  describe('multipart deploy and the build flow', () => {
    it('deploys a Python file with a requirements wheel: building → active, then invokes it', async () => {
      const res = await deploy('mp', [
        ['file', 'greet.py', 'import fnq_projgreet\nimport os\ndef handler(event):\n    return {"greeting": fnq_projgreet.greet(event["who"]), "mode": os.environ.get("MODE")}\n'],
        ['requirements', 'requirements.txt', `# local wheel\n${wheel}\n`],
        ['name', 'py-greeter'],
        ['env', 'MODE=multipart'],
      ]);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body).to.include({ name: 'py-greeter', project: 'mp', runtime: 'python', status: 'building', version: 1 });
      expect(res.body.dependencies).to.deep.equal([wheel]);
      const early = await http('POST', `${stack.url}/functions/${res.body.function_id}/invoke`, { who: 'x' });
      if (early.status !== 200) expectError(early, 409, 'CONFLICT');
      const fn = await built(res.body.function_id);
      expect(fn.status, fn.build_log).to.equal('active');
      expect(fn.build_log).to.match(/Successfully installed fnq[_-]projgreet/i);
      const run = await http('POST', `${stack.url}/functions/${res.body.function_id}/invoke`, { who: 'mp' });
      expect(run.status, JSON.stringify(run.body)).to.equal(200);
      expect(run.body.result).to.deep.equal({ greeting: 'py hello mp', mode: 'multipart' });
      expect((await http('GET', `${stack.url}/projects/mp`)).body.functions.map((f: any) => f.name)).to.deep.equal(['py-greeter']);
    });

    it('deploys a Node file (runtime from .js, requirements as package.json, env as JSON) and invokes it', async () => {
      const res = await deploy('mp', [
        ['code', 'greet.js', 'const greet = require("fnq-projgreet");\nfunction handler(e) { return greet(e.who) + " " + process.env.STAGE }\n'],
        ['requirements', 'package.json', JSON.stringify({ dependencies: { 'fnq-projgreet': `file:${npmPkg}` } })],
        ['name', 'node-greeter'],
        ['env', '{"STAGE":"beta"}'],
        ['execution_type', 'sync'],
      ]);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body).to.include({ runtime: 'nodejs', status: 'building' });
      const fn = await built(res.body.function_id);
      expect(fn.status, fn.build_log).to.equal('active');
      const run = await http('POST', `${stack.url}/functions/${res.body.function_id}/invoke`, { who: 'n' });
      expect(run.status, JSON.stringify(run.body)).to.equal(200);
      expect(run.body.result).to.equal('node hello n beta');
    });

    it('a failed install leaves the function failed with the install log, and invoking it is 409', async () => {
      const bad = path.join(local, 'fnq_broken-1.0.0-py3-none-any.whl');
      execFileSync('sh', ['-c', `printf 'not a zip' > '${bad}'`]);
      const res = await deploy('mp', [
        ['file', 'x.py', 'def handler(e): return e'],
        ['requirements', 'requirements.txt', bad],
        ['name', 'py-broken'],
      ]);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const fn = await built(res.body.function_id);
      expect(fn.status).to.equal('failed');
      expect(fn.build_log).to.match(/ERROR|zip|installer exited/i);
      const refused = await http('POST', `${stack.url}/functions/${res.body.function_id}/invoke`, {});
      expectError(refused, 409, 'CONFLICT');
    });

    it('refuses bad deploys: not multipart, no file, unknown runtime, bad env, a refused requirement, oversize code', async () => {
      expectError(await http('POST', `${stack.url}/projects/mp/functions`, { name: 'x' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectError(await deploy('mp', [['name', 'nofile']]), 400, 'VALIDATION_ERROR');
      const noRuntime = await deploy('mp', [['file', 'code.txt', 'x'], ['name', 'r']]);
      expectError(noRuntime, 400, 'VALIDATION_ERROR');
      expect(noRuntime.body.details.field).to.equal('runtime');
      expectError(await deploy('mp', [['file', 'a.py', 'def handler(e): return e'], ['name', 'e'], ['env', '1X=2']]), 400, 'VALIDATION_ERROR');
      expectError(await deploy('mp', [['file', 'a.py', 'def handler(e): return e'], ['name', 'e'], ['env', 'TOKEN=[redacted]']]), 400, 'VALIDATION_ERROR');
      const refusedDep = await deploy('mp', [['file', 'a.py', 'def handler(e): return e'], ['name', 'd'], ['requirements', 'requirements.txt', '-e git+https://evil/x']]);
      expectError(refusedDep, 400, 'VALIDATION_ERROR');
      const syntax = await deploy('mp', [['file', 'a.py', 'def handler(e) return e'], ['name', 's']]);
      expectError(syntax, 400, 'VALIDATION_ERROR');
      expectError(await deploy('mp', [['file', 'big.py', '#'.repeat(1024 * 1024 + 10)], ['name', 'big']]), 413, 'PAYLOAD_TOO_LARGE');
      expectError(await deploy('Bad', [['file', 'a.py', 'x'], ['name', 'b']]), 400, 'VALIDATION_ERROR');
      // The service still answers.
      expect((await http('GET', `${stack.url}/projects/mp`)).status).to.equal(200);
    });
  });
});
