// Over 500 lines: one self-contained program (it runs inside the sandbox, importing nothing of the service): fd cleanup, the protocol, the handler loader and the leftover checks.
/**
 * Warm host of one user function version in Node.js (docs/functions.md). Plain JS run by `node` directly,
 * usually inside bubblewrap; spawned and driven by worker/functions/function-pool.ts.
 *
 * Protocol (typed on the parent side in worker/functions/host-protocol.ts): JSON lines on fd 3 (a socket, both ways), so the user's stdout and stderr (fds 1 and 2,
 * read by the parent as the invocation's logs) never carry protocol messages.
 *   parent → host  {type:'init', env, handler, code_dir, function_id, version, max_result_bytes, count_processes}
 *                  {type:'invoke', id, nonce, event, deadline_ms}
 *   host → parent  {type:'ready', load_ms, module} | {type:'load_error', error}
 *                  {type:'result', id, nonce, ok, result | error, handler_ms, cpu_ms, peak_rss_bytes, marks, recycle, stray_processes?, stray_threads}
 * The function can write to fd 3 as well: the parent takes only the messages that fit the state
 * (ready/load_error while loading, then the result with the invocation's id and nonce) and retires
 * the process on anything else.
 * `count_processes` (only when the parent has no cgroup to count them in): 'proc' under bwrap, whose
 * pid namespace has its own /proc, where any numeric entry besides 1 (bwrap's init) and this process
 * is a process the function left running; 'children' without bwrap, this process's direct children
 * (/proc/self/task/<pid>/children; a double-forked daemon is not seen). Reported as
 * `stray_processes`, so the parent retires this process (and kills its tree) after the result.
 * After an invocation that wrote anything (per the kernel's write counter, /proc/self/io `wchar`)
 * the host writes the end marker `\x1eFNQ-END:<nonce>\n` on stdout and on stderr, after the user's
 * own output (stdout and stderr are made blocking below, so that output is in the pipes first);
 * the parent reads up to the markers before it settles the run, so every line lands on the right
 * invocation. `marks` says on which streams that write succeeded (1 = stdout, 2 = stderr); 0 when
 * nothing was written, which spares a quiet invocation two writes here and two reads there.
 *
 * Handler lookup (files written by the parent into code_dir):
 *   Only own properties and real top-level bindings that are functions count: `constructor`,
 *   `toString` and other names inherited from Object.prototype or found on the global object are
 *   not handlers (a load error says no function has that name).
 *   1. function.cjs: the code verbatim plus one appended line that hands the top-level binding named
 *      `handler` (function declaration, var/let/const) to the host; loaded with require(), so
 *      `module.exports.handler`, `exports.handler`, `module.exports = fn` and a bare top-level
 *      `function handler` all work.
 *   2. When that is a SyntaxError that only an ES module explains (import/export statements,
 *      import.meta, top-level await: Node's own detect-module rule), function.mjs: the code plus
 *      `export { handler as __fnq_handler__ }` (also catches a non-exported top-level handler);
 *      if that export itself does not resolve, function.orig.mjs: the code verbatim. Named export
 *      `handler` first, then a default export that is a function (or has `.handler`).
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MessagePort } from 'node:worker_threads';

/** O_CLOEXEC in the octal `flags:` of /proc/self/fdinfo/<fd>. */
const O_CLOEXEC = 0o2000000;

/**
 * Closes every descriptor above 3 that this process inherited: descriptors the worker holds
 * without close-on-exec (a shell's `exec 200</dir`, a supervisor's pipe) pass through spawn and
 * bubblewrap, and one that names a folder outside the sandbox leads to the host's `/`
 * (docs/functions.md, "The function sandbox"). Node's own descriptors (epoll, eventfd, signal pipes) are all
 * opened close-on-exec, so a descriptor without O_CLOEXEC can only have come through exec: it is
 * closed. Runs before anything else of this script, long before the function's code loads.
 */
function closeInheritedFds() {
  let names;
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch {
    return;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!(fd > 3)) continue;
    let flags;
    try {
      flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
    } catch {
      continue; // the listing's own descriptor, closed already
    }
    if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) {
      try {
        fs.closeSync(fd);
      } catch {
        /* closed meanwhile */
      }
    }
  }
}
closeInheritedFds();

