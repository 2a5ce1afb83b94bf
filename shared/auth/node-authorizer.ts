/**
 * The node authorizer (Kubernetes' plugin/pkg/auth/authorizer/node, with AuthorizeNodeWithSelectors
 * on, as in 1.32): what a node agent (user `system:node:NAME`, group `system:nodes`) may do,
 * decided per request from the cluster's objects. Kubernetes keeps a graph of pods and what they
 * reference in the apiserver's memory; an api function has no such memory, so the relationships
 * are read from the store at request time (NodeGraph below; cost in docs/cost.md "Node
 * authorizer").
 *
 * - Pods: get of a pod bound to the node (or of a pod that does not exist, answered 404: the agent
 *   learns a pod is gone that way); list/watch with `fieldSelector=spec.nodeName=NAME`. A list
 *   without that selector is the cluster's pod addresses (the agent's service proxy, DNS and
 *   NetworkPolicy need them): allowed, and answered with each pod reduced to its address fields
 *   (podAddressView); a watch without it is forbidden. create/delete, status update/patch and
 *   eviction are allowed here and scoped by NodeRestriction (authorizer.ts, node-restriction.ts).
 * - Secrets, ConfigMaps: get (or list/watch with `metadata.name=X`) of one that a pod bound to the
 *   node references (volumes, projected sources, env, envFrom, imagePullSecrets), and Secrets
 *   named in spec.tls of an Ingress of the built-in class (the agent is its Ingress controller).
 * - PersistentVolumeClaims: get of one a pod bound to the node mounts; PersistentVolumes: get of
 *   one such a claim is bound to, of one provisioned on the node (nodeAffinity to its hostname),
 *   or of one that does not exist (404: the agent then removes its Docker volume).
 * - serviceaccounts/token: create for a ServiceAccount a pod bound to the node runs as
 *   (token-request.ts then requires the token be bound to that pod).
 * - Leases: get/create/update/patch/delete in kube-node-lease, of the node's own name.
 * - Nodes: read all (kube-proxy's system:node-proxier reads them; the agent routes to every node's
 *   podCIDR); create/update/patch its own and its status (NodeRestriction checks the name).
 * - Read-only (get/list/watch): Services, Endpoints, EndpointSlices, Ingresses, IngressClasses,
 *   NetworkPolicies, Namespaces (kube-proxy's, CoreDNS's, an ingress controller's and a CNI's reads).
 * - Events: create/patch/update (core and events.k8s.io).
 * Anything else: no opinion (RBAC decides; no role is bound to system:nodes by default).
 */
import type { KubeObject } from '../resources';
import { resourceByName } from '../resources';
import type { ObjectStore } from '../store/store';
import { STRATUS_INGRESS_CONTROLLER } from '../ingress/default-class';
import { parseFields } from '../label-selector';
import type { AuthzAttributes, Decision } from './rbac';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** What the node authorizer reads of the cluster (store-backed in the api; a table in unit tests). */
export interface NodeGraph {
  /** The spec.nodeName of pod namespace/name: '' when unbound, undefined when there is no such pod. */
  podNode(namespace: string, name: string): Promise<string | undefined>;
  /** Whether a pod bound to `node` references the object. */
  related(node: string, ref: ObjectRef): Promise<boolean>;
  /** Whether an Ingress of the built-in class in `namespace` names Secret `name` in spec.tls. */
  ingressTlsSecret(namespace: string, name: string): Promise<boolean>;
  /** The nodes PersistentVolume `name` is pinned to (volumeNodes); undefined when there is no such PV. */
  volumeNodes(name: string): Promise<string[] | undefined>;
}

export type ObjectRef =
  | { readonly kind: 'secret' | 'configmap' | 'pvc' | 'serviceaccount'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'pv'; readonly name: string };

const READ = ['get', 'list', 'watch'];
/** group/resource → verbs, for what is not subdivided per object (the node authorizer's static rules). */
const STATIC_RULES: Readonly<Record<string, readonly string[]>> = {
  '/services': READ,
  '/endpoints': READ,
  'discovery.k8s.io/endpointslices': READ,
  'networking.k8s.io/ingresses': READ,
  'networking.k8s.io/ingressclasses': READ,
  'networking.k8s.io/networkpolicies': READ,
  '/namespaces': READ,
  '/events': ['create', 'patch', 'update'],
  'events.k8s.io/events': ['create', 'patch', 'update'],
};

const allow: Decision = { allowed: true, reason: '' };
const deny = (reason: string): Decision => ({ allowed: false, reason });
const noRelationship = (node: string) => deny(`no relationship found between node '${node}' and this object`);

/** The value of `field=V` (or `==`) in a field selector, when it has one; undefined if absent or unparsable. */
export function fieldSelectorValue(selector: string | undefined, field: string): string | undefined {
  if (!selector) return undefined;
  try {
    return parseFields(selector).find((t) => t.field === field && t.op === '=')?.value;
  } catch {
    return undefined;
  }
}

