import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

/** A Kubernetes object as rendered: apiVersion, kind, metadata and the rest. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

/** The kustomization fields this renderer implements; any other field is refused. */
const FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);

/** Kinds without a namespace among those a kustomization here may hold. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  patches?: Array<{ path?: string; patch?: string; target: { kind: string; name: string } }>;
}

type PatchOp = { op: 'add' | 'remove' | 'replace'; path: string; value?: unknown };

/**
 * Renders the kustomization in `dir` as `kubectl kustomize` does, for the subset of kustomize the
 * manifests in deploy/kubernetes use: `resources` (files and kustomization directories),
 * `namespace`, `images` (newName, newTag) and `patches` given as JSON 6902 operations (add,
 * remove, replace) with a kind and name target. Written here because no kustomize runs on npm's
 * side (its only implementation is Go); the unit test compares it with `kubectl kustomize` wherever
 * kubectl is installed.
 * @throws Error on a field, resource or patch it does not implement, or a patch target that
 *   matches nothing (kustomize fails on those too).
 */
export function renderKustomization(dir: string): K8sObject[] {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`no kustomization in ${dir}`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization & Record<string, unknown>;
  for (const field of Object.keys(k)) if (!FIELDS.has(field)) throw new Error(`${file}: field ${field} is not implemented by this renderer`);

  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const target = path.resolve(dir, entry);
    if (statSync(target).isDirectory()) objects.push(...renderKustomization(target));
    else objects.push(...readManifests(target));
  }
  for (const p of k.patches ?? []) {
    const text = p.path !== undefined ? readFileSync(path.resolve(dir, p.path), 'utf8') : p.patch;
    const ops = parse(text ?? '') as unknown;
    if (!Array.isArray(ops)) throw new Error(`${file}: only JSON 6902 patches (a list of operations) are implemented`);
    const matches = objects.filter((o) => o.kind === p.target.kind && o.metadata.name === p.target.name);
    if (!matches.length) throw new Error(`${file}: patch target ${p.target.kind}/${p.target.name} matches no resource`);
    for (const o of matches) for (const op of ops as PatchOp[]) applyOp(o, op);
  }
  if (k.namespace) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  for (const image of k.images ?? []) for (const o of objects) for (const c of containersOf(o)) c.image = retag(c.image, image);
  return objects;
}

/** Every document of a YAML file, each checked to be an object with apiVersion, kind and a name. */
function readManifests(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as unknown;
    })
    .filter((d) => d !== null)
    .map((d) => {
      const o = d as K8sObject;
      if (typeof o !== 'object' || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
        throw new Error(`${file}: a document without apiVersion, kind and metadata.name`);
      }
      return o;
    });
}

/** Applies one RFC 6902 operation (add, remove, replace) in place. @throws Error when its path does not resolve. */
function applyOp(target: Record<string, unknown>, op: PatchOp): void {
  const parts = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = parts.pop();
  if (last === undefined) throw new Error(`patch path "${op.path}" names the whole object`);
  let node: unknown = target;
  for (const part of parts) {
    node = (node as Record<string, unknown>)?.[part];
    if (node === undefined || node === null || typeof node !== 'object') throw new Error(`patch path "${op.path}" does not resolve`);
  }
  if (Array.isArray(node)) {
    const list = node as unknown[];
    const at = last === '-' && op.op === 'add' ? list.length : Number(last);
    if (!Number.isInteger(at) || at < 0 || at > list.length || (op.op !== 'add' && at === list.length)) throw new Error(`patch ${op.op} of "${op.path}": no such index`);
    if (op.op === 'add') list.splice(at, 0, op.value);
    else if (op.op === 'replace') list[at] = op.value;
    else if (op.op === 'remove') list.splice(at, 1);
    else throw new Error(`patch op ${(op as { op: string }).op} is not implemented`);
    return;
  }
  const parent = node as Record<string, unknown>;
  if (op.op === 'add') {
    parent[last] = op.value;
  } else if (op.op === 'replace' || op.op === 'remove') {
    if (!Object.hasOwn(parent, last)) throw new Error(`patch ${op.op} of "${op.path}": no such value`);
    if (op.op === 'replace') parent[last] = op.value;
    else delete parent[last];
  } else {
    throw new Error(`patch op ${(op as { op: string }).op} is not implemented`);
  }
}

/** The containers and init containers of a workload's pod template (or of a Pod). */
export function containersOf(o: K8sObject): Array<{ name: string; image: string } & Record<string, unknown>> {
  const spec = (o.kind === 'Pod' ? o.spec : (o.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec) as
    | { containers?: Array<{ name: string; image: string }>; initContainers?: Array<{ name: string; image: string }> }
    | undefined;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
}

/** `image` with kustomize's images transformer applied: a matching name gets newName and newTag. */
function retag(image: string, rule: { name: string; newName?: string; newTag?: string }): string {
  const at = image.indexOf('@');
  const colon = image.lastIndexOf(':');
  const slash = image.lastIndexOf('/');
  const cut = at >= 0 ? at : colon > slash ? colon : image.length;
  const name = image.slice(0, cut);
  if (name !== rule.name) return image;
  const tag = rule.newTag !== undefined ? `:${rule.newTag}` : image.slice(cut);
  return `${rule.newName ?? name}${tag}`;
}
