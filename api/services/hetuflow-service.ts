/**
 * The hetuflow-compatible scheduler API (docs/compat-hetuflow.md): a thin adapter over fnqueue's own
 * parts, with no second job model. A job definition is configuration of its own
 * (JobDefinitionStore); a task is an fnqueue job record carrying `definition_id`; a task instance
 * is one of its attempts; an agent is a worker of the registry; a schedule is a native schedule
 * (ScheduleService) linked to its definition. Every call takes the caller's namespace limit
 * (undefined: every namespace): lists show only those namespaces, an item outside them is not
 * found, and writing into one is forbidden (docs/security.md#namespaces).
 */
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../../shared/queue/redis.js';
import { AppError } from '../../shared/errors/index.js';
import { namespaceAllowed } from '../../shared/auth/scopes.js';
import { DEFAULT_NAMESPACE } from '../../shared/schemas/namespace.js';
import type { StoredJobDefinition, TaskConfig } from '../../shared/schemas/job-definition.js';
import type { AttemptRecord, JobStatus, StoredJob } from '../../shared/schemas/job-record.js';
import type { PublicWorker } from '../../shared/schemas/worker.js';
import type { JobDefinitionStore } from '../../shared/store/job-definition-store.js';
import type { JobLogStore } from '../../shared/store/job-log-store.js';
import type { JobListFilter, JobStore } from '../../shared/store/job-store.js';
import type { RunCounterStore } from '../../shared/store/run-counter-store.js';
import { serverInfo } from '../../shared/store/channels.js';
import type { WorkerRegistry } from '../../shared/store/worker-registry.js';
import { DEFAULT_MAX_OUTPUT_SIZE, type JobDefinitionCreate, type JobDefinitionUpdate } from '../schemas/v1-scheduler.js';
import { matches, pageOf, parseListRequest, pinned, type FieldKind } from './hetuflow-query.js';
import type { CommandRequest } from '../schemas/jobs.js';
import type { JobOptions } from '../../shared/schemas/job-record.js';
import { commandSubmission, type Submission } from './job-service.js';

/** The namespaces a caller may act in; undefined: every namespace. */
export type NamespaceLimit = readonly string[] | undefined;

/** A page in the reference's shape. */
export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  page_size: number;
}

/** The reference's AgentStatus codes. */
export const AGENT_STATUS_CODES = { offline: 0, online: 1, busy: 2, error: 3 } as const;
/** The reference's JobStatus codes (`deleted` is never shown: fnqueue deletes). */
export const JOB_STATUS_CODES = { disabled: 0, enabled: 1, deleted: 2 } as const;
/** The reference's TaskStatus codes. */
export const TASK_STATUS_CODES = { pending: 1, locked: 2, dispatched: 3, running: 10, failed: 90, cancelled: 99, succeeded: 100 } as const;
/** The reference's TaskInstanceStatus codes, plus `cancelled` (99, as TaskStatus), which fnqueue adds. */
export const TASK_INSTANCE_STATUS_CODES = { pending: 1, dispatched: 5, running: 10, timeout: 20, failed: 90, cancelled: 99, succeeded: 100 } as const;
/** ScheduleKind codes (as hetuflow numbers them: Cron 1, Interval 2); a run started by the API is `event`. */
export const SCHEDULE_KIND_CODES = { cron: 1, interval: 2, event: 4 } as const;

/** Default `config` values (docs/compat-hetuflow.md#job-definitions). */
export const CONFIG_DEFAULTS = { timeout: 3600, max_retries: 0, retry_interval: 60, args: [] as string[], capture_output: true, max_output_size: DEFAULT_MAX_OUTPUT_SIZE };

/** Most tasks a task-instance listing without `task_id` reads, newest first. */
export const INSTANCE_SCAN_TASKS = 200;

/** Most tasks one tasks page request reads from the indexes before filtering in memory. */
export const TASK_SCAN_LIMIT = 5000;

