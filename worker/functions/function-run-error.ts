import { AppError, type ErrorCode } from '../../shared/errors/index.js';
import type { FunctionFailure, FunctionRunReport } from './function-run.js';

/**
 * A failed invocation: an AppError (code TIMEOUT for timeouts, SERVICE_UNAVAILABLE when the pool
 * closed or isolation is required but missing, ALGORITHM_ERROR otherwise) whose details carry the
 * `reason`, plus the invocation's logs and measurements in `report` (kept out of details, which go
 * to clients as they are).
 */
export class FunctionRunError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly reason: FunctionFailure,
    readonly report: FunctionRunReport,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { reason, ...details });
  }
}
