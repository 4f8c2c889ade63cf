import { AppError } from './app-error.js';

/**
 * The 404 answers, one factory per resource (docs/api.md#errors). Ids are cut in the message and
 * details so a caller's long or odd id is not echoed whole.
 */

/** 404 ALGORITHM_NOT_FOUND, with the algorithms there are (the FunctionalScaffold API reference: details.available_algorithms). */
export function algorithmNotFound(algorithm: string, available: readonly string[], message = `algorithm '${algorithm}' not found`): AppError {
  return new AppError('ALGORITHM_NOT_FOUND', message, { algorithm, available_algorithms: [...available] });
}

/** 404 JOB_NOT_FOUND: the FunctionalScaffold API reference's `任务 'xxx' 不存在或已过期` (does not exist or has expired). */
export function jobNotFound(jobId: string): AppError {
  return new AppError('JOB_NOT_FOUND', `job '${jobId}' does not exist or has expired`, { job_id: jobId });
}

/** 404 JOB_NOT_FOUND for a job whose record went away while a caller waited for it (removed, or expired). */
export function jobGone(jobId: string): AppError {
  return new AppError('JOB_NOT_FOUND', `job '${jobId}' was removed before it finished`, { job_id: jobId });
}

/** 404 FUNCTION_NOT_FOUND for an unknown (or deleted) function id (the function API reference). */
export function functionNotFound(functionId: string): AppError {
  const shown = functionId.slice(0, 200);
  return new AppError('FUNCTION_NOT_FOUND', `function '${shown}' not found`, { function_id: shown });
}

/** 404 SCHEDULE_NOT_FOUND for `scheduleId` (any form). */
export function scheduleNotFound(scheduleId: string): AppError {
  const shown = scheduleId.slice(0, 100);
  return new AppError('SCHEDULE_NOT_FOUND', `schedule '${shown}' not found`, { schedule_id: shown });
}

/** 404 PROJECT_NOT_FOUND: a project with no record and no functions (the project FaaS API reference). */
export function projectNotFound(name: string): AppError {
  return new AppError('PROJECT_NOT_FOUND', `no project named '${name}'`, { project: name });
}

/** 404 WORKER_NOT_FOUND: an unknown worker id, or one aged out of the registry (docs/operations.md). */
export function workerNotFound(workerId: string): AppError {
  const shown = workerId.slice(0, 300);
  return new AppError('WORKER_NOT_FOUND', `worker '${shown}' not found (unknown, or aged out after WORKER_FORGET_AFTER_MS)`, { worker_id: shown });
}

/**
 * 404 FUNCTION_NOT_FOUND for a run whose function (or the version it was invoked on) went away
 * after the invocation was accepted: deleted, or the version expired.
 */
export function functionGone(functionId: string, version?: number): AppError {
  if (version === undefined) return new AppError('FUNCTION_NOT_FOUND', `function '${functionId}' no longer exists`, { function_id: functionId });
  return new AppError('FUNCTION_NOT_FOUND', `function '${functionId}' version ${version} no longer exists (the function was deleted or the version expired)`, { function_id: functionId, version });
}
