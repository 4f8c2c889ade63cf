/**
 * How a user function's host process is started (docs/functions.md, "The function sandbox"): bubblewrap
 * detection and the command line with its resource limits. The runtimes' executables are found by
 * shared/functions/runtimes.ts; a host's process tree is killed by ./process-tree.ts. The warm pool
 * that uses this is ./function-pool.ts.
 *
 * Layers, outermost first:
 *   sh -c 'echo $$ > …/cgroup.procs …; exec …'  when cgroups are available: the host's own pids and
 *                                            memory cgroup (./cgroups.ts), entered before anything runs
 *   prlimit --core=0 --as=… [--data=…]      hard memory caps per process (util-linux), inherited by everything below
 *   bwrap …                                  namespaces and a minimal read-only filesystem, when available
 *   setpriv --reuid=65534 …                  when the service runs as root: the code runs as nobody
 *   node|python3 <host script>               ./runtimes/node-host.mjs or ./runtimes/python-host.py
 * Without bwrap: `[sh cgroup wrapper] prlimit … setpriv --pdeathsig KILL -- node|python3 <host script>`
 * in its own process group, with only the env and limits (see {@link SandboxStatus}).
 *
 * Limits, stated plainly:
 * - With cgroups (root and cgroup v1 `pids` + `memory` writable; `cgroups: true` in
 *   {@link SandboxStatus}): each host process and everything it starts share one cgroup capped at
 *   maxProcessesPerHost tasks (threads count: a Node host uses about 11, bwrap 2; default 64) and
 *   memory_mb + the /tmp size of memory (memory.limit_in_bytes, and memory.memsw when swap is
 *   accounted); the kernel OOM-kills inside it past that, reported as out_of_memory. After every
 *   invocation the parent compares the cgroup's task count with the host's threads and, when they
 *   differ, counts its processes: any process besides bwrap's two and the host retires the host
 *   right after the result (its tree and cgroup are killed). A process that exits between the two
 *   reads of that comparison while the function starts another one escapes that one check, not the
 *   next one nor the kill at retire.
 * - Without cgroups (not root, cgroup v2, read-only cgroupfs; the worker logs it): memory caps are
 *   rlimits per process only, so a child the function starts gets the same cap again (40 children
 *   can use 40 times memory_mb), and the number of processes is not capped (RLIMIT_NPROC counts
 *   per uid machine-wide): a fork bomb runs until the timeout kills the sandbox. Leftover
 *   processes are then counted by the host itself (its sandbox's /proc under bwrap, its direct
 *   children without), which the function's own code could falsify.
 * - Descriptors: spawn and bwrap pass on every descriptor the worker holds without close-on-exec
 *   (a shell's `exec 200</dir`, a supervisor's pipe); each host closes those above 3 as its very
 *   first step (./runtimes/node-host.mjs, ./runtimes/python-host.py), before any function code,
 *   with or without bwrap. bwrap's own processes close theirs (bubblewrap 0.8: its init, pid 1
 *   inside, holds fds 0-2 and an eventfd), and the launcher steps before it run no function code.
 * - Threads, timers and event-loop resources left in the host's own process are counted by the
 *   host (`stray_threads`, ./host-protocol.ts) and retire it like a leftover process.
 * - The private /tmp (tmpfs) is RAM: under cgroups it is inside the memory total above; without,
 *   on top of memory_mb.
 * - No cap on CPU beyond the wall-clock timeout: a busy loop costs CPU until the timeout kills the
 *   whole sandbox. No seccomp filter: the kernel's full syscall surface is reachable.
 * - cpu_ms and peak_rss_bytes are read inside the function's own process, so hostile code can
 *   falsify its own numbers (the parent's duration_ms it cannot).
 * - Without bwrap the code runs as the service's user with the service's filesystem and network;
 *   without cgroups either, a descendant that leaves the process group and the tree (setsid plus
 *   double fork) survives the kill and is not seen by the leftover check.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_ENV, defaultSearchPath, findExecutable, runQuick as run } from '../../shared/functions/executables.js';
import type { FunctionRuntime, RuntimeInfo } from '../../shared/functions/runtimes.js';
import { probeCgroups } from './cgroups.js';


/**
 * `auto` (the default) and `bwrap`: bubblewrap is required, and every function run fails with
 * SERVICE_UNAVAILABLE (see {@link unsandboxedRefusal}) where it cannot isolate (not installed, or
 * namespaces forbidden, as under Docker's default seccomp profile); `off`: never isolate, run
 * function code as the service's user with its filesystem and network (docs/functions.md, "The function sandbox").
 */
