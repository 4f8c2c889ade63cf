import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';

interface Service {
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
});
