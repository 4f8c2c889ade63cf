/**
 * Messages between a worker and its algorithm child over the IPC channel (BullMQ's
 * child-processor protocol is the model): each carries a `cmd` tag from an enum, the receiver
 * `switch`es on it, and errors travel as plain `{name, message, code}` objects matched by `code`,
 * never by class.
 */
import type { SerializedError } from '../../shared/errors/index.js';

/** Messages the worker sends to a child. */
export enum ChildCommand {
  /** Run one algorithm with its params. */
  Run = 'run',
}

/** Messages a child sends to the worker. */
export enum ParentCommand {
  /** Started; lists the algorithms it can run. */
  Ready = 'ready',
  /** The run finished with a JSON result. */
  Completed = 'completed',
  /** The run failed: its error, matched by code. */
  Failed = 'failed',
  /** The run reported progress. */
  Progress = 'progress',
}

/** Worker → child. */
export type ChildMessage = { cmd: ChildCommand.Run; id: number; algorithm: string; params: unknown };

/** Child → worker. `elapsed_ms` is the time the algorithm itself took in the child, in ms. */
export type ParentMessage =
  | { cmd: ParentCommand.Ready; algorithms: string[] }
  | { cmd: ParentCommand.Completed; id: number; result: unknown; elapsed_ms: number }
  | { cmd: ParentCommand.Failed; id: number; error: SerializedError; elapsed_ms: number }
  | { cmd: ParentCommand.Progress; id: number; percent: number; message?: string };
