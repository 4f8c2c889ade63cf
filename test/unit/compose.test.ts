import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { WORKER_NODE_ARGS } from '../../scripts/bench/fnqueue-stack.js';

interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  healthcheck?: { test?: string[] };
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  security_opt?: string[];
}

const compose = parse(readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8')) as { services: Record<string, Service> };

/** Interpolates `${VAR:-default}` and `${VAR:?message}` as Docker Compose does, with no variable set. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '');
}

describe('compose.yaml', () => {
  it('turns authentication on for the API and gates /metrics with a token on every service that serves it', () => {
    const api = compose.services.api!;
    expect(api.environment?.AUTH_ENABLED).to.equal('true');
    expect(api.environment?.METRICS_TOKEN).to.match(/^\$\{FNQUEUE_METRICS_TOKEN:\?/);
    expect(compose.services.worker!.environment?.METRICS_TOKEN).to.match(/^\$\{FNQUEUE_METRICS_TOKEN:\?/);
  });

  it('publishes the API on loopback unless the operator chooses another address', () => {
    const ports = compose.services.api!.ports ?? [];
    expect(ports).to.have.length(1);
    expect(interpolate(ports[0]!)).to.equal('127.0.0.1:8000:8000');
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== 'api') expect(service.ports ?? [], name).to.deep.equal([]);
    }
  });

  it('gives the workers a writable volume for dependency installs and the settings bubblewrap needs (docs/deployment.md)', () => {
    const worker = compose.services.worker!;
    expect(worker.environment?.DATA_DIR).to.equal('/var/lib/fnqueue');
    expect(worker.environment?.FUNCTIONS_DIR).to.equal('/var/lib/fnqueue/functions');
    expect(worker.volumes).to.include('functions-data:/var/lib/fnqueue');
    expect(worker.environment?.FUNCTION_SANDBOX).to.not.equal('off');
    expect(worker.security_opt).to.include.members(['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined']);
    expect(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')).to.match(/install -d -o node -g node -m 0700 \/var\/lib\/fnqueue/);
  });

  it('builds the image once and runs it for both services, with node on the compiled build (no tsx)', () => {
    const { api, worker } = compose.services;
    expect(api!.build).to.equal('.');
    expect(worker!.build, 'only the api service builds').to.equal(undefined);
    expect(worker!.image).to.be.a('string').and.equal(api!.image);
    expect(api!.command).to.deep.equal(['node', 'dist/api/main.js']);
    expect(worker!.command).to.deep.equal(['node', ...WORKER_NODE_ARGS, 'dist/worker/main.js']);
    for (const service of [api!, worker!]) {
      // Each entry is compiled from a source file that the build's tsconfig includes.
      const source = service.command!.at(-1)!.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(new URL(`../../${source}`, import.meta.url)), source).to.equal(true);
    }
  });

  it('gives both services a healthcheck on their own probe through the image\'s check script', () => {
    expect(compose.services.api!.healthcheck?.test).to.deep.equal(['CMD', 'node', 'dist/scripts/healthcheck.js', 'http://127.0.0.1:8000/readyz']);
    expect(compose.services.worker!.healthcheck?.test).to.deep.equal(['CMD', 'node', 'dist/scripts/healthcheck.js', 'http://127.0.0.1:9100/healthz']);
    expect(compose.services.api!.environment?.PORT).to.equal('8000');
    expect(compose.services.worker!.environment?.WORKER_PORT).to.equal('9100');
  });
});
