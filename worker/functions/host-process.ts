/**
 * A host process's lifecycle below the pool (docs/functions.md, "Warm processes"): its folder with
 * the code copy, its cgroup, the spawn through ./sandbox.ts with fd 3 for ./host-protocol.ts, the
 * init message, waiting for its last output after it exits, and cleaning up after it. The pool
 * (./function-pool.ts) decides when a host starts, serves and is retired.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RuntimeInfo } from '../../shared/functions/runtimes.js';
import { BASE_ENV } from '../../shared/functions/executables.js';
import { HostCgroup, probeCgroups } from './cgroups.js';
import { writeCodeFiles } from './function-spec.js';
import { encodeInit, HostMessageReader } from './host-protocol.js';
import { newStreamState } from './output-capture.js';
import type { Group, Host } from './pool-state.js';
import { buildHostLaunch, nodeModulesOf } from './sandbox.js';

/**
 * A new host record of `group`, not started yet (see {@link launchHost}).
 * @param maxMessageBytes longest unfinished fd-3 line it may send, in bytes.
 */
export function newHost(id: number, group: Group, isolated: boolean, maxMessageBytes: number): Host {
  let markExited!: () => void;
  const exited = new Promise<void>((r) => (markExited = r));
  return {
    id,
    group,
    config: group.config,
    state: 'starting',
    isolated,
    pid: null,
    invocations: 0,
    retireAfterRun: false,
    lastUsed: performance.now(),
    spawnedAt: performance.now(),
    reader: new HostMessageReader(maxMessageBytes),
    stderrTail: Buffer.alloc(0),
    streams: [newStreamState(), newStreamState()],
    exited,
    markExited,
    launching: true,
    oomKills: 0,
  };
}

/** Code folders are `<workDir>/fnqueue-fn-<worker pid>-<random>`. */
const DIR_PREFIX = 'fnqueue-fn-';
/** How long after a process exits its last output may still arrive, in ms. */
const EXIT_DRAIN_MS = 250;

/** What a launch needs from the pool. */
export interface LaunchSettings {
  runtime: RuntimeInfo;
  /** Parent of the code folders. */
  workDir: string;
  /** Size of the private /tmp, MB. */
  tmpMb: number;
  /** `pids.max` of the host's cgroup. */
  maxProcessesPerHost: number;
  maxResultBytes: number;
  /** Give the host a cgroup (when the machine allows it). */
  cgroups: boolean;
  /** Name prefix of the host's cgroup (the pool's id prefix). */
  cgroupPrefix: string;
  searchPath?: string;
}

/** Where a launched host's events go. */
export interface HostEvents {
  /** Text read from fd 3. */
  onProto(host: Host, chunk: string): void;
  /** A chunk of stdout (0) or stderr (1). */
  onOutput(host: Host, idx: 0 | 1, chunk: Buffer): void;
  onStreamEnd(host: Host, idx: 0 | 1): void;
  /** The process is gone (and its output read), or could not be spawned; host.exitInfo says how. */
  onExit(host: Host): void;
}

/**
 * Writes the host's folder, makes its cgroup, spawns it and sends the init message. Returns early
 * (nothing spawned) when the host was retired meanwhile.
 * @throws Error when the folder cannot be written or the cgroup made.
 */
