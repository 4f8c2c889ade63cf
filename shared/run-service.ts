import { loadConfig, type Config } from './config.js';
import { ConfigError, errorFields } from './errors/index.js';
import { createLogger, type Logger } from './logger.js';
import { packageVersion } from './package-version.js';
import { startTracing, stopTracing } from './tracing.js';

/** A started service: what {@link runService} stops on a signal. */
export interface StoppableService {
  /** Drains and stops; idempotent (a second call returns the same drain). */
  close(): Promise<void>;
  /**
   * Readiness goes false while the service keeps serving: a service that has it gets SHUTDOWN_DELAY_MS
   * between this and {@link close} on SIGTERM, for load balancers to stop sending it traffic.
   */
  markUnready?(): void;
}

/**
 * The backstop of a shutdown, ms past SHUTDOWN_DELAY_MS (when the service has a readiness to
 * withdraw) + SHUTDOWN_GRACE_MS: a drain still going then is abandoned and the process exits 1.
 * Under the 5 s that a platform gives on top of those (docs/deployment.md, "Stopping on time").
 */
export const SHUTDOWN_BACKSTOP_MS = 4500;

/** The exit code of a bad configuration (docs/configuration.md): a bad value, or a required variable unset. */
export const CONFIG_ERROR_EXIT_CODE = 2;

/**
 * The `main` of the api and worker processes: reads the configuration from the process's
 * environment, logs uncaught errors through the service's logger, starts the service, and on
 * SIGTERM / SIGINT marks it unready, waits SHUTDOWN_DELAY_MS (when it has a readiness to withdraw,
 * {@link StoppableService.markUnready}), then drains it (exit 0, or 1 if the drain fails or is still
 * going {@link SHUTDOWN_BACKSTOP_MS} after the delay and SHUTDOWN_GRACE_MS): of-watchdog's order. A bad configuration, found by
 * `loadConfig` or by `start` (a {@link ConfigError}, e.g. REDIS_URL unset), exits 2 with its
 * message on stderr; any other failed start exits 1.
 * @param name the logger's `service` (api, worker).
 */
export async function runService(name: string, start: (config: Config, logger: Logger) => Promise<StoppableService>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(CONFIG_ERROR_EXIT_CODE);
  }
  const logger = createLogger(name, config.LOG_LEVEL);
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception', errorFields(err));
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', errorFields(err)));
  let service: StoppableService;
  try {
    // Before start: its Queues and Workers take their telemetry from it (shared/tracing.ts).
    if (await startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME ?? `fnqueue-${name}`, serviceVersion: packageVersion() })) {
      logger.info('tracing on', { otlp_endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
    }
    service = await start(config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${err.message}\n`);
      process.exit(CONFIG_ERROR_EXIT_CODE);
    }
    logger.error(`${name} failed to start`, errorFields(err));
    process.exit(1);
  }
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    logger.info('signal received', { signal });
    if (!stopping) {
      const limitMs = (service.markUnready ? config.SHUTDOWN_DELAY_MS : 0) + config.SHUTDOWN_GRACE_MS + SHUTDOWN_BACKSTOP_MS;
      setTimeout(() => {
        logger.error('shutdown did not finish in time; exiting', { limit_ms: limitMs });
        process.exit(1);
      }, limitMs).unref();
    }
    stopping ??= (async () => {
      if (!service.markUnready) return service.close();
      service.markUnready();
      if (config.SHUTDOWN_DELAY_MS > 0) {
        logger.info('not ready; serving until the shutdown delay ends', { delay_ms: config.SHUTDOWN_DELAY_MS });
        await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DELAY_MS));
      }
      await service.close();
    })().finally(stopTracing);
    stopping.then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', errorFields(err));
        process.exit(1);
      },
    );
  };
  // `on`, not `once`: a repeated signal (the process group's and `npm start`'s own SIGTERM) must not
  // kill a draining process by the default action; stop is idempotent (close returns the same drain).
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