/** Fields of each list and how they compare. */
const JOB_FIELDS: Record<string, FieldKind> = { id: { type: 'string' }, namespace_id: { type: 'string' }, name: { type: 'string' }, status: { type: 'enum', codes: JOB_STATUS_CODES }, created_at: { type: 'time' }, updated_at: { type: 'time' } };
const AGENT_FIELDS: Record<string, FieldKind> = { id: { type: 'string' }, namespace_id: { type: 'string' }, name: { type: 'string' }, status: { type: 'enum', codes: AGENT_STATUS_CODES }, created_at: { type: 'time' }, updated_at: { type: 'time' } };
const TASK_FIELDS: Record<string, FieldKind> = {
  id: { type: 'string' },
  job_id: { type: 'string' },
  namespace_id: { type: 'string' },
  status: { type: 'enum', codes: TASK_STATUS_CODES },
  schedule_id: { type: 'string' },
  schedule_kind: { type: 'enum', codes: SCHEDULE_KIND_CODES },
  priority: { type: 'number' },
  scheduled_at: { type: 'time' },
  completed_at: { type: 'time' },
  created_at: { type: 'time' },
};
const INSTANCE_FIELDS: Record<string, FieldKind> = {
  id: { type: 'string' },
  task_id: { type: 'string' },
  job_id: { type: 'string' },
  agent_id: { type: 'string' },
  status: { type: 'enum', codes: TASK_INSTANCE_STATUS_CODES },
  exit_code: { type: 'number' },
  started_at: { type: 'time' },
  completed_at: { type: 'time' },
  created_at: { type: 'time' },
};

/** A 404 in the reference's words: `<What> not found`, details `<What> '<id>' does not exist`. */
export function notFound(what: string, id: string): AppError {
  const shown = id.slice(0, 100);
  return new AppError('NOT_FOUND', `${what} not found`, { detail: `${what} '${shown}' does not exist`, id: shown });
}

/** 403 for a write into a namespace the caller's credential is not limited to. */
export function namespaceForbidden(namespace: string, limit: readonly string[]): AppError {
  return new AppError('FORBIDDEN', `this credential may not act in namespace '${namespace.slice(0, 63)}'`, { detail: `allowed namespaces: ${limit.join(', ') || '(none)'}`, namespace, allowed_namespaces: [...limit] });
}

/** Throws {@link namespaceForbidden} unless `limit` allows `namespace`. */
export function assertNamespace(limit: NamespaceLimit, namespace: string): void {
  if (!namespaceAllowed(limit, namespace)) throw namespaceForbidden(namespace, limit ?? []);
}

const isoZ = (iso: string | null | undefined): string | null => (iso ? new Date(Date.parse(iso)).toISOString() : null);

/** An agent's status from its worker: offline, busy (every slot taken), else online. */
export function agentStatus(w: PublicWorker): keyof typeof AGENT_STATUS_CODES {
  if (w.status === 'offline') return 'offline';
  return w.active_jobs.length >= w.concurrency ? 'busy' : 'online';
}

/** A worker as an agent: the reference's fields (docs/compat-hetuflow.md#agents). */
export function toAgent(w: PublicWorker) {
  return {
    id: w.id,
    namespace_id: w.labels.namespace ?? DEFAULT_NAMESPACE,
    name: w.host,
    endpoint: `fnqueue-worker://${w.host}/${w.pid}`,
    status: agentStatus(w),
    labels: w.labels,
    created_at: isoZ(w.started_at)!,
    updated_at: isoZ(w.last_heartbeat),
  };
}
export type Agent = ReturnType<typeof toAgent>;

