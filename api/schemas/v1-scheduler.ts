/**
 * Request and answer schemas of the hetuflow-compatible scheduler API under /api/v1
 * (docs/compat-hetuflow.md), for validation and the OpenAPI document. Field names, units (seconds
 * for `timeout` and `retry_interval`, bytes for `max_output_size`) and status names are the
 * hetuflow scheduler API reference's.
 */
import { z } from 'zod';
import { ENV_NAME_PATTERN, ENV_NAME_RULE, MAX_FUNCTION_ENV_VALUE_CHARS, MAX_FUNCTION_ENV_VARS } from '../../shared/functions/limits.js';
import { MAX_RETRIES_LIMIT } from '../../shared/schemas/job-record.js';
import { DEFAULT_NAMESPACE, NAMESPACE_PATTERN, NAMESPACE_RULE } from '../../shared/schemas/namespace.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../services/hetuflow-query.js';
import { DependsOnSchema } from './jobs.js'; // also extends zod with .openapi()

/** Longest `timeout` of a definition, seconds (one day; each run is also capped at JOB_TIMEOUT_MAX_MS). */
export const MAX_TIMEOUT_SECONDS = 86_400;
/** Longest `retry_interval`, seconds (one day, as the native retry_interval_ms). */
export const MAX_RETRY_INTERVAL_SECONDS = 86_400;
/** Default `max_output_size`: 1 MiB. */
export const DEFAULT_MAX_OUTPUT_SIZE = 1024 * 1024;
/** Largest `max_output_size`: 64 MiB (stored logs are bounded by JOB_LOGS_MAX_BYTES as well). */
export const MAX_OUTPUT_SIZE = 64 * 1024 * 1024;
/** Most `args`, and the longest one (characters). */
export const MAX_ARGS = 256;
export const MAX_ARG_CHARS = 32 * 1024;
/** Longest `cmd` (characters). */
export const MAX_CMD_CHARS = 4096;

const int = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` });

/** A namespace id. */
export const NamespaceIdSchema = z.string({ error: 'must be a string' }).regex(NAMESPACE_PATTERN, { error: NAMESPACE_RULE }).openapi({ example: DEFAULT_NAMESPACE });

/** A definition's `environment`: the command's own variables, over the system env. */
export const EnvironmentSchema = z
  .record(z.string().regex(ENV_NAME_PATTERN, { error: ENV_NAME_RULE }), z.string({ error: 'must be a string' }).max(MAX_FUNCTION_ENV_VALUE_CHARS, { error: `must be at most ${MAX_FUNCTION_ENV_VALUE_CHARS} characters` }))
  .refine((env) => Object.keys(env).length <= MAX_FUNCTION_ENV_VARS, { error: `must have at most ${MAX_FUNCTION_ENV_VARS} variables` })
  .openapi({ example: { PYTHONPATH: '/opt/app' } });

/** The fields of `config` with their bounds; defaults are applied by the service. */
const configFields = {
  timeout: int('an integer number of seconds').min(1, { error: 'must be at least 1' }).max(MAX_TIMEOUT_SECONDS, { error: `must be at most ${MAX_TIMEOUT_SECONDS}` }).openapi({ description: 'Longest one attempt may run, seconds (capped at JOB_TIMEOUT_MAX_MS); default 3600', example: 3600 }),
  max_retries: int('an integer').min(0, { error: 'must be at least 0' }).max(MAX_RETRIES_LIMIT, { error: `must be at most ${MAX_RETRIES_LIMIT}` }).openapi({ description: 'Retries after a failed attempt (at most JOB_MAX_RETRIES); default 0', example: 3 }),
  retry_interval: int('an integer number of seconds').min(0, { error: 'must be at least 0' }).max(MAX_RETRY_INTERVAL_SECONDS, { error: `must be at most ${MAX_RETRY_INTERVAL_SECONDS}` }).openapi({ description: 'Wait before each retry, seconds; default 60', example: 60 }),
  cmd: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(MAX_CMD_CHARS, { error: `must be at most ${MAX_CMD_CHARS} characters` }).openapi({ description: 'The program, resolved inside the sandbox', example: 'bash' }),
  args: z.array(z.string({ error: 'must be a string' }).max(MAX_ARG_CHARS, { error: `must be at most ${MAX_ARG_CHARS} characters` }), { error: 'must be an array of strings' }).max(MAX_ARGS, { error: `must have at most ${MAX_ARGS} items` }).openapi({ example: ['-c', 'echo Hello World'] }),
  capture_output: z.boolean({ error: 'must be true or false' }).openapi({ description: "Keep stdout and stderr as the run's logs; default true" }),
  max_output_size: int('an integer number of bytes').min(1, { error: 'must be at least 1' }).max(MAX_OUTPUT_SIZE, { error: `must be at most ${MAX_OUTPUT_SIZE}` }).openapi({ description: `Most captured bytes per attempt, then a marker; default ${DEFAULT_MAX_OUTPUT_SIZE}`, example: 10485760 }),
};

/** `config` of a new definition: `cmd` required, the rest defaulted. */
export const TaskConfigInputSchema = z.strictObject({ ...configFields, timeout: configFields.timeout.optional(), max_retries: configFields.max_retries.optional(), retry_interval: configFields.retry_interval.optional(), args: configFields.args.optional(), capture_output: configFields.capture_output.optional(), max_output_size: configFields.max_output_size.optional() }).openapi('HetuflowTaskConfigInput');

/** `config` of an update: any of its fields, merged onto the current config. */
export const TaskConfigPatchSchema = z.strictObject({ ...configFields }).partial().openapi('HetuflowTaskConfigPatch');

/** The `config` of an answer, every field present. */
export const TaskConfigSchema = z.object({ ...configFields }).openapi('HetuflowTaskConfig');

/** `POST /api/v1/jobs/item`. */
export const JobDefinitionCreateSchema = z
  .strictObject({
    namespace_id: NamespaceIdSchema.optional().openapi({ description: `Default \`${DEFAULT_NAMESPACE}\`` }),
    name: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(200, { error: 'must be at most 200 characters' }).openapi({ example: 'data-processing-job' }),
    description: z.string({ error: 'must be a string' }).max(2000, { error: 'must be at most 2000 characters' }).nullable().optional().openapi({ example: '数据处理作业' }),
    environment: EnvironmentSchema.nullable().optional(),
    config: TaskConfigInputSchema,
    status: z.enum(['enabled', 'disabled'], { error: 'must be enabled or disabled' }).optional().openapi({ description: 'Default `enabled`' }),
  })
  .openapi('HetuflowJobCreate');
