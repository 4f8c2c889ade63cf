/**
 * Entry point of a runner child process: runs one algorithm at a time for its parent worker.
 * stdout and stderr are read by the parent and logged with the job's context.
 */
import { performance } from 'node:perf_hooks';
import { AlgorithmRegistry } from '../../shared/algorithms/registry.js';
import type { SerializedError } from '../../shared/errors/index.js';
import { ChildCommand, ParentCommand, type ChildMessage, type ParentMessage } from './protocol.js';

const registry = new AlgorithmRegistry({ diagnostic: true });

function send(message: ParentMessage): void {
  process.send?.(message);
}

function serialize(err: unknown, code: string): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, code };
  return { name: 'Error', message: String(err), code };
}

async function run(msg: ChildMessage): Promise<void> {
  const start = performance.now();
  const elapsed = () => performance.now() - start;
  const algorithm = registry.get(msg.algorithm);
  if (!algorithm) {
    send({ cmd: ParentCommand.Failed, id: msg.id, error: { name: 'Error', message: `algorithm '${msg.algorithm}' not found`, code: 'ALGORITHM_NOT_FOUND' }, elapsed_ms: 0 });
    return;
  }
  const parsed = algorithm.params.safeParse(msg.params);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'params'} ${i.message}`).join('; ');
    send({ cmd: ParentCommand.Failed, id: msg.id, error: { name: 'ValidationError', message, code: 'VALIDATION_ERROR' }, elapsed_ms: 0 });
    return;
  }
  try {
    const result = await algorithm.run(parsed.data, {
      progress: (percent, message) => send({ cmd: ParentCommand.Progress, id: msg.id, percent, message }),
    });
    const json = JSON.stringify(result);
    if (json === undefined) throw new TypeError('the algorithm returned no JSON value');
    send({ cmd: ParentCommand.Completed, id: msg.id, result: JSON.parse(json) as unknown, elapsed_ms: elapsed() });
  } catch (err) {
    send({ cmd: ParentCommand.Failed, id: msg.id, error: serialize(err, 'ALGORITHM_ERROR'), elapsed_ms: elapsed() });
  }
}

process.on('message', (msg: ChildMessage) => {
  switch (msg?.cmd) {
    case ChildCommand.Run:
      void run(msg);
      break;
  }
});
// The worker decides when a runner stops (it drains first); a terminal's Ctrl-C to the whole group must not.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// The parent going away (even by kill -9) closes the IPC channel: leave with it, never linger as an orphan.
process.on('disconnect', () => process.exit(0));
send({ cmd: ParentCommand.Ready, algorithms: registry.names() });
