import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { eventually, http, type JsonResponse } from '../helpers/http.js';
import { buildWheel } from '../helpers/packages.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startService, type ServiceProcess } from '../helpers/service-process.js';

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const SECRET = 'project-faas-e2e-secret-of-32-characters-or-more';

/** Asserts the project-FaaS error shape: `{status: "error", code, message, details: {field, reason}}`, no stack. */
function expectFaasError(res: JsonResponse, status: number, code: string, field?: string | null): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body).to.have.all.keys('status', 'code', 'message', 'details');
  expect(res.body.status).to.equal('error');
  expect(res.body.code).to.equal(code);
  expect(res.body.message).to.be.a('string').and.not.empty;
  expect(res.body.details).to.include.keys('field', 'reason');
  expect(res.body.details.reason).to.be.a('string').and.not.empty;
  if (field !== undefined) expect(res.body.details.field).to.equal(field);
  expect(JSON.stringify(res.body)).not.to.match(/\bat .*\.(ts|js):\d+/);
}

/** A file part: its text and file name. */
type FilePart = { file: string; name: string };

/** POSTs a multipart/form-data body: strings as text fields, {file, name} as file parts (as `curl -F key=@file` sends them). */
async function postForm(url: string, parts: Record<string, string | FilePart>, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const form = new FormData();
  for (const [k, v] of Object.entries(parts)) {
    if (typeof v === 'string') form.append(k, v);
    else form.append(k, new Blob([v.file], { type: 'application/octet-stream' }), v.name);
  }
  const res = await fetch(url, { method: 'POST', body: form, headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/**
 * The project-FaaS API at /api/v1 (docs/compat-project-faas.md) over real api and worker processes
 * and a real redis-server: the reference's examples as it gives them, Python functions that
 * define `main`, multipart deploys with requirements and env_vars, run counts, and its error shape
 * for not-found, validation, auth, rate limit and Redis-down answers.
 */
describe('the project-FaaS API at /api/v1 (real api and worker processes)', function () {
  this.timeout(180_000);
  let redis: TestRedis;
  let packages: string;
  let wheel: string;
  const procs: ServiceProcess[] = [];
  let api: ServiceProcess;
  let authApi: ServiceProcess;
  let limitedApi: ServiceProcess;
  let base: string;

  before(async () => {
    redis = await startRedis();
    packages = mkdtempSync(path.join(tmpdir(), 'fnq-faas-pkgs-'));
    wheel = buildWheel(packages, 'faasgreet');
    const env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `faas${process.pid}`,
      FUNCTION_SANDBOX: 'bwrap',
      FUNCTION_LOCAL_PACKAGES_DIR: packages,
      FUNCTION_SYSTEM_ENV: JSON.stringify({ DB_HOST: 'localhost', DB_PORT: '3306' }),
      INVOKE_TIMEOUT_MS: '60000',
    };
    const start = async (kind: 'api' | 'worker', extra: Record<string, string> = {}) => {
      const p = await startService(kind, { ...env, ...extra }, 60_000);
      procs.push(p);
      return p;
    };
    [api, authApi, limitedApi] = await Promise.all([
      start('api'),
      start('api', { AUTH_ENABLED: 'true', JWT_SECRET: SECRET }),
      start('api', { RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_WINDOW_SECONDS: '1' }),
      start('worker', { WORKER_CONCURRENCY: '2' }),
    ]);
    base = `${api.url}/api/v1`;
  });

  after(async () => {
    for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
    await redis?.destroy();
    if (packages) rmSync(packages, { recursive: true, force: true });
  });

  describe('the document\'s examples', () => {
    const func1 = 'def main(params):\n    """Echoes its params."""\n    return {"echo": params, "runs_main": True}\n';

    it('GET /health answers {status: "healthy", version, timestamp} with an ISO 8601 timestamp', async () => {
      const res = await http('GET', `${api.url}/health`);
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('status', 'version', 'timestamp');
      expect(res.body.status).to.equal('healthy');
      expect(res.body.timestamp).to.match(ISO_UTC);
    });

    it('POST /api/v1/functions/{project_name}/deploy (multipart: function_name, code file) deploys a Python function that defines main', async () => {
      const res = await postForm(`${base}/functions/project1/deploy`, { function_name: 'func1', code: { file: func1, name: 'func1.py' } });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.status).to.equal('success');
      expect(res.body.message).to.equal('Function deployed successfully');
      expect(res.body.function).to.include({ name: 'func1', project: 'project1', status: 'active', runtime: 'python', handler: 'main', version: 1 });
      expect(res.body.function.deployed_at).to.match(ISO_UTC);
    });

    it('POST /api/v1/functions/{project_name}/{function_name}/invoke with {"key": "value"} answers {status, result, execution_time, timestamp}', async () => {
      const res = await http('POST', `${base}/functions/project1/func1/invoke`, '{\n    "key": "value"\n}', { 'Content-Type': 'application/json' });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include.keys('status', 'result', 'execution_time', 'timestamp');
      expect(res.body.status).to.equal('success');
      expect(res.body.result).to.deep.equal({ echo: { key: 'value' }, runs_main: true });
      expect(res.body.execution_time).to.match(/^\d+(\.\d{1,3})?s$/);
      expect(res.body.timestamp).to.match(ISO_UTC);
      expect(Math.abs(Date.parse(res.body.timestamp) - Date.now())).to.be.below(60_000);
    });

    it('GET /api/v1/functions/{project_name} lists the functions with name, description, status and last_executed', async () => {
      const res = await http('GET', `${base}/functions/project1`);
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('status', 'functions');
      expect(res.body.status).to.equal('success');
      const f = (res.body.functions as Array<Record<string, unknown>>).find((x) => x.name === 'func1');
      expect(f).to.have.all.keys('name', 'description', 'status', 'last_executed');
      expect(f!.status).to.equal('active');
      expect(f!.description).to.equal('Echoes its params.');
      expect(f!.last_executed).to.match(ISO_UTC);
    });

    it('GET /api/v1/functions/{project_name}/{function_name} carries execution_count, which each run increments, and last_executed', async () => {
      const before = await http('GET', `${base}/functions/project1/func1`);
      expect(before.status).to.equal(200);
      expect(before.body.status).to.equal('success');
      expect(before.body.function).to.include.keys('name', 'description', 'parameters', 'status', 'created_at', 'updated_at', 'last_executed', 'execution_count');
      expect(before.body.function.parameters).to.deep.equal({});
      expect(before.body.function.created_at).to.match(ISO_UTC);
      const count = before.body.function.execution_count as number;
      expect(count).to.be.at.least(1);
      for (let i = 0; i < 2; i++) expect((await http('POST', `${base}/functions/project1/func1/invoke`, { n: i })).status).to.equal(200);
      const after = await http('GET', `${base}/functions/project1/func1`);
      expect(after.body.function.execution_count).to.equal(count + 2);
      expect(Date.parse(after.body.function.last_executed)).to.be.at.least(Date.parse(before.body.function.last_executed));
    });

    it('GET /api/v1/projects lists projects with their function names', async () => {
      const res = await http('GET', `${base}/projects`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('success');
      const p = (res.body.data as Array<Record<string, unknown>>).find((x) => x.name === 'project1');
      expect(p).to.have.all.keys('name', 'status', 'functions', 'created_at', 'updated_at');
      expect(p).to.deep.include({ status: 'running', functions: ['func1'] });
      expect(p!.created_at).to.match(ISO_UTC);
    });

    it('GET /api/v1/projects/{project_name}/env shows the project env the native API set: the names, values masked', async () => {
      const put = await http('PUT', `${api.url}/projects/project1/env`, { env: { API_KEY: 'your_api_key', ENVIRONMENT: 'development' } });
      expect(put.status, put.text).to.equal(200);
      const res = await http('GET', `${base}/projects/project1/env`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'success', data: { API_KEY: '[redacted]', ENVIRONMENT: '[redacted]' } });
      expect(res.text).not.to.include('your_api_key');
    });

    it('GET /api/v1/projects/{project_name} answers functions, env, dependencies and times', async () => {
      const res = await http('GET', `${base}/projects/project1`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('success');
      expect(res.body.data).to.have.all.keys('name', 'status', 'functions', 'env', 'dependencies', 'created_at', 'updated_at');
      expect(res.body.data.functions).to.have.length(1);
      expect(res.body.data.functions[0]).to.have.all.keys('name', 'description', 'status', 'last_executed');
      expect(res.body.data.functions[0]).to.include({ name: 'func1', status: 'active' });
      expect(res.body.data.env).to.deep.equal({ API_KEY: '[redacted]', ENVIRONMENT: '[redacted]' });
      expect(res.body.data.dependencies).to.deep.equal([]);
    });

    it('GET /api/v1/projects/{project_name}/dependencies answers the project\'s requirement lines', async () => {
      const put = await http('PUT', `${api.url}/projects/analytics/dependencies`, { python: ['pandas>=2.0.0', 'scikit-learn>=1.3.0'] });
      expect(put.status, put.text).to.equal(200);
      const res = await http('GET', `${base}/projects/analytics/dependencies`);
      expect(res.body).to.deep.equal({ status: 'success', data: ['pandas>=2.0.0', 'scikit-learn>=1.3.0'] });
    });

    it('GET /api/v1/env/system answers the system env (FUNCTION_SYSTEM_ENV): the names, values masked', async () => {
      const res = await http('GET', `${base}/env/system`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'success', data: { DB_HOST: '[redacted]', DB_PORT: '[redacted]' } });
    });

    it('GET /api/v1/dependencies/system answers the Python packages functions run with as name==version', async () => {
      const res = await http('GET', `${base}/dependencies/system`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('success');
      expect(res.body.data).to.be.an('array').that.is.not.empty;
      for (const line of res.body.data as string[]) expect(line).to.match(/^[A-Za-z0-9_.-]+==\S+$/);
      expect((res.body.data as string[]).some((l) => /^pip==/i.test(l))).to.equal(true);
    });

    it('POST /api/v1/projects/{project_name}/stop stops the project: its functions refuse runs with 409 EXECUTION_ERROR; /start starts it again', async () => {
      const stop = await http('POST', `${base}/projects/project1/stop`);
      expect(stop.status).to.equal(200);
      expect(stop.body.status).to.equal('success');
      expect(stop.body.message).to.be.a('string').and.not.empty;
      expect(stop.body.project).to.include({ name: 'project1', status: 'stopped' });
      expect(stop.body.project.stop_time).to.match(ISO_UTC);
      expect((await http('GET', `${base}/projects`)).body.data.find((p: { name: string }) => p.name === 'project1').status).to.equal('stopped');
      expectFaasError(await http('POST', `${base}/functions/project1/func1/invoke`, { key: 'value' }), 409, 'EXECUTION_ERROR');

      const start = await http('POST', `${base}/projects/project1/start`);
      expect(start.status).to.equal(200);
      expect(start.body.project).to.include({ name: 'project1', status: 'running' });
      expect(start.body.project.start_time).to.match(ISO_UTC);
      expect((await http('POST', `${base}/functions/project1/func1/invoke`, { key: 'value' })).status).to.equal(200);
    });

    it('GET /status answers status "running", uptime as "2h 30m", memory_usage as "256MB", active_projects and total_functions beside its own fields', async () => {
      const res = await http('GET', `${api.url}/status`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('running');
      expect(res.body.uptime).to.match(/^(\d+s|(\d+d )?(\d+h )?\d+m)$/);
      expect(res.body.memory_usage).to.match(/^\d+MB$/);
      expect(res.body.active_projects).to.be.a('number').and.at.least(2);
      expect(res.body.total_functions).to.be.a('number').and.at.least(1);
      expect(res.body).to.include.keys('version', 'timestamp', 'uptime_seconds', 'queues', 'queue_depth', 'workers', 'redis', 'memory', 'projects');
    });

    it('DELETE /api/v1/functions/{project_name}/{function_name} deletes it; it is then FUNCTION_NOT_FOUND', async () => {
      await postForm(`${base}/functions/project1/deploy`, { function_name: 'doomed', code: 'def handler(event):\n    return 1\n' });
      const res = await http('DELETE', `${base}/functions/project1/doomed`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'success', message: 'Function deleted successfully' });
      expectFaasError(await http('GET', `${base}/functions/project1/doomed`), 404, 'FUNCTION_NOT_FOUND', 'function_name');
      expectFaasError(await http('DELETE', `${base}/functions/project1/doomed`), 404, 'FUNCTION_NOT_FOUND', 'function_name');
    });
  });

  describe('deploys', () => {
    it('installs the requirements file before it answers, and layers env_vars over the project and system env', async () => {
      await http('PUT', `${api.url}/projects/shop/env`, { env: { ENVIRONMENT: 'staging' } });
      const code = [
        'import os',
        'import faasgreet',
        'def main(params):',
        '    return {"greeting": faasgreet.greet(params["who"]), "db": os.environ.get("DB_HOST"), "env": os.environ.get("ENVIRONMENT"), "own": os.environ.get("GREETING")}',
        '',
      ].join('\n');
      const res = await postForm(`${base}/functions/shop/deploy`, {
        function_name: 'greeter',
        code: { file: code, name: 'greeter.py' },
        requirements: { file: `# local wheel\n${wheel}\n`, name: 'requirements.txt' },
        env_vars: '{"GREETING": "hi", "RETRIES": 3}',
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.function).to.include({ name: 'greeter', project: 'shop', status: 'active', handler: 'main' });
      const run = await http('POST', `${base}/functions/shop/greeter/invoke`, { who: 'ann' });
      expect(run.status, run.text).to.equal(200);
      expect(run.body.result).to.deep.equal({ greeting: 'py hello ann', db: 'localhost', env: 'staging', own: 'hi' });
    });

    it('answers status failed with the build_log when the requirements cannot be installed; runs then answer 409 DEPENDENCY_ERROR', async () => {
      const broken = path.join(packages, 'brokenpkg-1.0.0-py3-none-any.whl');
      writeFileSync(broken, 'not a zip file');
      const res = await postForm(`${base}/functions/shop/deploy`, { function_name: 'unbuildable', code: 'def main(e):\n    return 1\n', requirements: broken });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.function.status).to.equal('failed');
      expect(res.body.function.build_log).to.be.a('string').and.not.empty;
      expectFaasError(await http('POST', `${base}/functions/shop/unbuildable/invoke`, {}), 409, 'DEPENDENCY_ERROR');
    });

    it('takes the code and env_vars as text fields too (env_vars as KEY=VALUE lines), and keeps handler when the code defines one', async () => {
      const code = 'import os\ndef main(event):\n    return "main"\ndef handler(event):\n    return {"handler": os.environ["MODE"], "quoted": os.environ["NOTE"]}\n';
      const res = await postForm(`${base}/functions/project1/deploy`, { function_name: 'both', code, env_vars: '# a .env file\nMODE=fast\nexport NOTE="a b"\n' });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.function.handler).to.equal('handler');
      const run = await http('POST', `${base}/functions/project1/both/invoke`, {});
      expect(run.body.result).to.deep.equal({ handler: 'fast', quoted: 'a b' });
    });

    it('deploys the next version when the project already has a function of that name', async () => {
      const v1 = await postForm(`${base}/functions/project1/deploy`, { function_name: 'versioned', code: { file: 'def main(e):\n    return 1\n', name: 'v.py' } });
      expect(v1.body.function.version).to.equal(1);
      const v2 = await postForm(`${base}/functions/project1/deploy`, { function_name: 'versioned', code: { file: 'def main(e):\n    return 2\n', name: 'v.py' } });
      expect(v2.status, v2.text).to.equal(200);
      expect(v2.body.function.version).to.equal(2);
      expect((await http('POST', `${base}/functions/project1/versioned/invoke`, {})).body.result).to.equal(2);
    });

    it('runs Node.js code from a .js file, with the memory_mb extension field', async () => {
      // Node 24 reserves more address space than the 256 MiB default cap allows on this machine.
      const res = await postForm(`${base}/functions/project1/deploy`, { function_name: 'node-fn', memory_mb: '1024', code: { file: 'exports.handler = async (e) => ({ doubled: e.n * 2 });\n', name: 'index.js' } });
      expect(res.body.function, res.text).to.include({ runtime: 'nodejs', handler: 'handler' });
      expect((await http('POST', `${base}/functions/project1/node-fn/invoke`, { n: 21 })).body.result).to.deep.equal({ doubled: 42 });
    });
  });

  describe('errors in the document\'s shape', () => {
    it('answers 404 PROJECT_NOT_FOUND for an unknown project, on every project path', async () => {
      for (const [method, p] of [
        ['GET', '/projects/nope'],
        ['POST', '/projects/nope/start'],
        ['POST', '/projects/nope/stop'],
        ['GET', '/projects/nope/env'],
        ['GET', '/projects/nope/dependencies'],
        ['GET', '/functions/nope'],
        ['GET', '/functions/nope/func1'],
        ['POST', '/functions/nope/func1/invoke'],
        ['DELETE', '/functions/nope/func1'],
      ] as const) {
        expectFaasError(await http(method, `${base}${p}`), 404, 'PROJECT_NOT_FOUND', 'project_name');
      }
    });

    it('answers 404 FUNCTION_NOT_FOUND for an unknown function, and for a function of another project', async () => {
      expectFaasError(await http('GET', `${base}/functions/project1/nope`), 404, 'FUNCTION_NOT_FOUND', 'function_name');
      expectFaasError(await http('POST', `${base}/functions/project1/nope/invoke`, {}), 404, 'FUNCTION_NOT_FOUND', 'function_name');
      expectFaasError(await http('GET', `${base}/functions/shop/func1`), 404, 'FUNCTION_NOT_FOUND', 'function_name');
    });

    it('answers 400 INVALID_PARAMETERS for bad names, a missing function_name or code, bad JSON and code that does not compile', async () => {
      expectFaasError(await http('GET', `${base}/projects/Bad%20Name`), 400, 'INVALID_PARAMETERS', 'project_name');
      expectFaasError(await http('GET', `${base}/functions/project1/${'x'.repeat(80)}`), 400, 'INVALID_PARAMETERS', 'function_name');
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { code: 'def main(e): return 1' }), 400, 'INVALID_PARAMETERS', 'function_name');
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { function_name: 'nocode' }), 400, 'INVALID_PARAMETERS', 'code');
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { function_name: 'x', code: 'def main(e): return 1', colour: 'red' }), 400, 'INVALID_PARAMETERS', 'colour');
      const syntax = await postForm(`${base}/functions/project1/deploy`, { function_name: 'broken', code: { file: 'def main(x) return 1\n', name: 'b.py' } });
      expectFaasError(syntax, 400, 'INVALID_PARAMETERS', 'code');
      expect(syntax.body.details.reason).to.match(/SyntaxError/);
      expectFaasError(await http('POST', `${base}/functions/project1/func1/invoke`, '{"key": ', { 'Content-Type': 'application/json' }), 400, 'INVALID_PARAMETERS', 'body');
      const json = await http('POST', `${base}/functions/project1/deploy`, { function_name: 'x' });
      expectFaasError(json, 415, 'INVALID_PARAMETERS');
      // Nothing was created by the refused deploys.
      expectFaasError(await http('GET', `${base}/functions/project1/broken`), 404, 'FUNCTION_NOT_FOUND');
    });

    it('answers ENV_ERROR for a bad env_vars name and DEPENDENCY_ERROR for a refused requirement', async () => {
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { function_name: 'x', code: 'def main(e): return 1', env_vars: '1BAD=x' }), 400, 'ENV_ERROR', 'env_vars.1BAD');
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { function_name: 'x', code: 'def main(e): return 1', env_vars: '{"A": {"b": 1}}' }), 400, 'ENV_ERROR', 'env_vars.A');
      expectFaasError(await postForm(`${base}/functions/project1/deploy`, { function_name: 'x', code: 'def main(e): return 1', requirements: '--index-url http://example.com\n' }), 400, 'DEPENDENCY_ERROR', 'requirements');
    });

    it('answers 409 INVALID_PARAMETERS when another project has a function of that name', async () => {
      const res = await postForm(`${base}/functions/shop/deploy`, { function_name: 'func1', code: 'def main(e): return 1' });
      expectFaasError(res, 409, 'INVALID_PARAMETERS', 'function_name');
      expect((await http('GET', `${base}/functions/project1/func1`)).body.function.project).to.equal('project1');
    });

    it("answers 500 EXECUTION_ERROR with the function's error when its run fails", async () => {
      await postForm(`${base}/functions/project1/deploy`, { function_name: 'boom', code: 'def main(params):\n    raise ValueError("bad input")\n' });
      const res = await http('POST', `${base}/functions/project1/boom/invoke`, { key: 'value' });
      expectFaasError(res, 500, 'EXECUTION_ERROR');
      expect(res.body.message).to.match(/ValueError: bad input/);
      expect(res.body.details.job_id).to.match(/^[0-9a-f]{12}$/);
      // A failed run counts as a run.
      expect((await http('GET', `${base}/functions/project1/boom`)).body.function.execution_count).to.equal(1);
    });

    it('answers unknown paths (404) and methods (405, with Allow) under its prefixes in its shape', async () => {
      expectFaasError(await http('GET', `${base}/projects/project1/nothing-here`), 404, 'INVALID_PARAMETERS', 'path');
      expectFaasError(await http('GET', `${base}/env`), 404, 'INVALID_PARAMETERS', 'path');
      const put = await http('PUT', `${base}/projects`);
      expectFaasError(put, 405, 'INVALID_PARAMETERS', 'method');
      expect(put.headers.get('allow')).to.equal('GET');
      expectFaasError(await http('POST', `${base}/functions/project1/func1`), 405, 'INVALID_PARAMETERS', 'method');
      // Paths outside its prefixes keep fnqueue's own shape.
      expect((await http('GET', `${api.url}/nothing-here`)).body.error).to.equal('NOT_FOUND');
    });

    it('answers 401 AUTHENTICATION_ERROR without credentials and 403 AUTHORIZATION_ERROR without the scope (AUTH_ENABLED=true)', async () => {
      const token = (scope: string) =>
        new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setSubject(`faas-${scope}`).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
      const authBase = `${authApi.url}/api/v1`;
      expectFaasError(await http('GET', `${authBase}/projects`), 401, 'AUTHENTICATION_ERROR', 'authorization');
      expectFaasError(await http('GET', `${authBase}/projects`, undefined, { Authorization: 'Bearer not-a-jwt' }), 401, 'AUTHENTICATION_ERROR');
      expectFaasError(await http('GET', `${authBase}/projects/project1/unknown/path`), 401, 'AUTHENTICATION_ERROR');
      const read = { Authorization: `Bearer ${await token('read')}` };
      expect((await http('GET', `${authBase}/projects`, undefined, read)).status).to.equal(200);
      expect((await http('GET', `${authBase}/functions/project1/func1`, undefined, read)).body.status).to.equal('success');
      expectFaasError(await http('POST', `${authBase}/functions/project1/func1/invoke`, { key: 'value' }, read), 403, 'AUTHORIZATION_ERROR', 'scope');
      expectFaasError(await postForm(`${authBase}/functions/project1/deploy`, { function_name: 'x', code: 'def main(e): return 1' }, read), 403, 'AUTHORIZATION_ERROR');
      expectFaasError(await http('POST', `${authBase}/projects/project1/stop`, undefined, read), 403, 'AUTHORIZATION_ERROR');
      const write = { Authorization: `Bearer ${await token('write')}` };
      expect((await http('POST', `${authBase}/functions/project1/func1/invoke`, { key: 'value' }, write)).body.status).to.equal('success');
    });

    it('answers 429 RATE_LIMIT_ERROR with Retry-After past the rate limit', async () => {
      const answers = await Promise.all(Array.from({ length: 12 }, () => http('GET', `${limitedApi.url}/api/v1/env/system`)));
      const limited = answers.filter((r) => r.status === 429);
      expect(limited.length, answers.map((r) => r.status).join(',')).to.be.at.least(1);
      expectFaasError(limited[0]!, 429, 'RATE_LIMIT_ERROR');
      expect(Number(limited[0]!.headers.get('retry-after'))).to.be.at.least(1);
    });

    it('answers 503 INTERNAL_ERROR with Retry-After while Redis is down (run last: it stops Redis)', async () => {
      await redis.stop();
      const res = await eventually(async () => {
        const r = await http('GET', `${base}/projects`);
        return r.status === 503 ? r : undefined;
      }, 20_000, 200);
      expectFaasError(res, 503, 'INTERNAL_ERROR');
      expect(Number(res.headers.get('retry-after'))).to.be.at.least(1);
    });
  });
});
