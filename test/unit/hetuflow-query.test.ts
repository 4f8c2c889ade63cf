import { expect } from 'chai';
import { AppError } from '../../shared/errors/index.js';
import { matches, pageOf, parseListRequest, pinned, type FieldKind } from '../../api/services/hetuflow-query.js';
import { hetuflowCode, HETUFLOW_ERROR_SHAPE } from '../../api/routes/v1-scheduler/error-shape.js';

const FIELDS: Record<string, FieldKind> = {
  name: { type: 'string' },
  status: { type: 'enum', codes: { pending: 1, running: 10, succeeded: 100 } },
  created_at: { type: 'time' },
  enabled: { type: 'boolean' },
  exit_code: { type: 'number' },
};

/** The VALIDATION_ERROR's field of parsing `body`. */
function fieldOf(body: unknown): string {
  try {
    parseListRequest(body, FIELDS);
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    expect((err as AppError).code).to.equal('VALIDATION_ERROR');
    return (err as AppError).details.field as string;
  }
  throw new Error(`no error for ${JSON.stringify(body)}`);
}

describe('hetuflow-compatible paging and filters', () => {
  it('defaults to page 1 of 20 and no filter, for an absent body or parts', () => {
    expect(parseListRequest(undefined, FIELDS)).to.deep.equal({ filter: {}, page: 1, page_size: 20 });
    expect(parseListRequest({ filter: null, page: null }, FIELDS)).to.deep.equal({ filter: {}, page: 1, page_size: 20 });
    expect(parseListRequest({ page: { page: 3 } }, FIELDS)).to.include({ page: 3, page_size: 20 });
  });

  it('maps status codes to names, times to ms, and keeps in lists', () => {
    const req = parseListRequest({ filter: { status: { in: [1, 'running'] }, created_at: { gte: '2024-01-01T00:00:00Z', lte: '2024-12-31T23:59:59Z' } } }, FIELDS);
    expect(req.filter.status).to.deep.equal({ in: ['pending', 'running'] });
    expect(req.filter.created_at).to.deep.equal({ gte: Date.parse('2024-01-01T00:00:00Z'), lte: Date.parse('2024-12-31T23:59:59Z') });
    expect(parseListRequest({ filter: { status: { eq: 100 } } }, FIELDS).filter.status).to.deep.equal({ eq: 'succeeded' });
  });

  it('matches every condition; a missing value matches no range', () => {
    const { filter } = parseListRequest({ filter: { status: { eq: 10 }, created_at: { gte: '2024-06-01T00:00:00Z' }, exit_code: { lte: 2 } } }, FIELDS);
    const item = { status: 'running', created_at: '2024-06-02T00:00:00.000Z', exit_code: 1 };
    expect(matches(item, filter, FIELDS)).to.equal(true);
    expect(matches({ ...item, status: 'pending' }, filter, FIELDS)).to.equal(false);
    expect(matches({ ...item, created_at: '2024-05-31T23:59:59.999Z' }, filter, FIELDS)).to.equal(false);
    expect(matches({ ...item, exit_code: 3 }, filter, FIELDS)).to.equal(false);
    expect(matches({ ...item, exit_code: null }, filter, FIELDS)).to.equal(false);
    expect(matches({ enabled: false }, parseListRequest({ filter: { enabled: { eq: false } } }, FIELDS).filter, FIELDS)).to.equal(true);
  });

  it('refuses unknown fields and operators, wrong kinds and bad pages, naming the field', () => {
    expect(fieldOf([])).to.equal('body');
    expect(fieldOf({ sort: 1 })).to.equal('sort');
    expect(fieldOf({ filter: { colour: { eq: 1 } } })).to.equal('filter.colour');
    expect(fieldOf({ filter: { name: { like: 'a' } } })).to.equal('filter.name.like');
    expect(fieldOf({ filter: { name: { gte: 'a' } } })).to.equal('filter.name.gte');
    expect(fieldOf({ filter: { name: { eq: 1 } } })).to.equal('filter.name.eq');
    expect(fieldOf({ filter: { status: { eq: 2 } } })).to.equal('filter.status.eq');
    expect(fieldOf({ filter: { status: { in: [1, 'nope'] } } })).to.equal('filter.status.in.1');
    expect(fieldOf({ filter: { created_at: { lte: 'soon' } } })).to.equal('filter.created_at.lte');
    expect(fieldOf({ filter: { enabled: { eq: 'true' } } })).to.equal('filter.enabled.eq');
    expect(fieldOf({ filter: { name: { in: Array.from({ length: 101 }, () => 'a') } } })).to.equal('filter.name.in');
    expect(fieldOf({ page: { page: 0 } })).to.equal('page.page');
    expect(fieldOf({ page: { page_size: 501 } })).to.equal('page.page_size');
    expect(fieldOf({ page: { page_size: 2.5 } })).to.equal('page.page_size');
    expect(fieldOf({ page: { offset: 1 } })).to.equal('page.offset');
  });

  it('pages with the total before paging; pinned names the single value of eq or in', () => {
    expect(pageOf([1, 2, 3, 4, 5], { page: 2, page_size: 2 })).to.deep.equal({ data: [3, 4], total: 5, page: 2, page_size: 2 });
    expect(pageOf([1], { page: 3, page_size: 2 })).to.deep.equal({ data: [], total: 1, page: 3, page_size: 2 });
    expect(pinned({ eq: 'a' })).to.equal('a');
    expect(pinned({ in: ['a'] })).to.equal('a');
    expect(pinned({ in: ['a', 'b'] })).to.equal(undefined);
    expect(pinned(undefined)).to.equal(undefined);
  });
});

describe("the hetuflow scheduler API reference's error shape", () => {
  it('owns the scheduler paths under /api/v1 only', () => {
    for (const p of ['/api/v1/jobs/page', '/api/v1/agents/x', '/api/v1/task-instances/page', '/api/v1/system/health', '/API/V1/Jobs', '/api/v1/metrics/resources']) expect(HETUFLOW_ERROR_SHAPE.matches(p), p).to.equal(true);
    for (const p of ['/jobs', '/api/v1/projects', '/api/v1/functions/x', '/api/v1/jobsx', '/api/v2/jobs']) expect(HETUFLOW_ERROR_SHAPE.matches(p), p).to.equal(false);
  });

  it("names codes as the reference does and writes details as a sentence", () => {
    expect(hetuflowCode('JOB_NOT_FOUND')).to.equal('NOT_FOUND');
    expect(hetuflowCode('ALGORITHM_ERROR')).to.equal('INTERNAL_ERROR');
    expect(hetuflowCode('FORBIDDEN')).to.equal('FORBIDDEN');
    expect(hetuflowCode('CONFLICT')).to.equal('CONFLICT');
    const { status, body } = HETUFLOW_ERROR_SHAPE.render(new AppError('VALIDATION_ERROR', 'config.timeout must be at least 1', { field: 'config.timeout' }), 'rid');
    expect(status).to.equal(400);
    expect(body).to.deep.include({ error: { code: 'VALIDATION_ERROR', message: 'config.timeout must be at least 1', details: "field 'config.timeout': must be at least 1", request_id: 'rid' } });
    const empty = HETUFLOW_ERROR_SHAPE.render(new AppError('INTERNAL_ERROR', 'internal server error'), 'rid').body as { error: { details: unknown } };
    expect(empty.error.details).to.equal(null);
  });
});
