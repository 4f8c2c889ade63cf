import { expect } from 'chai';
import { parseParams } from '../../clients/typescript/dist/cli/args.js';
import { EXIT, exitForError, exitForStatus } from '../../clients/typescript/dist/cli/exit-codes.js';
import { FnqueueError } from '@fnqueue/client';

describe('the fnqueue CLI: key=value params and exit codes (docs/clients/cli.md)', () => {
  it('reads a value as JSON when it parses, else as the string written', () => {
    expect(parseParams(['number=17', 'ok=true', 'ids=[1,2]', 'name=ada', 'quoted="17"', 'empty=', 'none=null', 'eq=a=b'])).to.deep.equal({
      number: 17,
      ok: true,
      ids: [1, 2],
      name: 'ada',
      quoted: '17',
      empty: '',
      none: null,
      eq: 'a=b',
    });
  });

  it('nests dotted keys and lays key=value words over --data', () => {
    expect(parseParams(['a.b=1', 'a.c.d=x', 'top=2'], '{"a":{"keep":true},"top":1}')).to.deep.equal({ a: { keep: true, b: 1, c: { d: 'x' } }, top: 2 });
  });

  it('refuses a word without =, an empty key part and --data that is not a JSON object', () => {
    expect(() => parseParams(['nonsense'])).to.throw('expected key=value');
    expect(() => parseParams(['=1'])).to.throw('expected key=value');
    expect(() => parseParams(['a..b=1'])).to.throw('empty key part');
    expect(() => parseParams([], '[1]')).to.throw('--data must be a JSON object');
    expect(() => parseParams([], '{nope')).to.throw('--data is not JSON');
  });

  it('maps outcomes to exit codes: completed 0, failed 1, cancelled 4, timeouts 3, refusals 5, no answer 6', () => {
    expect([exitForStatus('completed'), exitForStatus('failed'), exitForStatus('cancelled'), exitForStatus('running')]).to.deep.equal([EXIT.OK, EXIT.FAILED, EXIT.CANCELLED, EXIT.TIMEOUT]);
    const err = (code: string, status?: number) => new FnqueueError({ code, message: code, status });
    expect(exitForError(err('WAIT_TIMEOUT'))).to.equal(3);
    expect(exitForError(err('TIMEOUT', 504))).to.equal(3);
    expect(exitForError(err('ALGORITHM_ERROR', 500))).to.equal(1);
    expect(exitForError(err('VALIDATION_ERROR', 400))).to.equal(5);
    expect(exitForError(err('SERVICE_UNAVAILABLE', 503))).to.equal(5);
    expect(exitForError(err('UNREACHABLE'))).to.equal(6);
  });
});
