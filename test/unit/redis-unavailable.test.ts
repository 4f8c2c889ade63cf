import { expect } from 'chai';
import { isRedisUnavailable, toAppError } from '../../shared/errors/index.js';
import { errorKind, ThrottledLog } from '../../shared/throttled-log.js';
import { memoryLogger } from '../helpers/stack.js';

/** An error as ioredis raises a Redis error reply. */
const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('isRedisUnavailable (shared/errors/redis-unavailable.ts): failovers are 503, never 500', () => {
  const unavailable: Array<[string, Error]> = [
    ['MOVED past the redirections', reply('MOVED 16215 127.0.0.1:7002')],
    ['ASK', reply('ASK 3999 127.0.0.1:7001')],
    ['CLUSTERDOWN', reply('CLUSTERDOWN The cluster is down')],
    ['CLUSTERDOWN of a slot', reply('CLUSTERDOWN Hash slot not served')],
    ['TRYAGAIN', reply('TRYAGAIN Multiple keys request during rehashing of slot')],
    ['READONLY', reply("READONLY You can't write against a read only replica.")],
    ['READONLY from a script', reply("READONLY You can't write against a read only replica. script: 4e6d8fc8, on @user_script:12.")],
    ['LOADING', reply('LOADING Redis is loading the dataset in memory')],
    ['MASTERDOWN', reply('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.')],
    ['NOREPLICAS', reply('NOREPLICAS Not enough good replicas to write.')],
    ['UNBLOCKED', reply('UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)')],
    ['too many redirections (ioredis Cluster)', new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 12182 127.0.0.1:7001')],
    ["a Cluster that isn't ready", new Error("Cluster isn't ready and enableOfflineQueue options is false")],
    ['a failed slot refresh', Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError' })],
    ['no sentinel', new Error('None of the sentinels are available')],
    ['all sentinels unreachable', new Error('All sentinels are unreachable. Retrying from scratch after 2000ms.')],
    ['Connection is closed', new Error('Connection is closed.')],
    ['a command timeout', new Error('Command timed out')],
    ['a script past busy-reply-threshold (BUSY)', reply('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.')],
    ['a DNS failure', Object.assign(new Error('getaddrinfo ENOTFOUND redis-0.redis'), { code: 'ENOTFOUND' })],
    ['an unreachable host', Object.assign(new Error('connect EHOSTUNREACH 10.0.0.9:6379'), { code: 'EHOSTUNREACH' })],
  ];
  for (const [what, err] of unavailable) {
    it(`counts ${what} as Redis unavailable: SERVICE_UNAVAILABLE (503)`, () => {
      expect(isRedisUnavailable(err)).to.equal(true);
      const app = toAppError(err);
      expect(app.code).to.equal('SERVICE_UNAVAILABLE');
      expect(app.status).to.equal(503);
      expect(app.message).not.to.contain('127.0.0.1');
      expect(isRedisUnavailable(app), 'the AppError made of it, by its cause').to.equal(true);
    });
  }

  for (const [what, err] of [
    ['a script bug', reply('ERR user_script:1: Script attempted to access nonexistent global variable')],
    ['a wrong type', reply('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a CROSSSLOT key set (a bug: all keys share one hash tag)', reply("CROSSSLOT Keys in request don't hash to the same slot")],
    ['a programming error', new TypeError('cannot read properties of undefined')],
    ['a word in a sentence', new Error('the file was MOVED elsewhere')],
    ['a RESTORE onto an existing key (BUSYKEY)', reply('BUSYKEY Target key name already exists.')],
  ] as const) {
    it(`does not count ${what} as Redis unavailable`, () => {
      expect(isRedisUnavailable(err)).to.equal(false);
      expect(toAppError(err).code).to.equal('INTERNAL_ERROR');
    });
  }
});

describe('errorKind (shared/throttled-log.ts)', () => {
  it('names an error by its errno code, its Redis prefix, or its message without numbers', () => {
    expect(errorKind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7000'), { code: 'ECONNREFUSED' }))).to.equal('ECONNREFUSED');
    expect(errorKind(reply('MOVED 16215 127.0.0.1:7002'))).to.equal('MOVED');
    expect(errorKind(reply('MOVED 1 127.0.0.1:7003'))).to.equal(errorKind(reply('MOVED 16215 127.0.0.1:7002')));
    expect(errorKind(new Error('Connection is closed.'))).to.equal('Connection is closed.');
    expect(errorKind(new Error('Reached the max retries per request limit (which is 1).'))).to.equal('Reached the max retries per request limit (which is #).');
  });
});

describe('ThrottledLog (shared/throttled-log.ts)', () => {
  it('logs the first error of a kind at once, then one line per interval with the count, and nothing once they stop', async () => {
    const { logger, lines } = memoryLogger();
    const log = new ThrottledLog(logger, 'warn', 100);
    for (let i = 0; i < 500; i++) log.note('worker error', reply(`MOVED ${i} 127.0.0.1:7002`), { queue: 'jobs' });
    log.note('worker error', new Error('Connection is closed.'), { queue: 'jobs' });
    expect(lines.map((l) => [l.message, l.error_kind, l.count])).to.deep.equal([
      ['worker error', 'MOVED', 1],
      ['worker error', 'Connection is closed.', 1],
    ]);
    expect(lines[0]).to.include({ level: 'warn', queue: 'jobs' });
    await new Promise((r) => setTimeout(r, 150));
    expect(lines.slice(2).map((l) => [l.error_kind, l.count, l.interval_ms])).to.deep.equal([['MOVED', 499, 100]]);
    log.note('worker error', reply('MOVED 7 127.0.0.1:7002'), { queue: 'jobs' });
    await new Promise((r) => setTimeout(r, 250));
    expect(lines.slice(3).map((l) => [l.error_kind, l.count])).to.deep.equal([['MOVED', 1]]);
    await new Promise((r) => setTimeout(r, 250));
    expect(lines).to.have.length(4);
    log.flush();
  });
});
