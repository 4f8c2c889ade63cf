import { expect } from 'chai';
import { JobRequestSchema } from '../../api/schemas/jobs.js';
import { commandSpecOf } from '../../api/services/job-service.js';
import { loadConfig } from '../../shared/config.js';
import { checkCommandAllowed, commandAllowed } from '../../shared/jobs/submission-checks.js';
import { commandView } from '../../shared/schemas/command.js';

/** Command jobs' rules without a worker (docs/commands.md): the allow-list, the request's one target, the spec and its record view. */
describe('command jobs: allow-list, request and spec', () => {
  it('parses COMMAND_ALLOWLIST into names and absolute paths, refusing relative paths', () => {
    expect(loadConfig({ COMMAND_ALLOWLIST: ' bash, /usr/bin/env ,,python3' }).COMMAND_ALLOWLIST).to.deep.equal(['bash', '/usr/bin/env', 'python3']);
    expect(loadConfig({}).COMMAND_ALLOWLIST).to.equal(undefined);
    expect(() => loadConfig({ COMMAND_ALLOWLIST: 'bash,bin/sh' })).to.throw(/COMMAND_ALLOWLIST/);
    expect(loadConfig({}).COMMAND_MEMORY_MB).to.equal(512);
  });

  it('matches a name entry to a name and a path entry to that path only', () => {
    const list = ['bash', '/usr/bin/env'];
    expect(commandAllowed('bash', list)).to.equal(true);
    expect(commandAllowed('/usr/bin/bash', list)).to.equal(false);
    expect(commandAllowed('/usr/bin/env', list)).to.equal(true);
    expect(commandAllowed('env', list)).to.equal(false);
    expect(commandAllowed('anything', undefined)).to.equal(true);
    expect(() => checkCommandAllowed('sh', list)).to.throw().with.property('code', 'FORBIDDEN');
  });

  it('takes exactly one target and applies the command defaults', () => {
    expect(JobRequestSchema.safeParse({ command: { cmd: 'true' } }).data?.command).to.deep.equal({ cmd: 'true', args: [], env: {}, capture_output: true });
    expect(JobRequestSchema.safeParse({ algorithm: 'Echo', params: {} }).success).to.equal(true);
    expect(JobRequestSchema.safeParse({ algorithm: 'Echo' }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({ command: { cmd: 'true' }, algorithm: 'Echo', params: {} }).success).to.equal(false);
    expect(JobRequestSchema.safeParse({}).success).to.equal(false);
  });

  it('caps max_output_size at JOB_LOGS_MAX_BYTES and shows env names only on the record', () => {
    const spec = commandSpecOf({ cmd: 'bash', args: ['-c', 'x'], env: { SECRET: 's3cr3t' }, capture_output: true, max_output_size: 10_000_000 }, 1_000_000);
    expect(spec.max_output_size).to.equal(1_000_000);
    expect(commandSpecOf({ cmd: 'bash', args: [], env: {}, capture_output: false }, 4096).max_output_size).to.equal(4096);
    expect(commandView(spec)).to.deep.equal({ cmd: 'bash', args: ['-c', 'x'], env: { SECRET: '[redacted]' }, capture_output: true, max_output_size: 1_000_000 });
  });
});
