/**
 * Run as a process by test/integration/function-pool.test.ts (docs/functions.md, "The function sandbox"): a
 * function pool whose parent holds extra descriptors without close-on-exec (given by the test's
 * `exec 200<dir 201>>file`) runs a Python and a Node function that list their own /proc/self/fd.
 * Prints `{"python": {fd: [target, flags]}, "nodejs": {...}}` as one JSON line on stdout.
 *
 * Usage: `node --import tsx test/helpers/fd-probe.ts bwrap|off`.
 */
import { FunctionPool } from '../../worker/functions/function-pool.js';
import type { FunctionSpec } from '../../worker/functions/function-run.js';

const PYTHON = [
  'import os',
  'def handler(e):',
  '    out = {}',
  "    for n in os.listdir('/proc/self/fd'):",
  '        try:',
  "            flags = [l for l in open('/proc/self/fdinfo/' + n).read().split('\\n') if l.startswith('flags:')][0]",
  "            out[n] = [os.readlink('/proc/self/fd/' + n), flags.split()[1]]",
  '        except OSError:',
  '            pass  # the listing itself',
  '    return out',
].join('\n');

const NODE = [
  "const fs = require('fs');",
  'function handler() {',
  '  const out = {};',
  "  for (const n of fs.readdirSync('/proc/self/fd')) {",
  '    try {',
  "      out[n] = [fs.readlinkSync('/proc/self/fd/' + n), /^flags:\\s*(\\d+)/m.exec(fs.readFileSync('/proc/self/fdinfo/' + n, 'latin1'))[1]];",
  '    } catch { /* the listing itself */ }',
  '  }',
  '  return out;',
  '}',
].join('\n');

const sandbox = process.argv[2] === 'off' ? 'off' : 'bwrap';
const pool = new FunctionPool({ sandbox });
const base = { version: 1, env: {}, timeout_ms: 10_000, memory_mb: 256, max_output_bytes: 65_536 };
try {
  const python = await pool.run({ ...base, function_id: 'fd-probe-py', runtime: 'python', code: PYTHON } as FunctionSpec, null);
  const nodejs = await pool.run({ ...base, function_id: 'fd-probe-js', runtime: 'nodejs', code: NODE } as FunctionSpec, null);
  process.stdout.write(`${JSON.stringify({ python: python.result, nodejs: nodejs.result })}\n`);
} finally {
  await pool.close();
}