export type SandboxMode = 'auto' | 'bwrap' | 'off';

/**
 * Why function runs are refused here, or undefined when they may run: isolation is missing and
 * the mode is not `off`. The text names FUNCTION_SANDBOX (shared/config.ts) and the probe's reason.
 */
export function unsandboxedRefusal(status: Pick<SandboxStatus, 'isolated' | 'mode' | 'reason'>): string | undefined {
  if (status.isolated || status.mode === 'off') return undefined;
  return `functions do not run here: the sandbox cannot isolate them (${status.reason ?? 'unknown reason'}); fix that (docs/deployment.md, "The function sandbox in a container") or set FUNCTION_SANDBOX=off to run them unisolated`;
}

/** Uid and gid the function code runs as under bwrap when the service runs as root (`nobody`). */
export const SANDBOX_UID = 65534;

/**
 * Address space a Node host may reserve beyond memory_mb, in MB: V8 reserves (without using) about
 * 1 GB of virtual memory for its code range and heap cages at start, so RLIMIT_AS alone cannot be
 * memory_mb for Node; RLIMIT_DATA (private writable memory actually mapped) is, and holds the cap.
 */
export const NODE_ADDRESS_SPACE_SLACK_MB = 2048;

/** Where things are inside the sandbox. */
export const SANDBOX_PATHS = Object.freeze({
  host: '/fn/host',
  code: '/fn/code',
  /** Node resolves `require('x')` from /fn/code/function.cjs up to /fn/node_modules. */
  nodeModules: '/fn/node_modules',
  pythonDeps: '/fn/deps',
  cwd: '/tmp',
});

/** The host scripts shipped with the service. */
export const HOST_SCRIPTS: Readonly<Record<FunctionRuntime, string>> = Object.freeze({
  nodejs: fileURLToPath(new URL('./runtimes/node-host.mjs', import.meta.url)),
  python: fileURLToPath(new URL('./runtimes/python-host.py', import.meta.url)),
});

/** Whether and how function code is isolated here, for the service's start-up log line. */
export interface SandboxStatus {
  /** True when function processes run under bubblewrap (no network, read-only filesystem, private /tmp). */
  isolated: boolean;
  /** The mode asked for. */
  mode: SandboxMode;
  /** bwrap executable and its version, when found. */
  bwrap?: string;
  bwrapVersion?: string;
  /** Who the code runs as under bwrap: `nobody` (service is root) or the service's user in a user namespace. */
  user?: string;
  /** `rlimit`: memory caps by prlimit(1) (RLIMIT_AS, and RLIMIT_DATA for Node); `heap-only` when prlimit is missing. */
  memoryLimit: 'rlimit' | 'heap-only';
  /** Why `isolated` is false (not installed, probe failed with bwrap's message, or mode `off`). */
  reason?: string;
  /**
   * True when each host process gets its own cgroup (v1 `pids` + `memory`, see ./cgroups.ts), so the
   * total number of tasks and the total memory of everything a function starts are capped. False:
   * only the per-process rlimits apply (a function can multiply its memory cap by forking, and fork
   * until the machine's pid limit), see `cgroupsReason`.
   */
  cgroups: boolean;
  /** Why `cgroups` is false. */
  cgroupsReason?: string;
}