/**
 * `unref()` is a no-op in the host for timers, immediates, message ports and sockets: an unref'd
 * handle still runs code between invocations but is hidden from process.getActiveResourcesInfo(),
 * which {@link leftoverResources} counts. Made non-writable and non-configurable before user code.
 */
function keepRefs() {
  const t = setTimeout(() => undefined, 0);
  const i = setImmediate(() => undefined);
  const protos = [Object.getPrototypeOf(t), Object.getPrototypeOf(i), MessagePort.prototype, net.Socket.prototype, net.Server.prototype, dgram.Socket.prototype];
  clearTimeout(t);
  clearImmediate(i);
  for (const p of protos) {
    Object.defineProperty(p, 'unref', { value: function unref() { return this; }, writable: false, configurable: false, enumerable: false });
  }
}
keepRefs();

const CAPTURE = Symbol.for('fnqueue.capture');
const ESM_ONLY_ERRORS = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  'await is only valid in async functions and the top level bodies of modules',
];
/** Kinds of failure the parent maps to error reasons (Node 24 says "Failed to allocate memory" where Node 20 said "Array buffer allocation failed"). */
const OOM_MESSAGE = /Array buffer allocation failed|allocation failed|failed to allocate|out of memory|Invalid typed array length|Invalid array buffer length/i;

// The real stdout/stderr, kept before user code can replace them. Made blocking: Node queues pipe
// writes in memory when the pipe is full, so a handler printing in a loop would grow without bound
// and its output could trail its result; blocking writes give backpressure (the parent reads and
// discards past the output cap) and keep each stream in order with our end marker.
const stdout = process.stdout;
const stderr = process.stderr;
stdout._handle?.setBlocking?.(true);
stderr._handle?.setBlocking?.(true);
const stdoutWrite = stdout.write.bind(stdout);
const stderrWrite = stderr.write.bind(stderr);
const cpuUsage = process.cpuUsage.bind(process);
const jsonStringify = JSON.stringify;
const readdirSync = fs.readdirSync;
const readFileSync = fs.readFileSync;
const hasOwn = Object.prototype.hasOwnProperty;
const ownPid = String(process.pid);

const proto = new net.Socket({ fd: 3, readable: true, writable: true });
proto.setNoDelay?.(true);

let config = null;
let handlerFn = null;
let codeDir = '';
let busy = null; // {id} of the invocation in flight
let statusFd = -1;
let clearRefsFd = -1;
const statusBuf = Buffer.alloc(4096);

function send(obj) {
  proto.write(jsonStringify(obj) + '\n');
}

function sendRaw(text) {
  proto.write(text + '\n');
}

/** The decimal number after `label` in the first `n` bytes of `buf` (a /proc file), or -1. */
function numberAfter(buf, n, label) {
  let i = buf.indexOf(label);
  if (i < 0 || i >= n) return -1;
  i += label.length;
  while (i < n && (buf[i] === 32 || buf[i] === 9)) i++;
  let v = 0;
  let digits = 0;
  for (; i < n && buf[i] >= 48 && buf[i] <= 57; i++, digits++) v = v * 10 + (buf[i] - 48);
  return digits ? v : -1;
}

/** Peak RSS since the last reset, in bytes: VmHWM of /proc/self/status (measured by the kernel). */
function readPeakRss() {
  try {
    if (statusFd < 0) statusFd = fs.openSync('/proc/self/status', 'r');
    const n = fs.readSync(statusFd, statusBuf, 0, statusBuf.length, 0);
    const kb = numberAfter(statusBuf, n, 'VmHWM:');
    return kb < 0 ? null : kb * 1024;
  } catch {
    return null;
  }
}

/** Resets the kernel's RSS high-water mark (`5` into /proc/self/clear_refs), so VmHWM is per invocation. @returns bytes written (0 or 1). */
function resetPeakRss() {
  try {
    if (clearRefsFd === -1) clearRefsFd = fs.openSync('/proc/self/clear_refs', 'w');
    if (clearRefsFd >= 0) return fs.writeSync(clearRefsFd, '5');
  } catch {
    clearRefsFd = -2; // not permitted here: VmHWM stays the process's lifetime peak
  }
  return 0;
}

