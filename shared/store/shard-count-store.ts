/**
 * The QUEUE_SHARDS a deployment's keys were written with (docs/deployment.md#changing-queue_shards),
 * kept in `keys.shardCount` under `{QUEUE_PREFIX}`. A job's shard is its id mod QUEUE_SHARDS, so a
 * process running with another count would look for records, queues and indexes in the wrong
 * shards: jobs would be hidden, and queued ones never run. Every api and worker process checks the
 * count when it starts and refuses to run with another one.
 */
import type { RedisConnection as Redis } from '../queue/redis.js';
import { ConfigError } from '../errors/index.js';
import type { Keys } from './keys.js';

/** The procedure an operator follows to change QUEUE_SHARDS, named in the refusal. */
const PROCEDURE = 'to change it: drain (no waiting, delayed or running jobs), stop every api and worker process, wait RESULT_TTL_SECONDS if finished jobs must stay readable, delete the key, set QUEUE_SHARDS everywhere, start (docs/deployment.md "Changing QUEUE_SHARDS")';

/**
 * Records this process's QUEUE_SHARDS when the deployment has none yet (the first process to
 * start), else checks it against the recorded one. A deployment from before sharding (no count
 * recorded, jobs in `{QUEUE_PREFIX}`) counts as QUEUE_SHARDS=1 while shard 0 still lists a job.
 * @param ttlSeconds RESULT_TTL_SECONDS: index entries older than this are expired records.
 * @throws ConfigError when the deployment's keys were written with another QUEUE_SHARDS; the message
 *   names both counts, the key and the procedure. Rejects with Redis's error when it is unreachable.
 */
export async function ensureShardCount(redis: Redis, keys: Keys, ttlSeconds: number): Promise<void> {
  let stored = await redis.get(keys.shardCount);
  if (stored === null) {
    if (keys.shards > 1) {
      const cutoff = Date.now() - ttlSeconds * 1000;
      const live = await redis.zcount(keys.shard(0).jobIndex('all'), cutoff, '+inf');
      if (live > 0) stored = '1';
    }
    if (stored === null) {
      await redis.set(keys.shardCount, String(keys.shards), 'NX');
      stored = await redis.get(keys.shardCount);
    }
  }
  if (stored !== String(keys.shards)) {
    throw new ConfigError(
      `QUEUE_SHARDS is ${keys.shards} but this deployment's jobs were written with QUEUE_SHARDS=${stored} (Redis key ${keys.shardCount}${stored === '1' ? ', or jobs from before sharding' : ''}): ` +
        `starting would hide its jobs. Start with QUEUE_SHARDS=${stored}; ${PROCEDURE}`,
    );
  }
}
