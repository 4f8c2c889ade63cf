/**
 * CPU profiles of the API / worker processes (BENCH_PROFILE): the preload that starts V8's profiler
 * in them, and the summary printed per phase (also `scripts/bench/main.ts --summarize <file>`).
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { table } from './measure.js';
import { ROOT } from './processes.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(ROOT + '/')) u = u.slice(ROOT.length + 1);
  // The services run from the bench's build (processes.ts): `dist/.bench-<pid>/api/x.js` is api/x.js.
  return u.replace(/^dist\/\.bench-\d+\//, '');
}

function categoryOf(frame: ProfileNode['callFrame']): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const u = shortUrl(url);
  if (u !== url.replace(/^file:\/\//, '') || url.includes('/node_modules/')) {
    const parts = u.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return 'fnqueue:' + u.split('/')[0];
}

/**
 * A text summary of the V8 CPU profile `file` (.cpuprofile JSON): self time by package / area, the
 * `top` self-time functions and the `top` inclusive ones, within `window` (µs of the monotonic clock)
 * when given.
 */
export function summarizeProfile(file: string, window?: { from: number; to: number }, top = 22): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    return f.url ? `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}` : f.functionName || '(anonymous)';
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const cats = new Map<string, number>();
  let t = prof.startTime;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (window && (t < window.from || t > window.to)) continue;
    const dt = prof.timeDeltas[i + 1] ?? 1000;
    const node = byId.get(prof.samples[i]!);
    if (!node) continue;
    total += dt;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const k = keyOf(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const c = categoryOf(node.callFrame);
    cats.set(c, (cats.get(c) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === '(root)') break;
      const key = keyOf(n);
      if (!seen.has(key)) {
        seen.add(key);
        incl.set(key, (incl.get(key) ?? 0) + dt);
      }
    }
  }
  const busy = total - idle;
  if (total === 0) return `  (no samples in window)\n`;
  const pct = (x: number) => `${((x / busy) * 100).toFixed(1)}%`;
  const ms = (x: number) => `${(x / 1000).toFixed(0)} ms`;
  const sorted = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  let out = `  window ${(total / 1e6).toFixed(1)} s, busy ${((busy / total) * 100).toFixed(0)}% of one core (${ms(busy)}); shares below are of busy time\n`;
  out += '\n  self time by package / area:\n';
  out += table(['area', 'self', 'share'], sorted(cats, 14).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  out += '\n  top self-time functions:\n';
  out += table(['function', 'self', 'share'], sorted(self, top).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  out += '\n  top inclusive (total) time:\n';
  out += table(['function', 'total', 'share'], sorted(incl, top).map(([k, v]) => [k, ms(v), pct(v)])).replace(/^/gm, '  ') + '\n';
  return out;
}

/** Every .cpuprofile under `dir`. */
export function findProfiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...findProfiles(p));
    else if (e.endsWith('.cpuprofile')) out.push(p);
  }
  return out;
}

/**
 * Preloaded (`--import`) into a profiled API / worker process: starts V8's profiler in-process (like
 * --cpu-prof, 1 ms samples) and writes `<dir>/<pid>.cpuprofile` at exit. It skips processes with an
 * IPC channel: a worker's runner children inherit its node flags, and 2 × WORKER_CONCURRENCY idle
 * profiled children would take a core's worth of CPU by themselves.
 */
function profilePreload(dir: string): string {
  return `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const dir = ${JSON.stringify(dir)};
if (!process.send) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // An in-thread session answers synchronously, so this works in 'exit' (after the service's process.exit).
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(dir + '/' + process.pid + '.cpuprofile', JSON.stringify(res.profile));
    });
  });
}
`;
}

/** The node arguments that profile process `who` into `<profileDir>/<who>/`. */
export function profileArgs(profileDir: string, who: string): string[] {
  const dir = path.join(profileDir, who);
  mkdirSync(dir, { recursive: true });
  const preload = path.join(dir, 'profile-preload.mjs');
  writeFileSync(preload, profilePreload(dir));
  return ['--import', pathToFileURL(preload).href];
}
