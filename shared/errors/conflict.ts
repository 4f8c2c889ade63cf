import { AppError } from './app-error.js';

/** The 409 CONFLICT answers, one factory per reason (docs/api.md#errors). */

/** 409: another function has this name (names are unique among functions). */
export function functionNameTaken(name: string, holder: string): AppError {
  return new AppError('CONFLICT', `a function named '${name}' already exists`, { name, function_id: holder });
}

/** 409: another schedule has this name. */
export function scheduleNameTaken(name: string, holder: string): AppError {
  const shown = name.slice(0, 200);
  return new AppError('CONFLICT', `a schedule named '${shown}' already exists`, { name: shown, schedule_id: holder });
}

/** 409 CONFLICT (reason `schedule_limit`): MAX_SCHEDULES schedules exist; delete one first (docs/operations.md#schedules). */
export function scheduleLimit(max: number): AppError {
  return new AppError('CONFLICT', `at most ${max} schedules may exist (MAX_SCHEDULES); delete one first`, { reason: 'schedule_limit', max_schedules: max });
}

/** 409: an update lost every retry of its optimistic write to other writers of the same function. */
export function functionBusy(functionId: string): AppError {
  return new AppError('CONFLICT', `function '${functionId}' is being changed by other requests; retry`, { function_id: functionId });
}

/** 409: an update lost every retry of its optimistic write to other writers of the same schedule. */
export function scheduleBusy(scheduleId: string): AppError {
  return new AppError('CONFLICT', `schedule '${scheduleId}' is being changed by other requests; retry`, { schedule_id: scheduleId });
}

/** 409: a function that is not `active` (still `building`, or its dependency install `failed`) cannot be invoked. */
export function functionNotActive(fn: { function_id: string; name: string; status: string; version: number }): AppError {
  const why =
    fn.status === 'building'
      ? 'its dependencies are still being installed; retry when its status is active'
      : 'its dependency install failed (see build_log); fix it with PUT /functions/{function_id}';
  return new AppError('CONFLICT', `function '${fn.name}' cannot be invoked: status is ${fn.status}: ${why}`, { function_id: fn.function_id, status: fn.status, version: fn.version });
}

/**
 * 409: the function's project is stopped; its functions refuse invocations until
 * `POST /projects/{name}/start` (the project FaaS API reference). details.reason `project_stopped`.
 */
export function projectStoppedError(project: string, functionId?: string): AppError {
  return new AppError('CONFLICT', `project '${project}' is stopped: its functions refuse invocations until POST /projects/${project}/start`, {
    reason: 'project_stopped',
    project,
    ...(functionId ? { function_id: functionId } : {}),
  });
}

/** 409: a job that already ended cannot be cancelled (details.status, its end). */
export function jobAlreadyEnded(jobId: string, status: string): AppError {
  return new AppError('CONFLICT', `job '${jobId}' already ended (${status}); only pending, delayed or running jobs can be cancelled`, { job_id: jobId, status });
}

/** 409: this Idempotency-Key was used with another request body (docs/api.md: keys are kept 24 h). */
export function idempotencyKeyReused(idempotencyKey: string, jobId: string): AppError {
  return new AppError('CONFLICT', 'this Idempotency-Key was already used with a different request body (keys are kept 24 h)', { idempotency_key: idempotencyKey, job_id: jobId });
}

/** 409: the first request with this Idempotency-Key has not written its job yet (or its job expired). */
export function idempotencyKeyInProgress(idempotencyKey: string): AppError {
  return new AppError('CONFLICT', 'a request with this Idempotency-Key is still in progress (or its job expired); retry shortly', { idempotency_key: idempotencyKey });
}

/** 409: a function version's dependencies could not be installed on this worker (details.build_log, the install's output). */
export function dependenciesNotInstalled(functionId: string, version: number, buildLog: string): AppError {
  return new AppError('CONFLICT', `the dependencies of function ${functionId} version ${version} could not be installed on this worker`, { function_id: functionId, version, build_log: buildLog });
}

/**
 * 409: no worker serves this pool (no worker in the registry carries the label `pool=<pool>`), so a
 * job there would never run (docs/operations.md#pools). details `{reason: 'pool_not_served', pool}`.
 */
export function poolNotServed(pool: string): AppError {
  return new AppError('CONFLICT', `no worker serves pool '${pool}': start one with WORKER_LABELS=pool=${pool}, or omit pool for the default pool`, { reason: 'pool_not_served', pool });
}
