import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { track, untrack } from '../helpers/resources.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

const PYTHON_DIR = path.resolve(import.meta.dirname, '../../clients/python');

/**
 * The Python client (clients/python/fnqueue.py): its unittest file run by the machine's python3
 * against a real API and worker on a real redis-server, with a webhook the API's sender signed
 * (docs/clients/python.md).
 */
describe('the Python client fnqueue.py (python3 unittest against api and worker in-process, real Redis)', function () {
  this.timeout(180_000);
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let redis: TestRedis;
  let stack: Stack;
  let receiver: HookReceiver;
  let dir: string;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WEBHOOK_SECRET: secret, FUNCTION_SANDBOX: 'bwrap' });
    receiver = await startHookReceiver(answerWith(200));
    dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-py-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await receiver?.close();
    await stack?.close();
    await redis?.destroy();
  });

  it('passes every test of clients/python/test_fnqueue.py, the verifier on a delivery the real sender signed', async () => {
    const submitted = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 }, webhook: receiver.url });
    const jobId = submitted.body.job_id as string;
    const hook = await eventually(async () => receiver.received.find((h) => h.body?.job_id === jobId), 15_000, 50);
    const fixture = path.join(dir, 'webhook.json');
    const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(hook.headers[h])]));
    writeFileSync(fixture, JSON.stringify({ secret, body: hook.raw.toString('utf8'), headers, job_id: jobId }));

    const proc = spawn('python3', ['-m', 'unittest', '-v', 'test_fnqueue'], {
      cwd: PYTHON_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', FNQUEUE_URL: stack.url, FNQUEUE_WEBHOOK_FIXTURE: fixture, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const handle = { proc };
    track('python3 unittest', handle, async () => {
      proc.kill('SIGKILL');
    });
    let output = '';
    proc.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    proc.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 170_000);
    const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
    clearTimeout(timer);
    untrack(handle);

    expect(code, output).to.equal(0);
    const ran = /Ran (\d+) tests? in/.exec(output);
    expect(Number(ran?.[1]), output).to.equal(12);
    expect(output).to.match(/\nOK\s*$/);
    expect(output).to.include('test_verifies_a_real_signed_delivery (test_fnqueue.WebhookTest');
    expect(output).to.include('test_refuses_a_signature_with_non_ascii_characters (test_fnqueue.WebhookTest');
  });
});
