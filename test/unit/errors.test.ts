import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { z } from 'zod';
import * as errors from '../../shared/errors/index.js';
import { AppError, errorFields, HTTP_STATUS, isErrorCode, isRedisUnavailable, toAppError, validationError } from '../../shared/errors/index.js';
import { errorHandler } from '../../api/middleware/error-handler.js';
import { memoryLogger } from '../helpers/stack.js';

describe('errors', () => {
  it("maps the FunctionalScaffold API reference's codes to their statuses", () => {
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

  it("says zod's default reasons in the API's own words, and keeps a schema's own", () => {
    const schema = z.strictObject({
      env: z.record(z.string(), z.string()),
      print: z.string().max(3),
      name: z.string().min(1),
      deps: z.array(z.string()).max(1),
      n: z.number().lt(5),
      level: z.enum(['low', 'high']),
      url: z.url(),
      even: z.number().multipleOf(2),
      kind: z.union([z.string(), z.number()]),
      count: z.number({ error: 'must be a count' }),
      flag: z.boolean(),
      slug: z.string().regex(/^[a-z]+$/),
    });
    const input = { print: 'abcdef', name: '', deps: ['a', 'b'], n: 9, level: 'mid', url: 'nope', even: 3, kind: true, count: 'x', flag: 'yes', slug: 'A1' };
    const err = validationError(schema.safeParse(input).error!, input);
    const reasons = Object.fromEntries((err.details.issues as Array<{ field: string; message: string }>).map((i) => [i.field, i.message]));
    expect(reasons).to.deep.equal({
      env: 'is required',
      print: 'must be at most 3 characters long',
      name: 'must not be empty',
      deps: 'must hold at most 1 item',
      n: 'must be less than 5',
      level: 'must be one of low, high',
      url: 'must be a valid URL',
      even: 'must be a multiple of 2',
      kind: 'matches none of the forms it may take',
      count: 'must be a count',
      flag: 'must be true or false',
      slug: 'must match /^[a-z]+$/',
    });
    expect(err.message).to.equal('env is required');
    // Without the input, a missing value is not told from a wrong one.
    expect(validationError(schema.safeParse(input).error!).message).to.equal('env must be an object');
  });

  it("maps Redis's OOM refusal (past maxmemory) to SERVICE_UNAVAILABLE with retry_after_seconds, never INTERNAL_ERROR", () => {
    const oom = Object.assign(new Error("OOM command not allowed when used memory > 'maxmemory'."), { name: 'ReplyError' });
    expect(errors.isRedisOutOfMemory(oom)).to.equal(true);
    const mapped = toAppError(oom);
    expect(mapped.code).to.equal('SERVICE_UNAVAILABLE');
    expect(mapped.details.retry_after_seconds).to.equal(5);
    expect(mapped.cause).to.equal(oom);
    expect(errors.isRedisOutOfMemory(new Error('room is full'))).to.equal(false);
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

  it('gives log fields with the code as a field, the stack of unexpected errors only, and the cause', () => {
    expect(errorFields(new AppError('TIMEOUT', 'too slow'))).to.deep.equal({ error: 'too slow', error_code: 'TIMEOUT' });
    const wrapped = toAppError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(errorFields(wrapped)).to.deep.equal({ error: wrapped.message, error_code: 'SERVICE_UNAVAILABLE', cause: 'connect ECONNREFUSED' });
    const boom = errorFields(new TypeError('x is undefined'));
    expect(boom.error).to.equal('x is undefined');
    expect(boom.stack).to.contain('TypeError');
    expect(errorFields('plain')).to.deep.equal({ error: 'plain' });
  });

  it('knows its own codes', () => {
    expect(isErrorCode('JOB_NOT_FOUND')).to.equal(true);
    expect(isErrorCode('toString')).to.equal(false);
    expect(isErrorCode(404)).to.equal(false);
  });

  describe('not-found and conflict factories', () => {
    const cases: Array<[AppError, string, number, Record<string, unknown>]> = [
      [errors.jobNotFound('abc'), 'JOB_NOT_FOUND', 404, { job_id: 'abc' }],
      [errors.jobGone('abc'), 'JOB_NOT_FOUND', 404, { job_id: 'abc' }],
      [errors.algorithmNotFound('Nope', ['PrimeChecker']), 'ALGORITHM_NOT_FOUND', 404, { algorithm: 'Nope', available_algorithms: ['PrimeChecker'] }],
      [errors.functionNotFound('f'.repeat(300)), 'FUNCTION_NOT_FOUND', 404, { function_id: 'f'.repeat(200) }],
      [errors.functionGone('f'), 'FUNCTION_NOT_FOUND', 404, { function_id: 'f' }],
      [errors.functionGone('f', 3), 'FUNCTION_NOT_FOUND', 404, { function_id: 'f', version: 3 }],
      [errors.scheduleNotFound('s'), 'SCHEDULE_NOT_FOUND', 404, { schedule_id: 's' }],
      [errors.projectNotFound('shop'), 'PROJECT_NOT_FOUND', 404, { project: 'shop' }],
      [errors.workerNotFound('host:1'), 'WORKER_NOT_FOUND', 404, { worker_id: 'host:1' }],
      [errors.functionNameTaken('f', 'id1'), 'CONFLICT', 409, { name: 'f', function_id: 'id1' }],
      [errors.scheduleNameTaken('s', 'id2'), 'CONFLICT', 409, { name: 's', schedule_id: 'id2' }],
      [errors.functionBusy('id1'), 'CONFLICT', 409, { function_id: 'id1' }],
      [errors.scheduleBusy('id2'), 'CONFLICT', 409, { schedule_id: 'id2' }],
      [errors.functionNotActive({ function_id: 'id1', name: 'f', status: 'building', version: 2 }), 'CONFLICT', 409, { function_id: 'id1', status: 'building', version: 2 }],
      [errors.projectStoppedError('shop', 'id1'), 'CONFLICT', 409, { reason: 'project_stopped', project: 'shop', function_id: 'id1' }],
      [errors.jobAlreadyEnded('abc', 'completed'), 'CONFLICT', 409, { job_id: 'abc', status: 'completed' }],
      [errors.idempotencyKeyReused('k', 'abc'), 'CONFLICT', 409, { idempotency_key: 'k', job_id: 'abc' }],
      [errors.dependenciesNotInstalled('f', 2, 'log'), 'CONFLICT', 409, { function_id: 'f', version: 2, build_log: 'log' }],
      [errors.idempotencyKeyInProgress('k'), 'CONFLICT', 409, { idempotency_key: 'k' }],
    ];
    for (const [err, code, status, details] of cases) {
      it(`builds ${code} ${status} with details ${Object.keys(details).join(', ')}`, () => {
        expect(err).to.be.instanceOf(AppError);
        expect(err.code).to.equal(code);
        expect(err.status).to.equal(status);
        expect(err.details).to.deep.equal(details);
        expect(err.message).not.to.contain(code);
      });
    }
  });
});

describe('errorHandler (api/middleware/error-handler.ts): what it logs', () => {
  it('logs a 500 at error with its stack, and 503s at warn without one, once per kind and then as a count', async () => {
    const { logger, lines } = memoryLogger();
    const app = express();
    app.get('/unavailable', () => {
      throw new Error('Command timed out');
    });
    app.get('/full', () => {
      throw new AppError('SERVICE_UNAVAILABLE', "pool 'default' has 1000 bytes of payloads waiting", { retry_after_seconds: 5 });
    });
    app.get('/stalled', () => {
      throw new AppError('SERVICE_UNAVAILABLE', 'the job service is temporarily unavailable (Redis is not answering), retry later');
    });
    app.get('/bug', () => {
      throw new TypeError('x is not a function');
    });
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${base}/unavailable`);
        expect(res.status).to.equal(503);
        expect(res.headers.get('retry-after')).to.equal('1');
      }
      expect((await fetch(`${base}/full`)).headers.get('retry-after')).to.equal('5');
      expect((await fetch(`${base}/full`)).status).to.equal(503);
      expect((await fetch(`${base}/stalled`)).status).to.equal(503);
      expect((await fetch(`${base}/bug`)).status).to.equal(500);
      const warn = lines.filter((l) => l.level === 'warn');
      expect(warn.map((l) => [l.error_kind, l.count])).to.deep.equal([
        ['Command timed out', 1],
        ["pool 'default' has # bytes of payloads waiting", 1],
        ['the job service is temporarily unavailable (Redis is not answering), retry later', 1],
      ]);
      expect(warn.every((l) => l.stack === undefined)).to.equal(true);
      const error = lines.filter((l) => l.level === 'error');
      expect(error).to.have.length(1);
      expect(error[0]).to.include({ error_code: 'INTERNAL_ERROR', cause: 'x is not a function' });
      expect(error[0]!.stack).to.match(/TypeError: x is not a function/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
