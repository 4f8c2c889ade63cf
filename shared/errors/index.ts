/**
 * The service's errors (docs/api.md#errors): codes and their HTTP status, {@link AppError} with its
 * code as a field, {@link toAppError} for any thrown value, {@link errorFields} for log lines, and
 * the not-found and conflict answers of every resource. One error class per file, as BullMQ's
 * `src/classes/errors/`.
 */
export { HTTP_STATUS, isErrorCode, type ErrorBody, type ErrorCode } from './http-status.js';
export { AppError, type SerializedError } from './app-error.js';
export { ConfigError } from './config-error.js';
export { isRedisOutOfMemory, isRedisUnavailable } from './redis-unavailable.js';
export { fieldError, validationError } from './validation-error.js';
export { errorFields, toAppError, type ErrorLogFields } from './to-app-error.js';
export { algorithmNotFound, functionGone, functionNotFound, jobGone, jobNotFound, projectNotFound, scheduleNotFound, workerNotFound } from './not-found.js';
export {
  dependenciesNotInstalled,
  functionBusy,
  functionNameTaken,
  functionNotActive,
  idempotencyKeyInProgress,
  idempotencyKeyReused,
  jobAlreadyEnded,
  poolNotServed,
  projectStoppedError,
  scheduleBusy,
  scheduleNameTaken,
  scheduleLimit,
} from './conflict.js';
