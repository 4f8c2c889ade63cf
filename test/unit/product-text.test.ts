import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The product: code, comments, messages, docs, deployment files (the OpenAPI text lives in api/). Tests are not. */
const PRODUCT_DIRS = ['api', 'worker', 'shared', 'scripts', 'clients', 'docs', 'deploy'];
const PRODUCT_FILES = ['README.md', 'compose.yaml', 'Dockerfile'];
const TEXT_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs', '.py', '.lua', '.md', '.yaml', '.yml', '.json', '.sh', '.html', '.css', '.txt']);

/**
 * References a user or a new maintainer cannot follow: the word issue(s) and a number, or the word
 * seed and a three-digit number (also in its possessive). Cite the project's docs (docs/*.md) or
 * name the external reference instead (the FunctionalScaffold API reference, BullMQ's docs, ...).
 */
const UNFOLLOWABLE = [/\bissues? #?\d+/i, /\bseed \d{3}\b/i];

function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (TEXT_EXTENSIONS.has(path.extname(name))) out.push(p);
    }
  };
  for (const d of PRODUCT_DIRS) if (existsSync(path.join(ROOT, d))) walk(path.join(ROOT, d));
  for (const f of PRODUCT_FILES) if (existsSync(path.join(ROOT, f))) out.push(path.join(ROOT, f));
  return out;
}

describe('product text', function () {
  it('cites no issue number and no seed number in code, comments, messages, docs or deployment files', () => {
    const files = productFiles();
    expect(files.length, 'product files found').to.be.greaterThan(10);
    const hits: string[] = [];
    for (const file of files) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (UNFOLLOWABLE.some((re) => re.test(line))) hits.push(`${path.relative(ROOT, file)}:${i + 1}: ${line.trim().slice(0, 160)}`);
        });
    }
    expect(hits.length, `${hits.length} line(s) cite an issue or a seed number:\n${hits.join('\n')}\n`).to.equal(0);
  });
});
