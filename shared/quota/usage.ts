import type { KubeObject, ResourceType } from '../resources';
import type { ResourceQuota, ScopedResourceSelectorRequirement } from '../schemas/quota';
import { addAmounts, amount, amountsOf, count, type Amount, type Amounts } from './quantity';

/*
 * What an object costs a ResourceQuota (Kubernetes' quota evaluators, pkg/quota/v1/evaluator/core):
 * pure functions of the object, the quota and the clock, shared by the ResourceQuota admission
 * plugin (shared/registry/plugins/resource-quota.ts) and the quota controller's recomputation
 * (shared/quota/recompute.ts).
 *  - every kind: `count/<resource>.<group>` (`count/pods` for the core group), one per stored object;
 *  - pods: `pods` and compute resources (cpu, memory, ephemeral-storage, requests.*, limits.*),
 *    only while the pod is not terminal (Succeeded/Failed) nor past its deletion grace; scopes;
 *  - services: `services`, `services.nodeports`, `services.loadbalancers`;
 *  - persistentvolumeclaims: `persistentvolumeclaims`, `requests.storage`, and per StorageClass
 *    `<class>.storageclass.storage.k8s.io/requests.storage` and `.../persistentvolumeclaims`;
 *  - configmaps, secrets, replicationcontrollers, resourcequotas: their legacy object-count name.
 */

/** Kubernetes' object-count resource name of a kind: count/pods, count/deployments.apps. */
export const countName = (rt: Pick<ResourceType, 'group' | 'resource'>) => (rt.group ? `count/${rt.resource}.${rt.group}` : `count/${rt.resource}`);

const LEGACY_COUNTS = new Set(['configmaps', 'secrets', 'replicationcontrollers', 'resourcequotas', 'services', 'persistentvolumeclaims']);
const POD_COMPUTE = ['cpu', 'memory', 'ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage', 'limits.cpu', 'limits.memory', 'limits.ephemeral-storage'];
const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/';

const isCorePods = (rt: Pick<ResourceType, 'group' | 'resource'>) => rt.group === '' && rt.resource === 'pods';

/** The quota resources (of `hard`) that objects of this kind are counted against. */
export function matchingResources(rt: Pick<ResourceType, 'group' | 'resource'>, hard: readonly string[]): string[] {
  return hard.filter((r) => {
    if (r === countName(rt)) return true;
    if (rt.group !== '') return false;
    if (LEGACY_COUNTS.has(rt.resource) && r === rt.resource) return true;
    if (rt.resource === 'pods') return r === 'pods' || POD_COMPUTE.includes(r) || r.startsWith('requests.hugepages-') || r.startsWith('hugepages-');
    if (rt.resource === 'services') return r === 'services.nodeports' || r === 'services.loadbalancers';
    if (rt.resource === 'persistentvolumeclaims') return r === 'requests.storage' || r.includes(STORAGE_CLASS_SUFFIX);
    return false;
  });
}

interface ContainerLike {
  name?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodLike {
  spec?: {
    containers?: ContainerLike[];
    initContainers?: (ContainerLike & { restartPolicy?: string })[];
    activeDeadlineSeconds?: number;
    priorityClassName?: string;
    overhead?: Record<string, string>;
  };
  status?: { phase?: string };
  metadata: KubeObject['metadata'];
}

/** max(a, b) key by key. */
function maxAmounts(a: Amounts, b: Amounts): Amounts {
  const out: Amounts = { ...a };
  for (const [k, v] of Object.entries(b)) if (!out[k] || out[k].milli < v.milli) out[k] = v;
  return out;
}

/**
 * The pod's effective requests or limits (resourcehelper.PodRequests/PodLimits): the sum over
 * app containers and restartable init containers (sidecars), or the largest init container's if
 * larger, plus spec.overhead.
 */
export function podResources(pod: PodLike, which: 'requests' | 'limits'): Amounts {
  let sum: Amounts = {};
  for (const c of pod.spec?.containers ?? []) sum = addAmounts(sum, amountsOf(c.resources?.[which]));
  let initMax: Amounts = {};
  let sidecars: Amounts = {};
  for (const c of pod.spec?.initContainers ?? []) {
    const own = amountsOf(c.resources?.[which]);
    if (c.restartPolicy === 'Always') {
      sum = addAmounts(sum, own);
      sidecars = addAmounts(sidecars, own);
    } else initMax = maxAmounts(initMax, addAmounts(own, sidecars));
  }
  return addAmounts(maxAmounts(sum, initMax), amountsOf(pod.spec?.overhead));
}

/**
 * Whether a pod still counts towards compute quota (QuotaV1Pod): not Succeeded or Failed, and not
 * marked for deletion with its grace period over.
 */
export function podCounts(pod: PodLike, now: number): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const ts = pod.metadata.deletionTimestamp;
  const grace = pod.metadata.deletionGracePeriodSeconds;
  if (ts && grace !== undefined && grace !== null && now > Date.parse(ts) + grace * 1000) return false;
  return true;
}

