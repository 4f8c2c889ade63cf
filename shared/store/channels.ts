/**
 * fnqueue's pub/sub channels: job record changes (`keys.jobEvents`, published by the job scripts and
 * here) and cancel requests (`keys.jobCancel`, heard by every worker), and the server commands the
 * probes use. Subscribers are connections of their own (a subscribed connection issues no other command).
 */
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

/** INFO's text (`key:value` lines, `#` section headers). Rejects when Redis is unreachable. */
export function serverInfo(redis: Pick<Redis, 'info'>): Promise<string> {
  return redis.info();
}
