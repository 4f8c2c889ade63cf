import { expect } from 'chai';
import { eventually, http, expectError } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/;

describe('the FunctionalScaffold API reference contract (api and worker in-process, real Redis)', () => {
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url);
  });
  after(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  describe('POST /invoke', () => {
    it('answers the reference example {"number": 17} with the reference shape', async () => {
      const res = await http('POST', `${stack.url}/invoke`, { number: 17 });
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('request_id', 'status', 'result', 'metadata');
      expect(res.body.request_id).to.match(UUID);
      expect(res.headers.get('x-request-id')).to.equal(res.body.request_id);
      expect(res.body.status).to.equal('success');
      expect(res.body.result).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
      expect(res.body.metadata).to.have.all.keys('algorithm', 'version', 'elapsed_time');
      expect(res.body.metadata).to.include({ algorithm: 'PrimeChecker', version: '1.0.0' });
      expect(res.body.metadata.elapsed_time).to.be.a('number').and.at.least(0).and.below(5);
    });

    it('takes {"algorithm", "params"} for any algorithm', async () => {
      const res = await http('POST', `${stack.url}/invoke`, { algorithm: 'PrimeChecker', params: { number: 12 } });
      expect(res.status).to.equal(200);
      expect(res.body.result.factors).to.deep.equal([2, 2, 3]);
      const echo = await http('POST', `${stack.url}/invoke`, { algorithm: 'Echo', params: { value: { a: [1, 'x'] } } });
      expect(echo.body.result).to.deep.equal({ value: { a: [1, 'x'] } });
    });

    it('answers 400 VALIDATION_ERROR "number must be an integer" with field and value (the FunctionalScaffold API reference)', async () => {
      const res = await http('POST', `${stack.url}/invoke`, { number: 'abc' });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.message).to.equal('number must be an integer');
      expect(res.body.details).to.include({ field: 'number', value: 'abc' });
    });

    it('answers 400 for a missing number, a fraction, an unsafe integer, unknown keys, and a non-object body', async () => {
      for (const body of [{}, { number: 1.5 }, { number: 2 ** 60 }, { number: 3, x: 1 }, [1], '"str"', 'null']) {
        expectError(await http('POST', `${stack.url}/invoke`, body), 400, 'VALIDATION_ERROR');
      }
    });

    it('answers 404 ALGORITHM_NOT_FOUND with available_algorithms', async () => {
      const res = await http('POST', `${stack.url}/invoke`, { algorithm: 'NonExistent', params: {} });
      expectError(res, 404, 'ALGORITHM_NOT_FOUND');
      expect(res.body.details.available_algorithms).to.include('PrimeChecker');
    });

    it('answers 500 ALGORITHM_ERROR when the algorithm throws, and 500 when its runner dies; the worker keeps serving', async () => {
      const thrown = await http('POST', `${stack.url}/invoke`, { algorithm: 'Crash', params: { throw: true } });
      expectError(thrown, 500, 'ALGORITHM_ERROR');
      expect(thrown.body.message).to.contain('threw on purpose');
      const crashed = await http('POST', `${stack.url}/invoke`, { algorithm: 'Crash', params: { code: 3 } });
      expectError(crashed, 500, 'ALGORITHM_ERROR');
      expect(crashed.body.message).to.contain('exit code 3');
      expect(crashed.body.details.job_id).to.match(/^[0-9a-f]{12}$/);
      const after = await http('POST', `${stack.url}/invoke`, { number: 7 });
      expect(after.status).to.equal(200);
    });

    it('answers many concurrent invocations, each with its own result (no missed completion)', async () => {
      const numbers = Array.from({ length: 200 }, (_, i) => 1000 + i);
      const results = await Promise.all(numbers.map((n) => http('POST', `${stack.url}/invoke`, { number: n })));
      results.forEach((r, i) => {
        expect(r.status, JSON.stringify(r.body)).to.equal(200);
        expect(r.body.result.number).to.equal(numbers[i]);
      });
    });
  });

  describe('POST /jobs and GET /jobs/{job_id}', () => {
    it('answers 202 with a 12-hex job_id, then the record goes to completed with the seed fields', async () => {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17 } });
      expect(res.status).to.equal(202);
      expect(res.body).to.have.all.keys('job_id', 'status', 'message', 'created_at');
      expect(res.body.job_id).to.match(/^[0-9a-f]{12}$/);
      expect(res.body.status).to.equal('pending');
      expect(res.body.created_at).to.match(ISO);
      const record = await eventually(async () => {
        const r = await http('GET', `${stack.url}/jobs/${res.body.job_id}`);
        return r.body.status === 'completed' && r;
      });
      expect(record.body).to.have.all.keys('job_id', 'status', 'algorithm', 'created_at', 'started_at', 'completed_at', 'result', 'error', 'metadata');
      expect(record.body).to.include({ job_id: res.body.job_id, algorithm: 'PrimeChecker', error: null, created_at: res.body.created_at });
      expect(record.body.started_at).to.match(ISO);
      expect(record.body.completed_at).to.match(ISO);
      expect(record.body.result).to.deep.equal({ number: 17, is_prime: true, factors: [], algorithm: 'trial_division' });
      expect(record.body.metadata).to.include({ algorithm: 'PrimeChecker', version: '1.0.0' });
    });

    it('shows pending, then running, then completed for a slow job', async () => {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Sleep', params: { ms: 600 } });
      await eventually(async () => (await http('GET', `${stack.url}/jobs/${res.body.job_id}`)).body.status === 'running');
      const running = await http('GET', `${stack.url}/jobs/${res.body.job_id}`);
      expect(running.body).to.include({ completed_at: null, result: null, error: null, metadata: null });
      expect(running.body.started_at).to.match(ISO);
      await eventually(async () => (await http('GET', `${stack.url}/jobs/${res.body.job_id}`)).body.status === 'completed');
    });

    it('records a failed job with its error and null result', async () => {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'Crash', params: { throw: true } });
      const record = await eventually(async () => {
        const r = await http('GET', `${stack.url}/jobs/${res.body.job_id}`);
        return r.body.status === 'failed' && r;
      });
      expect(record.body).to.include({ result: null, metadata: null });
      expect(record.body.error).to.contain('threw on purpose');
    });

    it('validates params against the algorithm before enqueueing anything', async () => {
      const before = await stackJobCount(stack);
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 'x' } });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details.field).to.equal('params.number');
      expectError(await http('POST', `${stack.url}/jobs`, { algorithm: 'Nope', params: {} }), 404, 'ALGORITHM_NOT_FOUND');
      expectError(await http('POST', `${stack.url}/jobs`, { params: { number: 1 } }), 400, 'VALIDATION_ERROR');
      expectError(await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker' }), 400, 'VALIDATION_ERROR');
      expect(await stackJobCount(stack)).to.equal(before);
    });

    it('refuses a webhook that is not an http(s) URL', async () => {
      for (const webhook of ['ftp://example.com/x', 'not a url', 'javascript:alert(1)', 42]) {
        const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 3 }, webhook });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details.field).to.equal('webhook');
      }
    });

    it('answers 404 JOB_NOT_FOUND for an unknown or malformed id', async () => {
      expectError(await http('GET', `${stack.url}/jobs/aaaaaaaaaaaa`), 404, 'JOB_NOT_FOUND');
      expectError(await http('GET', `${stack.url}/jobs/xyz`), 404, 'JOB_NOT_FOUND');
    });

    it('answers a path whose percent-encoding does not decode with 400 VALIDATION_ERROR naming the path', async () => {
      for (const path of ['/jobs/%ZZ', '/jobs/%ED%A0%80/attempts', '/jobs/%ZZ/cancel', '/schedules/%ZZ', '/functions/%E0%A4%A']) {
        const res = await http(path.endsWith('/cancel') ? 'POST' : 'GET', `${stack.url}${path}`);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details, path).to.deep.equal({ field: 'path' });
      }
    });
  });

  describe('errors everywhere', () => {
    it('answers malformed JSON with 400, unknown routes with 404, a wrong method with 405, all in the one shape', async () => {
      expectError(await http('POST', `${stack.url}/jobs`, '{"algorithm": '), 400, 'VALIDATION_ERROR');
      expectError(await http('GET', `${stack.url}/no/such/route`), 404, 'NOT_FOUND');
      const wrong = await http('DELETE', `${stack.url}/invoke`);
      expectError(wrong, 405, 'METHOD_NOT_ALLOWED');
      expect(wrong.headers.get('allow')).to.equal('POST');
    });

    it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
      const big = JSON.stringify({ algorithm: 'Echo', params: { value: 'x'.repeat(2 * 1024 * 1024) } });
      expectError(await http('POST', `${stack.url}/jobs`, big), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('echoes a well-formed X-Request-Id and uses it as request_id', async () => {
      const res = await http('POST', `${stack.url}/invoke`, { number: 'x' }, { 'x-request-id': 'trace-123' });
      expect(res.headers.get('x-request-id')).to.equal('trace-123');
      expect(res.body.request_id).to.equal('trace-123');
    });
  });

  describe('probes, metrics, docs', () => {
    it('GET /healthz answers {status: healthy, timestamp} in epoch seconds', async () => {
      const res = await http('GET', `${stack.url}/healthz`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('healthy');
      expect(Math.abs(res.body.timestamp - Date.now() / 1000)).to.be.below(5);
    });

    it('GET /health answers {status: healthy, version, timestamp} as the project FaaS API reference does', async () => {
      const res = await http('GET', `${stack.url}/health`);
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('status', 'version', 'timestamp');
      expect(res.body.status).to.equal('healthy');
      expect(res.body.version).to.be.a('string').and.not.empty;
      expect(res.body.timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Math.abs(Date.parse(res.body.timestamp) - Date.now())).to.be.below(5000);
      expectError(await http('POST', `${stack.url}/health`), 405, 'METHOD_NOT_ALLOWED');
    });

    it('names an unknown body key in details.field', async () => {
      const res = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 7 }, colour: 'red' });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(res.body.details.field).to.equal('colour');
      expect(res.body.message).to.equal('colour is not a known field');
    });

    it("names an unknown key of an algorithm's params, in both /invoke forms and in POST /jobs", async () => {
      const short = await http('POST', `${stack.url}/invoke`, { number: 17, bogus: 1 });
      expectError(short, 400, 'VALIDATION_ERROR');
      expect(short.body.details.field).to.equal('bogus');
      expect(short.body.message).to.equal('bogus is not a known field');
      const named = await http('POST', `${stack.url}/invoke`, { algorithm: 'PrimeChecker', params: { number: 17, bogus: 1 } });
      expectError(named, 400, 'VALIDATION_ERROR');
      expect(named.body.details.field).to.equal('params.bogus');
      const job = await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 17, bogus: 1 } });
      expectError(job, 400, 'VALIDATION_ERROR');
      expect(job.body.details.field).to.equal('params.bogus');
    });

    it('GET /readyz answers ready with checks including algorithm: true', async () => {
      const res = await http('GET', `${stack.url}/readyz`);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'ready' });
      expect(res.body.checks).to.include({ algorithm: true, redis: true });
    });

    it('GET /metrics has every metric name and label of the reference, counted from the worker too, and queue depth', async () => {
      await http('POST', `${stack.url}/jobs`, { algorithm: 'PrimeChecker', params: { number: 5 } });
      const text = await eventually(async () => {
        const r = await http('GET', `${stack.url}/metrics`);
        // Run counters are in Redis at once; histograms arrive with the worker's next snapshot (each second).
        const counted = /jobs_completed_total\{algorithm="PrimeChecker",status="completed"\} [1-9]/.test(r.text);
        const timed = /job_execution_duration_seconds_count\{algorithm="PrimeChecker"\} [1-9]/.test(r.text);
        return counted && timed && r.text;
      });
      expect(text).to.match(/http_requests_total\{method="POST",endpoint="\/invoke",status="success"\} \d+/);
      expect(text).to.match(/http_request_duration_seconds_bucket\{le="[^"]+",method="POST",endpoint="\/invoke"\}/);
      expect(text).to.contain('# TYPE http_requests_in_progress gauge');
      expect(text).to.match(/algorithm_executions_total\{algorithm="PrimeChecker",status="success"\} [1-9]/);
      expect(text).to.match(/algorithm_execution_duration_seconds_count\{algorithm="PrimeChecker"\} [1-9]/);
      expect(text).to.match(/jobs_created_total\{algorithm="PrimeChecker"\} [1-9]/);
      expect(text).to.match(/job_execution_duration_seconds_count\{algorithm="PrimeChecker"\} [1-9]/);
      expect(text).to.match(/webhook_deliveries_total\{status="success"\} \d+/);
      expect(text).to.match(/bullmq_job_count\{queue="jobs", state="waiting"\} \d+/);
      const types = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
      expect(types.length, 'one TYPE line per family').to.equal(new Set(types).size);
    });

    it('serves /openapi.json (OpenAPI 3 with the reference paths), /docs and /redoc from packages', async () => {
      const spec = await http('GET', `${stack.url}/openapi.json`);
      expect(spec.body.openapi).to.match(/^3\./);
      expect(spec.body.paths).to.include.keys('/invoke', '/jobs', '/jobs/{job_id}', '/healthz', '/readyz', '/metrics');
      const docs = await http('GET', `${stack.url}/docs`);
      expect(docs.status).to.equal(200);
      expect(docs.text).to.contain('swagger-ui');
      const js = await fetch(`${stack.url}/docs/assets/swagger-ui-bundle.js`);
      expect(js.status).to.equal(200);
      await js.arrayBuffer();
      const redoc = await http('GET', `${stack.url}/redoc`);
      expect(redoc.text).to.contain('redoc.standalone.js');
      const bundle = await fetch(`${stack.url}/redoc/redoc.standalone.js`);
      expect(bundle.status).to.equal(200);
      await bundle.arrayBuffer();
    });

    it('GET /algorithms lists name, version, description and the JSON schema of params', async () => {
      const res = await http('GET', `${stack.url}/algorithms`);
      const prime = res.body.algorithms.find((a: any) => a.name === 'PrimeChecker');
      expect(prime).to.include({ version: '1.0.0' });
      expect(prime.description).to.be.a('string').and.not.empty;
      expect(prime.params_schema.properties.number.type).to.equal('integer');
      expect(prime.params_schema.required).to.deep.equal(['number']);
    });
  });
});

/** Jobs in the stack's BullMQ queue, any state. */
async function stackJobCount(stack: Stack): Promise<number> {
  const text = (await http('GET', `${stack.url}/metrics`)).text;
  return [...text.matchAll(/bullmq_job_count\{queue="jobs", state="[^"]+"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0) +
    Number(/jobs_created_total\{algorithm="PrimeChecker"\} (\d+)/.exec(text)?.[1] ?? 0);
}