/** What {@link HetuflowService} reads and writes. */
export interface HetuflowServiceDeps {
  definitions: JobDefinitionStore;
  workers: WorkerRegistry;
  jobStore: JobStore;
  logs: JobLogStore;
  runCounters: RunCounterStore;
  /** A command connection (INFO for the health answer). */
  redis: Pick<RedisConnection, 'info'>;
  /** This process's version (package.json). */
  version: string;
  /** When this API process started (ms since the epoch). */
  startedAtMs: number;
  /** MAX_JOB_DEFINITIONS; 0: no bound. */
  maxDefinitions: number;
  /** JOB_MAX_RETRIES: a definition's max_retries may not pass it. */
  maxRetries: number;
  /** The native schedules, for the kind of a scheduled task. */
  schedules?: { get(scheduleId: string): Promise<{ cron: string | null }> };
  /** Submits a run: the native submit path (JobService.submit). */
  submit: (sub: Submission) => Promise<{ job_id: string; created_at: string }>;
}

/**
 * What a definition runs, in native terms (docs/compat-hetuflow.md#job-definitions): a command job
 * with the definition's `cmd`, `args`, `environment` (as the command's env), `capture_output` and
 * `max_output_size`; `timeout` (s) as timeout_ms, `max_retries`, and `retry_interval` (s) as a fixed
 * retry_interval_ms; its id and namespace on every run.
 */
export function definitionRun(def: StoredJobDefinition): { command: CommandRequest; options: JobOptions } {
  const c = def.config;
  const command: CommandRequest = { cmd: c.cmd, args: c.args, env: def.environment ?? {}, capture_output: c.capture_output, max_output_size: Math.max(c.max_output_size, 1) };
  const options: JobOptions = { timeout_ms: c.timeout * 1000 };
  if (c.max_retries > 0) Object.assign(options, { max_retries: c.max_retries, retry_backoff: 'fixed', retry_interval_ms: c.retry_interval * 1000 });
  return { command, options };
}

/** The reference's job definition, agent, task, task instance, health and gateway answers. */
export class HetuflowService {
  constructor(private readonly deps: HetuflowServiceDeps) {}

  // ---- job definitions ----

  /**
   * `POST /api/v1/jobs/item`. @returns the new id.
   * @throws AppError FORBIDDEN outside the caller's namespaces; VALIDATION_ERROR past JOB_MAX_RETRIES;
   *   CONFLICT at MAX_JOB_DEFINITIONS.
   */
  async createDefinition(input: JobDefinitionCreate, limit: NamespaceLimit): Promise<{ id: string }> {
    const namespace = input.namespace_id ?? DEFAULT_NAMESPACE;
    assertNamespace(limit, namespace);
    const now = new Date();
    const config: TaskConfig = { ...CONFIG_DEFAULTS, ...input.config } as TaskConfig;
    this.checkConfig(config);
    const def: StoredJobDefinition = {
      id: randomUUID(),
      namespace_id: namespace,
      name: input.name,
      description: input.description ?? null,
      environment: input.environment ?? null,
      config,
      status: input.status ?? 'enabled',
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    };
    const created = await this.deps.definitions.create(def, now.getTime(), this.deps.maxDefinitions);
    if (created.kind === 'limit') {
      throw new AppError('CONFLICT', `at most ${this.deps.maxDefinitions} job definitions may exist (MAX_JOB_DEFINITIONS); delete one first`, { detail: 'MAX_JOB_DEFINITIONS reached', reason: 'definition_limit' });
    }
    if (created.kind === 'exists') throw new AppError('SERVICE_UNAVAILABLE', 'an id clash occurred; retry', {});
    return { id: def.id };
  }

  /** `GET /api/v1/jobs/item/{id}`. @throws AppError NOT_FOUND (also outside the caller's namespaces). */
  async getDefinition(id: string, limit: NamespaceLimit): Promise<StoredJobDefinition> {
    return (await this.readDefinition(id, limit)).definition;
  }

  /** `POST /api/v1/jobs/page`: newest first. @throws AppError VALIDATION_ERROR for a bad filter or page. */
  async listDefinitions(body: unknown, limit: NamespaceLimit): Promise<Page<StoredJobDefinition>> {
    const req = parseListRequest(body, JOB_FIELDS);
    const all = (await this.deps.definitions.all()).reverse();
    const items = all.filter((d) => namespaceAllowed(limit, d.namespace_id) && matches(d, req.filter, JOB_FIELDS));
    return pageOf(items, req);
  }