export type JobDefinitionCreate = z.infer<typeof JobDefinitionCreateSchema>;

/** `PUT /api/v1/jobs/item/{id}`: the fields of POST, all optional; `config` is merged field by field. */
export const JobDefinitionUpdateSchema = z
  .strictObject({
    namespace_id: NamespaceIdSchema.optional(),
    name: JobDefinitionCreateSchema.shape.name.optional(),
    description: JobDefinitionCreateSchema.shape.description,
    environment: JobDefinitionCreateSchema.shape.environment,
    config: TaskConfigPatchSchema.optional(),
    status: JobDefinitionCreateSchema.shape.status,
  })
  .openapi('HetuflowJobUpdate');
export type JobDefinitionUpdate = z.infer<typeof JobDefinitionUpdateSchema>;

/** `POST /api/v1/jobs/item/{id}/run` (an fnqueue extension): run the definition now, as a new task. */
export const JobRunSchema = z
  .strictObject({
    depends_on: DependsOnSchema.optional().openapi({ description: 'Task ids (job ids) this run waits for: it starts when all of them succeeded, and fails when one fails or is cancelled' }),
  })
  .openapi('HetuflowJobRun');

const Time = z.string().openapi({ example: '2024-01-01T00:00:00.000Z' });
const Id = z.string().openapi({ example: '550e8400-e29b-41d4-a716-446655440000' });

/** A job definition as answered. */
export const JobDefinitionSchema = z
  .object({
    id: Id,
    namespace_id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    environment: z.record(z.string(), z.string()).nullable(),
    config: TaskConfigSchema,
    status: z.enum(['enabled', 'disabled']),
    created_at: Time,
    updated_at: Time.nullable(),
  })
  .openapi('HetuflowJob');

/** `{id}`: what creating answers. */
export const IdAnswerSchema = z.object({ id: Id }).openapi('HetuflowId');

