import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { findExecutable } from '../../shared/functions/executables.js';
import { addProcessMetrics, createMetrics, createScrapeGauges } from '../../shared/metrics.js';

/**
 * The Grafana dashboard (deploy/grafana/fnqueue.json) and the Prometheus alert rules
 * (deploy/prometheus/alerts.yaml) against the metrics the code registers: every expression parses
 * (the Prometheus project's own PromQL grammar, @prometheus-io/lezer-promql; and `promtool check
 * rules` where promtool is installed), and names only metrics, labels and label values fnqueue
 * exports (docs/operations.md#dashboards-and-alerts).
 */

const file = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const dashboard = JSON.parse(readFileSync(file('deploy/grafana/fnqueue.json'), 'utf8')) as Dashboard;
const rules = parse(readFileSync(file('deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string }>;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: string }> };
}
interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

/** Name → label names of every metric an fnqueue process serves, from the code's own registries. */
function exportedMetrics(): Map<string, Set<string>> {
  const process = new Registry();
  addProcessMetrics(process);
  const out = new Map<string, Set<string>>();
  for (const registry of [createMetrics(new Registry()).registry, createScrapeGauges().registry, process]) {
    for (const metric of registry.getMetricsAsArray()) {
      // prom-client's type is its string ('histogram'), though its typings say an enum.
      const type = String(metric.type);
      const labels = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
      if (type === 'histogram') {
        out.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
        for (const suffix of ['_sum', '_count']) out.set(metric.name + suffix, new Set(labels));
      } else if (type === 'summary') {
        out.set(metric.name, new Set([...labels, 'quantile']));
        for (const suffix of ['_sum', '_count']) out.set(metric.name + suffix, new Set(labels));
      } else {
        out.set(metric.name, new Set(labels));
      }
    }
  }
  // The queue depth an API adds from BullMQ's Queue.exportPrometheusMetrics (api/server.ts).
  out.set('bullmq_job_count', new Set(['queue', 'state']));
  // Prometheus's own per-target series.
  out.set('up', new Set());
  return out;
}

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** The fixed values of fnqueue's labels (shared/metrics.ts; bullmq_job_count: docs/operations.md#metrics). */
const LABEL_VALUES: Record<string, Record<string, string[]>> = {
  http_requests_total: { status: ['success', 'error'] },
  jobs_completed_total: { status: ['completed', 'failed', 'cancelled'] },
  algorithm_executions_total: { status: ['success', 'error'] },
  function_invocations_total: { status: ['success', 'error', 'cancelled'] },
  webhook_deliveries_total: { status: ['success', 'retry', 'failed'] },
  fnqueue_workers: { status: ['online', 'offline'], state: ['running', 'draining', 'stopped'] },
  bullmq_job_count: { state: ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'] },
};

/** Grafana's variables, as a query would send them. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$api_job', 'fnqueue-api').replaceAll('$worker_job', 'fnqueue-worker');
}

interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** Parses `expr` with the PromQL grammar; throws on a syntax error; returns its selectors and grouping labels. */
function analyse(expr: string): { selectors: Selector[]; grouping: string[] } {
  const tree = parser.parse(expr);
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const text = (from: number, to: number) => expr.slice(from, to);
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from}: ${JSON.stringify(expr.slice(Math.max(0, cursor.from - 20), cursor.from + 20))} in ${expr}`);
    if (cursor.name === 'VectorSelector') {
      const node = cursor.node;
      const id = node.getChild('Identifier');
      const selector: Selector = { metric: id ? text(id.from, id.to) : '', matchers: [] };
      for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = m.getChild('LabelName')!;
        const op = m.getChild('MatchOp')!;
        const value = m.getChild('StringLiteral')!;
        selector.matchers.push({ label: text(label.from, label.to), op: text(op.from, op.to), value: JSON.parse(text(value.from, value.to)) as string });
      }
      selectors.push(selector);
    }
    if (cursor.name === 'GroupingLabels') {
      for (const l of cursor.node.getChildren('LabelName')) grouping.push(text(l.from, l.to));
    }
  } while (cursor.next());
  return { selectors, grouping };
}

/** Checks `expr` names exported metrics with their labels and known values; returns the metric names. */
function checkExpr(expr: string, metrics: Map<string, Set<string>>, where: string): string[] {
  const { selectors, grouping } = analyse(substitute(expr));
  expect(selectors.length, `${where}: selects no series`).to.be.above(0);
  const allLabels = new Set(TARGET_LABELS);
  for (const s of selectors) {
    expect(metrics.has(s.metric), `${where}: ${s.metric || '(no name)'} is not a metric fnqueue exports`).to.equal(true);
    const labels = metrics.get(s.metric)!;
    for (const l of labels) allLabels.add(l);
    for (const m of s.matchers) {
      expect(labels.has(m.label) || TARGET_LABELS.includes(m.label), `${where}: ${s.metric} has no label ${m.label}`).to.equal(true);
      const known = LABEL_VALUES[s.metric]?.[m.label];
      if (!known) continue;
      // Exact values and plain alternations (a|b) must be values the code sets.
      const values = m.op === '=' || m.op === '!=' ? [m.value] : /^[a-z|-]+$/.test(m.value) ? m.value.split('|') : [];
      for (const v of values) expect(known, `${where}: ${s.metric}{${m.label}} is never ${JSON.stringify(v)}`).to.include(v);
    }
  }
  for (const g of grouping) expect(allLabels.has(g), `${where}: groups by ${g}, a label none of its metrics has`).to.equal(true);
  return selectors.map((s) => s.metric);
}

describe('dashboards and alerts (deploy/)', () => {
  let metrics: Map<string, Set<string>>;
  before(() => {
    metrics = exportedMetrics();
  });

  describe('the Grafana dashboard', () => {
    const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, ...t })));

    it('is a dashboard Grafana imports: uid, title, schema version, unique panel ids, panels on the 24-column grid without overlaps', () => {
      expect(dashboard).to.include({ uid: 'fnqueue', title: 'fnqueue' });
      expect(dashboard.schemaVersion).to.be.a('number').and.at.least(36);
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size).to.equal(ids.length);
      const cells = new Set<string>();
      for (const p of dashboard.panels) {
        const { x, y, w, h } = p.gridPos;
        expect(x + w, p.title).to.be.at.most(24);
        for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps another panel`).to.equal(false);
          cells.add(`${i},${j}`);
        }
        if (p.type !== 'row') {
          expect(p.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
          expect(p.targets, p.title).to.be.an('array').that.is.not.empty;
        }
      }
      expect(dashboard.templating.list.map((v) => v.name)).to.have.members(['datasource', 'api_job', 'worker_job']);
    });

    it('queries only metrics, labels and label values fnqueue exports, in valid PromQL', () => {
      for (const t of targets) checkExpr(t.expr, metrics, `panel "${t.panel.title}" ${t.refId}`);
    });

    it('shows every metric of the API and of the scrape-time gauges, and the workers\' resources', () => {
      const shown = new Set(targets.flatMap((t) => checkExpr(t.expr, metrics, t.panel.title)));
      const own = [...createMetrics(new Registry()).registry.getMetricsAsArray(), ...createScrapeGauges().registry.getMetricsAsArray()].map((m) => m.name);
      // A histogram is shown through its _bucket series.
      for (const name of [...own, 'bullmq_job_count']) expect(shown.has(name) || shown.has(`${name}_bucket`), name).to.equal(true);
      for (const name of ['fnqueue_process_cpu_seconds_total', 'fnqueue_process_resident_memory_bytes', 'fnqueue_nodejs_eventloop_lag_p99_seconds']) expect(shown, name).to.include(name);
      expect(targets.some((t) => t.expr.includes('$worker_job')), 'worker targets').to.equal(true);
    });
  });

  describe('the Prometheus alert rules', () => {
    const all = rules.groups.flatMap((g) => g.rules);

    it('alert on a growing queue, workers offline, webhook failures and Redis unavailable', () => {
      expect(all.map((r) => r.alert)).to.include.members(['FnqueueQueueGrowing', 'FnqueueNoWorkersOnline', 'FnqueueWorkersLost', 'FnqueueWebhookFailures', 'FnqueueRedisUnavailable']);
      const byName = new Map(all.map((r) => [r.alert, r]));
      expect(byName.get('FnqueueRedisUnavailable')!.expr).to.include('fnqueue_redis_up');
      expect(byName.get('FnqueueQueueGrowing')!.expr).to.include('bullmq_job_count');
      expect(byName.get('FnqueueWebhookFailures')!.expr).to.include('webhook_deliveries_total');
      expect(byName.get('FnqueueWorkersLost')!.expr).to.include('fnqueue_workers');
    });

    it('give every rule a unique name, a duration, a severity, a summary and a description', () => {
      expect(new Set(all.map((r) => r.alert)).size).to.equal(all.length);
      for (const r of all) {
        expect(r.alert, JSON.stringify(r)).to.match(/^Fnqueue[A-Za-z]+$/);
        expect(r.for, r.alert).to.match(/^\d+[smh]$/);
        expect(r.labels.severity, r.alert).to.be.oneOf(['warning', 'critical']);
        expect(r.annotations.summary, r.alert).to.be.a('string').that.is.not.empty;
        expect(r.annotations.description, r.alert).to.be.a('string').that.is.not.empty;
      }
    });

    it('query only metrics, labels and label values fnqueue exports, in valid PromQL (and pass promtool where it is installed)', () => {
      for (const r of all) checkExpr(r.expr, metrics, r.alert);
      const promtool = findExecutable('promtool');
      if (promtool) execFileSync(promtool, ['check', 'rules', file('deploy/prometheus/alerts.yaml')], { stdio: 'pipe' });
    });

    it('the checker itself refuses a syntax error, an unknown metric, an unknown label and a value the code never sets', () => {
      expect(() => checkExpr('sum(rate(http_requests_total[5m])', metrics, 't')).to.throw(/syntax error/);
      expect(() => checkExpr('rate(http_request_total[5m])', metrics, 't')).to.throw(/not a metric fnqueue exports/);
      expect(() => checkExpr('webhook_deliveries_total{outcome="failed"}', metrics, 't')).to.throw(/has no label outcome/);
      expect(() => checkExpr('webhook_deliveries_total{status="gave_up"}', metrics, 't')).to.throw(/is never "gave_up"/);
      expect(() => checkExpr('sum by (pool) (fnqueue_workers)', metrics, 't')).to.throw(/groups by pool/);
    });
  });
});
