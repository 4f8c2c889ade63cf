/**
 * The one reader of ioredis pipelines' replies for the stores. ioredis resolves `pipeline.exec()`
 * with an `[error, reply]` pair per command: a command timeout (REDIS_COMMAND_TIMEOUT_MS) or a
 * connection that is closed or reconnecting fails each command, not the call (ioredis' README,
 * "Pipelining": "Each response follows the format `[err, result]`"). A store that read the
 * replies alone would take an unavailable Redis for missing data, and its caller would fail on an
 * undefined reply (a 500) where the API answers Redis trouble with 503.
 */
import type { ChainableCommander } from 'ioredis';

/**
 * Sends `pipeline` and returns its commands' replies, in order.
 * @returns one reply per command queued on it (none for an empty pipeline).
 * @throws Error the first failed command's error, as a single command's call would reject with it
 *   (toAppError answers an unreachable or timed-out Redis with 503 SERVICE_UNAVAILABLE).
 */
export async function pipelineReplies(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  const replies = new Array<unknown>(results.length);
  for (let i = 0; i < results.length; i++) {
    const [err, reply] = results[i]!;
    if (err) throw err;
    replies[i] = reply;
  }
  return replies;
}
