/**
 * A user function's stored shapes (docs/functions.md), as zod schemas; the types come from them.
 * The record is the function API reference's `Function` (`id, name, runtime, code, execution_type,
 * created_at, updated_at`) plus ours; shared/store/function-store.ts keeps records and versions.
 * The record is also the API's wire schema (api/schemas/functions.ts lists it; the OpenAPI document
 * reads zod's `.meta()`).
 */
import { z } from 'zod';

/** The function API reference's runtimes. */
export const FUNCTION_RUNTIMES = ['python', 'nodejs'] as const;
export const FunctionRuntimeSchema = z.enum(FUNCTION_RUNTIMES);
/** `python` or `nodejs`. */
export type FunctionRuntimeName = z.infer<typeof FunctionRuntimeSchema>;

/** Execution types: `sync` invocations answer with the finished job, `async` ones with the pending job (202). */
export const EXECUTION_TYPES = ['sync', 'async'] as const;
export const ExecutionTypeSchema = z.enum(EXECUTION_TYPES);
export type ExecutionType = z.infer<typeof ExecutionTypeSchema>;

/**
 * A function's status: `building` while its dependencies install, `active` when it may be invoked,
 * `failed` when the install failed (see `build_log`). A function without dependencies is `active` at once.
 */
export const FUNCTION_STATUSES = ['active', 'building', 'failed'] as const;
export const FunctionStatusSchema = z.enum(FUNCTION_STATUSES);
export type FunctionStatus = z.infer<typeof FunctionStatusSchema>;

/** What one version runs: changing any of these fields makes a new version. */
export const FunctionSpecFieldsSchema = z.object({
  runtime: FunctionRuntimeSchema,
  /** The source, verbatim. */
  code: z.string(),
  /** Name of the top-level handler. */
  handler: z.string(),
  /** The function's own env (its top layer; see FunctionStore.layeredEnv). */
  env: z.record(z.string(), z.string()),
  /** npm specs (nodejs) or requirements lines (python); installed once per version. */
  dependencies: z.array(z.string()),
  /** Longest one invocation may run, ms (default FUNCTION_TIMEOUT_MS). */
  timeout_ms: z.number().int(),
  /** Memory cap of the function's process, MiB (default FUNCTION_MEMORY_MB). */
  memory_mb: z.number().int(),
  /** Captured stdout+stderr per invocation, bytes (default FUNCTION_MAX_OUTPUT_BYTES); then a truncation marker. */
  max_output_bytes: z.number().int(),
});
export type FunctionSpecFields = z.infer<typeof FunctionSpecFieldsSchema>;

/**
 * The function record, in the order the store writes it (`GET /functions/{function_id}`; the
 * OpenAPI document's `Function`, whose descriptions and examples are zod's `.meta()` here). The
 * store's record holds the env values; the API shows only their names (api/routes/redaction.ts).
 */
export const FunctionRecordSchema = z
  .object({
    /** 12 lowercase hex characters (the same form as job ids). */
    function_id: z.string().meta({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
    /** The same as function_id (the function API reference calls it `id`). */
    id: z.string().meta({ description: 'The same as function_id (the function API reference)' }),
    /** Unique among all functions. */
    name: z.string(),
    runtime: FunctionSpecFieldsSchema.shape.runtime,
    code: FunctionSpecFieldsSchema.shape.code,
    execution_type: ExecutionTypeSchema,
    /** ISO 8601. */
    created_at: z.string(),
    /** ISO 8601: the last change by PUT (or creation). */
    updated_at: z.string(),
    handler: FunctionSpecFieldsSchema.shape.handler,
    /** 1 at creation, +1 at each change of a spec field. */
    version: z.number().int().meta({ description: '1 at creation; +1 at each change of runtime, code, handler, env, dependencies or limits. Jobs run the version current when they were invoked' }),
    timeout_ms: FunctionSpecFieldsSchema.shape.timeout_ms,
    memory_mb: FunctionSpecFieldsSchema.shape.memory_mb,
    max_output_bytes: FunctionSpecFieldsSchema.shape.max_output_bytes,
    env: FunctionSpecFieldsSchema.shape.env.meta({
      description: "The function's own env names, every value shown as `[redacted]`: env values are write-only (set them with POST or PUT)",
      example: { GREETING: '[redacted]' },
    }),
    dependencies: FunctionSpecFieldsSchema.shape.dependencies,
    /** The project (the project FaaS API reference); default `default`. */
    project: z.string(),
    /** The current version's status. */
    status: FunctionStatusSchema.meta({ description: '`building` while dependencies install, `active` when invocable, `failed` when the install failed (see build_log)' }),
    /** Output of the current version's last dependency install; null when none ran. */
    build_log: z.string().nullable(),
    /** The worker pool (`pool` label) that runs the function; absent: the default pool. */
    pool: z.string().optional(),
  })
  .meta({ id: 'Function' });
export type FunctionRecord = z.infer<typeof FunctionRecordSchema>;

/** One stored version: what a worker runs for a job with this function_version. */
export const FunctionVersionSchema = FunctionSpecFieldsSchema.extend({
  function_id: z.string(),
  version: z.number().int(),
  /** The project at the time the version was written (its env layer is read when the version runs). */
  project: z.string(),
  status: FunctionStatusSchema,
  build_log: z.string().nullable(),
  /** Where this version's dependencies were installed (set by the installer); absent: none. */
  deps_dir: z.string().optional(),
  created_at: z.string(),
});
export type FunctionVersion = z.infer<typeof FunctionVersionSchema>;

/** A new function, as the service validated and completed it (defaults applied). */
export const NewFunctionSchema = FunctionSpecFieldsSchema.extend({
  function_id: z.string(),
  name: z.string(),
  execution_type: ExecutionTypeSchema,
  project: z.string(),
  status: FunctionStatusSchema,
  pool: z.string().optional(),
  /** ISO 8601. */
  created_at: z.string(),
});
export type NewFunction = z.infer<typeof NewFunctionSchema>;