let ioFd = -1;
const ioBuf = Buffer.alloc(512);
/**
 * Bytes this process has passed to write(2) and friends so far (`wchar` of /proc/self/io, kept by
 * the kernel for every fd: stdout, stderr, files). -1 when unreadable.
 */
function writtenBytes() {
  try {
    if (ioFd === -1) ioFd = fs.openSync('/proc/self/io', 'r');
    if (ioFd < 0) return -1;
    const n = fs.readSync(ioFd, ioBuf, 0, ioBuf.length, 0);
    return numberAfter(ioBuf, n, 'wchar:');
  } catch {
    ioFd = -2;
    return -1;
  }
}
/**
 * `wchar` right after the last result was sent (-1: unknown, so the next run writes its markers).
 * When nothing but our own clear_refs byte was written since, no output of this process can be
 * in flight, and the end markers (two writes here, two reads in the parent) are skipped.
 */
let quietSince = -1;
let ownWrites = 0;

/** Maps a path in a stack frame to what the user knows: `function.js`, `node_modules/x/...`. */
function displayPath(text) {
  const dirUrl = pathToFileURL(codeDir).href;
  return text
    .split(dirUrl + '/').join('')
    .split(codeDir + '/').join('')
    .replace(/function\.(orig\.mjs|mjs|cjs)/g, 'function.js');
}

/** Stack frames that are in the user's code or its dependencies, paths made relative. */
function userFrames(err) {
  const stack = typeof err?.stack === 'string' ? err.stack : '';
  const dirUrl = pathToFileURL(codeDir).href;
  return stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l) && (l.includes(codeDir + '/') || l.includes(dirUrl + '/') || l.includes('/node_modules/')))
    .filter((l) => !l.includes('node-host.mjs'))
    .map((l) => '    ' + displayPath(l.trim()));
}

