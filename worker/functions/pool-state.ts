/**
 * The function pool's internal records (./function-pool.ts): a function version's group of host
 * processes, one host process, and one invocation (a run).
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { HostCgroup } from './cgroups.js';
import type { FunctionRunResult, FunctionSpec } from './function-run.js';
import type { FunctionRunError } from './function-run-error.js';
import type { HostConfig } from './function-spec.js';
import type { HostMessageReader, ResultMessage } from './host-protocol.js';
import type { HostStatFiles } from './idle-audit.js';
import type { OutputCapture, StreamState } from './output-capture.js';

/** The processes of one function version. */
export interface Group {
  key: string;
  function_id: string;
  version: string;
  config: HostConfig;
  hosts: Set<Host>;
  /** Idle processes, least recently used first. */
  idle: Host[];
}

/** One host process, from spawn until its exit. */
export interface Host {
  id: number;
  group: Group;
  config: HostConfig;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  isolated: boolean;
  proc?: ChildProcess;
  proto?: Socket;
  pid: number | null;
  dir?: string;
  run?: Run;
  invocations: number;
  retireAfterRun: boolean;
  lastUsed: number;
  spawnedAt: number;
  loadTimer?: NodeJS.Timeout;
  reader: HostMessageReader;
  stderrTail: Buffer;
  streams: [StreamState, StreamState];
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  exited: Promise<void>;
  markExited: () => void;
  killedFor?: string;
  /** True while its folder is being written and its process started. */
  launching: boolean;
  /** Its own pids+memory cgroup, when cgroups are available. */
  cgroup?: HostCgroup;
  /** OOM kills seen in its cgroup so far. */
  oomKills: number;
  /** Its tree's stat files once it loaded, for the idle-host audit (./idle-audit.ts); closed when it exits. */
  statFiles?: HostStatFiles;
}

/** One invocation, from FunctionPool.run until it settles. */
export interface Run {
  id: string;
  seq: number;
  spec: FunctionSpec;
  key: string;
  eventJson: string;
  resolve: (r: FunctionRunResult) => void;
  reject: (e: FunctionRunError) => void;
  state: 'queued' | 'starting' | 'running' | 'done';
  onProgress?: (percent: number, message?: string) => void;
  host?: Host;
  output: OutputCapture;
  nonce: string;
  result?: ResultMessage;
  createdAt: number;
  sentAt: number;
  cold: boolean;
  startupMs: number | null;
  /** While queued: the bound of its wait for memory (FunctionPoolOptions.memoryBudgetMb); once sent: its timeout_ms. */
  timer?: NodeJS.Timeout;
  markerTimer?: NodeJS.Timeout;
}
