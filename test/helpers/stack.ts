import winston from 'winston';
import Transport from 'winston-transport';
import { startApi, type RunningApi } from '../../api/server.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { startWorker, type RunningWorker } from '../../worker/main.js';
import { track, untrack } from './resources.js';

/** A logger that keeps lines in memory (and prints them with FNQUEUE_TEST_LOGS=1). */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('test', 'debug', [
    new winston.transports.Console({ silent: !process.env.FNQUEUE_TEST_LOGS }),
    new (class extends Transport {
      override log(info: Record<string, unknown>, next: () => void) {
        lines.push(info);
        next();
      }
    })(),
  ]);
  return { logger, lines };
}

/** An API and worker in this process, on a test Redis. */
export interface Stack {
  config: Config;
  api: RunningApi;
  worker: RunningWorker;
  /** `http://127.0.0.1:<api port>`. */
  url: string;
  lines: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Starts the API (port 0) and one worker (port 0) in-process against `redis`, with a queue
 * prefix of their own so tests never share queues. `env` overrides the configuration.
 * @param redis a REDIS_URL, or the variables of another topology (`{REDIS_CLUSTER_NODES: …}`,
 *   `{REDIS_SENTINELS: …, REDIS_SENTINEL_NAME: …}`).
 */
export async function startStack(redis: string | Record<string, string>, env: Record<string, string> = {}): Promise<Stack> {
  const config = loadConfig({
    ...(typeof redis === 'string' ? { REDIS_URL: redis } : redis),
    PORT: '0',
    WORKER_PORT: '0',
    HOST: '127.0.0.1',
    QUEUE_PREFIX: `t${Math.random().toString(36).slice(2, 10)}`,
    DIAGNOSTIC_ALGORITHMS: 'true',
    WORKER_CONCURRENCY: '2',
    SHUTDOWN_GRACE_MS: '5000',
    // Test receivers listen on 127.0.0.1, which the SSRF guard refuses (tests of the guard set false).
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  });
  const { logger, lines } = memoryLogger();
  const worker = await startWorker(config, logger);
  const api = await startApi(config, logger);
  const stack: Stack = {
    config,
    api,
    worker,
    url: `http://127.0.0.1:${api.port}`,
    lines,
    close: async () => {
      await api.close(1000);
      await worker.close(1000);
      untrack(stack);
    },
  };
  return track(`stack ${config.QUEUE_PREFIX}`, stack, stack.close);
}

/** An API without a worker, in this process, on `redisUrl`; `env` overrides the configuration. */
export async function startApiOnly(redisUrl: string, env: Record<string, string>): Promise<{ api: RunningApi; url: string; close(): Promise<void> }> {
  const config = loadConfig({ REDIS_URL: redisUrl, PORT: '0', HOST: '127.0.0.1', SHUTDOWN_GRACE_MS: '1000', DIAGNOSTIC_ALGORITHMS: 'true', ...env });
  const api = await startApi(config, memoryLogger().logger);
  const handle = {
    api,
    url: `http://127.0.0.1:${api.port}`,
    close: async () => {
      await api.close(500);
      untrack(handle);
    },
  };
  return track(`api ${config.QUEUE_PREFIX}`, handle, handle.close);
}
