import { HTTP_STATUS, type ErrorBody, type ErrorCode } from './http-status.js';

/**
 * An error meant for a caller: a code from {@link HTTP_STATUS} (a field, never inside the message),
 * a message a person can act on, and details safe to send. `cause` is logged, never sent.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    opts?: ErrorOptions,
  ) {
    super(message, opts);
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** The error shape for a response. */
  toBody(requestId: string): ErrorBody {
    return { error: this.code, message: this.message, details: this.details, request_id: requestId };
  }
}

/**
 * A plain object form of an error that crosses a process boundary (child IPC, job records), as
 * BullMQ's child processes send theirs: matched by `code`, never by `instanceof`.
 */
export interface SerializedError {
  name: string;
  message: string;
  code: string;
}
