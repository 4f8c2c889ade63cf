import { expect } from 'chai';
import { z } from 'zod';
import { AppError, HTTP_STATUS, isRedisUnavailable, toAppError, validationError } from '../../shared/errors.js';

describe('errors', () => {
  it('maps seed 002 codes to their statuses', () => {
    expect(HTTP_STATUS).to.include({
      VALIDATION_ERROR: 400,
      ALGORITHM_NOT_FOUND: 404,
      JOB_NOT_FOUND: 404,
      ALGORITHM_ERROR: 500,
      INTERNAL_ERROR: 500,
      SERVICE_UNAVAILABLE: 503,
      TIMEOUT: 504,
      PAYLOAD_TOO_LARGE: 413,
    });
  });

  it('renders the one error shape', () => {
    const e = new AppError('JOB_NOT_FOUND', 'gone', { job_id: 'abc' });
    expect(e.status).to.equal(404);
    expect(e.toBody('rid')).to.deep.equal({ error: 'JOB_NOT_FOUND', message: 'gone', details: { job_id: 'abc' }, request_id: 'rid' });
  });

  it('turns a ZodError into VALIDATION_ERROR naming the field and value', () => {
    const schema = z.object({ number: z.number({ error: 'must be an integer' }) });
    const input = { number: 'abc' };
    const err = validationError(schema.safeParse(input).error!, input);
    expect(err.code).to.equal('VALIDATION_ERROR');
    expect(err.message).to.equal('number must be an integer');
    expect(err.details).to.include({ field: 'number', value: 'abc' });
    const nested = validationError(schema.safeParse(input).error!, input, ['params']);
    expect(nested.details.field).to.equal('params.number');
  });

  it('passes AppErrors through, maps Redis outages to SERVICE_UNAVAILABLE and the rest to INTERNAL_ERROR with the cause kept', () => {
    const app = new AppError('TIMEOUT', 't');
    expect(toAppError(app)).to.equal(app);
    const down = toAppError(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    expect(down.code).to.equal('SERVICE_UNAVAILABLE');
    expect(isRedisUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).to.equal(true);
    const boom = new TypeError('x is undefined');
    const internal = toAppError(boom);
    expect(internal.code).to.equal('INTERNAL_ERROR');
    expect(internal.message).not.to.contain('undefined');
    expect(internal.cause).to.equal(boom);
    expect(toAppError('a string').code).to.equal('INTERNAL_ERROR');
  });
});
