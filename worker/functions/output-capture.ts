/**
 * One invocation's stdout and stderr as log lines (docs/functions.md, "Job logs and metrics"): lines go to the
 * invocation's logs until max_output_bytes (stdout and stderr together, each line costing its bytes
 * + {@link LOG_LINE_OVERHEAD_BYTES}) or maxLogLines, then one `[output truncated at N bytes]` (or
 * `… N lines]`) line, and the rest is read and dropped, only searched for the invocation's end
 * marker (so 100 MB printed costs a scan, not memory).
 *
 * A host ends each invocation's output on each stream with a marker line (`\x1eFNQ-END:<nonce>`),
 * so the lines of one invocation never spill into the next one's logs.
 */
import { LOG_LINE_OVERHEAD_BYTES, type FunctionLogLine } from './function-run.js';

/** Bit of stdout in {@link OutputCapture.waitingMarks}. */
export const STDOUT = 1;
/** Bit of stderr in {@link OutputCapture.waitingMarks}. */
export const STDERR = 2;

/** Read state of one of a host's output streams, kept across invocations. */
export interface StreamState {
  /** Bytes of a line not yet ended (bounded by the output budget). */
  partial: Buffer | null;
  /** Tail kept while discarding output, so a marker split across reads is still found. */
  carry: Buffer | null;
  ended: boolean;
}

/** A fresh stream state. */
export function newStreamState(): StreamState {
  return { partial: null, carry: null, ended: false };
}

/** The captured output of one invocation. */
export class OutputCapture {
  readonly logs: FunctionLogLine[] = [];
  /** Budget used so far, in bytes (lines plus their overhead). */
  private bytes = 0;
  truncated = false;
  /** Streams whose end marker is still awaited ({@link STDOUT} | {@link STDERR} bits). */
  waitingMarks = STDOUT | STDERR;
  /** The end marker of this invocation's output. */
  readonly marker: Buffer;

  /**
   * @param nonce the invocation's nonce (its marker is `\x1eFNQ-END:<nonce>`).
   * @param maxOutputBytes the spec's max_output_bytes.
   * @param maxLogLines lines kept at most.
   */
  constructor(
    nonce: string,
    private readonly maxOutputBytes: number,
    private readonly maxLogLines: number,
  ) {
    this.marker = Buffer.from(`\x1eFNQ-END:${nonce}`, 'latin1');
  }

  /**
   * Takes one chunk of stream `idx` (0 stdout, 1 stderr) read while this invocation is in flight.
   * @returns true when it held the stream's end marker (the stream's bit is then cleared).
   */
  take(st: StreamState, idx: 0 | 1, chunk: Buffer): boolean {
    const bit = idx + 1;
    const stream = idx === 0 ? 'stdout' : 'stderr';
    if (this.truncated) return this.discard(st, bit, chunk);
    const ts = new Date().toISOString();
    const data = st.partial ? Buffer.concat([st.partial, chunk]) : chunk;
    st.partial = null;
    const marker = this.marker;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const line = data.subarray(start, nl);
      start = nl + 1;
      if (line.length >= marker.length && line[line.length - marker.length] === 0x1e && line.subarray(line.length - marker.length).equals(marker)) {
        const before = line.subarray(0, line.length - marker.length);
        if (before.length) this.emit(stream, before, ts);
        return this.markerSeen(st, bit);
      }
      this.emit(stream, line, ts);
      if (this.truncated) return this.discard(st, bit, data.subarray(start));
    }
    const rest = data.subarray(start);
    if (!rest.length) return false;
    const room = this.maxOutputBytes - this.bytes;
    if (rest.length > room + marker.length) {
      // This line will pass the cap whatever follows: keep what fits, then drop. A marker can only
      // sit in the last marker.length bytes of an unended line, so none is cut here.
      this.emit(stream, rest.subarray(0, Math.max(0, room)), ts);
      this.truncate(stream, ts, 'bytes');
      return this.discard(st, bit, rest.subarray(Math.max(0, room)));
    }
    st.partial = Buffer.from(rest);
    return false;
  }

  /** Keeps the lines cut short by the end of the invocation (a failure) and clears the streams' partial lines. */
  flush(streams: readonly StreamState[]): void {
    for (const [i, s] of streams.entries()) {
      if (s.partial?.length && !this.truncated) this.emit(i === 0 ? 'stdout' : 'stderr', s.partial, new Date().toISOString());
      s.partial = null;
    }
  }

  /**
   * Adds one line within the budget: it costs its bytes plus {@link LOG_LINE_OVERHEAD_BYTES}, and at
   * most maxLogLines are kept (cutting the last one at the cap and marking truncation when it does not fit).
   */
  private emit(stream: 'stdout' | 'stderr', line: Buffer, ts: string): void {
    if (this.logs.length >= this.maxLogLines) return this.truncate(stream, ts, 'lines');
    const cap = this.maxOutputBytes;
    const cost = line.length + LOG_LINE_OVERHEAD_BYTES;
    if (this.bytes + cost <= cap) {
      this.bytes += cost;
      this.logs.push({ ts, stream, line: line.toString('utf8') });
      return;
    }
    // The cut line keeps what fits with its own overhead counted, like every line.
    const room = cap - this.bytes - LOG_LINE_OVERHEAD_BYTES;
    if (room > 0) this.logs.push({ ts, stream, line: line.subarray(0, room).toString('utf8') });
    this.bytes = cap;
    this.truncate(stream, ts, 'bytes');
  }

  private truncate(stream: 'stdout' | 'stderr', ts: string, why: 'bytes' | 'lines'): void {
    if (this.truncated) return;
    this.truncated = true;
    const at = why === 'lines' ? `${this.maxLogLines} lines` : `${this.maxOutputBytes} bytes`;
    this.logs.push({ ts, stream, line: `[output truncated at ${at}]` });
  }

  /** Reads past output without keeping it, looking only for the end marker (also across two reads). */
  private discard(st: StreamState, bit: number, data: Buffer): boolean {
    if (!(this.waitingMarks & bit)) return false;
    const marker = this.marker;
    if (st.carry) {
      const joined = Buffer.concat([st.carry, data.subarray(0, marker.length)]);
      if (joined.indexOf(marker) >= 0) return this.markerSeen(st, bit);
    }
    if (data.indexOf(marker) >= 0) return this.markerSeen(st, bit);
    const keep = marker.length - 1;
    if (data.length >= keep) st.carry = Buffer.from(data.subarray(data.length - keep));
    else st.carry = Buffer.concat([st.carry ?? Buffer.alloc(0), data]).subarray(-keep);
    return false;
  }

  private markerSeen(st: StreamState, bit: number): true {
    st.partial = null;
    st.carry = null;
    this.waitingMarks &= ~bit;
    return true;
  }
}
