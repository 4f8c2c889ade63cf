import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { HEALTH_ROUTES } from '../../api/routes/health.js';
import { ConfigSchema, loadConfig } from '../../shared/config.js';
import { jobsQueueName } from '../../shared/queue/names.js';
import { WORKER_PROBE_PATHS } from '../../worker/main.js';
import { containersOf, renderKustomization, type K8sObject } from '../helpers/kustomize.js';

/**
 * deploy/kubernetes, checked offline: each kustomization is rendered (and compared with
 * `kubectl kustomize` where kubectl is installed), every object is validated against the
 * Kubernetes JSON schemas (kubernetes-models; KEDA's ScaledObject by @kubernetes-models/keda) and
 * type-checked against the same packages' API types (which catches misspelt fields, which the
 * schemas allow), then cross-checked against the code: probe paths and ports, variable names,
 * the shutdown arithmetic, selectors and the autoscaler's query. Each check is shown to fail on a
 * broken copy of the manifests.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KUSTOMIZATIONS = ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/example'];

/** The model of each kind the manifests use: its schema validator and its API type (module, interface). */
const MODELS: Record<string, { validate: (o: K8sObject) => void; module: string; type: string }> = {
  'v1/ConfigMap': { validate: (o) => new ConfigMap(o as never).validate(), module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Secret': { validate: (o) => new Secret(o as never).validate(), module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'v1/Service': { validate: (o) => new Service(o as never).validate(), module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1/Namespace': { validate: (o) => new Namespace(o as never).validate(), module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'apps/v1/Deployment': { validate: (o) => new Deployment(o as never).validate(), module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { validate: (o) => new PodDisruptionBudget(o as never).validate(), module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    validate: (o) => new HorizontalPodAutoscaler(o as never).validate(),
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    type: 'IHorizontalPodAutoscaler',
  },
  'keda.sh/v1alpha1/ScaledObject': { validate: (o) => new ScaledObject(o as never).validate(), module: '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', type: 'IScaledObject' },
};

/** The BullMQ job states (bullmq_job_count's `state` label). */
const BULLMQ_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'];

const key = (o: K8sObject) => `${o.apiVersion}/${o.kind}`;
const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

/** Problems of the objects against the Kubernetes JSON schemas (and kinds with no model). */
function schemaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const model = MODELS[key(o)];
    if (!model) {
      problems.push(`${id(o)}: no model for ${key(o)}`);
      continue;
    }
    try {
      model.validate(structuredClone(o));
    } catch (err) {
      problems.push(`${id(o)}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * Problems of the objects against the API types of the same packages, by the TypeScript compiler:
 * each object as an object literal of its kind's interface, so a field the API does not have
 * (excess property) or a value of the wrong type is an error. Nothing is written to disk.
 */
function typeProblems(objects: K8sObject[]): string[] {
  const file = path.join(ROOT, 'test/unit/kubernetes-manifests.check.ts');
  const lines: string[] = [];
  const owners: Array<string | undefined> = [];
  objects.forEach((o, i) => {
    const model = MODELS[key(o)];
    if (!model) return;
    const imported = `import type { ${model.type} as T${i} } from '${model.module}';`;
    const literal = `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`.split('\n');
    lines.push(imported, ...literal);
    owners.push(id(o), ...literal.map(() => id(o)));
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    return `${owners[line] ?? d.file?.fileName ?? '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

type Container = ReturnType<typeof containersOf>[number] & {
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  command?: string[];
};
type Probe = { httpGet?: { path: string; port: number | string }; periodSeconds?: number; failureThreshold?: number };
type PodSpec = { terminationGracePeriodSeconds?: number };

const deployments = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment');
const templateLabels = (o: K8sObject) => ((o.spec as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels ?? {}) as Record<string, string>;
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The role of a Deployment: which entry point of the compiled image its container runs (dist/api/main.js or dist/worker/main.js). */
function role(o: K8sObject): 'api' | 'worker' | undefined {
  const command = ((containersOf(o)[0] as Container | undefined)?.command ?? []).join(' ');
  return command.includes('dist/api/main.js') ? 'api' : command.includes('dist/worker/main.js') ? 'worker' : undefined;
}

/** The environment a container gets: its ConfigMaps' and Secrets' keys (envFrom), then its own env (a pod name for a fieldRef). */
function environmentOf(objects: K8sObject[], c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const source = objects.find((o) => o.kind === kind && o.metadata.name === ref?.name);
    Object.assign(env, (source?.data ?? {}) as Record<string, string>, (source?.stringData ?? {}) as Record<string, string>);
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? 'fnqueue-worker-5d9c7b6f4-x2k8q' : '');
  return env;
}

/** Problems of the objects against the code and each other. */
function crossProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const known = new Set(Object.keys(ConfigSchema.shape));
  const nameOk = (name: string) => known.has(name);
  for (const o of objects.filter((x) => x.kind === 'ConfigMap' || x.kind === 'Secret')) {
    for (const name of Object.keys({ ...((o.data as object) ?? {}), ...((o.stringData as object) ?? {}) })) if (!nameOk(name)) problems.push(`${id(o)}: ${name} is not a variable of shared/config.ts`);
  }
  const apiPaths = new Set(HEALTH_ROUTES.map((r) => r.path));
  const roles = new Set<string>();
  for (const d of deployments(objects)) {
    const r = role(d);
    if (!r) {
      problems.push(`${id(d)}: runs neither dist/api/main.js nor dist/worker/main.js`);
      continue;
    }
    roles.add(r);
    const selector = (d.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels;
    if (!selects(selector, templateLabels(d))) problems.push(`${id(d)}: its selector does not match its pod template's labels`);
    const c = containersOf(d)[0] as Container;
    for (const e of c.env ?? []) if (!nameOk(e.name)) problems.push(`${id(d)}: env ${e.name} is not a variable of shared/config.ts`);
    for (const from of c.envFrom ?? []) {
      const [kind, ref] = from.configMapRef ? ['ConfigMap', from.configMapRef.name] : ['Secret', from.secretRef?.name];
      if (!objects.some((o) => o.kind === kind && o.metadata.name === ref)) problems.push(`${id(d)}: envFrom names ${kind} ${ref}, which is not in the manifests`);
    }
    const env = environmentOf(objects, c);
    let config;
    try {
      config = loadConfig(env);
    } catch (err) {
      problems.push(`${id(d)}: its environment is refused: ${(err as Error).message}`);
      continue;
    }
    const port = r === 'api' ? config.PORT : config.WORKER_PORT;
    const paths = r === 'api' ? apiPaths : new Set<string>(Object.values(WORKER_PROBE_PATHS));
    const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' } as const;
    for (const [probeName, expected] of Object.entries(probes)) {
      const probe = c[probeName] as Probe | undefined;
      if (!probe?.httpGet) {
        problems.push(`${id(d)}: no ${probeName}`);
        continue;
      }
      if (probe.httpGet.path !== expected || !paths.has(probe.httpGet.path)) problems.push(`${id(d)}: ${probeName} probes ${probe.httpGet.path}, not the ${r}'s ${expected}`);
      const target = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : c.ports?.find((p) => p.name === probe.httpGet!.port)?.containerPort;
      if (target !== port) problems.push(`${id(d)}: ${probeName} port ${probe.httpGet.port} is not the ${r}'s port ${port}`);
    }
    // SIGTERM: the API serves SHUTDOWN_DELAY_MS while not ready, drains SHUTDOWN_GRACE_MS, then has 5 s to exit; a worker has no delay.
    const needMs = (r === 'api' ? config.SHUTDOWN_DELAY_MS : 0) + config.SHUTDOWN_GRACE_MS + 5000;
    const givenMs = (podSpec(d).terminationGracePeriodSeconds ?? 30) * 1000;
    if (givenMs < needMs) problems.push(`${id(d)}: terminationGracePeriodSeconds ${givenMs / 1000} is below ${needMs / 1000} (delay + grace + 5 s)`);
    if (r === 'api') {
      const readiness = c.readinessProbe as Probe;
      const outAfterMs = (readiness.periodSeconds ?? 10) * (readiness.failureThreshold ?? 3) * 1000;
      if (outAfterMs > config.SHUTDOWN_DELAY_MS) problems.push(`${id(d)}: readiness needs ${outAfterMs} ms of failed checks, longer than SHUTDOWN_DELAY_MS ${config.SHUTDOWN_DELAY_MS}`);
    }
    if (r === 'worker' && c.env?.find((e) => e.name === 'WORKER_ID')?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') problems.push(`${id(d)}: WORKER_ID is not the pod name`);
  }
  for (const r of ['api', 'worker']) if (!roles.has(r)) problems.push(`no ${r} Deployment`);
  const byTemplate = (selector: Record<string, string> | undefined) => deployments(objects).filter((d) => selects(selector, templateLabels(d)));
  for (const o of objects) {
    if (o.kind === 'Service' && byTemplate((o.spec as { selector?: Record<string, string> }).selector).length !== 1) problems.push(`${id(o)}: its selector matches ${byTemplate((o.spec as { selector?: Record<string, string> }).selector).length} Deployments`);
    if (o.kind === 'PodDisruptionBudget' && byTemplate((o.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels).length !== 1) problems.push(`${id(o)}: its selector does not match exactly one Deployment`);
    if (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') {
      const ref = (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
      if (!deployments(objects).some((d) => d.metadata.name === ref)) problems.push(`${id(o)}: scales ${ref}, which is not a Deployment here`);
    }
  }
  const scaled = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject').map((o) => (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name);
  if (new Set(scaled).size !== scaled.length) problems.push('two autoscalers scale the same Deployment');
  for (const so of objects.filter((o) => o.kind === 'ScaledObject')) {
    const triggers = (so.spec as { triggers?: Array<{ type: string; metadata: { query?: string; threshold?: string } }> }).triggers ?? [];
    const prom = triggers.find((t) => t.type === 'prometheus');
    const query = prom?.metadata.query ?? '';
    if (!/^max\(/.test(query)) problems.push(`${id(so)}: the query does not take the max over the API replicas (each serves the deployment's totals)`);
    const m = /bullmq_job_count\{([^}]*)\}/.exec(query);
    if (!m) problems.push(`${id(so)}: the query does not read bullmq_job_count`);
    const labels = Object.fromEntries([...(m?.[1] ?? '').matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)].map((x) => [x[1], x[3]]));
    if (labels.queue !== jobsQueueName()) problems.push(`${id(so)}: queue="${labels.queue}" is not the default pool's queue ${jobsQueueName()}`);
    const states = (labels.state ?? '').split('|');
    for (const s of states) if (!BULLMQ_STATES.includes(s)) problems.push(`${id(so)}: state ${s} is not a BullMQ state`);
    for (const s of ['waiting', 'prioritized']) if (!states.includes(s)) problems.push(`${id(so)}: the query does not count ${s} jobs`);
    if (!(Number(prom?.metadata.threshold) > 0)) problems.push(`${id(so)}: threshold must be a positive number`);
  }
  return problems;
}

/** All problems of a set of objects. */
const problemsOf = (objects: K8sObject[]) => [...schemaProblems(objects), ...crossProblems(objects), ...typeProblems(objects)];

const hasKubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('deploy/kubernetes (rendered and checked offline)', function () {
  this.timeout(60_000);
  const rendered = new Map(KUSTOMIZATIONS.map((k) => [k, renderKustomization(path.join(ROOT, k))]));
  const overlay = () => structuredClone(rendered.get('deploy/kubernetes/overlays/example')!);
  const find = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

  it('renders the base and the example overlay (namespace, image and the Redis Cluster patch applied), as kubectl kustomize does where it is installed', () => {
    const base = rendered.get('deploy/kubernetes/base')!;
    expect(base.map(id).sort()).to.deep.equal(
      ['ConfigMap/fnqueue-config', 'Deployment/fnqueue-api', 'Deployment/fnqueue-worker', 'HorizontalPodAutoscaler/fnqueue-api', 'PodDisruptionBudget/fnqueue-api', 'PodDisruptionBudget/fnqueue-worker', 'ScaledObject/fnqueue-worker', 'Secret/fnqueue-secrets', 'Service/fnqueue-api'].sort(),
    );
    const ex = overlay();
    for (const o of ex) if (o.kind !== 'Namespace') expect(o.metadata.namespace, id(o)).to.equal('fnqueue');
    for (const d of deployments(ex)) expect(containersOf(d)[0]!.image).to.equal('registry.example.com/fnqueue:0.1.0');
    const data = find(ex, 'ConfigMap', 'fnqueue-config').data as Record<string, string>;
    expect(data).to.include.keys('REDIS_CLUSTER_NODES', 'QUEUE_SHARDS');
    expect(data).to.not.have.any.keys('REDIS_SENTINELS', 'REDIS_SENTINEL_NAME');
    if (hasKubectl) {
      for (const k of KUSTOMIZATIONS) {
        const out = execFileSync('kubectl', ['kustomize', path.join(ROOT, k)], { encoding: 'utf8' });
        const theirs = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
        const sort = (list: K8sObject[]) => [...list].sort((a, b) => id(a).localeCompare(id(b)));
        expect(sort(rendered.get(k)!), `${k} against kubectl kustomize`).to.deep.equal(sort(theirs));
      }
    }
  });

  for (const k of KUSTOMIZATIONS) {
    it(`${k}: every object passes the Kubernetes (and KEDA) schemas and API types, and the cross-checks`, () => {
      expect(problemsOf(rendered.get(k)!)).to.deep.equal([]);
    });
  }

  it('finds each kind of fault in a broken copy', () => {
    // Each case names the check that must find it (the type check compiles, so it runs only where needed).
    const cases: Array<[string, (objects: K8sObject[]) => void, RegExp, 'types'?]> = [
      ['a misspelt field', (o) => Object.assign(containersOf(find(o, 'Deployment', 'fnqueue-api'))[0]!, { readinesProbe: {} }), /readinesProbe/, 'types'],
      ['a string for an integer', (o) => Object.assign(find(o, 'Deployment', 'fnqueue-worker').spec as object, { replicas: '2' }), /replicas must be integer/],
      ['a string for an integer, to the types', (o) => Object.assign(find(o, 'Deployment', 'fnqueue-worker').spec as object, { replicas: '2' }), /Type 'string' is not assignable to type 'number'/, 'types'],
      ['a ScaledObject without triggers', (o) => delete (find(o, 'ScaledObject', 'fnqueue-worker').spec as Record<string, unknown>).triggers, /triggers/],
      ['a probe path the API does not serve', (o) => ((containersOf(find(o, 'Deployment', 'fnqueue-api'))[0]!.livenessProbe as Probe).httpGet!.path = '/health/live'), /livenessProbe probes \/health\/live/],
      ['a probe on the wrong port', (o) => ((containersOf(find(o, 'Deployment', 'fnqueue-worker'))[0]!.readinessProbe as Probe).httpGet!.port = 8000), /readinessProbe port 8000/],
      ['an unknown variable', (o) => ((find(o, 'ConfigMap', 'fnqueue-config').data as Record<string, string>).WORKER_CONCURENCY = '4'), /WORKER_CONCURENCY is not a variable/],
      ['a bad value', (o) => ((find(o, 'ConfigMap', 'fnqueue-config').data as Record<string, string>).SHUTDOWN_GRACE_MS = 'soon'), /environment is refused: .*SHUTDOWN_GRACE_MS/],
      ['too short a termination grace', (o) => (podSpec(find(o, 'Deployment', 'fnqueue-api')).terminationGracePeriodSeconds = 30), /terminationGracePeriodSeconds 30 is below 35/],
      ['a longer grace than the pods get', (o) => ((find(o, 'ConfigMap', 'fnqueue-config').data as Record<string, string>).SHUTDOWN_GRACE_MS = '31000'), /fnqueue-worker: terminationGracePeriodSeconds 35 is below 36/],
      ['a selector that misses its pods', (o) => ((find(o, 'Service', 'fnqueue-api').spec as { selector: Record<string, string> }).selector['app.kubernetes.io/component'] = 'web'), /Service\/fnqueue-api: its selector matches 0/],
      ['a worker id that is not the pod name', (o) => ((containersOf(find(o, 'Deployment', 'fnqueue-worker'))[0] as Container).env = (containersOf(find(o, 'Deployment', 'fnqueue-worker'))[0] as Container).env!.filter((e) => e.name !== 'WORKER_ID')), /WORKER_ID is not the pod name/],
      ['a sum over the API replicas', (o) => ((find(o, 'ScaledObject', 'fnqueue-worker').spec as { triggers: Array<{ metadata: { query: string } }> }).triggers[0]!.metadata.query = 'sum(bullmq_job_count{queue="jobs", state=~"waiting|prioritized"})'), /does not take the max/],
      ['a query that misses prioritized jobs', (o) => ((find(o, 'ScaledObject', 'fnqueue-worker').spec as { triggers: Array<{ metadata: { query: string } }> }).triggers[0]!.metadata.query = 'max(sum by (pod) (bullmq_job_count{queue="jobs", state=~"waiting|active"}))'), /does not count prioritized/],
    ];
    for (const [what, breakIt, expected, check] of cases) {
      const objects = overlay();
      breakIt(objects);
      const problems = check === 'types' ? typeProblems(objects) : [...schemaProblems(objects), ...crossProblems(objects)];
      expect(problems.some((p) => expected.test(p)), `${what}: ${JSON.stringify(problems)}`).to.equal(true);
    }
  });
});