  /**
   * `PUT /api/v1/jobs/item/{id}`: given fields replace the stored ones, `config` merged field by
   * field; `null` clears `description` or `environment`.
   * @throws AppError NOT_FOUND; FORBIDDEN when moving it into a namespace outside the caller's; CONFLICT when other writers keep winning.
   */
  async updateDefinition(id: string, patch: JobDefinitionUpdate, limit: NamespaceLimit): Promise<StoredJobDefinition> {
    if (patch.namespace_id !== undefined) assertNamespace(limit, patch.namespace_id);
    return this.mutate(id, limit, (cur) => {
      const next: StoredJobDefinition = { ...cur, config: { ...cur.config, ...(patch.config ?? {}) } as TaskConfig };
      if (patch.namespace_id !== undefined) next.namespace_id = patch.namespace_id;
      if (patch.name !== undefined) next.name = patch.name;
      if (patch.description !== undefined) next.description = patch.description;
      if (patch.environment !== undefined) next.environment = patch.environment;
      if (patch.status !== undefined) next.status = patch.status;
      this.checkConfig(next.config);
      return next;
    });
  }

  /** `POST /api/v1/jobs/item/{id}/enable|disable`. @throws AppError NOT_FOUND. */
  setDefinitionStatus(id: string, status: StoredJobDefinition['status'], limit: NamespaceLimit): Promise<StoredJobDefinition> {
    return this.mutate(id, limit, (cur) => ({ ...cur, status }));
  }

  /** `DELETE /api/v1/jobs/item/{id}` (its schedules are removed by the caller first). @throws AppError NOT_FOUND. */
  async deleteDefinition(id: string, limit: NamespaceLimit): Promise<void> {
    await this.readDefinition(id, limit);
    if (!(await this.deps.definitions.delete(id))) throw notFound('Job', id);
  }

  /**
   * `POST /api/v1/jobs/item/{id}/run` (an fnqueue extension): runs the definition now as a command
   * job, its task; `depends_on` names tasks it waits for.
   * @returns the task's id (its job id) and its creation time.
   * @throws AppError NOT_FOUND; CONFLICT when the definition is disabled; as POST /jobs (VALIDATION_ERROR for depends_on, FORBIDDEN for a command off COMMAND_ALLOWLIST, SERVICE_UNAVAILABLE).
   */
  async runDefinition(id: string, body: { depends_on?: string[] }, limit: NamespaceLimit, requestId: string): Promise<{ id: string; job_id: string; status: 'pending'; created_at: string }> {
    const def = await this.getDefinition(id, limit);
    if (def.status !== 'enabled') throw new AppError('CONFLICT', `job '${def.id}' is disabled: enable it to run it`, { detail: 'POST /api/v1/jobs/item/{id}/enable', job_id: def.id });
    const { command, options } = definitionRun(def);
    const sub = commandSubmission(command, { options, requestId, namespace: def.namespace_id, definition_id: def.id, ...(body.depends_on?.length ? { depends_on: body.depends_on } : {}) });
    // A task of a namespace outside the caller's is refused as missing, as the native routes hide it.
    if (limit) sub.dependencyVisible = async (jobId) => namespaceAllowed(limit, (await this.deps.jobStore.get(jobId))?.namespace ?? DEFAULT_NAMESPACE);
    const { job_id, created_at } = await this.deps.submit(sub);
    return { id: job_id, job_id: def.id, status: 'pending', created_at: isoZ(created_at)! };
  }

  /** The ids of the schedules that run definition `id`. */
  schedulesOf(id: string): Promise<string[]> {
    return this.deps.definitions.schedulesOf(id);
  }

