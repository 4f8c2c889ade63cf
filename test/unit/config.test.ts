import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ConfigError, functionRetainSeconds, jobDelayMaxMs, loadConfig, resolveWorkerId, runnerPoolSize, toolEnv } from '../../shared/config.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).to.include({
      PORT: 8000,
      WORKERS: 2,
      WORKER_CONCURRENCY: 4,
      RESULT_TTL_SECONDS: 86_400,
      INVOKE_TIMEOUT_MS: 30_000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      LOG_LEVEL: 'info',
      QUEUE_PREFIX: 'fnqueue',
      DIAGNOSTIC_ALGORITHMS: false,
      DATA_DIR: './.data',
    });
    expect(c.WEBHOOK_RETRY_DELAYS_MS).to.deep.equal([1000, 5000, 15_000]);
    expect(c.REDIS_URL).to.equal(undefined);
    expect(runnerPoolSize(c)).to.equal(4);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('reads values from the map it is given, not from process.env', () => {
    const c = loadConfig({ PORT: '9001', REDIS_URL: 'redis://localhost:7000/2', DIAGNOSTIC_ALGORITHMS: 'yes', RUNNER_POOL_SIZE: '3', WEBHOOK_RETRY_DELAYS_MS: '10,20' });
    expect(c.PORT).to.equal(9001);
    expect(c.REDIS_URL).to.equal('redis://localhost:7000/2');
    expect(c.DIAGNOSTIC_ALGORITHMS).to.equal(true);
    expect(runnerPoolSize(c)).to.equal(3);
    expect(c.WEBHOOK_RETRY_DELAYS_MS).to.deep.equal([10, 20]);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' }).PORT).to.equal(8000);
  });

  it('stops with a message naming each bad variable and its value', () => {
    const bad = () => loadConfig({ PORT: 'eighty', WORKERS: '0', REDIS_URL: 'http://x', LOG_LEVEL: 'loud', DIAGNOSTIC_ALGORITHMS: 'maybe' });
    expect(bad).to.throw(ConfigError);
    try {
      bad();
    } catch (err) {
      const message = (err as Error).message;
      for (const name of ['PORT="eighty"', 'WORKERS="0"', 'REDIS_URL="http://x"', 'LOG_LEVEL="loud"', 'DIAGNOSTIC_ALGORITHMS="maybe"']) expect(message).to.contain(name);
    }
  });

  it('never echoes a password inside a bad URL (REDIS_URL, JWT_JWKS_URL), only the rest of it', () => {
    const bad = { REDIS_URL: 'redis://:hunter2-redis-pw@127.0.0.1:99999', JWT_JWKS_URL: 'ftp://svc:hunter2-jwks-pw@idp.test/jwks' };
    expect(() => loadConfig(bad)).to.throw(ConfigError);
    try {
      loadConfig(bad);
    } catch (err) {
      const message = (err as Error).message;
      expect(message).to.contain('REDIS_URL="redis://:').and.contain('@127.0.0.1:99999"').and.contain('JWT_JWKS_URL="ftp://svc:');
      expect(message).not.to.contain('hunter2');
    }
  });

  it('reads the warm function hosts budget and idle time: default derived by the worker, bounds checked', () => {
    const c = loadConfig({});
    expect(c.FUNCTION_HOSTS_MEMORY_BUDGET_MB).to.equal(undefined);
    expect(c.FUNCTION_HOST_IDLE_MS).to.equal(60_000);
    expect(loadConfig({ FUNCTION_HOSTS_MEMORY_BUDGET_MB: '300', FUNCTION_HOST_IDLE_MS: '5000' })).to.include({ FUNCTION_HOSTS_MEMORY_BUDGET_MB: 300, FUNCTION_HOST_IDLE_MS: 5000 });
    expect(() => loadConfig({ FUNCTION_HOSTS_MEMORY_BUDGET_MB: '16' })).to.throw(ConfigError, /FUNCTION_HOSTS_MEMORY_BUDGET_MB="16"/);
    expect(() => loadConfig({ FUNCTION_HOSTS_MEMORY_BUDGET_MB: 'half' })).to.throw(ConfigError, /FUNCTION_HOSTS_MEMORY_BUDGET_MB/);
    expect(() => loadConfig({ FUNCTION_HOST_IDLE_MS: '0' })).to.throw(ConfigError, /FUNCTION_HOST_IDLE_MS/);
  });

  it('refuses a queue prefix that would break the hash tag', () => {
    expect(() => loadConfig({ QUEUE_PREFIX: 'a}b' })).to.throw(/QUEUE_PREFIX/);
  });

  it('derives the delay maximum: JOB_DELAY_MAX_MS, never past RESULT_TTL_SECONDS', () => {
    expect(jobDelayMaxMs(loadConfig({}))).to.equal(86_400_000);
    expect(jobDelayMaxMs(loadConfig({ RESULT_TTL_SECONDS: '60' }))).to.equal(60_000);
    expect(jobDelayMaxMs(loadConfig({ JOB_DELAY_MAX_MS: '5000' }))).to.equal(5000);
  });

  it('keeps function versions an hour past RESULT_TTL_SECONDS', () => {
    expect(functionRetainSeconds(loadConfig({ RESULT_TTL_SECONDS: '100' }))).to.equal(3700);
  });

  it("gives a tool only PATH, HOME and LANG of the environment, never the service's secrets", () => {
    expect(toolEnv({ PATH: '/opt/bin', HOME: '/home/x', JWT_SECRET: 's'.repeat(40) })).to.deep.equal({ PATH: '/opt/bin', HOME: '/home/x', LANG: 'C.UTF-8' });
    expect(toolEnv({})).to.deep.equal({ PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' });
  });

  it('is the only reader of process.env in api/ and shared/', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const readers: string[] = [];
    for (const dir of ['api', 'shared']) {
      for (const file of readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
        const rel = path.join(dir, file);
        if (!rel.endsWith('.ts') || rel === path.join('shared', 'config.ts')) continue;
        if (/process\.env\b/.test(readFileSync(path.join(root, rel), 'utf8'))) readers.push(rel);
      }
    }
    expect(readers).to.deep.equal([]);
  });

  it('reads WORKER_ID (default <host>:<pid>-<6 random hex>, apart for two processes of one host and pid) and RUNNER_START_TIMEOUT_MS', () => {
    const unset = loadConfig({});
    expect(unset.RUNNER_START_TIMEOUT_MS).to.equal(20_000);
    const a = resolveWorkerId(unset, 'web-1', 1);
    const b = resolveWorkerId(unset, 'web-1', 1);
    expect(a).to.match(/^web-1:1-[0-9a-f]{6}$/);
    expect(b).to.match(/^web-1:1-[0-9a-f]{6}$/);
    expect(a).to.not.equal(b);
    const set = loadConfig({ WORKER_ID: 'fnqueue-worker-5d9c7b6f4-x2k8q', RUNNER_START_TIMEOUT_MS: '45000' });
    expect(resolveWorkerId(set, 'web-1', 1)).to.equal('fnqueue-worker-5d9c7b6f4-x2k8q');
    expect(set.RUNNER_START_TIMEOUT_MS).to.equal(45_000);
    expect(() => loadConfig({ WORKER_ID: 'two words' })).to.throw(ConfigError, /WORKER_ID/);
    expect(() => loadConfig({ RUNNER_START_TIMEOUT_MS: '10' })).to.throw(ConfigError, /RUNNER_START_TIMEOUT_MS/);
  });
});
