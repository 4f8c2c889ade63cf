import { expect } from 'chai';
import { ConfigError, loadConfig, redisTopology } from '../../shared/config.js';
import { describeTopology } from '../../shared/queue/redis.js';

/** The message of the ConfigError `fn` throws. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('Redis topology configuration', () => {
  it('reads REDIS_URL as one node', () => {
    expect(redisTopology(loadConfig({ REDIS_URL: 'rediss://:pw@redis.test:6380/2' }))).to.deep.equal({ kind: 'single', url: 'rediss://:pw@redis.test:6380/2' });
  });

  it('reads REDIS_SENTINELS with its name, password, TLS, db and the data nodes credentials', () => {
    const t = redisTopology(
      loadConfig({
        REDIS_SENTINELS: ' 10.0.0.5:26379, sentinel-b:26380,[::1]:26381',
        REDIS_SENTINEL_NAME: 'fnqueue',
        REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
        REDIS_SENTINEL_TLS: 'yes',
        REDIS_PASSWORD: 'data-pw',
        REDIS_USERNAME: 'svc',
        REDIS_TLS: 'true',
        REDIS_DB: '3',
      }),
    );
    expect(t).to.deep.equal({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.5', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'fnqueue',
      sentinelPassword: 'sentinel-pw',
      sentinelTls: true,
      db: 3,
      username: 'svc',
      password: 'data-pw',
      tls: true,
    });
    expect(describeTopology(t)).to.equal('sentinel master fnqueue via 10.0.0.5:26379,sentinel-b:26380,::1:26381').and.not.contain('pw');
  });

  it('reads REDIS_CLUSTER_NODES and its NAT map', () => {
    const t = redisTopology(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_CLUSTER_NAT_MAP: '10.0.1.1:6379=203.0.113.5:7001,10.0.1.2:6379=203.0.113.5:7002', REDIS_PASSWORD: 'pw' }));
    expect(t).to.deep.equal({
      kind: 'cluster',
      nodes: [{ host: '127.0.0.1', port: 7000 }],
      natMap: { '10.0.1.1:6379': { host: '203.0.113.5', port: 7001 }, '10.0.1.2:6379': { host: '203.0.113.5', port: 7002 } },
      password: 'pw',
      tls: false,
    });
  });

  it('stops a process that needs Redis when none of the three is set, naming all three', () => {
    const config = loadConfig({});
    const message = configError(() => redisTopology(config));
    for (const name of ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES']) expect(message).to.contain(name);
  });

  for (const [title, env] of [
    ['REDIS_URL and REDIS_CLUSTER_NODES', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }],
    ['REDIS_URL and REDIS_SENTINELS', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' }],
    ['REDIS_SENTINELS and REDIS_CLUSTER_NODES', { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }],
  ] as const) {
    it(`refuses ${title} set together, asking for exactly one`, () => {
      const message = configError(() => loadConfig(env));
      expect(message).to.contain('exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES');
      for (const name of title.split(' and ')) expect(message).to.contain(name);
    });
  }

  it('refuses REDIS_SENTINELS without REDIS_SENTINEL_NAME', () => {
    expect(configError(() => loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379' }))).to.contain('REDIS_SENTINELS needs REDIS_SENTINEL_NAME');
  });

  it('refuses a setting of another topology: a sentinel name without sentinels, a NAT map without a cluster', () => {
    expect(configError(() => loadConfig({ REDIS_URL: 'redis://h:1', REDIS_SENTINEL_NAME: 'm' }))).to.contain('REDIS_SENTINEL_NAME applies only with REDIS_SENTINELS');
    expect(configError(() => loadConfig({ REDIS_SENTINELS: '127.0.0.1:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NAT_MAP: 'a:1=b:2' }))).to.contain('REDIS_CLUSTER_NAT_MAP applies only with REDIS_CLUSTER_NODES');
  });

  it('refuses data-node credentials beside REDIS_URL, which carries them, without echoing the password', () => {
    const message = configError(() => loadConfig({ REDIS_URL: 'redis://h:1', REDIS_PASSWORD: 'hunter2-pw' }));
    expect(message).to.contain('REDIS_PASSWORD applies to REDIS_SENTINELS and REDIS_CLUSTER_NODES').and.not.contain('hunter2');
    expect(configError(() => loadConfig({ REDIS_URL: 'redis://h:1', REDIS_TLS: 'true' }))).to.contain('rediss://');
    expect(configError(() => loadConfig({ REDIS_URL: 'redis://h:1', REDIS_DB: '2' }))).to.contain("the URL's path");
  });

  it('names a bad host:port list and a bad NAT pair', () => {
    expect(configError(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,nohost' }))).to.contain('REDIS_CLUSTER_NODES="127.0.0.1:7000,nohost": "nohost" is not host:port');
    expect(configError(() => loadConfig({ REDIS_CLUSTER_NODES: 'h:70000' }))).to.contain('"h:70000" is not host:port');
    expect(configError(() => loadConfig({ REDIS_SENTINELS: ' , ', REDIS_SENTINEL_NAME: 'm' }))).to.contain('at least one host:port');
    expect(configError(() => loadConfig({ REDIS_CLUSTER_NODES: 'h:1', REDIS_CLUSTER_NAT_MAP: '10.0.0.1:6379' }))).to.contain('is not announced_host:port=reachable_host:port');
  });
});
