import { canonicalJson } from '../../shared/canonical';
import { resourceByName, resourceTypes, type KubeObject } from '../../shared/resources';
import { selectorMatches } from '../../shared/kinds/apps';
import { workloadSelector } from '../../shared/kinds/replication';
import type { ObjectStore } from '../../shared/store/store';
import type { ObjectChange } from '../../shared/store/changes';
import { controllerRefOf, type OwnerReference } from './common';
import { SYSTEM_NAMESPACES } from '../../shared/system-namespaces';
import { FOREGROUND, ORPHAN } from './gc';
import { volumeKeysFor } from './volumes-dispatch';
import { namespaceDefaultsKeysFor } from './serviceaccounts';
import { legacyTokenKeysFor } from './serviceaccount-tokens';
import { serviceKeysFor } from './endpoints-dispatch';
import { quotaKeysFor } from './resourcequota';
import { ingressKeysFor } from './ingress-status';
import { loadBalancerKeysFor } from './loadbalancer';
import { controllerDeclarations, isControllerName, type ControllerDeclaration, type ControllerName } from '../../shared/controllers';
import { groupResource } from '../../shared/store/keys';

/**
 * A unit of controller work: "reconcile this". Level-triggered: it names what to look at, never
 * what changed. `resource` is set for the garbage collector's per-object keys.
 */
export interface ControllerKey {
  readonly controller: Controller;
  readonly resource?: string;
  readonly namespace: string;
  /** The object's name; for gc-dependents, the uid of the owner that went away. */
  readonly name: string;
}

/** A declared controller's name (shared/controllers.ts). */
export type Controller = ControllerName;

const declarations: readonly ControllerDeclaration[] = controllerDeclarations;
/** A resource type's plural (the keys' `resource`, resourceByName's argument) by its GroupResource. */
const pluralOf = (gr: string): string => {
  const rt = resourceTypes.find((r) => groupResource(r) === gr);
  if (!rt) throw new Error(`controller declaration names ${gr}, which is not served`);
  return rt.resource;
};
/** Workloads: the controller a write of the kind it owns (by GroupResource) gives a key. */
const WORKLOADS = new Map<string, Controller>(declarations.flatMap((d) => (d.owns && isControllerName(d.name) ? [[d.owns.resource, d.name] as const] : [])));
/** Owner kinds (`apiVersion/kind`) whose controllers care about their dependents' changes, with the owner's plural. */
const OWNER_KINDS = new Map<string, { readonly controller: Controller; readonly resource: string }>(
  declarations.flatMap((d) => (d.owns && isControllerName(d.name) ? [[`${d.owns.apiVersion}/${d.owns.kind}`, { controller: d.name, resource: pluralOf(d.owns.resource) }] as const] : [])),
);
/** Who may adopt an orphan of a kind (by GroupResource; their selectors are checked), with the adopter's plural. */
const ADOPTERS = new Map<string, { readonly controller: Controller; readonly resource: string }[]>();
for (const d of declarations)
  for (const gr of d.adopts ?? [])
    if (d.owns && isControllerName(d.name)) ADOPTERS.set(gr, [...(ADOPTERS.get(gr) ?? []), { controller: d.name, resource: pluralOf(d.owns.resource) }]);

export const keyString = (k: ControllerKey) => [k.controller, k.resource ?? '', k.namespace, k.name].join('|');
export function parseKey(s: string): ControllerKey | undefined {
  const [controller, resource, namespace, name] = s.split('|');
  if (!controller || namespace === undefined || !name) return undefined;
  // A key of no declared controller (a timer set before one was removed) names no work.
  if (!isControllerName(controller)) return undefined;
  return { controller, ...(resource ? { resource } : {}), namespace, name };
}

const ownerKey = (ref: OwnerReference | undefined, namespace: string): ControllerKey | undefined => {
  const owner = ref ? OWNER_KINDS.get(`${ref.apiVersion}/${ref.kind}`) : undefined;
  return owner && ref ? { controller: owner.controller, namespace, name: ref.name } : undefined;
};

const HPA_RESOURCE = 'horizontalpodautoscalers.autoscaling';
/**
 * An HPA syncs on its 15 s timer (hpa.ts), and off the stream only when created, its spec changed
 * (generation) or its deletion began: never on its own status/state writes, which would sync it
 * again at once, over a metrics window of a second, and, while the measured usage moves, write
 * and sync again without end. Kubernetes too re-queues an updated HPA for its next period only.
 */
export const hpaChangeNeedsSync = (c: ObjectChange) =>
  c.eventName !== 'MODIFY' || c.oldObject?.metadata.generation !== c.newObject?.metadata.generation || !!c.oldObject?.metadata.deletionTimestamp !== !!c.newObject?.metadata.deletionTimestamp;
const labelsChanged = (c: ObjectChange) => canonicalJson(c.oldObject?.metadata.labels ?? {}) !== canonicalJson(c.newObject?.metadata.labels ?? {});
const nodeShape = (n: KubeObject | undefined) => canonicalJson([n?.metadata.labels, n?.spec, (n?.status as { conditions?: unknown } | undefined)?.conditions]);