/** Everything needed to start one host process. */
export interface HostLaunchParams {
  runtime: RuntimeInfo;
  /** Use bwrap (only when {@link sandboxStatus} said `isolated`). */
  isolated: boolean;
  /** Folder holding function.cjs/.mjs/.py, written by the pool. */
  codeDir: string;
  /** Writable scratch folder used as cwd when not isolated. */
  workDir: string;
  /** Installed dependencies (node_modules, or its parent, for nodejs; a pip --target folder for python). */
  depsDir?: string;
  /** Memory cap in MB (MiB). */
  memoryMb: number;
  /** Size of the private /tmp under bwrap, in bytes. */
  tmpBytes: number;
  /**
   * The host's cgroup.procs files (pids, memory): the command starts with a `sh` that writes its
   * own pid into both and then execs the rest, so the host and everything it starts are in the
   * cgroups before any of it runs (a failed write stops the launch: never an uncapped host).
   */
  cgroupProcs?: [string, string];
  /** Where bwrap, prlimit and setpriv are looked up (see {@link sandboxTools}). Default the service's PATH. */
  searchPath?: string;
}

/** A host's command line plus the paths the host must use (they differ inside the sandbox). */
export interface HostLaunch {
  command: string;
  args: string[];
  /** Environment of the spawned process itself (the function's own env travels over the protocol). */
  env: Record<string, string>;
  /** Paths as the host sees them. */
  hostCodeDir: string;
  hostDeps: string | null;
  hostCwd: string;
}

/** The helper executables of a host's command line. */
export interface SandboxTools {
  bwrap?: string;
  prlimit?: string;
  setpriv?: string;
}

const toolsCache = new Map<string, SandboxTools>();

/**
 * bwrap, prlimit and setpriv as found on `searchPath` (looked up once per search path).
 * @param searchPath colon-separated folders. Default the service's PATH (shared/config.ts).
 */
export function sandboxTools(searchPath: string = defaultSearchPath()): SandboxTools {
  let tools = toolsCache.get(searchPath);
  if (!tools) {
    tools = { bwrap: findExecutable('bwrap', searchPath), prlimit: findExecutable('prlimit', searchPath), setpriv: findExecutable('setpriv', searchPath) };
    toolsCache.set(searchPath, tools);
  }
  return tools;
}

const statusCache = new Map<string, Promise<SandboxStatus>>();

/**
 * Whether function code runs isolated here: with mode `auto` (the default) or `bwrap`, bubblewrap
 * is looked up on PATH and tried once with the exact namespace, mount and uid options hosts use
 * (a container may have bwrap installed but forbid namespaces); `off` never isolates. Cached per
 * mode. When `isolated` is false the worker logs why at start, and with a mode other than `off`
 * refuses every function run ({@link unsandboxedRefusal}).
 */
export function sandboxStatus(mode: SandboxMode = 'auto', searchPath: string = defaultSearchPath()): Promise<SandboxStatus> {
  const key = `${mode}\0${searchPath}`;
  let cached = statusCache.get(key);
  if (!cached) {
    cached = probeSandbox(mode, searchPath);
    statusCache.set(key, cached);
  }
  return cached;
}

async function probeSandbox(mode: SandboxMode, searchPath: string): Promise<SandboxStatus> {
  const status = await probeIsolation(mode, searchPath);
  const cg = probeCgroups();
  return cg.ok ? { ...status, cgroups: true } : { ...status, cgroups: false, cgroupsReason: cg.reason };
}