function describe(err, kind) {
  if (err instanceof Error || (err && typeof err === 'object' && 'message' in err)) {
    let name = 'Error';
    let message = '';
    try {
      name = String(err.name ?? 'Error');
      message = String(err.message ?? '');
    } catch {
      /* hostile getters */
    }
    let stack = [];
    try {
      stack = userFrames(err);
    } catch {
      /* ignore */
    }
    return { kind, name, message: displayPath(message), stack };
  }
  let message;
  try {
    message = typeof err === 'string' ? err : jsonStringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { kind, name: 'Error', message: `a non-Error value was thrown: ${message}`, stack: [] };
}

class InvalidResult extends Error {}

/**
 * The result as JSON text, strictly: functions, symbols, BigInt, NaN/Infinity, Map, Set and other
 * values JSON.stringify would drop or mangle silently are an error naming where they are.
 * `undefined` at the top is `null` (a handler that returns nothing).
 */
function toJson(value) {
  if (value === undefined) return 'null';
  const seen = new Set();
  const check = (v, where, depth) => {
    if (depth > 200) throw new InvalidResult(`${where} is nested too deeply`);
    const t = typeof v;
    if (v === null || t === 'string' || t === 'boolean' || t === 'undefined') return;
    if (t === 'number') {
      if (!Number.isFinite(v)) throw new InvalidResult(`${where} is ${v}, which JSON cannot represent`);
      return;
    }
    if (t === 'bigint') throw new InvalidResult(`${where} is a BigInt`);
    if (t === 'function') throw new InvalidResult(`${where} is a function`);
    if (t === 'symbol') throw new InvalidResult(`${where} is a symbol`);
    if (typeof v.toJSON === 'function') return; // Date and friends: their own JSON form
    if (seen.has(v)) throw new InvalidResult(`${where} is a circular reference`);
    if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) {
      throw new InvalidResult(`${where} is a ${v.constructor.name}`);
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) throw new InvalidResult(`${where} is binary data (${v.constructor.name})`);
    seen.add(v);
    if (Array.isArray(v)) v.forEach((x, i) => check(x, `${where}[${i}]`, depth + 1));
    else for (const k of Object.keys(v)) check(v[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${where}.${k}` : `${where}[${jsonStringify(k)}]`, depth + 1);
    seen.delete(v);
  };
  check(value, 'result', 0);
  return jsonStringify(value) ?? 'null';
}

function isEsmOnly(err) {
  return err instanceof SyntaxError && ESM_ONLY_ERRORS.some((m) => String(err.message).includes(m));
}

function pick(candidate) {
  return typeof candidate === 'function' ? candidate : null;
}

/** `obj[name]` when it is an own property of obj holding a function (never an inherited one). */
function own(obj, name) {
  if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) return null;
  try {
    return hasOwn.call(obj, name) ? pick(obj[name]) : null;
  } catch {
    return null;
  }
}

/**
 * The value the appended capture line saw for the handler's name, when it is a binding of the
 * user's code: a name resolved through the global object (`constructor`, `toString`, `fetch` with
 * no such binding in the code) gives the global's value, which is not one.
 */
function binding(captured, name) {
  const fn = pick(captured);
  if (!fn) return null;
  try {
    if (name in globalThis && globalThis[name] === fn) return null;
  } catch {
    return null;
  }
  return fn;
}

const getActiveResourcesInfo = process.getActiveResourcesInfo.bind(process);
/** Threads and active event-loop resources (by type) before the function's code loaded. */
let baseThreads = -1;
let baseResources = new Map();

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** Threads of this process now (/proc/self/task); -1 when unreadable. */
function threadCount() {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return -1;
  }
}

/** Active event-loop resources by type (Timeout, Immediate, TCPSocketWrap, MessagePort, ...). */
function resourceCounts() {
  const counts = new Map();
  for (const type of getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/**
 * What the invocation left in this process (`stray_threads` of the result): threads beyond
 * {@link baseThreads} (a worker_thread, a native addon's thread) plus event-loop resources beyond
 * {@link baseResources} (a pending timer or immediate, an open socket, server or message port,
 * a pending fs request): each would run the function's code after its result. Writes in flight on
 * the host's own streams (WriteWrap, ShutdownWrap) are not counted.
 */
function leftoverResources() {
  let stray = 0;
  let pendingFs = 0;
  // A thread that just ended may still be a task for a moment: an excess is read again, 1 ms apart.
  for (let attempt = 0; attempt < 5 && baseThreads >= 0; attempt++) {
    const n = threadCount();
    stray = n >= 0 ? Math.max(0, n - baseThreads) : 0;
    if (stray === 0) break;
    Atomics.wait(pauseCell, 0, 0, 1);
  }
  for (const [type, count] of resourceCounts()) {
    if (type === 'WriteWrap' || type === 'ShutdownWrap') continue;
    const extra = Math.max(0, count - (baseResources.get(type) ?? 0));
    if (type.startsWith('FSReq') || type.startsWith('FileHandle')) pendingFs += extra;
    else stray += extra;
  }
  return { stray, pendingFs };
}

/** Processes in this sandbox that are not this one or bwrap's init, or this process's children; 0 when not asked or unknown. */
function strayProcesses() {
  try {
    if (config.count_processes === 'proc') {
      let n = 0;
      for (const name of readdirSync('/proc')) {
        const c = name.charCodeAt(0);
        if (c >= 48 && c <= 57 && name !== '1' && name !== ownPid) n++;
      }
      return n;
    }
    if (config.count_processes === 'children') {
      const text = readFileSync(`/proc/self/task/${ownPid}/children`, 'latin1').trim();
      return text ? text.split(' ').length : 0;
    }
  } catch {
    /* unknown */
  }
  return 0;
}

async function load() {
  const name = config.handler;
  const cjsFile = path.join(codeDir, 'function.cjs');
  let captured;
  globalThis[CAPTURE] = (v) => {
    captured = v;
  };
  try {
    const req = createRequire(cjsFile);
    let exported;
    try {
      exported = req(cjsFile);
    } catch (err) {
      if (!isEsmOnly(err)) throw err;
      return loadEsm(name);
    }
    const fn =
      own(exported, name) ??
      binding(captured, name) ??
      (typeof exported === 'function' ? exported : null) ??
      own(exported?.default, name) ??
      (own(exported, 'default') ? exported.default : null);
    return { fn, module: 'commonjs' };
  } finally {
    delete globalThis[CAPTURE];
  }
}

async function loadEsm(name) {
  let ns;
  try {
    ns = await import(pathToFileURL(path.join(codeDir, 'function.mjs')).href);
  } catch (err) {
    // The appended `export { handler as __fnq_handler__ }` names no top-level binding: load verbatim.
    if (!(err instanceof SyntaxError && /__fnq_handler__|is not defined in module|Export '.*' is not defined/.test(String(err.message)))) throw err;
    ns = await import(pathToFileURL(path.join(codeDir, 'function.orig.mjs')).href);
  }
  // A module namespace has no prototype: ns[name] is an export or nothing.
  const fn = pick(ns[name]) ?? pick(ns.__fnq_handler__) ?? pick(ns.default) ?? own(ns.default, name);
  return { fn, module: 'esm' };
}

function applyEnv(env) {
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const [k, v] of Object.entries(env)) process.env[k] = String(v);
}

function writeMarkers(nonce) {
  const marker = `\x1eFNQ-END:${nonce}\n`;
  let marks = 0;
  try {
    if (!stdout.destroyed && !stdout.writableEnded) {
      stdoutWrite(marker);
      marks |= 1;
    }
  } catch {
    /* stdout gone */
  }
  try {
    if (!stderr.destroyed && !stderr.writableEnded) {
      stderrWrite(marker);
      marks |= 2;
    }
  } catch {
    /* stderr gone */
  }
  return marks;
}

function finish(inv, payload) {
  if (busy !== inv) return; // already failed (uncaught exception) or superseded
  busy = null;
  // The handler's own time: until it returned (or its promise settled), before our serialization.
  const handler_ms = (inv.t1 || performance.now()) - inv.t0;
  const cpu = cpuUsage(inv.cpu0);
  const peak = readPeakRss();
  const now = quietSince < 0 ? -1 : writtenBytes();
  const marks = now >= 0 && now - quietSince === ownWrites ? 0 : writeMarkers(inv.nonce);
  const stray = config.count_processes ? strayProcesses() : 0;
  afterSettling(performance.now() + SETTLE_MS, (threads) => {
    const head = `{"type":"result","id":${inv.id},"nonce":${jsonStringify(inv.nonce)},"stray_processes":${stray},"stray_threads":${threads},"handler_ms":${handler_ms},"cpu_ms":${(cpu.user + cpu.system) / 1000},"peak_rss_bytes":${peak ?? 'null'},"marks":${marks}`;
    if (payload.ok) sendRaw(`${head},"ok":true,"result":${payload.json}}`);
    else sendRaw(`${head},"ok":false,"recycle":${payload.recycle ? 'true' : 'false'},"error":${jsonStringify(payload.error)}}`);
    quietSince = writtenBytes();
  });
}

/** How long a result may wait for the invocation's last fs requests to complete, in ms. */
const SETTLE_MS = 20;

/**
 * Calls `done` with {@link leftoverResources}, once no fs request of the invocation is in flight
 * (fs.promises.readFile closes its file after its promise resolved) or at `deadline`, whatever is
 * left then counting as leftovers (a loop of fs calls that never ends).
 */
function afterSettling(deadline, done) {
  const left = leftoverResources();
  if (left.pendingFs === 0 || performance.now() >= deadline) return done(left.stray + left.pendingFs);
  setImmediate(() => afterSettling(deadline, done));
}

function fail(inv, err) {
  inv.t1 ||= performance.now();
  const oom = err instanceof RangeError && OOM_MESSAGE.test(String(err.message));
  finish(inv, { ok: false, recycle: oom, error: describe(err, oom ? 'out_of_memory' : 'handler_error') });
}

function succeed(inv, value) {
  inv.t1 ||= performance.now();
  let json;
  try {
    json = toJson(value);
  } catch (err) {
    const message = err instanceof InvalidResult ? err.message : `could not serialize it: ${err?.message ?? err}`;
    return finish(inv, { ok: false, error: { kind: 'invalid_result', name: 'TypeError', message: `the handler's result is not JSON-serializable: ${message}`, stack: [] } });
  }
  if (Buffer.byteLength(json) > config.max_result_bytes) {
    return finish(inv, {
      ok: false,
      error: { kind: 'result_too_large', name: 'RangeError', message: `the handler's result is ${Buffer.byteLength(json)} bytes of JSON, over the ${config.max_result_bytes} byte limit`, stack: [] },
    });
  }
  finish(inv, { ok: true, json });
}

function invoke(msg) {
  const inv = { id: msg.id, nonce: msg.nonce, t0: 0, t1: 0, cpu0: null };
  busy = inv;
  const context = Object.freeze({
    function_id: config.function_id,
    version: config.version,
    invocation_id: msg.run_id,
    deadline_ms: msg.deadline_ms,
    getRemainingTimeInMillis: () => Math.max(0, msg.deadline_ms - Date.now()),
    /** Reports progress (docs/operations.md, "Progress and live events"): percent 0-100 and an optional message; shown on the job record and its live events. */
    progress: (percent, message) => {
      if (busy !== inv) return;
      send({ type: 'progress', id: inv.id, nonce: inv.nonce, percent: Number(percent), message: message === undefined ? undefined : String(message).slice(0, 1000) });
    },
  });
  ownWrites = resetPeakRss();
  inv.cpu0 = cpuUsage();
  inv.t0 = performance.now();
  let out;
  try {
    out = handlerFn(msg.event, context);
  } catch (err) {
    return fail(inv, err);
  }
  if (out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function') {
    Promise.resolve(out).then(
      (v) => succeed(inv, v),
      (err) => fail(inv, err),
    );
  } else succeed(inv, out);
}

function onUncaught(err) {
  // A callback the handler scheduled threw: fail the invocation in flight (and recycle this
  // process, whose state is now unknown); with none in flight, report and leave.
  if (busy) {
    const inv = busy;
    const e = describe(err, 'handler_error');
    e.message = `uncaught exception: ${e.message}`;
    finish(inv, { ok: false, recycle: true, error: e });
  } else {
    try {
      stderrWrite(`uncaught exception outside an invocation: ${err?.stack ?? err}\n`);
    } catch {
      /* ignore */
    }
    process.exit(70);
  }
}
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUncaught);