/**
 * The keys one change concerns: the object's own controller, its owner's (a pod → its
 * ReplicaSet, a ReplicaSet → its Deployment, a Job → its CronJob), would-be adopters of an
 * orphan, every DaemonSet on node changes, and the garbage collector's work.
 */
export async function keysFor(c: ObjectChange, store: ObjectStore): Promise<ControllerKey[]> {
  const keys: ControllerKey[] = [];
  const rt = resourceTypes.find((r) => r.group === c.group && r.resource === c.resource);
  const obj = c.newObject ?? c.oldObject;
  if (!rt || !obj) return keys;
  const namespace = obj.metadata.namespace ?? '';
  const gr = groupResource(rt);
  const workload = WORKLOADS.get(gr);
  if (workload && !(gr === HPA_RESOURCE && !hpaChangeNeedsSync(c))) keys.push({ controller: workload, namespace, name: obj.metadata.name! });
  for (const o of [c.oldObject, c.newObject]) {
    const k = ownerKey(controllerRefOf(o), namespace);
    if (k) keys.push(k);
  }
  // An orphan (new, relabelled or released) may be adopted by a matching controller.
  const adopters = ADOPTERS.get(gr);
  if (adopters && c.newObject && !controllerRefOf(c.newObject) && !c.newObject.metadata.deletionTimestamp && (c.eventName === 'INSERT' || labelsChanged(c) || controllerRefOf(c.oldObject))) {
    for (const { controller, resource } of adopters) {
      const { items } = await store.list(c.tenant, resourceByName(resource), {
        namespace,
        versioned: false, // read to find keys, never watched from: no sequence reads
        filter: (o) => selectorMatches(workloadSelector(resource, o), c.newObject!.metadata.labels),
      });
      for (const o of items) keys.push({ controller, namespace, name: o.metadata.name! });
    }
  }
  // Persistent volumes and claims (and the pods that use claims).
  keys.push(...(await volumeKeysFor(c, store)));
  // Endpoints and EndpointSlices of Services (endpoints-dispatch.ts).
  keys.push(...(await serviceKeysFor(c, store)));
  if (c.resource === 'nodes' && (c.eventName !== 'MODIFY' || nodeShape(c.oldObject) !== nodeShape(c.newObject))) {
    const { items } = await store.list(c.tenant, resourceByName('daemonsets'), { versioned: false });
    for (const ds of items) keys.push({ controller: 'daemonsets', namespace: ds.metadata.namespace!, name: ds.metadata.name! });
  }
  // Pod GC: a removed node's pods have no kubelet left (podgc.ts).
  if (c.resource === 'nodes' && c.eventName === 'REMOVE') keys.push({ controller: 'podgc', namespace: '', name: obj.metadata.name! });
  // A system namespace removed (kube-node-lease may be) is made again (system-namespaces.ts).
  if (c.resource === 'namespaces' && c.eventName === 'REMOVE' && SYSTEM_NAMESPACES.includes(obj.metadata.name!))
    keys.push({ controller: 'system-namespaces', namespace: '', name: obj.metadata.name! });
  // A namespace's default ServiceAccount and kube-root-ca.crt (serviceaccounts.ts).
  keys.push(...namespaceDefaultsKeysFor(c));
  // Legacy service-account-token Secrets (serviceaccount-tokens.ts).
  keys.push(...legacyTokenKeysFor(c));
  // ResourceQuota status (resourcequota.ts).
  keys.push(...quotaKeysFor(c));
  // Ingress status (ingress-status.ts).
  keys.push(...(await ingressKeysFor(c, store)));
  // LoadBalancer Services' addresses (loadbalancer.ts).
  keys.push(...loadBalancerKeysFor(c));
  // Garbage collector.
  if (c.eventName === 'REMOVE' && c.resource !== 'events' && c.resource !== 'pods' && rt.namespaced)
    keys.push({ controller: 'gc-dependents', namespace, name: obj.metadata.uid! });
  const fin = c.newObject?.metadata.finalizers ?? [];
  if (c.newObject?.metadata.deletionTimestamp && (fin.includes(FOREGROUND) || fin.includes(ORPHAN)))
    keys.push({ controller: 'gc-finalize', resource: c.resource, namespace, name: obj.metadata.name! });
  if (c.eventName === 'REMOVE')
    for (const r of (obj.metadata.ownerReferences ?? []) as OwnerReference[])
      if (r.blockOwnerDeletion) {
        const owner = OWNER_KINDS.get(`${r.apiVersion}/${r.kind}`);
        if (owner) keys.push({ controller: 'gc-finalize', resource: owner.resource, namespace, name: r.name });
      }
  if (c.eventName === 'INSERT' && (obj.metadata.ownerReferences ?? []).length > 0 && c.resource !== 'events' && rt.namespaced)
    keys.push({ controller: 'gc-owners', resource: c.resource, namespace, name: obj.metadata.name! });
  return keys;
}

/** Distinct keys, first occurrence first. */
export function dedupe<T extends { key: ControllerKey }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((i) => {
    const s = keyString(i.key);
    if (seen.has(s)) return false;
    seen.add(s);
    return true;
  });
}