async function probeIsolation(mode: SandboxMode, searchPath: string): Promise<Omit<SandboxStatus, 'cgroups'>> {
  const tools = sandboxTools(searchPath);
  const memoryLimit = tools.prlimit ? 'rlimit' : 'heap-only';
  if (mode === 'off') return { isolated: false, mode, memoryLimit, reason: 'isolation turned off (sandbox: off)' };
  if (!tools.bwrap) return { isolated: false, mode, memoryLimit, reason: 'bwrap (bubblewrap) is not installed' };
  const privileged = process.getuid?.() === 0;
  if (privileged && !tools.setpriv) return { isolated: false, mode, memoryLimit, bwrap: tools.bwrap, reason: 'running as root, and setpriv (util-linux) is missing to drop to nobody' };
  const version = (await run(tools.bwrap, ['--version'], 10_000)).stdout.trim();
  const args = [...bwrapBaseArgs({ tmpBytes: 1024 * 1024 }), '--', ...dropPrivileges(tools), '/usr/bin/id', '-u'];
  const probe = await run(tools.bwrap, args, 15_000);
  if (probe.code !== 0) {
    return { isolated: false, mode, memoryLimit, bwrap: tools.bwrap, bwrapVersion: version, reason: `bwrap does not work here: ${probe.stderr.trim() || `exit code ${probe.code}`}` };
  }
  if (privileged && probe.stdout.trim() !== String(SANDBOX_UID)) {
    return { isolated: false, mode, memoryLimit, bwrap: tools.bwrap, bwrapVersion: version, reason: `bwrap ran the probe as uid ${probe.stdout.trim()}, not ${SANDBOX_UID}` };
  }
  return {
    isolated: true,
    mode,
    memoryLimit,
    bwrap: tools.bwrap,
    bwrapVersion: version,
    user: privileged ? `nobody (uid ${SANDBOX_UID})` : `the service's uid ${process.getuid?.()} in a user namespace, no capabilities`,
  };
}

/** `setpriv` to nobody with no capabilities, when the service is root (a no-op list otherwise). */
function dropPrivileges(tools: SandboxTools): string[] {
  if (process.getuid?.() !== 0) return [];
  return [tools.setpriv!, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--'];
}

/** /etc entries a runtime may read (dynamic linker, users, time zone, TLS roots); never shadow or the like. */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'localtime',
  'timezone',
  'nsswitch.conf',
  'passwd',
  'group',
  'hosts',
  'host.conf',
  'mime.types',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
];

/** The filesystem and identity of one bwrap sandbox (see {@link bwrapBaseArgs}). */
interface BwrapLayout {
  /** Read-only binds, `[source, destination]`. */
  binds?: Array<[string, string]>;
  /** Writable binds, `[source, destination]` (a command job's work dir). */
  rwBinds?: Array<[string, string]>;
  /** Size of the private /tmp, bytes. */
  tmpBytes: number;
  /** The cwd inside. Default {@link SANDBOX_PATHS}.cwd (/tmp). */
  cwd?: string;
  /** The host name inside. Default `fnqueue-function`. */
  hostname?: string;
}

/**
 * bwrap's options shared by function hosts, command jobs and the probe: every namespace (no
 * network: only a loopback device exists; own pids, so killing bwrap ends every process of the
 * sandbox), dying with the worker, a new session (no terminal injection), an empty env, read-only
 * /usr, /etc bits and `binds`, writable `rwBinds`, a private size-capped /tmp, and a root remounted
 * read-only (not recursively: the tmpfs and writable binds stay writable).
 *
 * As root there is no user namespace: bwrap sets up mounts as root and `setpriv` (see
 * {@link dropPrivileges}) then runs the code as nobody, so it owns no file and no sysctl (in a
 * user namespace its uid would map back to root outside, and root-owned /proc/sys entries would
 * be writable to it). As another user, an unprivileged user namespace is used.
 */
