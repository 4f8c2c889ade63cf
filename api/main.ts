import { pathToFileURL } from 'node:url';
import { loadConfig, type Config } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { startApi, type RunningApi } from './server.js';

/** Runs the API process until SIGTERM / SIGINT, then drains (SHUTDOWN_GRACE_MS). */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger('api', config.LOG_LEVEL);
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception', { error: err.message, stack: err.stack });
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: String(err) }));
  let api: RunningApi;
  try {
    api = await startApi(config, logger);
  } catch (err) {
    logger.error('api failed to start', { error: (err as Error).message });
    process.exit(1);
  }
  const stop = (signal: string) => {
    logger.info('signal received', { signal });
    api.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  // `on`, not `once`: a repeated signal (the process group's and `npm start`'s own SIGTERM) must not
  // kill a draining process by the default action; stop is idempotent (close returns the same drain).
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();
