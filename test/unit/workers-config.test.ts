import { expect } from 'chai';
import { loadConfig, workerForgetAfterMs, workerOfflineAfterMs } from '../../shared/config.js';

describe('config: workers registry', () => {
  it('defaults to a 5 s heartbeat, offline after 3 heartbeats, forgotten after 10 min, no labels', () => {
    const config = loadConfig({});
    expect(config.WORKER_HEARTBEAT_MS).to.equal(5000);
    expect(workerOfflineAfterMs(config)).to.equal(15_000);
    expect(workerForgetAfterMs(config)).to.equal(600_000);
    expect(config.WORKER_LABELS).to.deep.equal({});
  });

  it('derives the offline bound from the heartbeat and keeps the bounds in order', () => {
    expect(workerOfflineAfterMs(loadConfig({ WORKER_HEARTBEAT_MS: '200' }))).to.equal(600);
    expect(workerOfflineAfterMs(loadConfig({ WORKER_HEARTBEAT_MS: '1000', WORKER_OFFLINE_AFTER_MS: '100' }))).to.equal(1000);
    expect(workerForgetAfterMs(loadConfig({ WORKER_OFFLINE_AFTER_MS: '900000' }))).to.equal(900_000);
  });

  it('parses WORKER_LABELS as key=value pairs and names a bad one', () => {
    expect(loadConfig({ WORKER_LABELS: 'pool=gpu, region=eu-west,,team/x=' }).WORKER_LABELS).to.deep.equal({ pool: 'gpu', region: 'eu-west', 'team/x': '' });
    expect(() => loadConfig({ WORKER_LABELS: 'pool' })).to.throw(/WORKER_LABELS="pool": "pool" must be key=value/);
    expect(() => loadConfig({ WORKER_LABELS: 'a=1,a=2' })).to.throw(/key "a" is repeated/);
    expect(() => loadConfig({ WORKER_LABELS: '__proto__=x' })).to.throw(/key "__proto__"/);
    expect(() => loadConfig({ WORKER_LABELS: 'pool=a b' })).to.throw(/value "a b"/);
    expect(() => loadConfig({ WORKER_HEARTBEAT_MS: '10' })).to.throw(/WORKER_HEARTBEAT_MS/);
  });
});
