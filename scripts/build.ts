/**
 * `npm run build`: compiles api/, worker/, shared/ and the image's scripts to plain JavaScript in
 * dist/ (tsconfig.build.json), then copies the runtime files the code loads beside itself: the Lua
 * scripts (shared/store/scripts.ts) and the function hosts (worker/functions/runtimes/). The
 * production image runs `node dist/api/main.js` and `node dist/worker/main.js` (docs/deployment.md).
 *
 * `--out-dir DIR` builds into DIR instead of dist/ (the build's own test does). `--project FILE`
 * compiles with another tsconfig (default tsconfig.build.json): the benchmark's tsconfig.bench.json
 * adds its baseline services to the same compile (scripts/bench/processes.ts).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Folders whose non-TypeScript files are runtime files, copied as they are. */
const SOURCE_DIRS = ['api', 'worker', 'shared'];

const { values } = parseArgs({ options: { 'out-dir': { type: 'string' }, project: { type: 'string' } } });
const outDir = path.resolve(ROOT, values['out-dir'] ?? 'dist');
const project = path.resolve(ROOT, values.project ?? 'tsconfig.build.json');

rmSync(outDir, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', project, '--outDir', outDir], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

let copied = 0;
for (const dir of SOURCE_DIRS) {
  for (const entry of readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
    const rel = path.relative(ROOT, path.join(entry.parentPath, entry.name));
    cpSync(path.join(ROOT, rel), path.join(outDir, rel));
    copied++;
  }
}
console.log(`built ${path.relative(ROOT, outDir) || '.'}: compiled with tsc, ${copied} runtime files copied`);
