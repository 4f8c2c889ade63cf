import { z } from 'zod';

/** Reads an env string as a boolean: `true|1|yes|on` and `false|0|no|off` (any case). */
const boolFromEnv = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', '1', 'yes', 'on', 'false', '0', 'no', 'off'].includes(v), {
    message: 'must be true or false',
  })
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/**
 * The service's configuration, one key per environment variable of the same name.
 * Every process (api, worker, `npm start`) reads it once through {@link loadConfig}; nothing else
 * reads `process.env`.
 */
export const ConfigSchema = z.object({
  /** API listen port. Default 8000 (seed 002's base URL). 0 picks a free port (tests). */
  PORT: int(0, 65535).default(8000),
  /** Address the API and worker HTTP servers bind to. Default 0.0.0.0 (containers). */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Redis URL, e.g. `redis://127.0.0.1:6379/0`. Unset: `npm start` launches its own redis-server; api and worker require it. */
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), { message: 'must start with redis:// or rediss://' })
    .optional(),
  /** Key prefix of every queue and record key. Wrapped in `{}` so all keys share one Redis Cluster hash slot. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('fnqueue'),
  /** Worker processes started by `npm start`. Default 2. */
  WORKERS: int(1, 64).default(2),
  /** Jobs one worker process runs at once (BullMQ Worker concurrency). Default 4. */
  WORKER_CONCURRENCY: int(1, 256).default(4),
  /** Warm child processes per worker; at most this many algorithms run at once. Default: WORKER_CONCURRENCY. */
  RUNNER_POOL_SIZE: int(1, 256).optional(),
  /** Port of a worker's own /metrics and /healthz server. 0 picks a free port. Default 9100. */
  WORKER_PORT: int(0, 65535).default(9100),
  /** Seconds a job record (and its result) is kept after its last change, via Redis EXPIRE. Seed 002: 86400. */
  RESULT_TTL_SECONDS: int(1).default(86_400),
  /** How long `POST /invoke` waits for the job before answering 504 TIMEOUT with the job_id. Default 30000 ms. */
  INVOKE_TIMEOUT_MS: int(1).default(30_000),
  /** Longest one algorithm run may take; past it the child process is killed and the job fails with TIMEOUT. Default 60000 ms. */
  ALGORITHM_TIMEOUT_MS: int(1).default(60_000),
  /** BullMQ lock duration: a job whose worker stops renewing its lock this long is stalled and re-queued. Default 30000 ms. */
  JOB_LOCK_MS: int(1000).default(30_000),
  /** How often workers look for stalled jobs (BullMQ stalledInterval). Default 30000 ms. */
  STALLED_INTERVAL_MS: int(500).default(30_000),
  /** Webhook retry delays after the first attempt, comma-separated ms. Seed 002: 3 retries at 1 s, 5 s, 15 s. */
  WEBHOOK_RETRY_DELAYS_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds, e.g. 1000,5000,15000')
    .default('1000,5000,15000')
    .transform((s) => s.split(',').map(Number)),
  /** Timeout of one webhook attempt. Seed 002: 10 s. */
  WEBHOOK_TIMEOUT_MS: int(1).default(10_000),
  /** Grace period for SIGTERM: in-flight requests and active jobs get this long to finish. Default 25000 ms. */
  SHUTDOWN_GRACE_MS: int(0).default(25_000),
  /** Largest accepted request body. Larger bodies get 413 PAYLOAD_TOO_LARGE. Default 1mb. */
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'a size such as 100kb or 1mb')
    .default('1mb'),
  /** winston level: error, warn, info, http, verbose, debug. `http` adds one line per request. */
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  /** Also register the diagnostic algorithms Echo, Sleep and Crash (tests, benchmarks). Default false. */
  DIAGNOSTIC_ALGORITHMS: boolFromEnv.default(false),
  /** Folder for `npm start`'s own redis-server (AOF). Default ./.data. */
  DATA_DIR: z.string().min(1).default('./.data'),
});

/** The parsed, frozen configuration. */
export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Thrown by {@link loadConfig}; its message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment map once (of-watchdog's `config.New(env)`).
 * Empty strings count as unset.
 * @throws ConfigError naming each bad variable and why.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const keys = Object.keys(ConfigSchema.shape);
  const input: Record<string, string> = {};
  for (const key of keys) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}=${JSON.stringify(input[String(i.path[0])])}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  return Object.freeze(parsed.data);
}

/** Warm children per worker: RUNNER_POOL_SIZE, else WORKER_CONCURRENCY. */
export function runnerPoolSize(config: Config): number {
  return config.RUNNER_POOL_SIZE ?? config.WORKER_CONCURRENCY;
}
