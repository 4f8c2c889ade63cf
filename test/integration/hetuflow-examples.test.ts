import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'hetuflow-examples-secret-of-32-characters-or-more';

/** Runs a program as a real child process; resolves with its exit code and output. */
function run(file: string, args: string[], timeout = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * The hetuflow scheduler API reference's usage examples, run as written (its cURL commands by curl,
 * its Python functions by python3 with requests), against a server with JWT auth; only the host and
 * port (`http://localhost:8080`) and the token (`<token>`, `your-jwt-token`) are this server's.
 */
describe("the hetuflow scheduler API reference's examples (curl and python3 against api and worker, real Redis)", () => {
  let redis: TestRedis;
  let stack: Stack;
  let token: string;
  let dir: string;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { AUTH_ENABLED: 'true', JWT_SECRET: SECRET });
    token = await new SignJWT({ sub: 'examples', scope: 'write' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
    dir = await mkdtemp(path.join(tmpdir(), 'hetuflow-examples-'));
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cURL: creates test-job (bash -c "echo Hello World"), queries Jobs; running it captures Hello World', async function () {
    this.timeout(60_000);
    // 创建 Job
    const create = await run('curl', [
      '-sS', '-X', 'POST', `${stack.url}/api/v1/jobs/item`,
      '-H', `Authorization: Bearer ${token}`,
      '-H', 'Content-Type: application/json',
      '-d', `{
    "namespace_id": "default",
    "name": "test-job",
    "description": "测试作业",
    "config": {
      "timeout": 3600,
      "max_retries": 3,
      "retry_interval": 60,
      "cmd": "bash",
      "args": ["-c", "echo Hello World"],
      "capture_output": true
    }
  }`,
    ]);
    expect(create.code, create.stderr).to.equal(0);
    const { id } = JSON.parse(create.stdout) as { id: string };
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    // 查询 Jobs
    const query = await run('curl', [
      '-sS', '-X', 'POST', `${stack.url}/api/v1/jobs/page`,
      '-H', `Authorization: Bearer ${token}`,
      '-H', 'Content-Type: application/json',
      '-d', `{
    "filter": {
      "namespace_id": { "eq": "default" }
    },
    "page": {
      "page": 1,
      "page_size": 10
    }
  }`,
    ]);
    expect(query.code, query.stderr).to.equal(0);
    const page = JSON.parse(query.stdout);
    expect(page).to.include({ total: 1, page: 1, page_size: 10 });
    expect(page.data[0]).to.deep.include({ id, namespace_id: 'default', name: 'test-job', description: '测试作业', environment: null, status: 'enabled' });
    expect(page.data[0].config).to.deep.equal({ timeout: 3600, max_retries: 3, retry_interval: 60, cmd: 'bash', args: ['-c', 'echo Hello World'], capture_output: true, max_output_size: 1048576 });

    // The run extension: the command runs on the worker; its attempt is the task instance with the output.
    const started = await http('POST', `${stack.url}/api/v1/jobs/item/${id}/run`, undefined, { authorization: `Bearer ${token}` });
    expect(started.status, started.text).to.equal(201);
    const instance = await eventually(async () => {
      const r = await http('POST', `${stack.url}/api/v1/task-instances/page`, { filter: { task_id: { eq: started.body.id } } }, { authorization: `Bearer ${token}` });
      const i = r.body.data?.[0];
      return i && i.status !== 'running' ? i : undefined;
    }, 30_000);
    expect(instance).to.include({ status: 'succeeded', exit_code: 0, output: 'Hello World\n', error_message: null });
    const task = (await http('POST', `${stack.url}/api/v1/tasks/page`, { filter: { job_id: { eq: id }, status: { eq: 100 } } }, { authorization: `Bearer ${token}` })).body;
    expect(task.total).to.equal(1);
    expect(task.data[0]).to.include({ id: started.body.id, status: 'succeeded', retry_count: 0 });
  });

  it('Python: create_job() and query_jobs() as written, with requests', async function () {
    this.timeout(60_000);
    const script = `import requests
import json

# 配置
BASE_URL = "${stack.url}/api/v1"
TOKEN = "${token}"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "application/json"
}

# 创建 Job
def create_job():
    data = {
        "namespace_id": "default",
        "name": "python-job",
        "description": "Python 脚本执行",
        "config": {
            "timeout": 1800,
            "max_retries": 2,
            "retry_interval": 30,
            "cmd": "python",
            "args": ["script.py"],
            "capture_output": True
        }
    }

    response = requests.post(
        f"{BASE_URL}/jobs/item",
        headers=HEADERS,
        json=data
    )

    if response.status_code == 200:
        return response.json()
    else:
        raise Exception(f"API Error: {response.text}")

# 查询 Jobs
def query_jobs():
    data = {
        "filter": {
            "namespace_id": {"eq": "default"}
        },
        "page": {
            "page": 1,
            "page_size": 10
        }
    }

    response = requests.post(
        f"{BASE_URL}/jobs/page",
        headers=HEADERS,
        json=data
    )

    if response.status_code == 200:
        return response.json()
    else:
        raise Exception(f"API Error: {response.text}")

print(json.dumps({"created": create_job(), "jobs": query_jobs()}))
`;
    const file = path.join(dir, 'example.py');
    await writeFile(file, script);
    const out = await run('python3', [file]);
    expect(out.code, out.stderr).to.equal(0);
    const { created, jobs } = JSON.parse(out.stdout);
    expect(created.id).to.match(/^[0-9a-f-]{36}$/);
    const mine = jobs.data.find((j: { id: string }) => j.id === created.id);
    expect(mine).to.deep.include({ name: 'python-job', description: 'Python 脚本执行', namespace_id: 'default' });
    expect(mine.config).to.include({ timeout: 1800, max_retries: 2, retry_interval: 30, cmd: 'python', capture_output: true });
    expect(jobs).to.include({ page: 1, page_size: 10 });

    // The same client meets the reference's error shape: an exception with the body.
    const bad = script.replace('"name": "python-job",', '"name": "",').replace('print(json.dumps({"created": create_job(), "jobs": query_jobs()}))', 'create_job()');
    await writeFile(file, bad);
    const failed = await run('python3', [file]);
    expect(failed.code).to.not.equal(0);
    const last = failed.stderr.trim().split('\n').at(-1)!;
    expect(last).to.match(/^Exception: API Error: /);
    const body = JSON.parse(last.replace(/^Exception: API Error: /, ''));
    expect(body.error).to.include({ code: 'VALIDATION_ERROR' });
    expect(body).to.have.property('timestamp');
  });
});
