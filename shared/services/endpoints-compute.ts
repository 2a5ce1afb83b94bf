import { canonicalJson } from '../canonical';
import type { KubeObject } from '../resources';
import type { EndpointAddress, EndpointPort, EndpointSubset, ServicePort, ServiceSpec, SliceEndpoint, SlicePort } from '../schemas/service';

/*
 * What the Endpoints and EndpointSlice controllers want, as pure functions of a Service and its
 * pods (Kubernetes' pkg/controller/endpoint, endpointslice and endpointslicemirroring):
 *  - a pod is an endpoint when it has an IP and is not finished; a terminating one only in
 *    EndpointSlices (and in Endpoints with publishNotReadyAddresses);
 *  - ready is the pod's Ready condition (publishNotReadyAddresses: always); in slices, serving is
 *    the Ready condition, terminating the deletionTimestamp, ready = serving and not terminating;
 *  - a named targetPort is resolved per pod from its containers' ports (a pod without it serves
 *    the Service's other ports only);
 *  - Endpoints hold at most 1,000 addresses (ready first), then carry over-capacity: truncated;
 *  - slices hold at most 100 endpoints, one set of slices per distinct port list.
 */

export const MAX_ENDPOINTS_ADDRESSES = 1000;
export const MAX_SLICE_ENDPOINTS = 100;
export const OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MIRROR_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
const HEADLESS_LABEL = 'service.kubernetes.io/headless';

interface PodLike {
  metadata: KubeObject['metadata'];
  spec?: { nodeName?: string; hostname?: string; subdomain?: string; containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[] };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

const asPod = (o: KubeObject) => o as unknown as PodLike;
const specOf = (svc: KubeObject) => (svc.spec ?? {}) as ServiceSpec;
export const podReady = (p: KubeObject) => !!asPod(p).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const terminal = (p: KubeObject) => ['Succeeded', 'Failed'].includes(asPod(p).status?.phase ?? '');

/** Whether `labels` match a Service's map selector (an empty or missing selector selects nothing). */
export function selects(svc: KubeObject, labels: Record<string, string> | undefined): boolean {
  const selector = specOf(svc).selector ?? {};
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/** The port a Service port targets on this pod: a number, or the pod's container port of that name and protocol. */
export function resolveTargetPort(sp: ServicePort, pod: KubeObject): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === 'number') return target;
  for (const c of asPod(pod).spec?.containers ?? [])
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
  return undefined;
}

/** ShouldPodBeInEndpoints: an IP, not finished, not terminating unless asked for. */
function included(pod: KubeObject, includeTerminating: boolean): boolean {
  if (!asPod(pod).status?.podIP || terminal(pod)) return false;
  return includeTerminating || !pod.metadata.deletionTimestamp;
}

const targetRef = (pod: KubeObject) => ({ kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid });

function hostnameFor(svc: KubeObject, pod: KubeObject): string | undefined {
  const s = asPod(pod).spec;
  return s?.hostname && s.subdomain === svc.metadata.name ? s.hostname : undefined;
}

/** The ports one pod serves for the Service, in the Service's order. */
function podPorts(svc: KubeObject, pod: KubeObject): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of specOf(svc).ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    out.push({ ...(sp.name ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
  }
  return out;
}

const byIp = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
const byPortName = (a: EndpointPort, b: EndpointPort) => ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : a.port - b.port);

/** The Endpoints object the endpoints controller wants for `svc` (a Service with a selector). */
export function desiredEndpoints(svc: KubeObject, pods: readonly KubeObject[]): KubeObject {
  const spec = specOf(svc);
  const publish = spec.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    if (pod.metadata.namespace !== svc.metadata.namespace || !selects(svc, pod.metadata.labels) || !included(pod, publish)) continue;
    const p = asPod(pod);
    const hostname = hostnameFor(svc, pod);
    const address: EndpointAddress = { ip: p.status!.podIP!, ...(hostname ? { hostname } : {}), ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}), targetRef: targetRef(pod) };
    const ports = podPorts(svc, pod).sort(byPortName);
    // A pod that serves none of several ports is left out; a headless Service without ports keeps its addresses.
    if (ports.length === 0 && (spec.ports ?? []).length > 0) continue;
    const key = canonicalJson(ports);
    const group = groups.get(key) ?? { ports, ready: [], notReady: [] };
    (publish || podReady(pod) ? group.ready : group.notReady).push(address);
    groups.set(key, group);
  }
  let budget = MAX_ENDPOINTS_ADDRESSES;
  let truncated = false;
  const subsets: EndpointSubset[] = [];
  const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, g]) => g);
  // Ready addresses first, over every subset, then not-ready ones, within the cap.
  const kept = ordered.map((g) => ({ ports: g.ports, ready: [] as EndpointAddress[], notReady: [] as EndpointAddress[] }));
  for (const kind of ['ready', 'notReady'] as const)
    ordered.forEach((g, i) => {
      const list = [...g[kind]].sort(byIp);
      const take = list.slice(0, Math.max(0, budget));
      if (take.length < list.length) truncated = true;
      budget -= take.length;
      kept[i]![kind] = take;
    });
  for (const g of kept) {
    if (g.ready.length === 0 && g.notReady.length === 0) continue;
    subsets.push({ ...(g.ready.length ? { addresses: g.ready } : {}), ...(g.notReady.length ? { notReadyAddresses: g.notReady } : {}), ...(g.ports.length ? { ports: g.ports } : {}) });
  }
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (spec.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: svc.metadata.name,
      namespace: svc.metadata.namespace,
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(truncated ? { annotations: { [OVER_CAPACITY]: 'truncated' } } : {}),
    },
    ...(subsets.length ? { subsets } : {}),
  };
}

