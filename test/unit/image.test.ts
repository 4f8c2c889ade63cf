import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { SERVICE_ENV, SERVICE_NODE_ARGS, WORKER_NODE_ARGS } from '../../scripts/bench/fnqueue-stack.js';

/**
 * The production image (Dockerfile, docs/deployment.md#the-image) and the Node version, checked
 * offline: there is no Docker engine in the test run. test/e2e/build.test.ts runs the build itself.
 */

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const dockerfile = read('Dockerfile');
/** The Dockerfile's stages: the text from each FROM to the next. */
const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
const final = stages.at(-1)!;
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; scripts: Record<string, string>; dependencies: Record<string, string> };
const buildConfig = JSON.parse(read('tsconfig.build.json')) as { include: string[]; compilerOptions: { outDir: string; noEmit: boolean } };

describe('the production image (Dockerfile)', () => {
  it('runs on Node 24 in every stage', () => {
    expect(stages.length).to.be.at.least(2);
    for (const stage of stages) expect(stage.split('\n')[0]).to.match(/^FROM node:24-/);
  });

  it('compiles in a build stage and ships dist/ with the production dependencies only', () => {
    expect(stages.slice(0, -1).join('')).to.match(/RUN npm run build/);
    expect(dockerfile).to.match(/npm ci --omit=dev/);
    expect(final).to.match(/COPY --from=build \/app\/dist\/ dist\//);
    expect(final).to.not.match(/npm ci --include=dev|tsx|COPY (shared|api|worker)\//);
    expect(pkg.dependencies, 'tsx is a dev dependency').to.not.have.property('tsx');
    expect(pkg.dependencies).to.not.have.property('typescript');
    expect(final).to.match(/^CMD \["node", "dist\/api\/main\.js"\]$/m);
  });

  it('copies into the build stage every folder the build compiles', () => {
    const build = stages[0]!;
    expect(build).to.match(/COPY tsconfig\.json tsconfig\.build\.json/);
    for (const entry of buildConfig.include) expect(build, entry).to.include(`COPY ${entry.split('/')[0]}/`);
    expect(buildConfig.compilerOptions).to.include({ outDir: 'dist', noEmit: false });
    expect(read('.dockerignore').split('\n')).to.include.members(['node_modules', 'dist']);
    expect(read('.gitignore').split('\n')).to.include('dist/');
  });

  it('runs the services with the memory settings the benchmark measures, which Node takes in NODE_OPTIONS', () => {
    const env = /^ENV ((?:.*\\\n)*.*)$/m.exec(final)![1]!.replace(/\\\n\s*/g, ' ');
    const nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(env)?.[1];
    expect(nodeOptions).to.equal(SERVICE_NODE_ARGS.join(' '));
    for (const [name, value] of Object.entries(SERVICE_ENV)) expect(env).to.match(new RegExp(`\\b${name}=${value}\\b`));
    // Node refuses some V8 flags in NODE_OPTIONS (e.g. --heap-growing-percent); these it takes.
    const limit = execFileSync(process.execPath, ['-p', "require('v8').getHeapStatistics().heap_size_limit"], { env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' });
    expect(Number(limit)).to.be.below(2 * 1024 ** 3);
  });

  it('gives a worker the young generation the benchmark measures, on its command line over NODE_OPTIONS (Compose and Kubernetes)', () => {
    const command = JSON.stringify(['node', ...WORKER_NODE_ARGS, 'dist/worker/main.js']).replace(/,/g, ', ');
    for (const file of ['compose.yaml', 'deploy/kubernetes/base/worker-deployment.yaml']) expect(read(file), file).to.include(`command: ${command}`);
    // A flag on the command line wins over the same flag in NODE_OPTIONS: the new space is 2 × the semi-space.
    const newSpace = execFileSync(process.execPath, [...WORKER_NODE_ARGS, '-p', "let k = []; for (let i = 0; i < 3e6; i++) { k.push({ i }); if (k.length > 2e5) k = []; } require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size"], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: SERVICE_NODE_ARGS.join(' ') },
      encoding: 'utf8',
    });
    const semi = Number(/--max-semi-space-size=(\d+)/.exec(WORKER_NODE_ARGS.join(' '))![1]);
    expect(Number(newSpace)).to.equal(2 * semi * 1024 ** 2);
  });

  it('has a HEALTHCHECK that probes whichever service the container runs', () => {
    const m = /^HEALTHCHECK ((?:.*\\\n)*.*)$/m.exec(final);
    expect(m, 'HEALTHCHECK in the final stage').to.not.equal(null);
    expect(m![1]!.replace(/\\\n\s*/g, ' ')).to.include('CMD node dist/scripts/healthcheck.js "http://127.0.0.1:${PORT}/readyz" "http://127.0.0.1:${WORKER_PORT}/healthz"');
    expect(buildConfig.include).to.include('scripts/healthcheck.ts');
  });
});

describe('Node.js 24', () => {
  it('asks for Node 22 or later in package.json, and CI installs Node 24 where the machine has an older one', () => {
    expect(pkg.engines.node).to.equal('>=22');
    const ci = read('.ci/run');
    expect(ci).to.match(/^NODE_MAJOR=24$/m);
    expect(ci).to.match(/npm pack .*node-linux-/);
    expect(ci).to.match(/^npm ci\b/m);
    expect(ci).to.match(/^npm test$/m);
  });
});
