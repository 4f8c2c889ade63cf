/**
 * Schedules of job definitions for the hetuflow-compatible API (docs/compat-hetuflow.md#schedules):
 * each one is a native schedule (ScheduleService, a BullMQ job scheduler) whose target is the
 * definition's command and whose runs carry the definition's id and namespace, so they are its
 * tasks. The link schedule → definition (and the schedule's description) is kept by the definition
 * store. A change of the definition is applied to its schedules' targets (refreshAllOf).
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../../shared/errors/index.js';
import { DEFAULT_NAMESPACE } from '../../shared/schemas/namespace.js';
import { namespaceAllowed } from '../../shared/auth/scopes.js';
import type { StoredJobDefinition } from '../../shared/schemas/job-definition.js';
import type { JobDefinitionStore } from '../../shared/store/job-definition-store.js';
import type { ScheduleCreate, ScheduleRecord, Target } from '../schemas/schedules.js';
import type { ScheduleV1Create, ScheduleV1Update } from '../schemas/v1-scheduler.js';
import { matches, pageOf, parseListRequest, type FieldKind } from './hetuflow-query.js';
import { assertNamespace, notFound, type HetuflowService, type NamespaceLimit, type Page } from './hetuflow-service.js';
import type { SchedulePatch, ScheduleService } from './schedule-service.js';

/** What a definition's runs are, as a native schedule takes them: the target and the job options. */
export interface DefinitionRun {
  target: Target;
  options: Pick<ScheduleCreate, 'max_retries' | 'retry_backoff' | 'retry_interval_ms' | 'timeout_ms'>;
}

/** What {@link HetuflowScheduleService} needs. */
export interface HetuflowScheduleDeps {
  schedules: ScheduleService;
  definitions: JobDefinitionStore;
  hetuflow: HetuflowService;
  /** The native target and options of a definition's runs (the command job it runs). */
  runOf: (def: StoredJobDefinition) => DefinitionRun;
}

const SCHEDULE_FIELDS: Record<string, FieldKind> = {
  id: { type: 'string' },
  job_id: { type: 'string' },
  namespace_id: { type: 'string' },
  name: { type: 'string' },
  kind: { type: 'enum', codes: { cron: 1, interval: 2 } },
  enabled: { type: 'boolean' },
  status: { type: 'enum', codes: { disabled: 0, enabled: 1 } },
  created_at: { type: 'time' },
  updated_at: { type: 'time' },
};

/** A linked schedule: its definition's id and its description. */
interface Link {
  job_id: string;
  description: string | null;
}

const isoZ = (iso: string | null | undefined) => (iso ? new Date(Date.parse(iso)).toISOString() : null);

/** A native schedule as the reference's schedule. */
function toV1(s: ScheduleRecord, link: Link, namespace: string) {
  return {
    id: s.schedule_id,
    job_id: link.job_id,
    namespace_id: namespace,
    name: s.name,
    description: link.description,
    kind: s.cron !== null ? ('cron' as const) : ('interval' as const),
    cron_expression: s.cron,
    interval_secs: s.every_ms === null ? null : Math.round(s.every_ms / 1000),
    timezone: s.timezone,
    enabled: s.enabled,
    status: s.enabled ? ('enabled' as const) : ('disabled' as const),
    next_run_at: isoZ(s.next_run_at),
    created_at: isoZ(s.created_at)!,
    updated_at: isoZ(s.updated_at),
  };
}
export type ScheduleV1 = ReturnType<typeof toV1>;

const kindOf = (k: ScheduleV1Create['kind'] | undefined) => (k === 1 || k === 'cron' ? 'cron' : k === 2 || k === 'interval' ? 'interval' : undefined);

/** The reference's schedules, over the native ones. */
export class HetuflowScheduleService {
  constructor(private readonly deps: HetuflowScheduleDeps) {}

