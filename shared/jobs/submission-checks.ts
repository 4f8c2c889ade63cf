/**
 * Checks every submission goes through before anything is written (docs/operations.md#job-options,
 * docs/security.md#where-webhooks-may-go-ssrf-guard): the server's maxima of job options and the SSRF guard on webhook hosts.
 */
import { AppError } from '../errors/index.js';
import { literalHostRefusal } from '../net/address-policy.js';
import type { JobOptions } from '../schemas/job-record.js';

/** Server maxima of job options (configuration). */
export interface JobOptionLimits {
  /** The smaller of JOB_DELAY_MAX_MS and RESULT_TTL_SECONDS (in ms). */
  delayMaxMs: number;
  /** JOB_MAX_RETRIES. */
  maxRetries: number;
}

/** 400 VALIDATION_ERROR naming one field (details `{field, issues: [{field, message}], value}`). */
export function optionError(field: string, message: string, value: unknown): AppError {
  return new AppError('VALIDATION_ERROR', `${field} ${message}`, { field, issues: [{ field, message }], value });
}

/**
 * Refuses a delay or a retry count past the server's maximum.
 * @throws AppError VALIDATION_ERROR (details.field `delay_ms` or `max_retries`).
 */
export function checkJobOptionLimits(options: Pick<JobOptions, 'delay_ms' | 'max_retries'>, limits: JobOptionLimits): void {
  const { delayMaxMs, maxRetries } = limits;
  if (options.delay_ms !== undefined && options.delay_ms > delayMaxMs) throw optionError('delay_ms', `must be at most ${delayMaxMs} (JOB_DELAY_MAX_MS, and never past RESULT_TTL_SECONDS)`, options.delay_ms);
  if (options.max_retries !== undefined && options.max_retries > maxRetries) throw optionError('max_retries', `must be at most ${maxRetries} (JOB_MAX_RETRIES)`, options.max_retries);
}

/**
 * The SSRF guard at submission, without DNS (names are checked again on the address each delivery
 * connects to): unless WEBHOOK_ALLOW_PRIVATE, a literal IP the guard refuses (loopback, private,
 * link-local, metadata) or a cloud metadata name is refused.
 * @throws AppError VALIDATION_ERROR (details.field `webhook`).
 */
export function checkWebhookHost(webhook: string): void {
  const refusal = literalHostRefusal(new URL(webhook).hostname);
  if (!refusal) return;
  throw optionError('webhook', `${refusal} (webhooks to loopback, private, link-local and cloud metadata addresses are refused)`, webhook);
}

/**
 * Whether COMMAND_ALLOWLIST lets `cmd` run (docs/commands.md#the-allow-list): unset, any command; else
 * a name entry matches a `cmd` given as that name, an absolute path entry a `cmd` given as that path.
 */
export function commandAllowed(cmd: string, allowlist: readonly string[] | undefined): boolean {
  return allowlist === undefined || allowlist.includes(cmd);
}

/**
 * Refuses a command COMMAND_ALLOWLIST does not name.
 * @throws AppError FORBIDDEN (details `{field: 'command.cmd', reason: 'command_not_allowed', cmd, allowed}`).
 */
export function checkCommandAllowed(cmd: string, allowlist: readonly string[] | undefined): void {
  if (commandAllowed(cmd, allowlist)) return;
  throw new AppError('FORBIDDEN', `command.cmd '${cmd.slice(0, 200)}' is not in COMMAND_ALLOWLIST (allowed: ${allowlist!.join(', ')})`, {
    field: 'command.cmd',
    reason: 'command_not_allowed',
    cmd: cmd.slice(0, 200),
    allowed: allowlist,
  });
}