  private async readDefinition(id: string, limit: NamespaceLimit) {
    const read = await this.deps.definitions.get(id);
    if (!read || !namespaceAllowed(limit, read.definition.namespace_id)) throw notFound('Job', id);
    return read;
  }

  private async mutate(id: string, limit: NamespaceLimit, change: (cur: StoredJobDefinition) => StoredJobDefinition): Promise<StoredJobDefinition> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const { definition, raw } = await this.readDefinition(id, limit);
      const next = { ...change(definition), updated_at: new Date().toISOString() };
      const outcome = await this.deps.definitions.replace(next, raw);
      if (outcome === 'ok') return next;
      if (outcome === 'gone') throw notFound('Job', id);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
    throw new AppError('CONFLICT', `job '${id}' is being changed by other requests; retry`, { detail: 'concurrent updates' });
  }

  private checkConfig(config: TaskConfig): void {
    if (config.max_retries > this.deps.maxRetries) {
      throw new AppError('VALIDATION_ERROR', `config.max_retries must be at most ${this.deps.maxRetries} (JOB_MAX_RETRIES)`, { field: 'config.max_retries', value: config.max_retries });
    }
  }

  // ---- agents ----

  /** `POST /api/v1/agents/query`: newest heartbeat first. */
  async listAgents(body: unknown, limit: NamespaceLimit): Promise<Page<Agent>> {
    const req = parseListRequest(body, AGENT_FIELDS);
    const agents = (await this.allWorkers()).map(toAgent);
    return pageOf(agents.filter((a) => namespaceAllowed(limit, a.namespace_id) && matches(a, req.filter, AGENT_FIELDS)), req);
  }

  /** `GET /api/v1/agents/{id}`. @throws AppError NOT_FOUND. */
  async getAgent(id: string, limit: NamespaceLimit): Promise<Agent> {
    const w = await this.deps.workers.get(id);
    const agent = w ? toAgent(w) : undefined;
    if (!agent || !namespaceAllowed(limit, agent.namespace_id)) throw notFound('Agent', id);
    return agent;
  }

  private async allWorkers(): Promise<PublicWorker[]> {
    return (await this.deps.workers.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 })).items;
  }

  // ---- tasks and task instances ----

  /**
   * `POST /api/v1/tasks/page`: the runs of job definitions (job records with `definition_id`),
   * newest first, read from the job indexes (by definition, namespace or status when the filter
   * pins one) and kept RESULT_TTL_SECONDS, as every record.
   */
  async listTasks(body: unknown, limit: NamespaceLimit): Promise<Page<Task>> {
    const req = parseListRequest(body, TASK_FIELDS);
    const indexed = this.indexedTaskFilter(req.filter, limit);
    if (indexed) {
      // Every condition is an index: the store pages, and counts, by itself.
      const { jobs, total } = await this.deps.jobStore.list(indexed, { limit: req.page_size, offset: (req.page - 1) * req.page_size });
      return { data: await this.toTasks(jobs), total, page: req.page, page_size: req.page_size };
    }
    const records = await this.taskRecords(req.filter, limit, TASK_SCAN_LIMIT);
    const tasks = (await this.toTasks(records)).filter((t) => namespaceAllowed(limit, t.namespace_id) && matches(t, req.filter, TASK_FIELDS));
    return pageOf(tasks, req);
  }

  /**
   * `POST /api/v1/task-instances/page`: the attempts of tasks, newest task first, each task's
   * attempts oldest first. With `task_id` pinned, that task's; otherwise those of the newest
   * {@link INSTANCE_SCAN_TASKS} tasks the other filters select.
   */
  async listTaskInstances(body: unknown, limit: NamespaceLimit): Promise<Page<TaskInstance>> {
    const req = parseListRequest(body, INSTANCE_FIELDS);
    const taskId = pinned(req.filter.task_id);
    let records: StoredJob[];
    if (typeof taskId === 'string') {
      const job = await this.deps.jobStore.get(taskId).catch(() => null);
      records = job && job.definition_id ? [job] : [];
    } else {
      records = await this.taskRecords({ job_id: req.filter.job_id ?? {} }, limit, INSTANCE_SCAN_TASKS);
    }
    records = records.filter((r) => namespaceAllowed(limit, r.namespace ?? DEFAULT_NAMESPACE));
    const instances: TaskInstance[] = [];
    for (const job of records) {
      const [attempts, logs] = await Promise.all([this.deps.jobStore.attempts(job.job_id), this.deps.logs.read(job.job_id)]);
      for (const a of attempts) instances.push(toInstance(job, a, logs.lines));
    }
    return pageOf(instances.filter((i) => matches(i, req.filter, INSTANCE_FIELDS)), req);
  }

  /**
   * The store's filter when every condition of `filter` is one of its indexes (job_id, namespace_id,
   * schedule_id or status pinned to one value; the caller's namespaces allowing it); else undefined.
   */
  private indexedTaskFilter(filter: Record<string, { eq?: unknown; in?: unknown[] }>, limit: NamespaceLimit): JobListFilter | undefined {
    const out: JobListFilter = { any_definition: true };
    for (const [name, cond] of Object.entries(filter)) {
      const v = pinned(cond);
      if (typeof v !== 'string' || Object.keys(cond).some((op) => op !== 'eq' && op !== 'in')) return undefined;
      if (name === 'job_id') out.definition_id = v;
      else if (name === 'namespace_id') out.namespace = v;
      else if (name === 'schedule_id') out.schedule_id = v;
      else if (name === 'status' && NATIVE_STATUS[v]) out.status = NATIVE_STATUS[v];
      else return undefined;
    }
    if (limit) {
      if (out.namespace === undefined && limit.length === 1) out.namespace = limit[0];
      if (out.namespace === undefined || !limit.includes(out.namespace)) return undefined;
    }
    return out;
  }

  /** Records of tasks, newest first: by a pinned definition id, else a pinned namespace, else every namespace of the caller. */
  private async taskRecords(filter: Record<string, { eq?: unknown; in?: unknown[] }>, limit: NamespaceLimit, max: number): Promise<StoredJob[]> {
    const definition = pinned(filter.job_id);
    const namespace = pinned(filter.namespace_id);
    const page = { limit: max, offset: 0 };
    if (typeof definition === 'string') return (await this.deps.jobStore.list({ definition_id: definition }, page)).jobs;
    const namespaces = typeof namespace === 'string' ? [namespace] : limit ? [...limit] : undefined;
    if (!namespaces) return (await this.deps.jobStore.list({ any_definition: true }, page)).jobs;
    const lists = await Promise.all(namespaces.map((ns) => this.deps.jobStore.list({ namespace: ns }, page)));
    return lists
      .flatMap((l) => l.jobs)
      .filter((j) => j.definition_id)
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, max);
  }

  /** Tasks of `records`, each scheduled run's kind read from its schedule (once per schedule; a deleted schedule's runs show `cron`). */
  private async toTasks(records: StoredJob[]): Promise<Task[]> {
    const kinds = new Map<string, 'cron' | 'interval' | undefined>();
    for (const id of new Set(records.map((r) => r.schedule_id).filter((id): id is string => !!id))) {
      const s = await this.deps.schedules?.get(id).catch(() => null);
      kinds.set(id, s ? (s.cron !== null ? 'cron' : 'interval') : undefined);
    }
    return records.map((r) => toTask(r, kinds.get(r.schedule_id ?? '')));
  }

  // ---- system ----

  /** `GET /api/v1/system/health`: `healthy` when Redis answers (its `database`), with the agents' counts. */
  async health(): Promise<{ ok: boolean; body: Record<string, unknown> }> {
    let version: string | null = null;
    let connected = false;
    let agents = { total: 0, online: 0, offline: 0 };
    try {
      const info = await serverInfo(this.deps.redis);
      version = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? null;
      connected = true;
      const workers = await this.allWorkers();
      const online = workers.filter((w) => w.status === 'online').length;
      agents = { total: workers.length, online, offline: workers.length - online };
    } catch {
      connected = false;
    }
    return {
      ok: connected,
      body: {
        status: connected ? 'healthy' : 'unhealthy',
        timestamp: new Date().toISOString(),
        version: this.deps.version,
        uptime: Math.floor((Date.now() - this.deps.startedAtMs) / 1000),
        // Redis in place of the database; commands go through one multiplexed connection per API process.
        database: { status: connected ? 'connected' : 'disconnected', type: 'redis', version, pool_size: 1 },
        agents,
      },
    };
  }

  /**
   * `GET /api/v1/gateway/stats`, mapped onto the workers (docs/compat-hetuflow.md#gateway-stats):
   * connections are registered workers (online ones active); messages received are runs that ended
   * on a worker (the deployment's run counters), messages sent those plus the runs in progress.
   */
  async gatewayStats() {
    const [workers, counters] = await Promise.all([this.allWorkers(), this.deps.runCounters.all()]);
    const online = workers.filter((w) => w.status === 'online');
    const ended = counters
      .filter((c) => (c.name === 'algorithm_executions_total' || c.name === 'function_invocations_total') && c.labels.status !== 'cancelled')
      .reduce((sum, c) => sum + c.value, 0);
    const running = online.reduce((sum, w) => sum + w.active_jobs.length, 0);
    return { total_connections: workers.length, active_connections: online.length, total_messages_sent: ended + running, total_messages_received: ended, timestamp: new Date().toISOString() };
  }

  /**
   * `GET /api/v1/metrics/resources` over the online workers (docs/compat-hetuflow.md#resource-figures):
   * cpu_usage the average of their CPU percent (of one core), memory_usage the sum of their resident
   * memory with their runners' in GiB, disk_usage the average Use% of their distinct work dir
   * filesystems, network the sum over their distinct network namespaces. All from the heartbeats.
   */
  async resources() {
    const online = (await this.allWorkers()).filter((w) => w.status === 'online');
    const cpu = online.length ? online.reduce((s, w) => s + w.resources.cpu_usage, 0) / online.length : 0;
    const memoryBytes = online.reduce((s, w) => s + w.resources.memory_usage + (w.resources.runners_memory_usage ?? 0), 0);
    const disks = new Map<string, number>();
    const nets = new Map<string, { rx_bytes: number; tx_bytes: number }>();
    for (const w of online) {
      const { disk, network } = w.resources;
      if (disk) disks.set(`${w.host} ${disk.path} ${disk.total_bytes}`, disk.usage_percent);
      if (network) nets.set(`${w.host} ${network.namespace}`, { rx_bytes: network.rx_bytes, tx_bytes: network.tx_bytes });
    }
    const diskValues = [...disks.values()];
    const round1 = (n: number) => Math.round(n * 10) / 10;
    return {
      code: 200 as const,
      message: 'success' as const,
      data: {
        cpu_usage: round1(cpu),
        memory_usage: Math.round((memoryBytes / 1024 ** 3) * 1000) / 1000,
        disk_usage: diskValues.length ? round1(diskValues.reduce((a, b) => a + b, 0) / diskValues.length) : 0,
        network: [...nets.values()].reduce((acc, n) => ({ rx_bytes: acc.rx_bytes + n.rx_bytes, tx_bytes: acc.tx_bytes + n.tx_bytes }), { rx_bytes: 0, tx_bytes: 0 }),
        workers: online.length,
        memory_usage_bytes: memoryBytes,
      },
    };
  }
}

