/**
 * `npm run keys -- <command>`: API keys for AUTH_ENABLED=true, in the Redis of REDIS_URL under
 * QUEUE_PREFIX (the same as the API's).
 *
 *   npm run keys -- create --name ci --scope write   prints the new key once (stdout), never again
 *        [--namespace <ns> ...]                     limits the key to those namespaces (docs/security.md#namespaces)
 *   npm run keys -- list [--json]                    ids, names, scopes, dates; no secrets
 *   npm run keys -- revoke <id>                      refused by every API process within 5 s
 *
 * Exit codes: 0 done, 1 failed (unknown id, Redis unreachable), 2 bad usage or configuration.
 */
import { parseArgs } from 'node:util';
import { ApiKeyStore, type ApiKeyRecord } from '../shared/store/api-key-store.js';
import { isScope, SCOPES, type Scope } from '../shared/auth/scopes.js';
import { loadConfig, redisTopology } from '../shared/config.js';
import { NAMESPACE_PATTERN, NAMESPACE_RULE } from '../shared/schemas/namespace.js';
import { keysFor } from '../shared/store/keys.js';
import { closeRedis, createRedis, describeTopology, waitReady } from '../shared/queue/redis.js';

/** How long to wait for Redis before giving up. */
const REDIS_READY_TIMEOUT_MS = 5_000;

const USAGE = `usage:
  npm run keys -- create --name <name> --scope <${SCOPES.join('|')}> [--namespace <ns> ...]
  npm run keys -- list [--json]
  npm run keys -- revoke <id>
Reads REDIS_URL and QUEUE_PREFIX like the API. Scopes: admin includes write, write includes read.`;

/** A usage or configuration problem: exit code 2. */
class UsageError extends Error {}

function table(records: ApiKeyRecord[]): string {
  const rows = [['ID', 'NAME', 'SCOPES', 'NAMESPACES', 'CREATED', 'REVOKED'], ...records.map((r) => [r.id, r.name, r.scopes.join(' '), r.namespaces?.join(' ') ?? '*', r.created_at, r.revoked_at ?? '-'])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, scope: { type: 'string', multiple: true }, namespace: { type: 'string', multiple: true }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) throw new UsageError(USAGE);

  let run: (store: ApiKeyStore) => Promise<number>;
  if (command === 'create') {
    const name = values.name?.trim();
    if (!name || name.length > 64 || /[\x00-\x1f\x7f]/.test(name)) throw new UsageError(`create needs --name <1 to 64 printable characters>\n${USAGE}`);
    const scopes = values.scope ?? [];
    const bad = scopes.filter((s) => !isScope(s));
    if (!scopes.length || bad.length) throw new UsageError(`create needs --scope ${SCOPES.join('|')}${bad.length ? ` (not a scope: ${bad.join(', ')})` : ''}\n${USAGE}`);
    const namespaces = values.namespace;
    const badNs = (namespaces ?? []).filter((n) => !NAMESPACE_PATTERN.test(n));
    if (badNs.length) throw new UsageError(`--namespace ${NAMESPACE_RULE} (not one: ${badNs.join(', ')})\n${USAGE}`);
    run = async (store) => {
      const { key, record } = await store.create(name, scopes as Scope[], namespaces);
      const limited = record.namespaces ? `, namespaces ${record.namespaces.join(' ')}` : '';
      process.stderr.write(`created API key ${record.id} (name ${record.name}, scopes ${record.scopes.join(' ')}${limited}). It is shown only this once: store it now.\n`);
      process.stdout.write(`${key}\n`);
      return 0;
    };
  } else if (command === 'list') {
    run = async (store) => {
      const records = await store.list();
      process.stdout.write(values.json ? `${JSON.stringify(records)}\n` : `${table(records)}\n`);
      return 0;
    };
  } else if (command === 'revoke') {
    const id = rest[0];
    if (!id || rest.length > 1) throw new UsageError(`revoke needs one key id (see list)\n${USAGE}`);
    run = async (store) => {
      const record = await store.revoke(id);
      if (!record) {
        process.stderr.write(`no API key with id ${id}\n`);
        return 1;
      }
      process.stdout.write(`revoked API key ${record.id} (name ${record.name}) at ${record.revoked_at}; API processes refuse it within 5 s\n`);
      return 0;
    };
  } else {
    throw new UsageError(`unknown command ${command}\n${USAGE}`);
  }

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let topology;
  try {
    topology = redisTopology(config);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}: the Redis the API uses (npm start logs its url)`);
  }
  // Unreachable Redis is reported once, by the wait below.
  const redis = createRedis(topology, 'request', 'keys-cli', { onError: () => undefined });
  try {
    await waitReady(redis, REDIS_READY_TIMEOUT_MS).catch(() => {
      throw new Error(`cannot reach Redis at ${describeTopology(topology)}`);
    });
    return await run(new ApiKeyStore(redis, keysFor(config.QUEUE_PREFIX)));
  } finally {
    await closeRedis(redis);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
  },
);
