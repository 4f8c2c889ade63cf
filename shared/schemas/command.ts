/**
 * Command jobs (docs/commands.md): a job whose target is a program run on a worker in the function
 * sandbox (the hetuflow scheduler API reference's `cmd`, `args`, `capture_output` and
 * `max_output_size`). These are the shapes api and worker share: the spec a job carries (its BullMQ
 * data), the part of it a record shows, and the result a finished run stores. The request schema,
 * with its messages and bounds, is in api/schemas/jobs.ts.
 */
import { z } from 'zod';

/**
 * The `algorithm` of every command job's record (its listing index: `GET /jobs?algorithm=command`,
 * and its metrics label): the command itself is in the record's `command`.
 */
export const COMMAND_ALGORITHM = 'command';

/** Bytes of the end of stdout and of stderr a command's result keeps (`stdout_tail`, `stderr_tail`), and its failure's message quotes (stderr). */
export const COMMAND_TAIL_BYTES = 4096;

/** Most arguments of one command. */
export const MAX_COMMAND_ARGS = 1000;

/** Longest `cmd`, and longest single argument, in characters. */
export const MAX_COMMAND_CHARS = 4096;
export const MAX_COMMAND_ARG_CHARS = 32 * 1024;

/** The most `depends_on` may name. */
export const MAX_DEPENDS_ON = 100;

/** What a command job runs, as its job data carries it (validated by the API). */
export interface CommandSpec {
  /** A program name, looked up on PATH inside the sandbox, or an absolute path (inside the sandbox's view). */
  cmd: string;
  args: string[];
  /** The job's own env: layered over the system env and the project's (never the worker's). */
  env: Record<string, string>;
  /** Store stdout and stderr as the job's logs (and their tails in the result). */
  capture_output: boolean;
  /** Captured stdout+stderr bytes at most (each line counts its bytes + 32), then a `[output truncated at N bytes]` line; already capped at JOB_LOGS_MAX_BYTES. */
  max_output_size: number;
}

/** The value every env entry shows on a record: env values are write-only (docs/security.md). */
export const REDACTED_VALUE = '[redacted]';

/** The record's `command`: the spec with env values redacted. */
export const CommandViewSchema = z
  .object({
    cmd: z.string(),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()).meta({ description: 'The names of the job env; every value is shown as `[redacted]`' }),
    capture_output: z.boolean(),
    max_output_size: z.number().int().meta({ description: 'Bytes of captured output kept, after the server cap (JOB_LOGS_MAX_BYTES)' }),
  })
  .meta({ id: 'CommandView', description: 'The command a command job runs (docs/commands.md)' });
export type CommandView = z.infer<typeof CommandViewSchema>;

/** The record's view of a spec. */
export function commandView(spec: CommandSpec): CommandView {
  return {
    cmd: spec.cmd,
    args: spec.args,
    env: Object.fromEntries(Object.keys(spec.env).map((k) => [k, REDACTED_VALUE])),
    capture_output: spec.capture_output,
    max_output_size: spec.max_output_size,
  };
}

/**
 * The `result` of a finished command job (status completed: exit code 0). A failed attempt (non-zero
 * exit) stores no result: its error names the exit code and quotes the end of stderr, and its
 * attempt (GET /jobs/{job_id}/attempts) carries `exit_code`.
 */
export const CommandResultSchema = z
  .object({
    exit_code: z.number().int().meta({ description: 'The process exit code (0)' }),
    stdout_tail: z.string().nullable().meta({ description: `The last ${COMMAND_TAIL_BYTES} bytes of stdout (UTF-8); null without capture_output` }),
    stderr_tail: z.string().nullable().meta({ description: `The last ${COMMAND_TAIL_BYTES} bytes of stderr (UTF-8); null without capture_output` }),
    output_truncated: z.boolean().meta({ description: 'True when the stored logs were cut at max_output_size (a marker line shows where)' }),
    duration_ms: z.number().meta({ description: 'Wall time of the process, ms' }),
  })
  .meta({ id: 'CommandResult' });
export type CommandResult = z.infer<typeof CommandResultSchema>;

/** Why a dependent job failed: the job it waited for, and how that one ended (record field `failed_dependency`). */
export const FailedDependencySchema = z
  .object({
    job_id: z.string(),
    status: z.enum(['failed', 'cancelled', 'expired']).meta({ description: '`expired`: its record was gone (RESULT_TTL_SECONDS) before it completed' }),
  })
  .meta({ id: 'FailedDependency' });
export type FailedDependency = z.infer<typeof FailedDependencySchema>;