/** The job record's status of each TaskStatus that has one. */
const NATIVE_STATUS: Readonly<Record<string, JobStatus>> = { pending: 'pending', running: 'running', succeeded: 'completed', failed: 'failed', cancelled: 'cancelled' };

/** The reference's TaskStatus of a job record. */
export function taskStatus(status: StoredJob['status']): keyof typeof TASK_STATUS_CODES {
  switch (status) {
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    case 'running':
      return 'running';
    default:
      return 'pending';
  }
}

/** The reference's TaskInstanceStatus of an attempt. */
export function instanceStatus(status: AttemptRecord['status']): keyof typeof TASK_INSTANCE_STATUS_CODES {
  switch (status) {
    case 'completed':
      return 'succeeded';
    case 'timeout':
      return 'timeout';
    case 'cancelled':
      return 'cancelled';
    case 'running':
      return 'running';
    default:
      return 'failed';
  }
}

/** What a command job's record says about its command (filled from the record by {@link commandOf}). */
export interface RecordCommand {
  config: TaskConfig | null;
  environment: Record<string, string> | null;
  dependencies: string[] | null;
}

/**
 * The config a run was started with, from its record (the inverse of {@link definitionRun}): the
 * command, its options in seconds; the environment's names with their values redacted (env values
 * are write-only); the tasks it waits for.
 */
