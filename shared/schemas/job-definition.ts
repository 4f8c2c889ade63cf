/**
 * A job definition of the hetuflow scheduler API (docs/compat-hetuflow.md): a named command with
 * its environment and run options, kept as configuration (no TTL). Each run of a definition is an
 * ordinary fnqueue command job (its task), each attempt of that job a task instance. The store
 * (shared/store/job-definition-store.ts) keeps a {@link StoredJobDefinition}; the API's wire
 * schemas (api/schemas/v1-scheduler.ts) are built on the same fields.
 */
import { z } from 'zod';

/** The statuses a definition can have (the hetuflow scheduler API reference's JobStatus, but `deleted`, which fnqueue does not keep). */
export const JOB_DEFINITION_STATUSES = ['disabled', 'enabled'] as const;

/**
 * The run options of a definition: the hetuflow scheduler API reference's TaskConfig. Times in
 * seconds, sizes in bytes, as that reference has them.
 */
export const TaskConfigSchema = z.object({
  /** Longest one attempt may run, seconds (capped at JOB_TIMEOUT_MAX_MS when it runs). */
  timeout: z.number().int(),
  /** Retries after a failed attempt. */
  max_retries: z.number().int(),
  /** Wait before each retry, seconds. */
  retry_interval: z.number().int(),
  /** The program, resolved inside the sandbox's read-only view of the system. */
  cmd: z.string(),
  args: z.array(z.string()),
  /** Keep stdout and stderr as the run's logs (and a task instance's `output`). */
  capture_output: z.boolean(),
  /** Most captured bytes kept per attempt, then a visible marker. */
  max_output_size: z.number().int(),
});
export type TaskConfig = z.infer<typeof TaskConfigSchema>;

/** A definition as stored (JSON in its hash's `doc` field). */
export const StoredJobDefinitionSchema = z.object({
  /** A UUID, as the hetuflow scheduler API reference's ids. */
  id: z.string(),
  namespace_id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  /** The command's own env, layered over the system env. */
  environment: z.record(z.string(), z.string()).nullable(),
  config: TaskConfigSchema,
  status: z.enum(JOB_DEFINITION_STATUSES),
  /** ISO 8601, UTC (`2024-01-01T00:00:00.000Z`). */
  created_at: z.string(),
  updated_at: z.string().nullable(),
});
export type StoredJobDefinition = z.infer<typeof StoredJobDefinitionSchema>;