async function onInit(msg) {
  config = msg;
  codeDir = msg.code_dir;
  applyEnv(msg.env);
  process.chdir(msg.cwd);
  // libuv starts its thread pool on first use, all threads at once: start it now, so the baseline
  // holds it and a handler's first fs or dns call adds no thread.
  await new Promise((resolve) => fs.access('/', () => resolve()));
  baseThreads = threadCount();
  baseResources = resourceCounts();
  const t0 = performance.now();
  try {
    const { fn, module } = await load();
    if (!fn) {
      send({
        type: 'load_error',
        error: {
          kind: 'load_error',
          name: 'Error',
          message: `no function named '${config.handler}' in the code: define \`function ${config.handler}(event)\` or export it (module.exports.${config.handler} = ..., export function ${config.handler}, export default)`,
          stack: [],
        },
      });
      return;
    }
    handlerFn = fn;
    send({ type: 'ready', load_ms: performance.now() - t0, module });
  } catch (err) {
    const oom = err instanceof RangeError && OOM_MESSAGE.test(String(err.message));
    send({ type: 'load_error', error: describe(err, oom ? 'out_of_memory' : 'load_error') });
  }
}

let pending = '';
proto.setEncoding('utf8');
proto.on('data', (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (!line) continue;
    const msg = JSON.parse(line);
    if (msg.type === 'invoke') invoke(msg);
    else if (msg.type === 'init') void onInit(msg);
  }
});
// The parent going away (even by kill -9) closes fd 3: leave with it, never linger.
proto.on('end', () => process.exit(0));
proto.on('error', () => process.exit(0));
// Ctrl-C to a terminal's process group is the parent's business.
process.on('SIGINT', () => undefined);