/** True when a pods list/watch is scoped to `node` by its field selector. */
export const scopedToNode = (a: Pick<AuthzAttributes, 'fieldSelector'>, node: string): boolean => fieldSelectorValue(a.fieldSelector, 'spec.nodeName') === node;

/**
 * The node authorizer's decision for node `node`; undefined is "no opinion" (RBAC decides, and
 * the denial reason is RBAC's).
 */
export async function nodeAuthorize(graph: NodeGraph, node: string, a: AuthzAttributes): Promise<Decision | undefined> {
  if (!a.resourceRequest) return undefined;
  const gr = `${a.apiGroup ?? ''}/${a.resource ?? ''}`;
  const sub = a.subresource ?? '';
  switch (gr) {
    case '/secrets':
    case '/configmaps':
      return readNamespaced(graph, node, gr === '/secrets' ? 'secret' : 'configmap', a);
    case '/persistentvolumeclaims':
    case '/persistentvolumes': {
      if (a.verb !== 'get') return deny('can only get individual resources of this type');
      if (sub) return deny('cannot get subresource');
      if (!a.name) return deny('No Object name found');
      if (gr === '/persistentvolumes') {
        // A volume provisioned on this node (pinned to it by nodeAffinity), or one that is gone
        // (its 404 tells the agent to remove the node's copy of a Delete-policy volume).
        const pinned = await graph.volumeNodes(a.name);
        if (pinned === undefined || pinned.includes(node)) return allow;
      }
      const ref: ObjectRef = gr === '/persistentvolumes' ? { kind: 'pv', name: a.name } : { kind: 'pvc', namespace: a.namespace ?? '', name: a.name };
      return (await graph.related(node, ref)) ? allow : noRelationship(node);
    }
    case '/serviceaccounts':
      if (!sub) return undefined;
      if (a.verb !== 'create' || !a.name) return deny('can only create tokens for individual service accounts');
      if (sub !== 'token') return deny('can only create token subresource of serviceaccount');
      return (await graph.related(node, { kind: 'serviceaccount', namespace: a.namespace ?? '', name: a.name })) ? allow : noRelationship(node);
    case 'coordination.k8s.io/leases':
      if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return deny('can only get, create, update, patch, or delete a node lease');
      if (a.namespace !== NODE_LEASE_NAMESPACE) return deny(`can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`);
      // A create's name is in its body: NodeRestriction checks it (node-restriction.ts).
      if (a.verb !== 'create' && a.name !== node) return deny('can only access node lease with the same name as the requesting node');
      return allow;
    case '/nodes':
      if (sub === '' && ['get', 'list', 'watch', 'create', 'update', 'patch'].includes(a.verb)) return allow;
      if (sub === 'status' && ['update', 'patch'].includes(a.verb)) return allow;
      return undefined;
    case '/pods':
      return authorizePod(graph, node, a);
  }
  const verbs = sub ? undefined : STATIC_RULES[gr];
  return verbs?.includes(a.verb) ? allow : undefined;
}

async function authorizePod(graph: NodeGraph, node: string, a: AuthzAttributes): Promise<Decision | undefined> {
  switch (a.subresource ?? '') {
    case '':
      switch (a.verb) {
        case 'get': {
          if (!a.name) return deny('No Object name found');
          const bound = await graph.podNode(a.namespace ?? '', a.name);
          // A pod that does not exist: its 404 tells the agent a pod it ran is gone (names are
          // in the address view already, so nothing is disclosed).
          return bound === undefined || bound === node ? allow : noRelationship(node);
        }
        case 'list':
          // Scoped to the node; otherwise the address view (podAddressView), whatever the selector.
          return allow;
        case 'watch':
          if (scopedToNode(a, node)) return allow;
          return deny('can only list/watch pods with spec.nodeName field selector');
        case 'create':
        case 'delete':
          return allow; // NodeRestriction: no pod creates; deletes of its own pods only
      }
      return undefined;
    case 'status':
      return ['update', 'patch'].includes(a.verb) ? allow : undefined; // NodeRestriction: its own pods
    case 'eviction':
      return a.verb === 'create' ? allow : undefined; // NodeRestriction: its own pods
  }
  return undefined;
}

async function readNamespaced(graph: NodeGraph, node: string, kind: 'secret' | 'configmap', a: AuthzAttributes): Promise<Decision> {
  if (!READ.includes(a.verb)) return deny('can only read resources of this type');
  if (a.subresource) return deny('cannot read subresource');
  if (!a.namespace) return deny('can only read namespaced object of this type');
  // A list/watch of one object (`metadata.name=X`, as the kubelet watches a Secret it mounts).
  const name = a.verb === 'get' ? a.name : (a.name ?? fieldSelectorValue(a.fieldSelector, 'metadata.name'));
  if (!name) return deny('can only get individual resources of this type');
  if (await graph.related(node, { kind, namespace: a.namespace, name })) return allow;
  if (kind === 'secret' && (await graph.ingressTlsSecret(a.namespace, name))) return allow;
  return noRelationship(node);
}