/** A pod's usage: count/pods always; pods and compute resources while it counts. */
export function podUsage(pod: PodLike, now: number): Amounts {
  const out: Amounts = { 'count/pods': count(1) };
  if (!podCounts(pod, now)) return out;
  out.pods = count(1);
  const requests = podResources(pod, 'requests');
  const limits = podResources(pod, 'limits');
  for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
    if (requests[r]) {
      out[r] = requests[r];
      out[`requests.${r}`] = requests[r];
    }
    if (limits[r]) out[`limits.${r}`] = limits[r];
  }
  for (const [r, v] of Object.entries(requests)) if (r.startsWith('hugepages-')) [out[r], out[`requests.${r}`]] = [v, v];
  return out;
}

function serviceUsage(svc: KubeObject): Amounts {
  const spec = (svc.spec ?? {}) as { type?: string; ports?: { nodePort?: number }[]; allocateLoadBalancerNodePorts?: boolean };
  const out: Amounts = { services: count(1), 'count/services': count(1) };
  const ports = (spec.ports ?? []).length;
  if (spec.type === 'NodePort') out['services.nodeports'] = count(ports);
  if (spec.type === 'LoadBalancer') {
    out['services.loadbalancers'] = count(1);
    // Without allocated node ports, only those asked for explicitly count (Kubernetes' evaluator).
    out['services.nodeports'] = count(spec.allocateLoadBalancerNodePorts === false ? (spec.ports ?? []).filter((p) => p.nodePort).length : ports);
  }
  return out;
}

function claimUsage(pvc: KubeObject): Amounts {
  const spec = (pvc.spec ?? {}) as { storageClassName?: string | null; resources?: { requests?: Record<string, string> } };
  const out: Amounts = { persistentvolumeclaims: count(1), 'count/persistentvolumeclaims': count(1) };
  const storage = spec.resources?.requests?.storage !== undefined ? amount(spec.resources.requests.storage) : undefined;
  if (storage) out['requests.storage'] = storage;
  const cls = spec.storageClassName;
  if (cls) {
    out[`${cls}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`] = count(1);
    if (storage) out[`${cls}${STORAGE_CLASS_SUFFIX}requests.storage`] = storage;
  }
  return out;
}

/** Everything one object of a kind costs (before masking to a quota's resources). */
export function usageOf(rt: Pick<ResourceType, 'group' | 'resource'>, obj: KubeObject, now: number): Amounts {
  if (rt.group === '') {
    if (rt.resource === 'pods') return podUsage(obj as PodLike, now);
    if (rt.resource === 'services') return serviceUsage(obj);
    if (rt.resource === 'persistentvolumeclaims') return claimUsage(obj);
    if (LEGACY_COUNTS.has(rt.resource)) return { [rt.resource]: count(1), [countName(rt)]: count(1) };
  }
  return { [countName(rt)]: count(1) };
}

/**
 * Kinds whose updates are charged (the Kubernetes evaluators whose Handles admits UPDATE: services,
 * for a type change; persistentvolumeclaims, for a resize). Pods' resources are immutable here
 * (no resize subresource) and object counts change only on create.
 */
export const updateCharged = (rt: Pick<ResourceType, 'group' | 'resource'>) => rt.group === '' && (rt.resource === 'services' || rt.resource === 'persistentvolumeclaims');

/**
 * What an update adds: per resource, the new usage less the old where that is positive
 * (quota.SubtractWithNonNegativeResult, then RemoveZeros); decreases are the controller's to release.
 */
export function positiveDelta(next: Amounts, prev: Amounts): Amounts {
  const out: Amounts = {};
  for (const [k, v] of Object.entries(next)) {
    const d = v.milli - (prev[k]?.milli ?? 0);
    if (d > 0) out[k] = { milli: d, binary: v.binary };
  }
  return out;
}

