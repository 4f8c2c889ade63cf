import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

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
      reject(new Error(`${entry} did not exit within 20 s: ${stderr}`));
    }, 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a bad configuration stops the api and the worker with exit code 2 (docs/configuration.md)', function () {
  this.timeout(30_000);

  for (const [kind, entry] of [['api', 'api/main.ts'], ['worker', 'worker/main.ts']] as const) {
    it(`exits 2 naming REDIS_URL when the ${kind} starts without it`, async () => {
      const { code, stderr } = await run(entry, {});
      expect(code, stderr).to.equal(2);
      expect(stderr).to.contain('REDIS_URL');
      expect(stderr).to.contain('REDIS_SENTINELS').and.contain('REDIS_CLUSTER_NODES');
    });

    it(`exits 2 asking for exactly one Redis topology when the ${kind} gets two`, async () => {
      const { code, stderr } = await run(entry, { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:2' });
      expect(code, stderr).to.equal(2);
      expect(stderr).to.contain('REDIS_URL and REDIS_CLUSTER_NODES are both set: set exactly one of');
    });

    it(`exits 2 naming the variable when the ${kind} gets a bad value`, async () => {
      const { code, stderr } = await run(entry, { REDIS_URL: 'redis://127.0.0.1:1', WORKER_CONCURRENCY: 'many' });
      expect(code, stderr).to.equal(2);
      expect(stderr).to.contain('WORKER_CONCURRENCY="many"');
    });
  }
});