/** The list body of every `.../page` and `.../query` route. */
export const ListBodySchema = z
  .object({
    filter: z.record(z.string(), z.object({ eq: z.unknown().optional(), gte: z.unknown().optional(), lte: z.unknown().optional(), in: z.array(z.unknown()).optional() })).optional().openapi({ example: { namespace_id: { eq: 'default' } } }),
    page: z.object({ page: z.number().int().min(1).optional(), page_size: z.number().int().min(1).max(MAX_PAGE_SIZE).optional() }).optional().openapi({ description: `Default page 1 of ${DEFAULT_PAGE_SIZE}`, example: { page: 1, page_size: 20 } }),
  })
  .openapi('HetuflowListRequest');

/** A page of `item`s: `{data, total, page, page_size}`. */
export const pageSchema = (item: z.ZodType, name: string) => z.object({ data: z.array(item), total: z.number().int(), page: z.number().int(), page_size: z.number().int() }).openapi(name);

/** An agent: a worker process. */
export const AgentSchema = z
  .object({
    id: z.string().openapi({ example: 'worker-7f9c:4242' }),
    namespace_id: z.string(),
    name: z.string(),
    endpoint: z.string().openapi({ description: 'Where the worker is: `fnqueue-worker://<host>/<pid>` (workers pull from Redis; nothing connects to them)' }),
    status: z.enum(['offline', 'online', 'busy', 'error']),
    labels: z.record(z.string(), z.string()).nullable(),
    created_at: Time,
    updated_at: Time.nullable(),
  })
  .openapi('HetuflowAgent');

/** A schedule of a job definition. */
export const ScheduleV1Schema = z
  .object({
    id: z.string(),
    job_id: Id,
    namespace_id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    kind: z.enum(['cron', 'interval']),
    cron_expression: z.string().nullable(),
    interval_secs: z.number().int().nullable(),
    timezone: z.string(),
    enabled: z.boolean(),
    status: z.enum(['enabled', 'disabled']),
    next_run_at: Time.nullable(),
    created_at: Time,
    updated_at: Time.nullable(),
  })
  .openapi('HetuflowSchedule');

/** `POST /api/v1/schedules/item`. */
export const ScheduleV1CreateSchema = z
  .strictObject({
    job_id: z.string({ error: 'must be a job definition id' }),
    name: z.string({ error: 'must be a string' }).min(1).max(200).optional().openapi({ description: 'Default: derived from the definition; unique among schedules' }),
    description: z.string().max(2000).nullable().optional(),
    kind: z.union([z.enum(['cron', 'interval']), z.literal(1), z.literal(2)], { error: 'must be cron (1) or interval (2)' }),
    cron_expression: z.string().max(200).nullable().optional().openapi({ example: '0 */5 * * * *' }),
    interval_secs: int('an integer number of seconds').min(1).max(31_536_000).nullable().optional(),
    timezone: z.string().max(100).optional().openapi({ example: 'UTC' }),
    enabled: z.boolean().optional(),
  })
  .openapi('HetuflowScheduleCreate');
export type ScheduleV1Create = z.infer<typeof ScheduleV1CreateSchema>;

/** `PUT /api/v1/schedules/item/{id}`. */
export const ScheduleV1UpdateSchema = z
  .strictObject({
    name: ScheduleV1CreateSchema.shape.name,
    description: ScheduleV1CreateSchema.shape.description,
    kind: ScheduleV1CreateSchema.shape.kind.optional(),
    cron_expression: ScheduleV1CreateSchema.shape.cron_expression,
    interval_secs: ScheduleV1CreateSchema.shape.interval_secs,
    timezone: ScheduleV1CreateSchema.shape.timezone,
    enabled: ScheduleV1CreateSchema.shape.enabled,
  })
  .openapi('HetuflowScheduleUpdate');
export type ScheduleV1Update = z.infer<typeof ScheduleV1UpdateSchema>;

/** `POST /api/v1/jobs/item/{id}/run`'s answer: the new task. */
export const JobRunAnswerSchema = z
  .object({ id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: 'The task id: the fnqueue job id (GET /jobs/{job_id})' }), job_id: Id, status: z.literal('pending'), created_at: Time })
  .openapi('HetuflowJobRunAnswer');

