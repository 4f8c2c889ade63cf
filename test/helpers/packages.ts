import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes a minimal pure-Python wheel of `name` (module `name` exporting greet()) and returns its path. */
export function buildWheel(dir: string, name: string, version = '1.0.0', body = 'def greet(n):\n    return "py hello " + n\n'): string {
  const file = path.join(dir, `${name}-${version}-py3-none-any.whl`);
  const script = [
    'import sys, zipfile, hashlib, base64',
    'path, name, version, body = sys.argv[1:5]',
    'files = {',
    '  f"{name}/__init__.py": body,',
    '  f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",',
    '  f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: fnqueue-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",',
    '}',
    'record = []',
    'with zipfile.ZipFile(path, "w") as z:',
    '  for n, c in files.items():',
    '    data = c.encode()',
    '    z.writestr(n, data)',
    '    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()',
    '    record.append(f"{n},sha256={h},{len(data)}")',
    '  record.append(f"{name}-{version}.dist-info/RECORD,,")',
    '  z.writestr(f"{name}-{version}.dist-info/RECORD", "\\n".join(record) + "\\n")',
  ].join('\n');
  execFileSync('python3', ['-c', script, file, name, version, body]);
  return file;
}

/** Writes an npm package folder `name` (CommonJS, exporting a greeting function) and returns its path. */
export function buildNpmPackage(dir: string, name: string, body = 'module.exports = (n) => `node hello ${n}`;\n'): string {
  const pkg = path.join(dir, name);
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', scripts: { postinstall: 'touch /tmp/fnq-postinstall-ran' } }));
  writeFileSync(path.join(pkg, 'index.js'), body);
  return pkg;
}

