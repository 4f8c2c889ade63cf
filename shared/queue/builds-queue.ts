/**
 * The builds queue (docs/functions.md#dependencies): one job per function version with
 * dependencies, jobId `<function_id>-v<version>`, installed by a worker (worker/functions/builds.ts).
 */
import type { ConnectionOptions } from 'bullmq';
import { Queue } from './bullmq-queue.js';
import { bullmqTelemetry } from '../tracing.js';
import { BUILDS_QUEUE, buildJobId } from './names.js';

/** A build job's data: the version to install. */
export interface BuildJobData {
  function_id: string;
  version: number;
}

/** Opens the builds queue on `connection` under BullMQ prefix `prefix`. */
export function openBuildsQueue(connection: ConnectionOptions, prefix: string): Queue<BuildJobData> {
  return new Queue<BuildJobData>(BUILDS_QUEUE, { connection, prefix, skipWaitingForReady: true, telemetry: bullmqTelemetry() });
}

/**
 * Asks for a version's build: adds a job to the builds queue, once per version (BullMQ keeps one job
 * per jobId while it exists, so asking again while it waits or runs adds nothing). Finished build
 * jobs are removed at once: the outcome lives in the version's status and build_log.
 */
export async function enqueueBuild(queue: Pick<Queue<BuildJobData>, 'add'>, functionId: string, version: number): Promise<void> {
  await queue.add('build', { function_id: functionId, version }, { jobId: buildJobId(functionId, version), removeOnComplete: true, removeOnFail: true, attempts: 1 });
}