/** Only the named resources of a list (quota.Mask). */
export function mask(list: Amounts, names: readonly string[]): Amounts {
  const out: Amounts = {};
  for (const n of names) if (list[n]) out[n] = list[n];
  return out;
}

/** A pod's QoS is BestEffort when no container (init ones included) requests or limits cpu or memory. */
export function isBestEffort(pod: PodLike): boolean {
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return all.every((c) => ['requests', 'limits'].every((w) => !Object.keys(c.resources?.[w as 'requests'] ?? {}).some((r) => r === 'cpu' || r === 'memory')));
}

/** One scope selector requirement against a pod (podMatchesScopeFunc). */
export function podMatchesScope(pod: PodLike, s: ScopedResourceSelectorRequirement): boolean {
  const terminating = pod.spec?.activeDeadlineSeconds !== undefined && pod.spec.activeDeadlineSeconds >= 0;
  switch (s.scopeName) {
    case 'Terminating':
      return terminating;
    case 'NotTerminating':
      return !terminating;
    case 'BestEffort':
      return isBestEffort(pod);
    case 'NotBestEffort':
      return !isBestEffort(pod);
    case 'PriorityClass': {
      const pc = pod.spec?.priorityClassName ?? '';
      if (s.operator === 'Exists') return pc !== '';
      if (s.operator === 'DoesNotExist') return pc === '';
      if (s.operator === 'In') return pc !== '' && (s.values ?? []).includes(pc);
      if (s.operator === 'NotIn') return pc === '' || !(s.values ?? []).includes(pc);
      return false;
    }
    default:
      return false;
  }
}

/** A quota's scopes, from spec.scopes and spec.scopeSelector alike (as Exists requirements for the former). */
export function quotaScopes(q: ResourceQuota): ScopedResourceSelectorRequirement[] {
  return [...(q.spec.scopes ?? []).map((scopeName) => ({ scopeName, operator: 'Exists' })), ...(q.spec.scopeSelector?.matchExpressions ?? [])];
}

/** Resources a BestEffort-scoped quota may track (Kubernetes: only the pod count). */
const BEST_EFFORT_RESOURCES = new Set(['pods', 'count/pods']);

/**
 * The quota resources this object is counted against under this quota (empty: it does not
 * concern the quota). Scopes only ever match pods; a scoped quota counts nothing else.
 */
export function chargedResources(q: ResourceQuota, rt: Pick<ResourceType, 'group' | 'resource'>, obj: KubeObject): string[] {
  const names = matchingResources(rt, Object.keys(q.spec.hard ?? {}));
  if (names.length === 0) return [];
  const scopes = quotaScopes(q);
  if (scopes.length === 0) return names;
  if (!isCorePods(rt)) return [];
  if (!scopes.every((s) => podMatchesScope(obj as PodLike, s))) return [];
  return scopes.some((s) => s.scopeName === 'BestEffort') ? names.filter((n) => BEST_EFFORT_RESOURCES.has(n)) : names;
}

/** What `obj` adds to the quota's usage: its usage masked to the resources the quota charges it for. */
export function chargeOf(q: ResourceQuota, rt: Pick<ResourceType, 'group' | 'resource'>, obj: KubeObject, now: number): Amounts {
  const names = chargedResources(q, rt, obj);
  if (names.length === 0) return {};
  // A resource the quota tracks and the object lacks is left out, as Kubernetes' evaluators do
  // (the pods evaluator's Constraints decide whether lacking it is allowed).
  return mask(usageOf(rt, obj, now), names);
}

/**
 * The resources a pod must specify for each container when the quota tracks them (the pods
 * evaluator's Constraints): cpu/memory requests and limits. Returns the message, or undefined.
 */
export function podConstraintsProblem(pod: PodLike, required: readonly string[]): string | undefined {
  const validation = ['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];
  const needed = required.filter((r) => validation.includes(r));
  if (needed.length === 0) return undefined;
  const missing = new Map<string, Set<string>>();
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    const has = new Set<string>();
    for (const r of ['cpu', 'memory']) {
      if (req[r] !== undefined) has.add(r).add(`requests.${r}`);
      if (lim[r] !== undefined) has.add(`limits.${r}`);
    }
    for (const r of needed) if (!has.has(r)) missing.set(r, (missing.get(r) ?? new Set()).add(c.name ?? ''));
  }
  if (missing.size === 0) return undefined;
  return `must specify ${[...missing.keys()]
    .sort()
    .map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`)
    .join('; ')}`;
}

export type { Amount, Amounts };
