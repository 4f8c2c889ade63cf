import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { expect } from 'chai';
import { buildOpenApiDocument } from '../../api/openapi/document.js';
import { DOCUMENTED_OPERATIONS } from '../../api/routes/index.js';
import { HTTP_STATUS } from '../../shared/errors/index.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

type Operation = { operationId?: string; responses: Record<string, { content?: Record<string, { example?: { error?: string } }> }>; [k: string]: unknown };
const operations = (doc: any): Array<[string, string, Operation]> =>
  Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([m, op]) => [p, m, op] as [string, string, Operation]),
  );

describe('the OpenAPI document', function () {
  this.timeout(120_000);
  const doc = buildOpenApiDocument('0.0.0-test') as any;
  let dir: string;
  let file: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'fnqueue-openapi-'));
    file = path.join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes redocly lint with the repository rules (redocly.yaml): no error, no warning', async () => {
    const out = await run(path.join(ROOT, 'node_modules/.bin/redocly'), ['lint', file, '--config', path.join(ROOT, 'redocly.yaml'), '--format=json'], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const report = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as { problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }> };
    const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).to.deep.equal([]);
  });

  it('is valid for swagger-parser', async () => {
    await SwaggerParser.validate(structuredClone(doc));
  });

  it('documents each declared route once, with an operationId', () => {
    const ops = operations(doc);
    const ids = ops.map(([, , op]) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).to.equal(true);
    expect(new Set(ids).size).to.equal(ids.length);
    const documented = DOCUMENTED_OPERATIONS.map((r) => `${r.method} ${r.path}`).sort();
    expect(documented).to.include('get /admin/queues');
    expect(ops.map(([p, m]) => `${m} ${p}`).sort()).to.deep.equal(documented);
  });

  it('gives each error answer an example whose code has that status', () => {
    for (const [p, m, op] of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const example = response.content?.['application/json']?.example;
        if (!example?.error) continue; // /readyz's 503 is the readiness body
        // fnqueue's shape names the code in `error`; the hetuflow-compatible API's in `error.code`.
        const code: unknown = typeof example.error === 'string' ? example.error : (example.error as { code?: unknown }).code;
        expect(HTTP_STATUS[code as keyof typeof HTTP_STATUS], `${m.toUpperCase()} ${p} ${status} example ${code}`).to.equal(Number(status));
      }
    }
  });

  it('names no internal tracker item, and prefills nothing a fresh deployment cannot serve', () => {
    const text = JSON.stringify(doc);
    expect(text).not.to.match(/\bissue \d|\bseeds? \d{3}/i);
    // No pool example (a job for a pool no worker serves would wait forever), no Idempotency-Key example shared by every reader.
    expect(doc.components.schemas.JobRequest.properties.pool).not.to.have.property('example');
    for (const [p, m, op] of operations(doc)) {
      for (const param of (op.parameters ?? []) as Array<{ name: string; required?: boolean; example?: unknown; schema?: { example?: unknown } }>) {
        if (!param.required) expect(param.example ?? param.schema?.example, `${m.toUpperCase()} ${p} ?${param.name} prefilled`).to.equal(undefined);
      }
    }
    for (const name of ['JobRequest', 'InvokeRequest', 'FunctionCreate', 'ScheduleCreate']) {
      const example = doc.components.schemas[name].example;
      expect(example, `${name}'s example, which Swagger UI prefills`).to.be.an('object').and.not.have.property('pool');
    }
    const header = doc.paths['/jobs'].post.parameters.find((x: { name: string }) => x.name === 'Idempotency-Key');
    expect(header).to.be.an('object');
    expect(header).not.to.have.property('example');
    expect(header.schema).not.to.have.property('example');
  });
});