/** A task: one run of a definition (an fnqueue job record). */
export const TaskSchema = z
  .object({
    id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: 'The fnqueue job id (GET /jobs/{job_id})' }),
    job_id: Id,
    namespace_id: z.string(),
    priority: z.number().int(),
    status: z.enum(['pending', 'locked', 'dispatched', 'running', 'failed', 'cancelled', 'succeeded']),
    schedule_id: z.string().nullable(),
    scheduled_at: Time,
    schedule_kind: z.enum(['cron', 'interval', 'event']),
    completed_at: Time.nullable(),
    environment: z.record(z.string(), z.string()).nullable(),
    parameters: z.unknown(),
    config: TaskConfigSchema.nullable(),
    retry_count: z.number().int(),
    dependencies: z.array(z.string()).nullable(),
    locked_at: Time.nullable(),
    lock_version: z.number().int(),
    created_by: z.number().int(),
    created_at: Time,
    updated_by: z.number().int().nullable(),
    updated_at: Time.nullable(),
  })
  .openapi('HetuflowTask');

/** A task instance: one attempt of a task. */
export const TaskInstanceSchema = z
  .object({
    id: z.string().openapi({ example: 'a1b2c3d4e5f6-1', description: '`<task id>-<attempt number>`' }),
    task_id: z.string(),
    job_id: Id,
    agent_id: z.string().nullable(),
    status: z.enum(['pending', 'dispatched', 'running', 'timeout', 'failed', 'succeeded', 'cancelled']),
    started_at: Time.nullable(),
    completed_at: Time.nullable(),
    output: z.string().nullable(),
    error_message: z.string().nullable(),
    exit_code: z.number().int().nullable(),
    metrics: z.object({ duration_ms: z.number() }).nullable(),
    created_at: Time,
    updated_at: Time.nullable(),
  })
  .openapi('HetuflowTaskInstance');

/** `GET /api/v1/system/health`. */
export const SystemHealthSchema = z
  .object({
    status: z.enum(['healthy', 'unhealthy']),
    timestamp: Time,
    version: z.string(),
    uptime: z.number().int().openapi({ description: 'Seconds since this API process started' }),
    database: z.object({ status: z.enum(['connected', 'disconnected']), type: z.literal('redis'), version: z.string().nullable(), pool_size: z.number().int() }),
    agents: z.object({ total: z.number().int(), online: z.number().int(), offline: z.number().int() }),
  })
  .openapi('HetuflowSystemHealth');

/** `GET /api/v1/gateway/stats`. */
export const GatewayStatsSchema = z
  .object({
    total_connections: z.number().int().openapi({ description: 'Workers in the registry (online or not)' }),
    active_connections: z.number().int().openapi({ description: 'Online workers' }),
    total_messages_sent: z.number().int().openapi({ description: 'Jobs handed to workers: attempts started, deployment-wide, since the counters began' }),
    total_messages_received: z.number().int().openapi({ description: 'Runs that ended on a worker (completed or failed), deployment-wide' }),
    timestamp: Time,
  })
  .openapi('HetuflowGatewayStats');

/** `GET /api/v1/metrics/resources` (the container management API reference's envelope). */
export const ResourcesSchema = z
  .object({
    code: z.literal(200),
    message: z.literal('success'),
    data: z.object({
      cpu_usage: z.number().openapi({ description: 'Average over online workers of each one\'s CPU use, percent of one core', example: 45.5 }),
      memory_usage: z.number().openapi({ description: 'Sum over online workers of resident memory (worker and runners), GiB', example: 3.2 }),
      disk_usage: z.number().openapi({ description: "Average over the distinct work dir filesystems of online workers of each one's Use%", example: 65.8 }),
      network: z.object({ rx_bytes: z.number().int(), tx_bytes: z.number().int() }).openapi({ description: 'Sum over the distinct network namespaces of online workers (all interfaces but loopback)' }),
      workers: z.number().int().openapi({ description: 'Online workers counted' }),
      memory_usage_bytes: z.number().int(),
    }),
  })
  .openapi('ResourcesOverview');

/** The error answer of these routes: the hetuflow scheduler API reference's shape. */
export const HetuflowErrorSchema = z
  .object({
    error: z.object({ code: z.string().openapi({ example: 'NOT_FOUND' }), message: z.string().openapi({ example: 'Job not found' }), details: z.string().nullable().openapi({ example: "Job '550e8400-e29b-41d4-a716-446655440000' does not exist" }) }),
    timestamp: Time,
  })
  .openapi('HetuflowError');
