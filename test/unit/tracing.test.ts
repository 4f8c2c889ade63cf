import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../shared/config.js';

/**
 * Traces cost nothing when off (docs/operations.md#traces): without OTEL_EXPORTER_OTLP_ENDPOINT
 * no OpenTelemetry SDK module is even loaded. Checked in fresh processes (tracing is per process);
 * test/e2e/traces.test.ts checks the spans themselves.
 */

const TRACING = fileURLToPath(new URL('../../shared/tracing.ts', import.meta.url));
const PROBE = fileURLToPath(new URL('./fixtures/tracing-probe.mjs', import.meta.url));

interface ProbeAnswer {
  on: boolean;
  telemetry: boolean;
  spanGiven: boolean;
  enabledAfterStop: boolean;
  loaded: string[];
}

function probe(endpoint?: string): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', PROBE, TRACING, ...(endpoint ? [endpoint] : [])], { timeout: 20_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as ProbeAnswer),
    );
  });
}

describe('tracing on and off (shared/tracing.ts)', function () {
  this.timeout(30_000);

  it('without an endpoint starts nothing and loads no OpenTelemetry module: not its API, no SDK, no exporter, no BullMQ telemetry', async () => {
    const answer = await probe();
    expect(answer).to.include({ on: false, telemetry: false, spanGiven: false });
    expect(answer.loaded).to.deep.equal([]);
  });

  it("names OpenTelemetry's span kinds with the API's own values", async () => {
    const [{ SpanKind: otel }, { SpanKind: ours }] = await Promise.all([import('@opentelemetry/api'), import('../../shared/tracing.js')]);
    for (const [name, value] of Object.entries(ours)) expect(value, name).to.equal(otel[name as keyof typeof otel]);
    expect(Object.keys(ours)).to.have.members(Object.keys(otel).filter((k) => Number.isNaN(Number(k))));
  });

  it('with an endpoint loads the SDK, gives BullMQ its telemetry and spans to the code, and stops', async () => {
    // Port 1 refuses connections: the export fails quietly, the process goes on.
    const answer = await probe('http://127.0.0.1:1');
    expect(answer).to.include({ on: true, telemetry: true, spanGiven: true, enabledAfterStop: false });
    expect(answer.loaded).to.include.members(['@opentelemetry/sdk-trace', '@opentelemetry/exporter-trace-otlp-http', 'bullmq-otel']);
  });

  it('reads OTEL_EXPORTER_OTLP_ENDPOINT as an http(s) base URL and OTEL_SERVICE_NAME; unset by default', () => {
    expect(loadConfig({}).OTEL_EXPORTER_OTLP_ENDPOINT).to.equal(undefined);
    expect(loadConfig({}).OTEL_SERVICE_NAME).to.equal(undefined);
    const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318/', OTEL_SERVICE_NAME: 'fnqueue-eu' });
    expect(c.OTEL_EXPORTER_OTLP_ENDPOINT).to.equal('http://otel-collector:4318');
    expect(c.OTEL_SERVICE_NAME).to.equal('fnqueue-eu');
    for (const bad of ['otel-collector:4318', 'grpc://otel:4317']) {
      expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: bad }), bad).to.throw(ConfigError, /OTEL_EXPORTER_OTLP_ENDPOINT/);
    }
  });
});
