import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';

/** A started service: what {@link runService} stops on a signal. */
export interface StoppableService {
  /** Drains and stops; idempotent (a second call returns the same drain). */
  close(): Promise<void>;
}

/**
 * The `main` of the api and worker processes: reads the configuration (a bad value exits 2 with
 * the message), logs uncaught errors through the service's logger, starts the service (a failed
 * start exits 1), and drains it on SIGTERM / SIGINT (exit 0, or 1 if the drain fails).
 * @param name the logger's `service` (api, worker).
 */
export async function runService(name: string, start: (config: Config, logger: Logger) => Promise<StoppableService>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger(name, config.LOG_LEVEL);
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception', { error: err.message, stack: err.stack });
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: String(err) }));
  let service: StoppableService;
  try {
    service = await start(config, logger);
  } catch (err) {
    logger.error(`${name} failed to start`, { error: (err as Error).message });
    process.exit(1);
  }
  const stop = (signal: string) => {
    logger.info('signal received', { signal });
    service.close().then(
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
