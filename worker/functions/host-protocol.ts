/**
 * The messages between the pool and a function's host process (./runtimes/node-host.mjs,
 * ./runtimes/python-host.py): JSON lines over fd 3, each tagged by its `type` (BullMQ's
 * child-processor protocol is the model: a tag enum and a `switch` on it). Errors travel as plain
 * objects matched by their `code` (the host sends it as `kind`), never by class.
 *
 * The function's own code can write to fd 3 too, so everything read here is untrusted: fields are
 * checked or coerced before use, and the pool takes a message only when it fits the host's state.
 */

/** Messages the pool sends to a host. */
export enum HostCommand {
  /** Once, first: the function's env, handler and limits (never on the command line). */
  Init = 'init',
  /** One invocation: its event and deadline. */
  Invoke = 'invoke',
}

/** Messages a host sends to the pool. */
export enum ParentCommand {
  /** The code loaded and the handler was found. */
  Ready = 'ready',
  /** The code could not be loaded (syntax, top-level throw, no handler, out of memory). */
  LoadError = 'load_error',
  /** The invocation in flight ended: its result or error, and its measurements. */
  Result = 'result',
  /** `context.progress(percent, message)` of the invocation in flight. */
  Progress = 'progress',
}

/** What a host error's `code` says went wrong (the host's `kind`). */
export enum HostErrorCode {
  HandlerError = 'handler_error',
  LoadError = 'load_error',
  OutOfMemory = 'out_of_memory',
  InvalidResult = 'invalid_result',
  ResultTooLarge = 'result_too_large',
}

/** An error as a host reports it, as strings whatever the process sent. */
export interface HostError {
  /** A {@link HostErrorCode}, or another string a host sent. */
  code: string;
  name: string;
  message: string;
  /** Stack frames in the user's code, as lines. */
  stack: string[];
}

/** {@link HostCommand.Init}'s fields. */
export interface InitMessage {
  env: Record<string, string>;
  handler: string;
  /** Paths as the host sees them (they differ inside the sandbox). */
  code_dir: string;
  deps: string | null;
  cwd: string;
  function_id: string;
  version: string;
  max_result_bytes: number;
  memory_mb: number;
  /** How the host counts processes it left behind: null when the parent counts them in a cgroup. */
  count_processes: 'proc' | 'children' | null;
}

/** {@link HostCommand.Invoke}'s fields; the event is already JSON. */
export interface InvokeMessage {
  id: number;
  nonce: string;
  run_id: string;
  /** Epoch ms at which the invocation times out. */
  deadline_ms: number;
  eventJson: string;
}

/** {@link ParentCommand.Result}. */
export interface ResultMessage {
  type: ParentCommand.Result;
  id: unknown;
  nonce: unknown;
  ok: boolean;
  result?: unknown;
  /** Set when ok is false. */
  error?: HostError;
  /** The host asks to be replaced (its handler threw). */
  recycle?: boolean;
  /** Processes in the sandbox besides the host (and bwrap's init), counted by the host; only without cgroups. */
  stray_processes?: number;
  /**
   * What the invocation left running inside the host's own process, counted by the host: threads
   * beyond those it had before the function's code loaded, plus (Python) armed interval timers and
   * (Node) event-loop resources (timers, sockets, ports, workers) that were not there then. Above 0
   * retires the host (docs/functions.md, "The function sandbox").
   */
  stray_threads?: number;
  handler_ms: number;
  cpu_ms: number;
  peak_rss_bytes: number | null;
  /** Bits of the output streams (1 stdout, 2 stderr) whose end marker the host wrote. */
  marks: number;
}

/** A message from a host, by its tag; `Unknown` is anything else a process wrote on fd 3. */
export type ParentMessage =
  | { type: ParentCommand.Ready }
  | { type: ParentCommand.LoadError; error: HostError }
  | ResultMessage
  | { type: ParentCommand.Progress; id: unknown; nonce: unknown; percent: number; message?: string }
  | { type: 'unknown'; tag: string };

/** The init line. */
export function encodeInit(msg: InitMessage): string {
  return JSON.stringify({ type: HostCommand.Init, ...msg }) + '\n';
}

/** The invoke line; the event's JSON is spliced in as it is (no second stringify of a large event). */
export function encodeInvoke(msg: InvokeMessage): string {
  return `{"type":"${HostCommand.Invoke}","id":${msg.id},"nonce":"${msg.nonce}","run_id":${JSON.stringify(msg.run_id)},"deadline_ms":${msg.deadline_ms},"event":${msg.eventJson}}\n`;
}

/** A host's error object as strings, whatever the process sent (it may be forged). */
export function toHostError(e: unknown): HostError {
  const o = (e && typeof e === 'object' ? e : {}) as Record<string, unknown>;
  const str = (v: unknown, d: string) => (typeof v === 'string' ? v : d);
  return {
    code: str(o.kind, HostErrorCode.HandlerError),
    name: str(o.name, 'Error'),
    message: str(o.message, ''),
    stack: Array.isArray(o.stack) ? o.stack.filter((x): x is string => typeof x === 'string') : [],
  };
}

/** Types one parsed line; unknown tags become `{type: 'unknown'}` with the tag (or the value's type) for the message. */
export function decodeMessage(raw: unknown): ParentMessage {
  const msg = raw as ({ type?: unknown } & Record<string, unknown>) | null;
  const tag = typeof msg?.type === 'string' ? msg.type : typeof raw;
  switch (tag) {
    case ParentCommand.Ready:
      return { type: ParentCommand.Ready };
    case ParentCommand.LoadError:
      return { type: ParentCommand.LoadError, error: toHostError(msg!.error) };
    case ParentCommand.Progress: {
      const p = msg!.percent;
      const percent = typeof p === 'number' && Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0;
      return { type: ParentCommand.Progress, id: msg!.id, nonce: msg!.nonce, percent, message: typeof msg!.message === 'string' ? msg!.message.slice(0, 1000) : undefined };
    }
    case ParentCommand.Result: {
      const res = msg as unknown as ResultMessage;
      if (!res.ok) res.error = toHostError(res.error);
      return res;
    }
    default:
      return { type: 'unknown', tag };
  }
}

/** Marks a line on fd 3 that is not JSON. */
export const MALFORMED = Symbol('malformed host message');

/**
 * Splits fd 3's text into messages. A host may buffer at most `maxBytes` of one unfinished line
 * (a result is at most max_result_bytes of JSON, escaped); past it the host is distrusted.
 */
export class HostMessageReader {
  private buf = '';

  constructor(private readonly maxBytes: number) {}

  /** Appends text read from fd 3. @returns false when the unread text passed maxBytes. */
  push(chunk: string): boolean {
    this.buf += chunk;
    return this.buf.length <= this.maxBytes;
  }

  /** The next whole message; undefined when no whole line is buffered; {@link MALFORMED} for a line that is not JSON. */
  next(): ParentMessage | typeof MALFORMED | undefined {
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      try {
        return decodeMessage(JSON.parse(line));
      } catch {
        return MALFORMED;
      }
    }
    return undefined;
  }
}

/** `Name: message`, or just the name when the message is empty (Python's bare MemoryError). */
export function errorHead(e: HostError): string {
  return e.message ? `${e.name}: ${e.message}` : e.name;
}

/** The error's fields as a failed invocation's details carry them. */
export function errorDetails(e: HostError): Record<string, unknown> {
  return { error_type: e.name, error_message: e.message, stack: e.stack };
}
