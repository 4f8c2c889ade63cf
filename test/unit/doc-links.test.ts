import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { expect } from 'chai';

const ROOT = new URL('../..', import.meta.url).pathname;

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced && /^#{1,6} /.test(line)) anchors.add(slug(line.replace(/^#+ /, '')));
  }
  return anchors;
}

const docs = ['README.md', ...(readdirSync(join(ROOT, 'docs'), { recursive: true }) as string[]).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const anchors = new Map(docs.map((d) => [d, anchorsOf(d)]));
const tracked = execFileSync('git', ['ls-files', 'api', 'worker', 'shared', 'scripts', 'clients', 'test', 'docs', 'README.md', 'compose.yaml', 'Dockerfile'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && existsSync(join(ROOT, f)) && !f.endsWith('doc-links.test.ts'));

describe('documentation links', () => {
  it('every docs/*.md citation in the code names a page and a section that exist', () => {
    const broken: string[] = [];
    for (const file of tracked) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(docs\/(?:[a-z-]+\/)?[a-z-]+\.md)(#[a-z0-9_-]+)?(?:,? ["“]([^"”\n]+)["”])?/g)) {
        const [ref, doc, anchor, section] = m as unknown as [string, string, string | undefined, string | undefined];
        const known = anchors.get(doc);
        if (!known) broken.push(`${file}: ${ref} (no such page)`);
        else if (anchor && !known.has(anchor.slice(1))) broken.push(`${file}: ${ref} (no such section)`);
        else if (section && !anchor && !known.has(slug(section))) broken.push(`${file}: ${ref} (no such section)`);
      }
    }
    expect(broken, broken.join('\n')).to.deep.equal([]);
  });

  it("every relative link in the README and docs/ reaches a file and, with an anchor, one of its headings", () => {
    const broken: string[] = [];
    for (const doc of docs) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      for (const m of text.matchAll(/\]\((?!https?:|mailto:)([^)\s#]*)(#[^)\s]+)?\)/g)) {
        const [ref, path, anchor] = m as unknown as [string, string, string | undefined];
        const target = path ? normalize(join(dirname(doc), path)) : doc;
        if (!existsSync(join(ROOT, target))) broken.push(`${doc}: ${ref}`);
        else if (anchor && target.endsWith('.md') && !anchors.get(target)?.has(anchor.slice(1))) broken.push(`${doc}: ${ref} (no such section)`);
      }
    }
    expect(broken, broken.join('\n')).to.deep.equal([]);
  });
});
