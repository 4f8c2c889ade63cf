import type { SerializedError } from '../../shared/errors.js';

/**
 * Messages between a worker and its runner child over the IPC channel, tagged by `type`
 * (BullMQ's child protocol style). Errors travel as plain `{name, message, code}` objects.
 */
export type ParentMessage = { type: 'run'; id: number; algorithm: string; params: unknown };

export type ChildMessage =
  | { type: 'ready'; algorithms: string[] }
  | { type: 'result'; id: number; result: unknown; elapsed_ms: number }
  | { type: 'error'; id: number; error: SerializedError; elapsed_ms: number }
  | { type: 'progress'; id: number; percent: number; message?: string };
