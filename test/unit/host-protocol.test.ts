import { expect } from 'chai';
import { decodeMessage, encodeInvoke, HostErrorCode, HostMessageReader, MALFORMED, ParentCommand } from '../../worker/functions/host-protocol.js';
import { ChildCommand, ParentCommand as AlgorithmParentCommand } from '../../worker/algorithms/protocol.js';

describe('the function host protocol', () => {
  it('splits fd 3 text into tagged messages, across reads', () => {
    const reader = new HostMessageReader(1024);
    expect(reader.push('{"type":"ready","load_ms":3}\n{"type":"res')).to.equal(true);
    expect(reader.next()).to.deep.equal({ type: ParentCommand.Ready });
    expect(reader.next()).to.equal(undefined);
    reader.push('ult","id":1,"nonce":"n","ok":true,"result":5,"handler_ms":1,"cpu_ms":1,"peak_rss_bytes":null,"marks":3}\n');
    expect(reader.next()).to.include({ type: ParentCommand.Result, id: 1, nonce: 'n', ok: true, result: 5, marks: 3 });
  });

  it('marks a line that is not JSON, and refuses an unfinished line past its limit', () => {
    const reader = new HostMessageReader(16);
    reader.push('not json\n');
    expect(reader.next()).to.equal(MALFORMED);
    expect(reader.push('x'.repeat(17))).to.equal(false);
  });

  it('types an unknown tag as unknown, naming the tag or the value type', () => {
    expect(decodeMessage({ type: 'hello' })).to.deep.equal({ type: 'unknown', tag: 'hello' });
    expect(decodeMessage(42)).to.deep.equal({ type: 'unknown', tag: 'number' });
    expect(decodeMessage({ type: 7 })).to.deep.equal({ type: 'unknown', tag: 'object' });
  });

  it('carries errors as plain objects with a code (the host sends it as kind), whatever was forged', () => {
    const msg = decodeMessage({ type: 'load_error', error: { kind: 'out_of_memory', name: 'MemoryError', message: '', stack: ['a', 3] } });
    expect(msg).to.deep.equal({ type: ParentCommand.LoadError, error: { code: HostErrorCode.OutOfMemory, name: 'MemoryError', message: '', stack: ['a'] } });
    const res = decodeMessage({ type: 'result', id: 1, nonce: 'n', ok: false, error: 'boom' });
    expect(res).to.deep.include({ error: { code: HostErrorCode.HandlerError, name: 'Error', message: '', stack: [] } });
  });

  it('clamps progress to 0-100 and cuts its message at 1000 characters', () => {
    expect(decodeMessage({ type: 'progress', id: 1, nonce: 'n', percent: 250, message: 'm'.repeat(2000) })).to.deep.equal({
      type: ParentCommand.Progress,
      id: 1,
      nonce: 'n',
      percent: 100,
      message: 'm'.repeat(1000),
    });
    expect(decodeMessage({ type: 'progress', percent: 'x' })).to.include({ percent: 0 });
  });

  it('writes an invoke line with the event spliced in as JSON', () => {
    const line = encodeInvoke({ id: 3, nonce: 'abc', run_id: 'job "1"', deadline_ms: 10, eventJson: '{"n":1}' });
    expect(line.endsWith('\n')).to.equal(true);
    expect(JSON.parse(line)).to.deep.equal({ type: 'invoke', id: 3, nonce: 'abc', run_id: 'job "1"', deadline_ms: 10, event: { n: 1 } });
  });
});

describe('the algorithm child protocol', () => {
  it('tags messages with cmd values both sides agree on', () => {
    expect(ChildCommand.Run).to.equal('run');
    expect([AlgorithmParentCommand.Ready, AlgorithmParentCommand.Completed, AlgorithmParentCommand.Failed, AlgorithmParentCommand.Progress]).to.deep.equal(['ready', 'completed', 'failed', 'progress']);
  });
});
