/**
 * The one loader of fnqueue's Lua scripts (shared/store/lua/<operation>.lua, one operation per file,
 * as BullMQ's src/commands/ keeps them). Each script declares every key it touches in KEYS, so it
 * runs on Redis Cluster too. A line `--- @include "<name>"` is replaced by lua/includes/<name>.lua.
 *
 * Scripts are ioredis custom commands (defineCommand: EVALSHA with a fallback to EVAL), defined once
 * per connection. Scripts, not MULTI: ioredis copies every script defined on a connection (BullMQ
 * defines ~64 on the API's shared one) into each new transaction, which made multi() the API's
 * hottest call.
 */
import { readFileSync } from 'node:fs';
import type { RedisConnection as Redis } from '../queue/redis.js';

const LUA_DIR = new URL('./lua/', import.meta.url);
const INCLUDE = /^--- @include "([a-z0-9-]+)"$/gm;

/** Script name → number of KEYS (`undefined`: variable, given as the first argument). */
const SCRIPTS = {
  'job-create': undefined,
  'job-create-many': undefined,
  'job-update-live': 11,
  'job-start-attempt': 10,
  'job-list': undefined,
  'hash-update-if-exists': 1,
  'webhook-start-attempt': 1,
  'webhook-set-outcome': 1,
  'webhook-slot-acquire': 1,
  'schedule-create': 3,
  'schedule-update': 2,
  'schedule-delete': 3,
  'function-create': 5,
  'function-update': 6,
  'function-delete': 7,
  'function-set-status': 2,
  'function-record-run': 3,
  'job-log-append': 3,
  'queued-reserve': 3,
  'queued-release': 3,
  'job-definition-create': 2,
  'job-definition-update': 1,
  'job-definition-delete': 4,
  'job-add-dependent': 2,
  'job-dependency-done': 1,
  'job-watch': 1,
  'idempotency-release': 1,
  'idempotency-take-over': 1,
} as const satisfies Record<string, number | undefined>;

/** The name of one script: its file name in lua/ without `.lua`. */
export type ScriptName = keyof typeof SCRIPTS;

type ScriptArg = string | number;
/** A connection with the scripts defined, called by their command name (see {@link commandName}). */
export type ScriptedRedis = Redis & Record<string, (...args: ScriptArg[]) => Promise<unknown>>;

/** The source of a script with its includes expanded. @throws Error when a file is missing. */
export function scriptSource(name: string): string {
  const text = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return text.replace(INCLUDE, (_, include: string) => readFileSync(new URL(`includes/${include}.lua`, LUA_DIR), 'utf8'));
}

/** The ioredis command of a script: `fnq` + its name in camel case (`job-create` → `fnqJobCreate`). */
export function commandName(name: ScriptName): string {
  return `fnq${name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`;
}

const sources = new Map<ScriptName, string>();

/** Defines every script on `redis` (once per connection). @returns the same connection, typed. */
export function withScripts(redis: Redis): ScriptedRedis {
  if (!(commandName('job-create') in redis)) {
    for (const [name, numberOfKeys] of Object.entries(SCRIPTS) as [ScriptName, number | undefined][]) {
      let lua = sources.get(name);
      if (lua === undefined) sources.set(name, (lua = scriptSource(name)));
      redis.defineCommand(commandName(name), numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
    }
  }
  return redis as ScriptedRedis;
}

/**
 * Runs script `name` on `redis` (its scripts defined by {@link withScripts}).
 * @param args KEYS then ARGV; for a script with a variable number of keys, that number first.
 */
export function runScript<T>(redis: ScriptedRedis, name: ScriptName, ...args: ScriptArg[]): Promise<T> {
  let command = COMMAND_NAMES.get(name);
  if (command === undefined) COMMAND_NAMES.set(name, (command = commandName(name)));
  return redis[command]!(...args) as Promise<T>;
}

/** The command name of each script run so far ({@link commandName} once per script, not per call). */
const COMMAND_NAMES = new Map<ScriptName, string>();
