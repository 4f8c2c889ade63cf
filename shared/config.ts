import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors/config-error.js';
import { redactText } from './logger.js';
import { MAX_RETRIES_LIMIT } from './schemas/job-record.js';
import { LabelListSchema } from './schemas/labels.js';
import { MAX_QUEUE_SHARDS } from './store/keys.js';
import { splitWebhookSecrets, webhookSecretProblem } from './webhook-secrets.js';

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
  /** API listen port. Default 8000 (the FunctionalScaffold API reference's base URL). 0 picks a free port (tests). */
  PORT: int(0, 65535).default(8000),
  /** Address the API and worker HTTP servers bind to. Default 0.0.0.0 (containers). */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Redis URL, e.g. `redis://127.0.0.1:6379/0`. Unset: `npm start` launches its own redis-server; api and worker require it. */
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), { message: 'must start with redis:// or rediss://' })
    .optional(),
  // Redis topology: exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (see redisTopology)
  /**
   * Sentinel: the sentinels, comma-separated `host:port` (e.g. `10.0.0.5:26379,10.0.0.6:26379`); the
   * master is asked of them by REDIS_SENTINEL_NAME and followed through failovers.
   */
  REDIS_SENTINELS: z.string().transform((s, ctx) => parseHostPorts(s, ctx)).optional(),
  /** Sentinel: the monitored master's name (`sentinel monitor <name> …`). Required with REDIS_SENTINELS. */
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  /** Sentinel: the sentinels' own password (their `requirepass`), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** Sentinel: connect to the sentinels over TLS. Default false. */
  REDIS_SENTINEL_TLS: boolFromEnv.default(false),
  /**
   * Cluster: some of the cluster's nodes, comma-separated `host:port` (any nodes: the rest are
   * discovered). Keys land on masters by their hash tag; redirections and failovers are followed.
   */
  REDIS_CLUSTER_NODES: z.string().transform((s, ctx) => parseHostPorts(s, ctx)).optional(),
  /**
   * Cluster: address translation for clusters whose nodes announce addresses the service cannot
   * reach (managed clusters behind NAT), comma-separated `announced_host:port=reachable_host:port`.
   */
  REDIS_CLUSTER_NAT_MAP: z
    .string()
    .transform((s, ctx) => {
      const map: Record<string, { host: string; port: number }> = {};
      for (const pair of s.split(',').map((x) => x.trim()).filter(Boolean)) {
        const [from, to, extra] = pair.split('=');
        const target = to === undefined || extra !== undefined ? undefined : parseHostPorts(to, ctx)[0];
        if (!from || !/^[^\s:]+:\d+$/.test(from.trim()) || !target) {
          ctx.addIssue({ code: 'custom', message: `"${pair}" is not announced_host:port=reachable_host:port` });
          return z.NEVER;
        }
        map[from.trim()] = target;
      }
      return map;
    })
    .optional(),
  /** Sentinel and Cluster: the data nodes' ACL user name (with REDIS_URL it goes in the URL). Default: none (`default`). */
  REDIS_USERNAME: z.string().min(1).optional(),
  /** Sentinel and Cluster: the data nodes' password (`requirepass` or the ACL user's); with REDIS_URL it goes in the URL. */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** Sentinel and Cluster: connect to the data nodes over TLS (with REDIS_URL: `rediss://`). Default false. */
  REDIS_TLS: boolFromEnv.optional(),
  /** Sentinel: the database number (a cluster has only 0; with REDIS_URL it is the URL's path). Default 0. */
  REDIS_DB: int(0, 15).optional(),
  /**
   * Replicas that must acknowledge a submitted job (Redis `WAIT`) before POST /jobs answers 202 and
   * POST /invoke and invocations enqueue it; fewer within REDIS_WAIT_TIMEOUT_MS answer 503. 0 (the
   * default) waits for none: a failover may lose the last jobs accepted (docs/deployment.md#redis-topologies).
   */
  REDIS_WAIT_REPLICAS: int(0, 16).default(0),
  /** WAIT's bound, ms; keep it below REDIS_COMMAND_TIMEOUT_MS (a longer one fails as a timed-out command, also 503). Default 1000. */
  REDIS_WAIT_TIMEOUT_MS: int(10, 60_000).default(1000),
  /** Key prefix of every queue and record key. Wrapped in `{}` so all keys share one Redis Cluster hash slot. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('fnqueue'),
  /**
   * Shards of the jobs queues and job records (docs/deployment.md#cluster-with-shards): each shard
   * is one hash tag, so a Redis Cluster spreads them over its masters. 1 (default) keeps every key
   * under `{QUEUE_PREFIX}`. A deployment keeps the count its keys were written with (shard-count-store.ts).
   */
  QUEUE_SHARDS: int(1, MAX_QUEUE_SHARDS).default(1),
  /** Worker processes started by `npm start`. Default 2. */
  WORKERS: int(1, 64).default(2),
  /** Jobs one worker process runs at once (BullMQ Worker concurrency). Default 4. */
  WORKER_CONCURRENCY: int(1, 256).default(4),
  /** Warm child processes per worker; at most this many algorithms run at once. Default: WORKER_CONCURRENCY, at least QUEUE_SHARDS. */
  RUNNER_POOL_SIZE: int(1, 256).optional(),
  /** Port of a worker's own /metrics and /healthz server. 0 picks a free port. Default 9100. */
  WORKER_PORT: int(0, 65535).default(9100),
  /** Seconds a job record (and its result) is kept after its last change, via Redis EXPIRE. The FunctionalScaffold API reference: 86400. */
  RESULT_TTL_SECONDS: int(1).default(86_400),
  /** How long `POST /invoke` waits for the job before answering 504 TIMEOUT with the job_id. Default 30000 ms. */
  INVOKE_TIMEOUT_MS: int(1).default(30_000),
  /** Longest one algorithm run may take; past it the child process is killed and the job fails with TIMEOUT. Default 60000 ms. */
  ALGORITHM_TIMEOUT_MS: int(1, 2_147_483_647).default(60_000),
  /** Largest `timeout_ms` a job may ask for; a larger one is capped to it. Default 3600000 ms (1 h). */
  JOB_TIMEOUT_MAX_MS: int(1, 2_147_483_647).default(3_600_000),
  /**
   * Largest `delay_ms` a job may ask for. Default 86400000 ms (1 day). The service also
   * never accepts more than RESULT_TTL_SECONDS: listings index jobs by creation time for that long.
   */
  JOB_DELAY_MAX_MS: int(0).default(86_400_000),
  /** Largest `max_retries` a job may ask for. Default 25. */
  JOB_MAX_RETRIES: int(0, MAX_RETRIES_LIMIT).default(25),
  /** BullMQ lock duration: a job whose worker stops renewing its lock this long is stalled and re-queued. Default 30000 ms. */
  JOB_LOCK_MS: int(1000).default(30_000),
  /** How often workers look for stalled jobs (BullMQ stalledInterval). Default 30000 ms. */
  STALLED_INTERVAL_MS: int(500).default(30_000),
  /** Webhook retry delays after the first attempt, comma-separated ms. The FunctionalScaffold API reference: 3 retries at 1 s, 5 s, 15 s. */
  WEBHOOK_RETRY_DELAYS_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds, e.g. 1000,5000,15000')
    .default('1000,5000,15000')
    .transform((s) => s.split(',').map(Number)),
  /** Timeout of one webhook attempt. The FunctionalScaffold API reference: 10 s. */
  WEBHOOK_TIMEOUT_MS: int(1).default(10_000),
  /**
   * Webhook attempts in flight at once to one receiver (the URL's host name, any port), across every worker process
   * (docs/api.md#webhooks); further deliveries to it wait, queued, without using an attempt. Default 4.
   */
  WEBHOOK_HOST_CONCURRENCY: int(1, 1000).default(4),
  /** Grace period for SIGTERM: in-flight requests and active jobs get this long to finish. Default 25000 ms. */
  SHUTDOWN_GRACE_MS: int(0).default(25_000),
  /**
   * On SIGTERM the API's /readyz answers 503 at once and it keeps serving for this long before it
   * stops accepting connections and drains (of-watchdog's order), so a load balancer stops sending
   * traffic first. Default 5000 ms; `npm start` sets 0 (no load balancer); tests set 0.
   */
  SHUTDOWN_DELAY_MS: int(0, 600_000).default(5000),
  /**
   * Longest the API waits for Redis to answer one command, ms; then the request answers 503
   * SERVICE_UNAVAILABLE with Retry-After, and while Redis goes on not answering, new requests answer
   * 503 at once (docs/operations.md). Not applied to BullMQ's blocking connections. Default 2000.
   */
  REDIS_COMMAND_TIMEOUT_MS: int(100, 60_000).default(2000),
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
  // Workers registry
  /**
   * How often each worker process writes its registry entry (id, labels, active jobs, CPU and memory
   * use) to Redis, for `GET /workers`. Default 5000 ms.
   */
  WORKER_HEARTBEAT_MS: int(50, 3_600_000).default(5000),
  /**
   * A worker whose last heartbeat is older than this shows `offline` in `GET /workers`. The bound is
   * the worker's own (written with its heartbeat), so API processes agree. Default 3 × WORKER_HEARTBEAT_MS;
   * at least WORKER_HEARTBEAT_MS.
   */
  WORKER_OFFLINE_AFTER_MS: int(50).optional(),
  /**
   * An offline worker ages out of `GET /workers` once its last heartbeat is this old: its entry
   * expires (Redis TTL, refreshed by each heartbeat) and the index is pruned when read. Default
   * 600000 ms (10 min: long enough to see a crashed worker, short enough that restarts, each a new
   * worker id, do not crowd the list); at least the offline bound.
   */
  WORKER_FORGET_AFTER_MS: int(1000).default(600_000),
  /**
   * The worker's labels, comma-separated `key=value` pairs (`pool=gpu,region=eu`), shown in and
   * filtered by `GET /workers?label=`. Keys 1-63 of `A-Za-z0-9_./-`, values up to 63 of `A-Za-z0-9_.-`.
   * Default: none.
   */
  WORKER_LABELS: LabelListSchema.default({}),
  /**
   * This worker's id: its entry in `GET /workers`, its metrics snapshot, the `worker_id` of the attempts
   * it runs, its log lines and its BullMQ worker name. 1-200 of `A-Za-z0-9_.:-`. Kubernetes passes the
   * pod name (docs/deployment.md, "Kubernetes"). Default: see {@link resolveWorkerId}.
   */
  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,200}$/, '1-200 letters, digits, _ . : or -')
    .optional(),
  /**
   * Longest wait for a new runner child process (an algorithm runner) to report ready, ms; a
   * runner that does not is killed, and the worker's start fails (or a replacement is spawned
   * again). A loaded machine or pod starts them slowly. Default 20000.
   */
  RUNNER_START_TIMEOUT_MS: int(1000, 600_000).default(20_000),
  // Authentication
  /**
   * Require an `X-API-Key` or an `Authorization: Bearer` JWT with the route's scope on every route
   * but the probes and the API documentation (see the table in api/middleware/auth.ts).
   * Default false: local use needs no key (DESIGN.md, Operations: Auth).
   */
  AUTH_ENABLED: boolFromEnv.default(false),
  /** Shared secret of HS256 JWTs, at least 32 characters (256 bits, RFC 7518 §3.2). Unset: HS256 tokens are refused. */
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * URL of a JSON Web Key Set whose keys verify RS256 and ES256 JWTs (fetched on first use, cached,
   * refetched for an unknown `kid` at most every 30 s). Unset: RS256/ES256 tokens are refused.
   */
  JWT_JWKS_URL: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), { message: 'must start with http:// or https://' })
    .optional(),
  /** Required `iss` claim of JWTs when set. (`exp` is required and, like `nbf`, always checked.) */
  JWT_ISSUER: z.string().min(1).optional(),
  /** Required `aud` claim of JWTs (one of the token's audiences) when set. */
  JWT_AUDIENCE: z.string().min(1).optional(),
  /**
   * When set, `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>` (compared in constant
   * time), whether or not AUTH_ENABLED is; unset, /metrics is open for the cluster's scraper. At least 16 characters.
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // Limits
  /**
   * Requests per second one caller may make to the API (probes and /metrics excepted), counted in
   * Redis so the limit holds across API processes. A caller is the id of its X-API-Key
   * (`fnq_<id>_...`), else its IP. Over the limit: 429 RATE_LIMITED with Retry-After. 0 turns it off. Default 1000.
   */
  RATE_LIMIT_PER_SECOND: int(0).default(1000),
  /**
   * The rate limit's fixed window: a caller may make RATE_LIMIT_PER_SECOND × this many requests per
   * window, all at once if it likes (the burst). Default 1 s.
   */
  RATE_LIMIT_WINDOW_SECONDS: int(1, 3600).default(1),
  /**
   * Jobs waiting to run (waiting + delayed + prioritized) beyond which POST /jobs and POST /invoke
   * answer 503 SERVICE_UNAVAILABLE with Retry-After. The count is cached for 250 ms per API process,
   * so the queue may pass it by what the API processes accept in that time. 0 turns it off. Default 100000.
   */
  MAX_QUEUE_DEPTH: int(0).default(100_000),
  /**
   * Payload bytes (each job's data as JSON) that may wait in one pool's queue, counted in Redis at
   * submit and released when a worker's run of it is 50 ms old or ends, when it is cancelled, or when its record expires (docs/security.md#limits-and-hostile-input).
   * Past it POST /jobs, POST /invoke and invocations answer 503 SERVICE_UNAVAILABLE with Retry-After.
   * 0 turns it off. Default 67108864 (64 MiB).
   */
  MAX_QUEUED_BYTES: int(0).default(64 * 1024 * 1024),
  /** Most schedules that may exist; POST /schedules past it answers 409 CONFLICT (reason schedule_limit). 0 turns it off. Default 1000. */
  MAX_SCHEDULES: int(0).default(1000),
  /** Most job definitions of the hetuflow-compatible API (docs/compat-hetuflow.md); 0: no bound. */
  MAX_JOB_DEFINITIONS: int(0).default(1000),
  /** How often the API removes queued jobs whose record expired (a pool nobody serves) from their queue. Default 60000 ms. */
  QUEUE_SWEEP_INTERVAL_MS: int(100).default(60_000),
  /**
   * Stored log bytes per job, all attempts together (each line's text plus ~80 bytes of overhead):
   * a function's max_output_bytes is capped by it, and past it lines end with a truncation marker. Default 1048576 (1 MiB).
   */
  JOB_LOGS_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Largest result one job may store, in bytes of its JSON (algorithm or function): a larger result
   * fails the attempt with ALGORITHM_ERROR (reason result_too_large) instead of being kept in the
   * record for RESULT_TTL_SECONDS (docs/security.md#limits-and-hostile-input). Default 1048576 (1 MiB).
   */
  JOB_RESULT_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Stored bytes of the records of one listing page (GET /jobs, /functions/{id}/jobs, /schedules/{id}/jobs):
   * the page ends before passing it, so it may hold fewer than `limit` items (docs/operations.md#listing-jobs). Default 8388608 (8 MiB).
   */
  LIST_PAGE_MAX_BYTES: int(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  /** Stored log lines per job, all attempts together; past it a truncation marker. Default 10000. */
  JOB_LOGS_MAX_LINES: int(10, 1_000_000).default(10_000),
  /**
   * maxmemory of the redis-server `npm start` runs (with `noeviction`, so nothing accepted is evicted;
   * writes past it are refused and the API answers 503). Default: a quarter of the machine's RAM, at least 256 MiB.
   * Ignored with REDIS_URL: set maxmemory on that Redis yourself (docs/deployment.md).
   */
  REDIS_MAXMEMORY_MB: int(16).optional(),
  // Webhook security
  /**
   * Standard Webhooks signing secret(s): `whsec_` + base64 of a 24 to 64 byte key
   * (e.g. `whsec_$(openssl rand -base64 32)`). Several, separated by spaces or commas, during a
   * rotation: each delivery carries one `v1,` signature per secret. Unset: deliveries are unsigned
   * (the worker warns at start). Parsed into the list of secrets; a bad one stops the process.
   */
  WEBHOOK_SECRET: z
    .string()
    .transform(splitWebhookSecrets)
    .superRefine((secrets, ctx) => {
      if (secrets.length === 0) ctx.addIssue({ code: 'custom', message: 'must hold at least one whsec_ secret' });
      secrets.forEach((secret, i) => {
        const problem = webhookSecretProblem(secret, i);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      });
    })
    .optional(),
  /**
   * Let webhooks reach loopback, private (RFC 1918, fc00::/7), link-local, CGNAT, multicast,
   * reserved and cloud metadata addresses (the SSRF guard, checked at submission for literal hosts
   * and on the address each delivery connects to). Default false; `npm start` sets true for local receivers.
   */
  WEBHOOK_ALLOW_PRIVATE: boolFromEnv.default(false),
  // Function dependencies and projects
  /**
   * Folder of installed function dependencies, one `<function_id>/v<version>/` folder per version
   * (worker/functions/dependencies.ts), on each worker's host. Default `<DATA_DIR>/functions`.
   * Must be readable by `nobody` along its path (functions run as nobody); the installer makes its own folders 0755.
   */
  FUNCTIONS_DIR: z.string().min(1).optional(),
  /**
   * Folder under which local package paths are accepted as dependencies (`file:<path>` for npm, the
   * path of a `.whl` for pip), e.g. an internal package mirror or test fixtures. Unset (the default):
   * only registry packages are accepted, so a deployer cannot make the worker read its own files.
   */
  FUNCTION_LOCAL_PACKAGES_DIR: z.string().min(1).optional(),
  /** Longest one dependency install (npm or pip) may take; then it is killed and the version fails. Default 300000 ms (5 min). */
  FUNCTION_BUILD_TIMEOUT_MS: int(1000, 3_600_000).default(300_000),
  /**
   * The system-level env every function gets first (the project FaaS API reference's system env; project and function env
   * are layered over it): a JSON object of strings, e.g. `{"DB_HOST":"db","DB_PORT":"5432"}`. Never
   * the service's own environment. `GET /env/system` shows it with secret-looking values redacted. Default `{}`.
   */
  FUNCTION_SYSTEM_ENV: z
    .string()
    .transform((s, ctx) => {
      try {
        const v = JSON.parse(s) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return v as Record<string, string>;
      } catch {
        /* reported below */
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of strings, e.g. {"DB_HOST":"db"}' });
      return z.NEVER;
    })
    .default({}),
  // Functions API and execution
  /** Largest function code accepted at deploy, bytes of UTF-8 (400 VALIDATION_ERROR, field `code`, beyond). Default 262144 (256 KiB). */
  FUNCTION_CODE_MAX_BYTES: int(1, 16 * 1024 * 1024).default(256 * 1024),
  /** A function's timeout_ms when it gives none: its process tree is killed past it (TIMEOUT). Default 30000 ms. At most JOB_TIMEOUT_MAX_MS is accepted per function. */
  FUNCTION_TIMEOUT_MS: int(1, 2_147_483_647).default(30_000),
  /** A function's memory_mb when it gives none: its process's memory cap, MiB. Default 256. */
  FUNCTION_MEMORY_MB: int(32, 1_048_576).default(256),
  /** Largest memory_mb a function may ask for, MiB. Default 2048. */
  FUNCTION_MEMORY_MAX_MB: int(32, 1_048_576).default(2048),
  /** A function's max_output_bytes when it gives none: captured stdout+stderr per invocation, bytes, then a truncation marker. Default 1048576 (1 MiB). */
  FUNCTION_MAX_OUTPUT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Function isolation (worker/functions/sandbox.ts, docs/functions.md "The function sandbox"): `auto` (default)
   * and `bwrap` require bubblewrap: where it cannot isolate (not installed, namespaces forbidden) the
   * worker logs why at start and every function run fails with SERVICE_UNAVAILABLE naming this
   * setting; `off` never isolates (function code runs as the service's user, with its network).
   */
  FUNCTION_SANDBOX: z.enum(['auto', 'bwrap', 'off']).default('auto'),
  /**
   * Tasks (processes and threads) one function host process and everything it starts may have at
   * once: `pids.max` of the host's own cgroup (worker/functions/cgroups.ts), so a fork bomb stops
   * there instead of exhausting the machine's pids. A Node host uses about 11 by itself, bubblewrap 2.
   * Applies only where the worker can create cgroups (root, cgroup v1); the worker logs at start when
   * it cannot. Default 64.
   */
  FUNCTION_MAX_PROCESSES: int(8, 32_768).default(64),
  /**
   * Memory budget of one worker's warm function processes together, MiB (docs/functions.md, "Warm
   * processes"): each process counts its function's declared memory_mb until it has exited. A new
   * process that would pass it first stops idle ones, least recently used first; when running
   * invocations hold the rest, the invocation waits for one to end, at most its timeout_ms (then
   * TIMEOUT). A function whose memory_mb alone is above it fails (ALGORITHM_ERROR). Default: half of
   * the machine's memory, or of the worker's cgroup memory limit when that is lower (a container's).
   */
  FUNCTION_HOSTS_MEMORY_BUDGET_MB: int(32, 1_048_576).optional(),
  /** An idle warm function process is stopped after this many ms without an invocation. Default 60000 (1 min). */
  FUNCTION_HOST_IDLE_MS: int(100, 86_400_000).default(60_000),
  // Command jobs (docs/commands.md)
  /**
   * The commands command jobs may run, comma-separated: program names (matching a `cmd` given as a
   * name, looked up on PATH inside the sandbox) and absolute paths (matching a `cmd` given as that
   * path), e.g. `bash,python3,/opt/tools/report`. Another `cmd` is refused at submit (403 FORBIDDEN,
   * reason command_not_allowed) and by the worker. Unset (the default): any command.
   */
  COMMAND_ALLOWLIST: z
    .string()
    .transform((s) => s.split(',').map((e) => e.trim()).filter((e) => e !== ''))
    .refine((list) => list.every((e) => e.startsWith('/') || !e.includes('/')), { message: 'entries must be program names (no /) or absolute paths' })
    .optional(),
  /** Memory cap of one command job's processes, MiB: RLIMIT_DATA per process and, with cgroups, the total of its tree (plus its /tmp). Default 512. */
  COMMAND_MEMORY_MB: int(16, 1_048_576).default(512),
  // Traces (docs/operations.md#traces)
  /**
   * Base URL of an OTLP/HTTP receiver (the OpenTelemetry specification's variable, e.g.
   * `http://otel-collector:4318`): spans go to `<url>/v1/traces` as OTLP JSON. Unset (the
   * default): no tracing at all; the OpenTelemetry SDK is not even loaded.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** `service.name` of this process's spans (the OpenTelemetry variable). Default `fnqueue-api` or `fnqueue-worker`. */
  OTEL_SERVICE_NAME: z.string().min(1).max(200).optional(),
});

/** The parsed, frozen configuration. */
export type Config = Readonly<z.infer<typeof ConfigSchema>>;

export { ConfigError };

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
    // A secret's value is never echoed (it would land in logs): WEBHOOK_SECRET, JWT_SECRET, METRICS_TOKEN...
    // Credentials inside other values (REDIS_URL=redis://:<password>@host, JWT_JWKS_URL with a user:pass) are masked too.
    const shown = (key: string) => {
      if (/SECRET|TOKEN|PASSWORD|FUNCTION_SYSTEM_ENV/.test(key)) return '<redacted>';
      const value = input[key];
      return JSON.stringify(typeof value === 'string' ? redactText(value) : value);
    };
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}=${shown(String(i.path[0]))}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const redisProblem = redisSettingsProblem(parsed.data);
  if (redisProblem) throw new ConfigError(`invalid configuration: ${redisProblem}`);
  return Object.freeze(parsed.data);
}

/** One `host:port` of REDIS_SENTINELS or REDIS_CLUSTER_NODES. */
export interface RedisHostPort {
  host: string;
  port: number;
}

/** Parses comma-separated `host:port` pairs (IPv6 in brackets: `[::1]:6379`), reporting bad ones to `ctx`. */
function parseHostPorts(value: string, ctx: z.RefinementCtx): RedisHostPort[] {
  const out: RedisHostPort[] = [];
  for (const item of value.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port` });
      return z.NEVER;
    }
    out.push({ host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port });
  }
  if (out.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
  return out;
}

/** The Redis topologies, each chosen by its one variable (docs/deployment.md#redis-topologies). */
const TOPOLOGY_VARIABLES = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const;

/**
 * What is wrong with the Redis settings taken together, or undefined: more than one topology set,
 * a Sentinel setting without REDIS_SENTINELS (or REDIS_SENTINELS without its name), a Cluster
 * setting without REDIS_CLUSTER_NODES, or a data-node setting beside REDIS_URL (which carries them).
 * None set is fine here: `npm start` then launches its own redis-server; {@link redisTopology} refuses it.
 */
function redisSettingsProblem(c: z.infer<typeof ConfigSchema>): string | undefined {
  const set = TOPOLOGY_VARIABLES.filter((k) => c[k] !== undefined);
  if (set.length > 1) return `${set.join(' and ')} are both set: set exactly one of ${TOPOLOGY_VARIABLES.join(', ')} (docs/deployment.md#redis-topologies)`;
  if (c.REDIS_SENTINELS && !c.REDIS_SENTINEL_NAME) return 'REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the monitored master\'s name';
  if (!c.REDIS_SENTINELS) {
    const stray = (['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_DB'] as const).find((k) => c[k] !== undefined);
    if (stray) return `${stray} applies only with REDIS_SENTINELS${stray === 'REDIS_DB' && c.REDIS_URL ? ' (with REDIS_URL the database is the URL\'s path: redis://host:6379/2)' : ''}`;
  }
  if (c.REDIS_CLUSTER_NAT_MAP && !c.REDIS_CLUSTER_NODES) return 'REDIS_CLUSTER_NAT_MAP applies only with REDIS_CLUSTER_NODES';
  if (c.REDIS_URL) {
    const stray = (['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const).find((k) => c[k] !== undefined);
    if (stray) return `${stray} applies to REDIS_SENTINELS and REDIS_CLUSTER_NODES; with REDIS_URL put it in the URL (redis://user:password@host:6379/0, rediss:// for TLS)`;
  }
  return undefined;
}

/** TLS and credentials of the data nodes, for Sentinel and Cluster. */
export interface RedisNodeAuth {
  username?: string;
  password?: string;
  /** Connect over TLS (Node's default certificate checks). */
  tls: boolean;
}

/**
 * The Redis deployment the service connects to, from exactly one of REDIS_URL (`single`),
 * REDIS_SENTINELS + REDIS_SENTINEL_NAME (`sentinel`) and REDIS_CLUSTER_NODES (`cluster`).
 * shared/queue/redis.ts opens every connection from it.
 */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | ({ kind: 'sentinel'; sentinels: RedisHostPort[]; name: string; sentinelPassword?: string; sentinelTls: boolean; db: number } & RedisNodeAuth)
  | ({ kind: 'cluster'; nodes: RedisHostPort[]; natMap?: Record<string, RedisHostPort> } & RedisNodeAuth);

/**
 * The configured Redis topology.
 * @throws ConfigError when none of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES is set (the api,
 *   the worker and the keys CLI cannot run without Redis; `npm start` sets REDIS_URL when it launches its own).
 */
export function redisTopology(config: Config): RedisTopology {
  const auth = (): RedisNodeAuth => ({
    ...(config.REDIS_USERNAME ? { username: config.REDIS_USERNAME } : {}),
    ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
    tls: config.REDIS_TLS ?? false,
  });
  if (config.REDIS_URL) return { kind: 'single', url: config.REDIS_URL };
  if (config.REDIS_SENTINELS && config.REDIS_SENTINEL_NAME) {
    return {
      kind: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_NAME,
      ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
      sentinelTls: config.REDIS_SENTINEL_TLS,
      db: config.REDIS_DB ?? 0,
      ...auth(),
    };
  }
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: config.REDIS_CLUSTER_NODES, ...(config.REDIS_CLUSTER_NAT_MAP ? { natMap: config.REDIS_CLUSTER_NAT_MAP } : {}), ...auth() };
  throw new ConfigError(`Redis is not configured: set exactly one of REDIS_URL (one node), REDIS_SENTINELS with REDIS_SENTINEL_NAME (Sentinel) or REDIS_CLUSTER_NODES (Cluster); docs/deployment.md#redis-topologies (npm start sets REDIS_URL for you)`);
}

/** Heartbeat age past which a worker shows offline: WORKER_OFFLINE_AFTER_MS, else 3 × WORKER_HEARTBEAT_MS; never below one heartbeat. */
export function workerOfflineAfterMs(config: Config): number {
  return Math.max(config.WORKER_OFFLINE_AFTER_MS ?? 3 * config.WORKER_HEARTBEAT_MS, config.WORKER_HEARTBEAT_MS);
}

/** Heartbeat age past which a worker leaves the registry: WORKER_FORGET_AFTER_MS, never below the offline bound. */
export function workerForgetAfterMs(config: Config): number {
  return Math.max(config.WORKER_FORGET_AFTER_MS, workerOfflineAfterMs(config));
}

/** The absolute folder of installed function dependencies: FUNCTIONS_DIR, else `<DATA_DIR>/functions`. */
export function functionsDir(config: Pick<Config, 'FUNCTIONS_DIR' | 'DATA_DIR'>): string {
  return path.resolve(config.FUNCTIONS_DIR ?? path.join(config.DATA_DIR, 'functions'));
}

/** Warm children per worker: RUNNER_POOL_SIZE, else the jobs it runs at once ({@link shardConcurrency}'s sum). */
export function runnerPoolSize(config: Config): number {
  return config.RUNNER_POOL_SIZE ?? Math.max(config.WORKER_CONCURRENCY, config.QUEUE_SHARDS);
}

/**
 * The concurrency of a worker's BullMQ Worker on each shard's queue (QUEUE_SHARDS): WORKER_CONCURRENCY
 * split as evenly as it goes, the first shards taking one more, and at least 1 each, so a worker
 * runs max(WORKER_CONCURRENCY, QUEUE_SHARDS) jobs at once.
 */
export function shardConcurrency(config: Pick<Config, 'WORKER_CONCURRENCY' | 'QUEUE_SHARDS'>): number[] {
  const n = config.QUEUE_SHARDS;
  const c = config.WORKER_CONCURRENCY;
  return Array.from({ length: n }, (_, i) => Math.max(1, Math.floor(c / n) + (i < c % n ? 1 : 0)));
}

/**
 * This worker process's id: WORKER_ID when set, else `<host>:<pid>-<6 random hex>`. The random
 * suffix keeps apart two containers with the same hostname (and both pid 1). Random: call it once
 * per process.
 */
export function resolveWorkerId(config: Pick<Config, 'WORKER_ID'>, host: string = hostname(), pid: number = process.pid): string {
  return config.WORKER_ID ?? `${host}:${pid}-${randomBytes(3).toString('hex')}`;
}

/** Names of the service's variables its child processes may inherit (never REDIS_URL, secrets or other keys of {@link ConfigSchema}). */
const INHERITABLE_ENV = /^(PATH|HOME|LANG|LC_ALL|TZ|NODE_ENV|TMPDIR|PYENV.*|npm_config_.*|NPM_CONFIG_.*|PIP_.*|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;

/**
 * The part of the environment map that child processes may inherit: the search PATH, HOME, locale,
 * time zone, TMPDIR, NODE_ENV, and npm's and pip's own settings and proxies (so a registry can be
 * configured for dependency installs, docs/functions.md). Read fresh on each call.
 */
export function inheritableEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && INHERITABLE_ENV.test(k)) out[k] = v;
  return out;
}

/**
 * The largest `delay_ms` a job or invocation may ask for, ms: JOB_DELAY_MAX_MS, never past
 * RESULT_TTL_SECONDS (listings index jobs by creation time for that long; docs/configuration.md).
 */
export function jobDelayMaxMs(config: Pick<Config, 'JOB_DELAY_MAX_MS' | 'RESULT_TTL_SECONDS'>): number {
  return Math.min(config.JOB_DELAY_MAX_MS, config.RESULT_TTL_SECONDS * 1000);
}

/**
 * How long a function's old versions are kept after their last use, seconds: RESULT_TTL_SECONDS
 * plus one hour, so a job record that still names a version can run or show it.
 */
export function functionRetainSeconds(config: Pick<Config, 'RESULT_TTL_SECONDS'>): number {
  return config.RESULT_TTL_SECONDS + 3600;
}

/**
 * The environment of a tool the service runs itself (a version probe, a package install): this
 * process's PATH and HOME (else `/usr/bin:/bin` and `/tmp`) and `LANG=C.UTF-8`, never the rest of
 * the service's environment (its secrets; docs/security.md).
 * @param env the process environment (read here, the one place besides {@link loadConfig}).
 */
export function toolEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  return { PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/tmp', LANG: 'C.UTF-8' };
}