function bwrapBaseArgs(layout: BwrapLayout): string[] {
  const privileged = process.getuid?.() === 0;
  const args = privileged
    ? ['--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try']
    : ['--unshare-all'];
  args.push('--die-with-parent', '--new-session', '--hostname', layout.hostname ?? 'fnqueue-function', '--clearenv');
  args.push('--ro-bind', '/usr', '/usr');
  for (const top of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${top}`;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(p), p);
    else if (st.isDirectory()) args.push('--ro-bind', p, p);
  }
  args.push('--perms', '0755', '--dir', '/etc');
  for (const f of ETC_FILES) args.push('--ro-bind-try', `/etc/${f}`, `/etc/${f}`);
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--perms', '1777', '--size', String(layout.tmpBytes), '--tmpfs', '/tmp');
  const made = new Set<string>(['/', '/usr', '/etc', '/tmp', '/proc', '/dev']);
  const binds = [...(layout.binds ?? []).map(([src, dest]) => ['--ro-bind', src, dest] as const), ...(layout.rwBinds ?? []).map(([src, dest]) => ['--bind', src, dest] as const)];
  for (const [option, src, dest] of binds) {
    // Parents of a bind point are made world-traversable (bwrap would copy /root's 0700).
    const parts = path.dirname(dest).split('/').filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur += `/${part}`;
      if (made.has(cur)) continue;
      made.add(cur);
      args.push('--perms', '0755', '--dir', cur);
    }
    args.push(option, src, dest);
    made.add(dest);
  }
  args.push('--chdir', layout.cwd ?? SANDBOX_PATHS.cwd, '--remount-ro', '/', '--remount-ro', '/dev');
  return args;
}

/** The shell of the cgroup wrapper. */
const SH = existsSync('/bin/sh') ? '/bin/sh' : '/usr/bin/sh';
/** `sh -c` script: its own pid into both cgroup.procs files ($1, $2), then exec the command ("$@" after them). */
const CGROUP_ENTER = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"';

/** The node_modules folder of a nodejs deps_dir: `<deps>/node_modules` when present, else deps_dir itself. */
export function nodeModulesOf(depsDir: string): string {
  const inner = path.join(depsDir, 'node_modules');
  return existsSync(inner) ? inner : depsDir;
}

/** One sandboxed process's command line: what function hosts and command jobs share (see the module comment's layers). */
export interface SandboxCommandParams {
  /** Use bwrap (only when {@link sandboxStatus} said `isolated`). */
  isolated: boolean;
  /** The program and its arguments as run inside the sandbox (or as run, unisolated). */
  argv: string[];
  /** prlimit(1) options without the executable and `--` (e.g. `--core=0`, `--as=<bytes>`); dropped when prlimit is missing. */
  rlimits: string[];
  /** cgroup.procs files (pids, memory) the launch enters first (see {@link HostLaunchParams.cgroupProcs}). */
  cgroupProcs?: [string, string];
  /** Where bwrap, prlimit and setpriv are looked up. Default the service's PATH. */
  searchPath?: string;
  /** Isolated: the sandbox's filesystem. */
  layout: BwrapLayout;
  /** Isolated: env set on bwrap's command line (visible in /proc/<pid>/cmdline: nothing secret). */
  setenv?: Record<string, string>;
  /** Isolated: bwrap reads more options from this descriptor (`--args`, NUL-separated), e.g. the `--setenv` pairs of a secret env. */
  argsFd?: number;
}

/**
 * The argv of one sandboxed process: `[sh cgroup wrapper] [prlimit …] bwrap … -- [setpriv …] argv`,
 * or unisolated `[sh cgroup wrapper] [prlimit …] [setpriv --pdeathsig KILL --] argv`.
 */
export function buildSandboxCommand(p: SandboxCommandParams): string[] {
  const tools = sandboxTools(p.searchPath);
  const limits = tools.prlimit ? [tools.prlimit, ...p.rlimits, '--'] : [];
  const wrap = (cmd: string[]): string[] => (p.cgroupProcs ? [SH, '-c', CGROUP_ENTER, 'sh', p.cgroupProcs[0], p.cgroupProcs[1], ...cmd] : cmd);
  if (!p.isolated) return wrap([...limits, ...(tools.setpriv ? [tools.setpriv, '--pdeathsig', 'KILL', '--'] : []), ...p.argv]);
  const bw = bwrapBaseArgs(p.layout);
  for (const [k, v] of Object.entries(p.setenv ?? {})) bw.push('--setenv', k, v);
  if (p.argsFd !== undefined) bw.push('--args', String(p.argsFd));
  return wrap([...limits, tools.bwrap!, ...bw, '--', ...dropPrivileges(tools), ...p.argv]);
}

/** `--setenv` pairs of `env` as NUL-separated bwrap options (what {@link SandboxCommandParams.argsFd} reads). */
export function setenvArgs(env: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]).map((a) => `${a}\0`).join(''), 'utf8');
}

/**
 * The command line of one host process. Memory (MiB): Node gets `--max-old-space-size=memoryMb`
 * (V8's heap), RLIMIT_DATA = memoryMb (all private writable memory: heap, Buffers, native
 * allocations; checked by the kernel on mmap/brk/mprotect) and RLIMIT_AS = memoryMb +
 * {@link NODE_ADDRESS_SPACE_SLACK_MB}; Python gets RLIMIT_AS = memoryMb (its reservations are
 * small). Both get RLIMIT_CORE = 0 (no core files of big processes).
 */
export function buildHostLaunch(p: HostLaunchParams): HostLaunch {
  const memBytes = p.memoryMb * 1024 * 1024;
  const rlimits = ['--core=0'];
  if (p.runtime.runtime === 'nodejs') rlimits.push(`--data=${memBytes}`, `--as=${memBytes + NODE_ADDRESS_SPACE_SLACK_MB * 1024 * 1024}`);
  else rlimits.push(`--as=${memBytes}`);
  if (!p.isolated) rlimits.push(`--fsize=${p.tmpBytes}`);
  const script = HOST_SCRIPTS[p.runtime.runtime];
  const runtimeArgs = (scriptPath: string) =>
    p.runtime.runtime === 'nodejs'
      ? [p.runtime.executable, `--max-old-space-size=${p.memoryMb}`, scriptPath]
      : [p.runtime.executable, '-I', '-B', scriptPath];
  // Env of the process itself; MALLOC_ARENA_MAX keeps glibc from reserving 64 MB of address space per thread.
  const env: Record<string, string> = { ...BASE_ENV, MALLOC_ARENA_MAX: '2' };
  const common = { rlimits, cgroupProcs: p.cgroupProcs, searchPath: p.searchPath, layout: { tmpBytes: p.tmpBytes } };

  if (!p.isolated) {
    const cmd = buildSandboxCommand({ ...common, isolated: false, argv: runtimeArgs(script) });
    return { command: cmd[0]!, args: cmd.slice(1), env, hostCodeDir: p.codeDir, hostDeps: p.depsDir ? (p.runtime.runtime === 'nodejs' ? nodeModulesOf(p.depsDir) : p.depsDir) : null, hostCwd: p.workDir };
  }

  const hostScript = `${SANDBOX_PATHS.host}/${path.basename(script)}`;
  const binds: Array<[string, string]> = p.runtime.binds.map((b) => [b, b]);
  binds.push([script, hostScript], [p.codeDir, SANDBOX_PATHS.code]);
  let hostDeps: string | null = null;
  if (p.depsDir) {
    if (p.runtime.runtime === 'nodejs') {
      binds.push([nodeModulesOf(p.depsDir), SANDBOX_PATHS.nodeModules]);
      hostDeps = SANDBOX_PATHS.nodeModules;
    } else {
      binds.push([p.depsDir, SANDBOX_PATHS.pythonDeps]);
      hostDeps = SANDBOX_PATHS.pythonDeps;
    }
  }
  const cmd = buildSandboxCommand({ ...common, isolated: true, argv: runtimeArgs(hostScript), layout: { binds, tmpBytes: p.tmpBytes }, setenv: env });
  return { command: cmd[0]!, args: cmd.slice(1), env, hostCodeDir: SANDBOX_PATHS.code, hostDeps, hostCwd: SANDBOX_PATHS.cwd };
}