export function commandOf(job: StoredJob): RecordCommand {
  const c = job.command;
  const config: TaskConfig | null = c
    ? {
        timeout: Math.round((job.timeout_ms ?? 0) / 1000),
        max_retries: job.max_retries ?? 0,
        retry_interval: Math.round((job.retry_interval_ms ?? 0) / 1000),
        cmd: c.cmd,
        args: c.args,
        capture_output: c.capture_output,
        max_output_size: c.max_output_size,
      }
    : null;
  const environment = c && Object.keys(c.env).length ? c.env : null;
  return { config, environment, dependencies: job.depends_on?.length ? job.depends_on : null };
}

/** A job record as a task (docs/compat-hetuflow.md#tasks). */
export function toTask(job: StoredJob, kind: 'cron' | 'interval' | undefined) {
  const command = commandOf(job);
  return {
    id: job.job_id,
    job_id: job.definition_id ?? '',
    namespace_id: job.namespace ?? DEFAULT_NAMESPACE,
    priority: job.priority ?? 0,
    status: taskStatus(job.status),
    schedule_id: job.schedule_id ?? null,
    scheduled_at: isoZ(job.run_at ?? job.created_at)!,
    schedule_kind: job.schedule_id ? (kind ?? 'cron') : ('event' as const),
    completed_at: isoZ(job.completed_at),
    environment: command.environment,
    parameters: {},
    config: command.config,
    retry_count: Math.max((job.attempts ?? 1) - 1, 0),
    dependencies: command.dependencies,
    locked_at: isoZ(job.started_at),
    lock_version: 0,
    created_by: 0,
    created_at: isoZ(job.created_at)!,
    updated_by: null,
    updated_at: isoZ(job.completed_at ?? job.started_at),
  };
}
export type Task = ReturnType<typeof toTask>;

/** An attempt as a task instance: its output is the attempt's captured lines (stdout and stderr, in order). */
export function toInstance(job: StoredJob, a: AttemptRecord, lines: ReadonlyArray<{ attempt: number; line: string }>) {
  const own = lines.filter((l) => l.attempt === a.attempt);
  return {
    id: `${job.job_id}-${a.attempt}`,
    task_id: job.job_id,
    job_id: job.definition_id ?? '',
    agent_id: a.worker_id || null,
    status: instanceStatus(a.status),
    started_at: isoZ(a.started_at),
    completed_at: isoZ(a.finished_at),
    output: own.length ? own.map((l) => `${l.line}\n`).join('') : null,
    error_message: a.error,
    exit_code: a.exit_code,
    metrics: a.duration_ms === null ? null : { duration_ms: a.duration_ms },
    created_at: isoZ(a.started_at)!,
    updated_at: isoZ(a.finished_at ?? a.started_at),
  };
}
export type TaskInstance = ReturnType<typeof toInstance>;
