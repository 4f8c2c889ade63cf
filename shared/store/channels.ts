/**
 * fnqueue's pub/sub channels: job record changes (`keys.jobEvents`, published by the job scripts and
 * here) and cancel requests (`keys.jobCancel`, heard by every worker), and the server commands the
 * probes use. Subscribers are connections of their own (a subscribed connection issues no other command).
 */
import { isRedisOutOfMemory } from '../errors/index.js';
import type { RedisConnection as Redis } from '../queue/redis.js';

/** Publishes `message` on `channel`. */
export async function publish(redis: Redis, channel: string, message: string): Promise<void> {
  await redis.publish(channel, message);
}

/**
 * Subscribes `subscriber` to `channel` and hands each message on it to `onMessage`.
 * @returns once subscribed.
 */
export async function subscribe(subscriber: Redis, channel: string, onMessage: (message: string) => void): Promise<void> {
  subscriber.on('message', (ch: string, message: string) => {
    if (ch === channel) onMessage(message);
  });
  await subscriber.subscribe(channel);
}

/** PING: resolves true when Redis answers, false when it fails. */
export function ping(redis: Redis): Promise<boolean> {
  return redis.ping().then(
    () => true,
    () => false,
  );
}

/** How long a {@link writeProbe} key lives, ms: it only has to be written, never read. */
const WRITE_PROBE_TTL_MS = 5000;

/**
 * Whether the node that holds `key` (a key under fnqueue's hash tag: the master of its slot on a
 * Cluster, the master on Sentinel) takes writes now: `SET key 1 PX 5000`. False when it fails
 * (unreachable, READONLY replica, CLUSTERDOWN, timed out), unlike PING, which any node answers.
 * A master past its maxmemory (OOM) counts as taking writes: it is the right node and it answers;
 * reads go on, and each refused write answers 503 on its own (docs/operations.md).
 */
export function writeProbe(redis: Redis, key: string): Promise<boolean> {
  return redis.set(key, '1', 'PX', WRITE_PROBE_TTL_MS).then(
    () => true,
    (err: unknown) => isRedisOutOfMemory(err),
  );
}

/** {@link writeProbe} of every key at once (one per shard, QUEUE_SHARDS: each shard's master must accept writes). */
export async function writeProbeAll(redis: Redis, keys: readonly string[]): Promise<boolean> {
  return (await Promise.all(keys.map((key) => writeProbe(redis, key)))).every(Boolean);
}

/** INFO's text (`key:value` lines, `#` section headers). Rejects when Redis is unreachable. */
export function serverInfo(redis: Pick<Redis, 'info'>): Promise<string> {
  return redis.info();
}
