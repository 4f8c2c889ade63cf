import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Where Redis commands may be issued: the stores, and the connection factory (QUIT on close). */
const ALLOWED = [/^shared\/store\//, /^shared\/queue\/redis\.ts$/];

/** Redis commands fnqueue uses or could: called on a Redis connection, a pipeline or a transaction. */
const COMMANDS = [
  'get', 'set', 'del', 'exists', 'expire', 'pexpire', 'ttl', 'incr', 'mget', 'keys', 'scan',
  'hget', 'hset', 'hsetnx', 'hgetall', 'hmget', 'hdel', 'hincrby',
  'zadd', 'zrem', 'zrange', 'zrevrange', 'zrangebyscore', 'zrevrangebyscore', 'zremrangebyscore', 'zcard', 'zscore', 'zcount',
  'sadd', 'srem', 'smembers', 'sismember', 'scard', 'lrange', 'rpush', 'lpush', 'ltrim',
  'publish', 'subscribe', 'psubscribe', 'info', 'ping', 'eval', 'evalsha', 'call', 'defineCommand',
];
const RECEIVER = String.raw`\b(?:redis|connection|conn|subscriber|client|cancelSubscriber)\b(?:\(\))?`;
const COMMAND_CALL = new RegExp(String.raw`${RECEIVER}\s*(?:\?\.|\.)\s*(?:${COMMANDS.join('|')})\s*\(`);
const BATCH = /\.\s*(?:pipeline|multi)\s*\(\s*\)/;
const VALUE_IMPORT = /^import\s+(?!type\b)[^;]*from\s+'ioredis'/m;

/** Files under `dir` whose name ends with `ext`. */
function sources(dir: string, ext = '.ts'): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path, ext));
    else if (name.endsWith(ext)) out.push(path);
  }
  return out;
}

/** `file:line: text` for every Redis command issued, and every runtime import of ioredis, outside the stores. */
export function storeBoundaryViolations(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const rel = relative(ROOT, file);
    if (ALLOWED.some((re) => re.test(rel))) continue;
    const text = readFileSync(file, 'utf8');
    if (VALUE_IMPORT.test(text)) found.push(`${rel}: imports ioredis (only shared/queue/redis.ts opens connections)`);
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (/^\s*\*/.test(code)) return; // TSDoc
      if (COMMAND_CALL.test(code) || BATCH.test(code)) found.push(`${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

/** Commands whose first argument is no key: a channel, or none. */
const KEYLESS = new Set(['PUBLISH', 'TIME', 'INFO']);
/** First arguments that are keys: KEYS entries, or locals the scripts fill from KEYS only (queued, sizes, total_key: the parameters of includes/queued-helpers.lua). */
const KEY_ARG = /^(?:KEYS\[[^\]]+\]|key|rec|attempts|index\[\w+\]|unpack\(args|queued|sizes|total_key)$/;

/** `file: call` for every Redis call of a script whose key is not taken from KEYS (illegal on Redis Cluster). */
export function luaKeyViolations(files: readonly { name: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { name, text } of files) {
    for (const m of text.matchAll(/redis\.call\('([A-Z]+)',\s*([^,)]+)/g)) {
      const [call, command, first] = m as unknown as [string, string, string];
      if (KEYLESS.has(command)) continue;
      if (!KEY_ARG.test(first.trim()) || first.includes('..')) found.push(`${name}: ${call}`);
    }
  }
  return found;
}

function luaFiles(): { name: string; text: string }[] {
  const dir = join(ROOT, 'shared/store/lua');
  return sources(dir, '.lua').map((path) => ({ name: relative(ROOT, path), text: readFileSync(path, 'utf8') }));
}

describe('Lua scripts (shared/store/lua: every key in KEYS, as Redis Cluster requires)', () => {
  it('take every key they touch from KEYS', () => {
    const files = luaFiles();
    expect(files.length).to.be.greaterThan(10);
    expect(luaKeyViolations(files)).to.deep.equal([]);
  });

  it('would catch a key built from ARGV (the check can fail)', () => {
    const probe = { name: 'probe.lua', text: "redis.call('ZREM', ARGV[4] .. 'status:' .. old, id)\nredis.call('EXPIRE', ARGV[3] .. version, 1)" };
    expect(luaKeyViolations([probe])).to.have.length(2);
  });
});

describe('the store boundary (docs/architecture.md: one store per resource under shared/store/)', () => {
  it('finds no Redis command issued outside shared/store/ in api/, worker/ and shared/', () => {
    const files = ['api', 'worker', 'shared'].flatMap((d) => sources(join(ROOT, d)));
    expect(storeBoundaryViolations(files)).to.deep.equal([]);
  });

  it('would catch a command, a pipeline and a runtime ioredis import (the check can fail)', () => {
    const probe = join(ROOT, 'test/unit/fixtures/store-boundary-probe.ts.txt');
    const found = storeBoundaryViolations([probe]);
    expect(found.some((f) => f.includes('imports ioredis'))).to.equal(true);
    expect(found.some((f) => f.includes("this.deps.redis.hget("))).to.equal(true);
    expect(found.some((f) => f.includes('.pipeline()'))).to.equal(true);
    expect(found.some((f) => f.includes('subscriber.subscribe('))).to.equal(true);
  });
});
