import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { keysFor } from '../../shared/store/keys.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs an entry point with `env` only (plus PATH) and resolves with its exit code and stderr. */
function run(entry: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', WORKER_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${entry} did not exit within 30 s: ${stderr}`));
    }, 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A process started with another QUEUE_SHARDS than its deployment's exits 2 (docs/deployment.md#changing-queue_shards). */
describe('the api and the worker refuse another QUEUE_SHARDS than the deployment was written with', function () {
  this.timeout(70_000);
  let redis: TestRedis;
  const prefix = `sc${Math.random().toString(36).slice(2, 8)}`;

  before(async () => {
    redis = await startRedis();
    const c = new Redis(redis.url);
    await c.set(keysFor(prefix).shardCount, '3');
    c.disconnect();
  });
  after(async () => {
    await redis?.destroy();
  });

  for (const [kind, entry] of [['api', 'api/main.ts'], ['worker', 'worker/main.ts']] as const) {
    it(`the ${kind} exits 2, naming both counts and the procedure`, async () => {
      const { code, stderr } = await run(entry, { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, QUEUE_SHARDS: '1' });
      expect(code, stderr).to.equal(2);
      expect(stderr).to.contain('QUEUE_SHARDS is 1 but this deployment').and.contain('QUEUE_SHARDS=3').and.contain('Changing QUEUE_SHARDS');
    });
  }
});