// --- what a pod references (podutil.VisitPodSecretNames / VisitPodConfigmapNames) ------------

/** The Secrets, ConfigMaps, PVCs and ServiceAccount a pod uses. */
export interface PodReferences {
  readonly secrets: Set<string>;
  readonly configMaps: Set<string>;
  readonly claims: Set<string>;
  readonly serviceAccount: string;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The names a pod references, as the node authorizer's graph records its edges. */
export function podReferences(pod: KubeObject): PodReferences {
  const spec = obj(pod.spec);
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  const claims = new Set<string>();
  const add = (set: Set<string>, v: unknown) => {
    const s = str(v);
    if (s) set.add(s);
  };
  for (const r of arr(spec.imagePullSecrets)) add(secrets, obj(r).name);
  for (const c of [...arr(spec.initContainers), ...arr(spec.containers), ...arr(spec.ephemeralContainers)]) {
    for (const from of arr(obj(c).envFrom)) {
      add(secrets, obj(obj(from).secretRef).name);
      add(configMaps, obj(obj(from).configMapRef).name);
    }
    for (const e of arr(obj(c).env)) {
      const vf = obj(obj(e).valueFrom);
      add(secrets, obj(vf.secretKeyRef).name);
      add(configMaps, obj(vf.configMapKeyRef).name);
    }
  }
  for (const v of arr(spec.volumes)) {
    const vol = obj(v);
    add(secrets, obj(vol.secret).secretName);
    add(configMaps, obj(vol.configMap).name);
    add(claims, obj(vol.persistentVolumeClaim).claimName);
    // A generic ephemeral volume's claim is named POD-VOLUME.
    if (vol.ephemeral && str(vol.name) && pod.metadata.name) claims.add(`${pod.metadata.name}-${String(vol.name)}`);
    for (const s of arr(obj(vol.projected).sources)) {
      add(secrets, obj(obj(s).secret).name);
      add(configMaps, obj(obj(s).configMap).name);
    }
    // Volume plugins that take a Secret by name (Kubernetes visits these too).
    add(secrets, obj(vol.azureFile).secretName);
    for (const plugin of ['cephfs', 'cinder', 'flexVolume', 'iscsi', 'rbd', 'scaleIO', 'storageos']) add(secrets, obj(obj(vol[plugin]).secretRef).name);
    add(secrets, obj(obj(vol.csi).nodePublishSecretRef).name);
  }
  return { secrets, configMaps, claims, serviceAccount: str(spec.serviceAccountName) ?? str(spec.serviceAccount) ?? 'default' };
}

/** Whether `pod` references `ref` (PersistentVolumes are resolved through claims by the graph). */
export function podUses(pod: KubeObject, ref: Exclude<ObjectRef, { kind: 'pv' }>): boolean {
  if (pod.metadata.namespace !== ref.namespace) return false;
  const r = podReferences(pod);
  switch (ref.kind) {
    case 'secret':
      return r.secrets.has(ref.name);
    case 'configmap':
      return r.configMaps.has(ref.name);
    case 'pvc':
      return r.claims.has(ref.name);
    case 'serviceaccount':
      return r.serviceAccount === ref.name;
  }
}

/**
 * The nodes a PersistentVolume's required nodeAffinity pins it to by `kubernetes.io/hostname`
 * (as the volume controller provisions a node's Docker volume: functions/controllers/volumes.ts):
 * only when every term names hostnames, so a volume reachable from other nodes is pinned to none.
 */
export function volumeNodes(pv: KubeObject): string[] {
  const terms = arr(obj(obj(obj(obj(pv.spec).nodeAffinity).required)).nodeSelectorTerms);
  const out: string[] = [];
  for (const t of terms) {
    const exprs = arr(obj(t).matchExpressions);
    const host = exprs.find((e) => obj(e).key === 'kubernetes.io/hostname' && obj(e).operator === 'In');
    if (!host) return [];
    for (const v of arr(obj(host).values)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

// --- the address view of a cluster-wide pod list ----------------------------------------------

const pick = (o: Json, keys: readonly string[]): Json => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

/**
 * A pod as a node sees it in a list not scoped to itself: who it is, where it runs and its
 * addresses and named ports (what cluster DNS, the service proxy and NetworkPolicy need), never
 * its containers' images, commands, env, volumes or annotations.
 */
export function podAddressView(pod: KubeObject): KubeObject {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: pick(pod.metadata as Json, ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'labels']) as KubeObject['metadata'],
    spec: {
      ...pick(spec, ['nodeName', 'hostname', 'subdomain', 'hostNetwork']),
      containers: arr(spec.containers).map((c) => pick(obj(c), ['name', 'ports'])),
    },
    status: pick(status, ['phase', 'podIP', 'podIPs', 'hostIP', 'hostIPs']),
  } as KubeObject;
}

// --- the store-backed graph -------------------------------------------------------------------

/** How long a node's pods, as read from the byNode index, may answer a grant (never a denial). */
export const NODE_PODS_TTL_MS = 1000;
const MAX_CACHED_NODES = 1000;
const nodePodsCache = new Map<string, { at: number; pods: Promise<KubeObject[]> }>();

/**
 * The relationships, read from the store: the node's pods from the byNode index (cached for
 * NODE_PODS_TTL_MS per tenant and node, so an agent starting a pod reads them once for its
 * Secrets, ConfigMaps and token); a miss reads the index again, then (the index is eventually
 * consistent: a pod bound a moment ago may not be in it yet) the namespace's pods with a
 * consistent read. So a grant may be up to a second stale; a denial never is.
 */
export class StoreNodeGraph implements NodeGraph {
  constructor(
    private readonly store: ObjectStore,
    private readonly tenant: string,
    private readonly now: () => number = Date.now,
  ) {}

  async podNode(namespace: string, name: string): Promise<string | undefined> {
    const pod = await this.store.get(this.tenant, resourceByName('pods'), namespace, name);
    return pod ? (str(obj(pod.spec).nodeName) ?? '') : undefined;
  }

  async related(node: string, ref: ObjectRef): Promise<boolean> {
    const cached = await this.nodePods(node, false);
    if (await this.relatedIn(cached.pods, ref)) return true;
    const fresh = cached.fresh ? cached : await this.nodePods(node, true);
    if (fresh !== cached && (await this.relatedIn(fresh.pods, ref))) return true;
    if (ref.kind === 'pv') return false;
    const rt = resourceByName('pods');
    const { items } = await this.store.list(this.tenant, rt, { namespace: ref.namespace, versioned: false, filter: (p) => str(obj(p.spec).nodeName) === node });
    return items.some((p) => podUses(p, ref));
  }

  async ingressTlsSecret(namespace: string, name: string): Promise<boolean> {
    const { items } = await this.store.list(this.tenant, resourceByName('ingresses'), { namespace, versioned: false });
    const classes = new Set<string>();
    for (const i of items) {
      const tls = arr(obj(i.spec).tls).some((t) => obj(t).secretName === name);
      const cls = str(obj(i.spec).ingressClassName) ?? str(i.metadata.annotations?.['kubernetes.io/ingress.class']);
      if (tls && cls) classes.add(cls);
    }
    for (const cls of classes) {
      const ic = await this.store.get(this.tenant, resourceByName('ingressclasses'), undefined, cls);
      if (ic && obj(ic.spec).controller === STRATUS_INGRESS_CONTROLLER) return true;
    }
    return false;
  }

  async volumeNodes(name: string): Promise<string[] | undefined> {
    const pv = await this.store.get(this.tenant, resourceByName('persistentvolumes'), undefined, name);
    return pv ? volumeNodes(pv) : undefined;
  }

  private async relatedIn(pods: readonly KubeObject[], ref: ObjectRef): Promise<boolean> {
    if (ref.kind !== 'pv') return pods.some((p) => podUses(p, ref));
    // node <- pod <- pvc <- pv: the claims the node's pods mount, bound to this volume.
    const claims = new Map<string, string>();
    for (const p of pods) for (const c of podReferences(p).claims) claims.set(`${p.metadata.namespace}/${c}`, c);
    for (const [key, claim] of claims) {
      const pvc = await this.store.get(this.tenant, resourceByName('persistentvolumeclaims'), key.slice(0, key.indexOf('/')), claim);
      if (pvc && obj(pvc.spec).volumeName === ref.name) return true;
    }
    return false;
  }

  private async nodePods(node: string, refresh: boolean): Promise<{ pods: KubeObject[]; fresh: boolean }> {
    const key = `${this.tenant}\u0000${node}`;
    const hit = nodePodsCache.get(key);
    if (!refresh && hit && this.now() - hit.at < NODE_PODS_TTL_MS) return { pods: await hit.pods, fresh: false };
    const pods = this.store.listPodsOnNode(this.tenant, resourceByName('pods'), node);
    if (nodePodsCache.size >= MAX_CACHED_NODES) nodePodsCache.clear();
    nodePodsCache.set(key, { at: this.now(), pods });
    pods.catch(() => nodePodsCache.delete(key));
    return { pods: await pods, fresh: true };
  }
}
