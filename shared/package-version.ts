/** fnqueue's version, read once from its package.json. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `version` of the nearest package.json above `fromUrl`: the repository's own from the
 * sources (shared/) as from the compiled build (dist/shared/, where package.json is one folder
 * further up).
 * @throws Error when no package.json is found up to the file system's root.
 */
export function packageVersion(fromUrl: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(fromUrl));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fromUrl}`);
    dir = parent;
  }
}
