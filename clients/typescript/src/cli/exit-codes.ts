import { isFnqueueError } from '../errors.js';
import type { JobStatus } from '../types.js';

/**
 * The CLI's exit codes (docs/clients/cli.md#exit-codes). 2 for bad usage matches `npm run keys`.
 */
export const EXIT = {
  /** The command did what it was asked; a waited-on job completed. */
  OK: 0,
  /** The job failed (status failed, or /invoke's ALGORITHM_ERROR). */
  FAILED: 1,
  /** Bad usage: an unknown command or option, a malformed key=value, a missing file. */
  USAGE: 2,
  /** The wait passed --timeout, or the API's own wait passed INVOKE_TIMEOUT_MS (504 TIMEOUT); the job goes on. */
  TIMEOUT: 3,
  /** The job was cancelled. */
  CANCELLED: 4,
  /** The API refused the request (its error code is printed): 4xx, or 5xx other than the above. */
  REFUSED: 5,
  /** No answer from the API (connection refused, DNS, reset). */
  UNREACHABLE: 6,
  /** Interrupted (Ctrl-C) while waiting; the job goes on. */
  INTERRUPTED: 130,
} as const;

/** The exit code for a job that ended with `status`. */
export function exitForStatus(status: JobStatus): number {
  if (status === 'completed') return EXIT.OK;
  if (status === 'cancelled') return EXIT.CANCELLED;
  if (status === 'failed') return EXIT.FAILED;
  return EXIT.TIMEOUT; // still pending or running: only after a wait that gave up
}

/** The exit code for an error a command threw. */
export function exitForError(err: unknown): number {
  if (!isFnqueueError(err)) return EXIT.FAILED;
  if (err.code === 'UNREACHABLE') return EXIT.UNREACHABLE;
  if (err.code === 'WAIT_TIMEOUT' || err.code === 'TIMEOUT') return EXIT.TIMEOUT;
  if (err.code === 'ALGORITHM_ERROR') return EXIT.FAILED;
  return EXIT.REFUSED;
}