export async function launchHost(host: Host, s: LaunchSettings, events: HostEvents): Promise<void> {
  const config = host.config;
  const dir = await mkdtemp(path.join(s.workDir, `${DIR_PREFIX}${process.pid}-`));
  host.dir = dir;
  if (host.state === 'dead') return;
  const codeDir = path.join(dir, 'code');
  const workDir = path.join(dir, 'work');
  await mkdir(codeDir);
  await mkdir(workDir);
  await writeCodeFiles(codeDir, config);
  if (config.deps_dir && config.runtime === 'nodejs' && !host.isolated) {
    await symlink(nodeModulesOf(config.deps_dir), path.join(codeDir, 'node_modules'));
  }
  // Under bwrap as root the code runs as nobody: it must be able to read its own files (the
  // parent folder stays 0700, so nobody else on the machine can).
  await chmod(codeDir, 0o755);
  if (isDead(host)) return;
  const cg = s.cgroups ? probeCgroups() : undefined;
  if (cg?.ok) {
    // Total memory of the tree: memory_mb plus the private /tmp (tmpfs pages are charged to it).
    host.cgroup = new HostCgroup(cg.roots, `${s.cgroupPrefix}-${host.id}`, {
      maxTasks: s.maxProcessesPerHost,
      memoryBytes: (config.memory_mb + s.tmpMb) * 1024 * 1024,
    });
    host.oomKills = Math.max(0, host.cgroup.oomKills());
  }
  const launch = buildHostLaunch({
    runtime: s.runtime,
    isolated: host.isolated,
    codeDir,
    workDir,
    depsDir: config.deps_dir,
    memoryMb: config.memory_mb,
    tmpBytes: s.tmpMb * 1024 * 1024,
    cgroupProcs: host.cgroup?.procsFiles(),
    searchPath: s.searchPath,
  });
  const proc = spawn(launch.command, launch.args, { env: launch.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
  host.proc = proc;
  host.pid = proc.pid ?? null;
  const proto = proc.stdio[3] as Socket;
  host.proto = proto;
  proto.setEncoding('utf8');
  proto.on('data', (chunk: string) => events.onProto(host, chunk));
  proto.on('error', () => undefined);
  proc.stdout!.on('data', (c: Buffer) => events.onOutput(host, 0, c));
  proc.stderr!.on('data', (c: Buffer) => events.onOutput(host, 1, c));
  proc.stdout!.on('end', () => events.onStreamEnd(host, 0));
  proc.stderr!.on('end', () => events.onStreamEnd(host, 1));
  proc.on('error', (err) => {
    if (!host.exitInfo) {
      host.exitInfo = { code: null, signal: null, error: err };
      events.onExit(host);
    }
  });
  proc.on('exit', (code, signal) => {
    host.exitInfo = { code, signal };
    drainThenExit(host, events);
  });
  // The function's env, plus PATH, HOME=/tmp and LANG unless it sets them: sent over fd 3, not
  // on bwrap's command line (`--setenv`), which any local user could read in /proc/<pid>/cmdline.
  proto.write(
    encodeInit({
      env: { ...BASE_ENV, ...config.env },
      handler: config.handler,
      code_dir: launch.hostCodeDir,
      deps: launch.hostDeps,
      cwd: launch.hostCwd,
      function_id: host.group.function_id,
      version: host.group.version,
      max_result_bytes: s.maxResultBytes,
      memory_mb: config.memory_mb,
      // Without cgroups the host counts the processes it left behind itself (see node-host.mjs).
      count_processes: host.cgroup ? null : host.isolated ? 'proc' : 'children',
    }),
  );
}

/** Calls onExit once both output streams ended, or {@link EXIT_DRAIN_MS} after the exit. */
function drainThenExit(host: Host, events: HostEvents): void {
  const [out, err] = host.streams;
  if (out.ended && err.ended) return events.onExit(host);
  const timer = setTimeout(() => events.onExit(host), EXIT_DRAIN_MS);
  const check = () => {
    if (out.ended && err.ended) {
      clearTimeout(timer);
      events.onExit(host);
    }
  };
  host.proc?.stdout?.once('end', check);
  host.proc?.stderr?.once('end', check);
}

/** Removes code folders left by workers that died without closing their pool (their pid is gone). */
export async function removeOrphanDirs(workDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (name) => {
      const pid = Number(/^fnqueue-fn-(\d+)-/.exec(name)?.[1]);
      if (!pid || pid === process.pid) return;
      try {
        process.kill(pid, 0);
        return; // its worker still runs (or the pid was reused: leave it)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return;
      }
      await rm(path.join(workDir, name), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

/** Removes a host's code folder and cgroup once its process is gone (or never started). */
export async function cleanupHost(host: Host): Promise<void> {
  const dir = host.dir;
  host.statFiles?.close();
  host.statFiles = undefined;
  await Promise.all([dir ? rm(dir, { recursive: true, force: true }).catch(() => undefined) : undefined, host.cgroup?.remove()]);
}

/** Whether a host was retired (a function, so TypeScript does not narrow the state across awaits). */
function isDead(host: Host): boolean {
  return host.state === 'dead';
}
