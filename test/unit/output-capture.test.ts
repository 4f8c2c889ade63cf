import { expect } from 'chai';
import { LOG_LINE_OVERHEAD_BYTES } from '../../worker/functions/function-run.js';
import { newStreamState, OutputCapture, STDERR, STDOUT } from '../../worker/functions/output-capture.js';

const MARK = '\x1eFNQ-END:n1';

describe('output capture', () => {
  it('keeps lines in order until the end marker, also when a line spans reads', () => {
    const cap = new OutputCapture('n1', 10_000, 100);
    const out = newStreamState();
    expect(cap.take(out, 0, Buffer.from('hello\nwor'))).to.equal(false);
    expect(cap.take(out, 0, Buffer.from(`ld\nlast${MARK}\n`))).to.equal(true);
    expect(cap.logs.map((l) => [l.stream, l.line])).to.deep.equal([
      ['stdout', 'hello'],
      ['stdout', 'world'],
      ['stdout', 'last'],
    ]);
    expect(cap.waitingMarks).to.equal(STDERR);
    expect(out.partial).to.equal(null);
  });

  it('cuts at max_output_bytes behind one marker line and still finds the end marker', () => {
    const cap = new OutputCapture('n1', 2 * (LOG_LINE_OVERHEAD_BYTES + 4), 100);
    const err = newStreamState();
    cap.take(err, 1, Buffer.from('aaaa\nbbbb\ncccc\ndddd\n'));
    expect(cap.truncated).to.equal(true);
    expect(cap.logs.map((l) => l.line)).to.deep.equal(['aaaa', 'bbbb', `[output truncated at ${2 * (LOG_LINE_OVERHEAD_BYTES + 4)} bytes]`]);
    // The marker split across two reads of discarded output is found.
    expect(cap.take(err, 1, Buffer.from(`${'x'.repeat(5000)}${MARK.slice(0, 4)}`))).to.equal(false);
    expect(cap.take(err, 1, Buffer.from(`${MARK.slice(4)}\n`))).to.equal(true);
    expect(cap.waitingMarks).to.equal(STDOUT);
  });

  it('keeps at most maxLogLines lines', () => {
    const cap = new OutputCapture('n1', 1_000_000, 2);
    cap.take(newStreamState(), 0, Buffer.from('1\n2\n3\n4\n'));
    expect(cap.logs.map((l) => l.line)).to.deep.equal(['1', '2', '[output truncated at 2 lines]']);
  });

  it('keeps a line cut short by a failure', () => {
    const cap = new OutputCapture('n1', 1000, 10);
    const streams = [newStreamState(), newStreamState()];
    cap.take(streams[0]!, 0, Buffer.from('no newline'));
    cap.flush(streams);
    expect(cap.logs.map((l) => l.line)).to.deep.equal(['no newline']);
    expect(streams[0]!.partial).to.equal(null);
  });
});