/** One desired slice: its ports and endpoints (name and metadata are the reconcile's). */
export interface SliceContent {
  readonly ports: SlicePort[];
  readonly endpoints: SliceEndpoint[];
}

const byAddress = (a: SliceEndpoint, b: SliceEndpoint) => (a.addresses[0]! < b.addresses[0]! ? -1 : a.addresses[0]! > b.addresses[0]! ? 1 : 0);

/** Splits endpoints by port list into slices of at most MAX_SLICE_ENDPOINTS, in a stable order. */
function pack(groups: Map<string, { ports: SlicePort[]; endpoints: SliceEndpoint[] }>, max = MAX_SLICE_ENDPOINTS): SliceContent[] {
  const out: SliceContent[] = [];
  for (const [, g] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sorted = [...g.endpoints].sort(byAddress);
    for (let i = 0; i < sorted.length; i += max) out.push({ ports: g.ports, endpoints: sorted.slice(i, i + max) });
    if (sorted.length === 0) out.push({ ports: g.ports, endpoints: [] });
  }
  return out;
}

/** The slices the EndpointSlice controller wants for `svc` (a Service with a selector). */
export function desiredSlices(svc: KubeObject, pods: readonly KubeObject[]): SliceContent[] {
  const spec = specOf(svc);
  const publish = spec.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: SlicePort[]; endpoints: SliceEndpoint[] }>();
  for (const pod of pods) {
    if (pod.metadata.namespace !== svc.metadata.namespace || !selects(svc, pod.metadata.labels) || !included(pod, true)) continue;
    const p = asPod(pod);
    const ports: SlicePort[] = podPorts(svc, pod).sort(byPortName);
    if (ports.length === 0 && (spec.ports ?? []).length > 0) continue;
    const terminating = !!pod.metadata.deletionTimestamp;
    const serving = publish || podReady(pod);
    const hostname = hostnameFor(svc, pod);
    const endpoint: SliceEndpoint = {
      addresses: [p.status!.podIP!],
      conditions: { ready: serving && !terminating, serving, terminating },
      ...(hostname ? { hostname } : {}),
      targetRef: targetRef(pod),
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    };
    const key = canonicalJson(ports);
    const group = groups.get(key) ?? { ports, endpoints: [] };
    group.endpoints.push(endpoint);
    groups.set(key, group);
  }
  // A Service that selects nothing keeps one empty placeholder slice, as Kubernetes does.
  if (groups.size === 0) return [{ ports: [], endpoints: [] }];
  return pack(groups);
}

/** The slices the mirroring controller wants for user-written Endpoints of a selector-less Service. */
export function mirroredSlices(endpoints: KubeObject): SliceContent[] {
  const groups = new Map<string, { ports: SlicePort[]; endpoints: SliceEndpoint[] }>();
  for (const ss of (endpoints.subsets ?? []) as EndpointSubset[]) {
    const ports: SlicePort[] = (ss.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    const key = canonicalJson(ports);
    const group = groups.get(key) ?? { ports, endpoints: [] };
    const add = (a: EndpointAddress, ready: boolean) =>
      group.endpoints.push({ addresses: [a.ip], conditions: { ready }, ...(a.hostname ? { hostname: a.hostname } : {}), ...(a.targetRef ? { targetRef: a.targetRef } : {}), ...(a.nodeName ? { nodeName: a.nodeName } : {}) });
    for (const a of ss.addresses ?? []) add(a, true);
    for (const a of ss.notReadyAddresses ?? []) add(a, false);
    groups.set(key, group);
  }
  // Kubernetes mirrors at most 1,000 addresses per subset; only IPv4 here.
  for (const g of groups.values()) g.endpoints = g.endpoints.slice(0, MAX_ENDPOINTS_ADDRESSES);
  return pack(groups);
}

/** Whether an Endpoints object should be mirrored: not skip-mirror labelled, its Service selector-less. */
export function shouldMirror(endpoints: KubeObject | undefined, svc: KubeObject | undefined): boolean {
  if (!endpoints || !svc) return false;
  if (endpoints.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true') return false;
  return Object.keys(specOf(svc).selector ?? {}).length === 0;
}

/**
 * Pairs wanted slices with existing ones of the same ports (fewest writes): returns the slices
 * to create, to update (existing with new content) and to delete.
 */
export function planSlices(
  wanted: readonly SliceContent[],
  existing: readonly KubeObject[],
): { create: SliceContent[]; update: { slice: KubeObject; content: SliceContent }[]; delete: KubeObject[] } {
  const pool = new Map<string, KubeObject[]>();
  for (const s of [...existing].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))) {
    const key = canonicalJson(s.ports ?? []);
    pool.set(key, [...(pool.get(key) ?? []), s]);
  }
  const create: SliceContent[] = [];
  const update: { slice: KubeObject; content: SliceContent }[] = [];
  for (const w of wanted) {
    const list = pool.get(canonicalJson(w.ports));
    const slice = list?.shift();
    if (!slice) create.push(w);
    else if (canonicalJson(slice.endpoints ?? []) !== canonicalJson(w.endpoints)) update.push({ slice, content: w });
  }
  return { create, update, delete: [...pool.values()].flat() };
}