  /**
   * `POST /api/v1/schedules/item`: a cron (`cron_expression`, 5 fields or 6 with seconds first) or
   * interval (`interval_secs`) schedule of definition `job_id`.
   * @throws AppError NOT_FOUND for the definition; VALIDATION_ERROR for a timing that does not fit the kind; as ScheduleService.create.
   */
  async create(input: ScheduleV1Create, limit: NamespaceLimit, requestId: string): Promise<ScheduleV1> {
    const def = await this.deps.hetuflow.getDefinition(input.job_id, limit);
    assertNamespace(limit, def.namespace_id);
    const timing = this.timing(kindOf(input.kind), input.cron_expression ?? null, input.interval_secs ?? null);
    const run = this.deps.runOf(def);
    const name = input.name ?? `${def.name.slice(0, 180)}-${randomBytes(3).toString('hex')}`;
    const created = await this.deps.schedules.create(
      { name, ...timing, timezone: input.timezone ?? null, target: run.target, enabled: input.enabled ?? def.status === 'enabled', ...run.options, namespace: def.namespace_id, definition_id: def.id },
      requestId,
    );
    const link: Link = { job_id: def.id, description: input.description ?? null };
    await this.deps.definitions.linkSchedule(def.id, created.schedule_id, JSON.stringify(link));
    return toV1(created, link, def.namespace_id);
  }

  /** `POST /api/v1/schedules/page`: newest first. */
  async list(body: unknown, limit: NamespaceLimit): Promise<Page<ScheduleV1>> {
    const req = parseListRequest(body, SCHEDULE_FIELDS);
    const links = await this.deps.definitions.scheduleLinks();
    const all = await Promise.all(Object.keys(links).map((id) => this.read(id, links[id]!).catch(() => null)));
    const items = all
      .filter((s): s is ScheduleV1 => s !== null && namespaceAllowed(limit, s.namespace_id) && matches(s, req.filter, SCHEDULE_FIELDS))
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    return pageOf(items, req);
  }

  /** `GET /api/v1/schedules/item/{id}`. @throws AppError NOT_FOUND. */
  async get(id: string, limit: NamespaceLimit): Promise<ScheduleV1> {
    const s = await this.mustRead(id);
    if (!namespaceAllowed(limit, s.namespace_id)) throw notFound('Schedule', id);
    return s;
  }

  /** `PUT /api/v1/schedules/item/{id}`: timing, name, description, enabled. @throws AppError NOT_FOUND, VALIDATION_ERROR. */
  async update(id: string, patch: ScheduleV1Update, limit: NamespaceLimit, requestId: string): Promise<ScheduleV1> {
    const cur = await this.get(id, limit);
    const patchNative: SchedulePatch = {};
    if (patch.name !== undefined) patchNative.name = patch.name;
    if (patch.enabled !== undefined) patchNative.enabled = patch.enabled;
    if (patch.timezone !== undefined) patchNative.timezone = patch.timezone;
    const timingGiven = patch.kind !== undefined || patch.cron_expression !== undefined || patch.interval_secs !== undefined;
    if (timingGiven) {
      const kind = kindOf(patch.kind) ?? cur.kind;
      Object.assign(patchNative, this.timing(kind, patch.cron_expression !== undefined ? patch.cron_expression : cur.cron_expression, patch.interval_secs !== undefined ? patch.interval_secs : cur.interval_secs));
    }
    if (Object.keys(patchNative).length) await this.deps.schedules.update(id, patchNative, requestId);
    if (patch.description !== undefined) await this.deps.definitions.linkSchedule(cur.job_id, id, JSON.stringify({ job_id: cur.job_id, description: patch.description } satisfies Link));
    return this.mustRead(id);
  }

