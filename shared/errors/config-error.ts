/**
 * A bad configuration value: thrown by `loadConfig` (shared/config.ts) with a message naming every bad
 * variable, and for a variable a process cannot run without (REDIS_URL for the api and the worker).
 * The process's main exits 2 with the message (docs/configuration.md), as of-watchdog stops on bad config.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