  /** `POST /api/v1/schedules/item/{id}/enable|disable`. Enabling a schedule of a disabled definition is refused (409). */
  async setEnabled(id: string, enabled: boolean, limit: NamespaceLimit, requestId: string): Promise<ScheduleV1> {
    const cur = await this.get(id, limit);
    if (enabled) {
      const def = await this.deps.hetuflow.getDefinition(cur.job_id, undefined);
      if (def.status !== 'enabled') throw new AppError('CONFLICT', `job '${def.id}' is disabled: enable it first`, { detail: 'POST /api/v1/jobs/item/{id}/enable', job_id: def.id });
    }
    await this.deps.schedules.setEnabled(id, enabled, requestId);
    return this.mustRead(id);
  }

  /** `DELETE /api/v1/schedules/item/{id}`. @throws AppError NOT_FOUND. */
  async remove(id: string, limit: NamespaceLimit): Promise<void> {
    const cur = await this.get(id, limit);
    await this.deps.schedules.remove(id).catch((err: unknown) => {
      if (!(err instanceof AppError && err.code === 'SCHEDULE_NOT_FOUND')) throw err;
    });
    await this.deps.definitions.unlinkSchedule(cur.job_id, id);
  }

  /** Removes every schedule of definition `jobId` (before the definition is deleted). */
  async removeAllOf(jobId: string): Promise<void> {
    for (const id of await this.deps.definitions.schedulesOf(jobId)) {
      await this.deps.schedules.remove(id).catch((err: unknown) => {
        if (!(err instanceof AppError && err.code === 'SCHEDULE_NOT_FOUND')) throw err;
      });
      await this.deps.definitions.unlinkSchedule(jobId, id);
    }
  }

  /** Disables every schedule of definition `jobId` (the definition was disabled). */
  async disableAllOf(jobId: string): Promise<void> {
    for (const id of await this.deps.definitions.schedulesOf(jobId)) await this.deps.schedules.setEnabled(id, false, '').catch(ignoreGone);
  }

  /** Applies definition `jobId`'s current command, options and namespace to its schedules' targets. */
  async refreshAllOf(jobId: string): Promise<void> {
    const def = await this.deps.hetuflow.getDefinition(jobId, undefined);
    const run = this.deps.runOf(def);
    for (const id of await this.deps.definitions.schedulesOf(jobId)) {
      await this.deps.schedules.update(id, { target: run.target, ...run.options, namespace: def.namespace_id }, '').catch(ignoreGone);
    }
  }

  /** The kind's timing as the native schedule takes it. @throws AppError VALIDATION_ERROR. */
  private timing(kind: 'cron' | 'interval' | undefined, cron: string | null, intervalSecs: number | null): { cron: string | null; every_ms: number | null } {
    if (kind === 'cron') {
      if (!cron) throw new AppError('VALIDATION_ERROR', 'cron_expression is required for kind cron', { field: 'cron_expression' });
      return { cron, every_ms: null };
    }
    if (kind === 'interval') {
      if (!intervalSecs) throw new AppError('VALIDATION_ERROR', 'interval_secs is required for kind interval', { field: 'interval_secs' });
      return { cron: null, every_ms: intervalSecs * 1000 };
    }
    throw new AppError('VALIDATION_ERROR', 'kind must be cron (1) or interval (2)', { field: 'kind' });
  }

  private async mustRead(id: string): Promise<ScheduleV1> {
    const links = await this.deps.definitions.scheduleLinks();
    if (!links[id]) throw notFound('Schedule', id);
    return this.read(id, links[id]);
  }

  private async read(id: string, rawLink: string): Promise<ScheduleV1> {
    const link = JSON.parse(rawLink) as Link;
    const native = await this.deps.schedules.get(id).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'SCHEDULE_NOT_FOUND') throw notFound('Schedule', id);
      throw err;
    });
    const namespace = native.namespace ?? DEFAULT_NAMESPACE;
    return toV1(native, link, namespace);
  }
}

function ignoreGone(err: unknown): void {
  if (!(err instanceof AppError && err.code === 'SCHEDULE_NOT_FOUND')) throw err;
}

