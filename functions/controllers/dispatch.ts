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

export type Controller =
  | 'deployments'
  | 'replicasets'
  | 'replicationcontrollers'
  | 'daemonsets'
  | 'statefulsets'
  | 'jobs'
  | 'cronjobs'
  | 'gc-dependents'
  | 'gc-finalize'
  | 'gc-owners'
  | 'persistentvolumeclaims'
  | 'persistentvolumes'
  | 'podgc'
  | 'system-namespaces';

const WORKLOADS = new Set<string>(['deployments', 'replicasets', 'replicationcontrollers', 'daemonsets', 'statefulsets', 'jobs', 'cronjobs']);
/** Owner kinds whose controllers care about their dependents' changes. */
const OWNER_KINDS: Record<string, Controller> = {
  'apps/v1/Deployment': 'deployments',
  'apps/v1/ReplicaSet': 'replicasets',
  'v1/ReplicationController': 'replicationcontrollers',
  'apps/v1/DaemonSet': 'daemonsets',
  'apps/v1/StatefulSet': 'statefulsets',
  'batch/v1/Job': 'jobs',
  'batch/v1/CronJob': 'cronjobs',
};
/** Who may adopt an orphan of a kind (their selectors are checked). */
const ADOPTERS: Record<string, Controller[]> = { pods: ['replicasets', 'replicationcontrollers', 'statefulsets', 'daemonsets', 'jobs'], replicasets: ['deployments'] };

export const keyString = (k: ControllerKey) => [k.controller, k.resource ?? '', k.namespace, k.name].join('|');
export function parseKey(s: string): ControllerKey | undefined {
  const [controller, resource, namespace, name] = s.split('|');
  if (!controller || namespace === undefined || !name) return undefined;
  return { controller: controller as Controller, ...(resource ? { resource } : {}), namespace, name };
}

const ownerKey = (ref: OwnerReference | undefined, namespace: string): ControllerKey | undefined => {
  const controller = ref ? OWNER_KINDS[`${ref.apiVersion}/${ref.kind}`] : undefined;
  return controller && ref ? { controller, namespace, name: ref.name } : undefined;
};

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
  if (WORKLOADS.has(c.resource)) keys.push({ controller: c.resource as Controller, namespace, name: obj.metadata.name! });
  for (const o of [c.oldObject, c.newObject]) {
    const k = ownerKey(controllerRefOf(o), namespace);
    if (k) keys.push(k);
  }
  // An orphan (new, relabelled or released) may be adopted by a matching controller.
  const adopters = ADOPTERS[c.resource];
  if (adopters && c.newObject && !controllerRefOf(c.newObject) && !c.newObject.metadata.deletionTimestamp && (c.eventName === 'INSERT' || labelsChanged(c) || controllerRefOf(c.oldObject))) {
    for (const controller of adopters) {
      const { items } = await store.list(c.tenant, resourceByName(controller), {
        namespace,
        versioned: false, // read to find keys, never watched from: no sequence reads
        filter: (o) => selectorMatches(workloadSelector(controller, o), c.newObject!.metadata.labels),
      });
      for (const o of items) keys.push({ controller, namespace, name: o.metadata.name! });
    }
  }
  // Persistent volumes and claims (and the pods that use claims).
  keys.push(...(await volumeKeysFor(c, store)));
  if (c.resource === 'nodes' && (c.eventName !== 'MODIFY' || nodeShape(c.oldObject) !== nodeShape(c.newObject))) {
    const { items } = await store.list(c.tenant, resourceByName('daemonsets'), { versioned: false });
    for (const ds of items) keys.push({ controller: 'daemonsets', namespace: ds.metadata.namespace!, name: ds.metadata.name! });
  }
  // Pod GC: a removed node's pods have no kubelet left (podgc.ts).
  if (c.resource === 'nodes' && c.eventName === 'REMOVE') keys.push({ controller: 'podgc', namespace: '', name: obj.metadata.name! });
  // A system namespace removed (kube-node-lease may be) is made again (system-namespaces.ts).
  if (c.resource === 'namespaces' && c.eventName === 'REMOVE' && SYSTEM_NAMESPACES.includes(obj.metadata.name!))
    keys.push({ controller: 'system-namespaces', namespace: '', name: obj.metadata.name! });
  // Garbage collector.
  if (c.eventName === 'REMOVE' && c.resource !== 'events' && c.resource !== 'pods' && rt.namespaced)
    keys.push({ controller: 'gc-dependents', namespace, name: obj.metadata.uid! });
  const fin = c.newObject?.metadata.finalizers ?? [];
  if (c.newObject?.metadata.deletionTimestamp && (fin.includes(FOREGROUND) || fin.includes(ORPHAN)))
    keys.push({ controller: 'gc-finalize', resource: c.resource, namespace, name: obj.metadata.name! });
  if (c.eventName === 'REMOVE')
    for (const r of (obj.metadata.ownerReferences ?? []) as OwnerReference[])
      if (r.blockOwnerDeletion) {
        const owner = Object.entries(OWNER_KINDS).find(([k]) => k === `${r.apiVersion}/${r.kind}`);
        if (owner) keys.push({ controller: 'gc-finalize', resource: owner[1], namespace, name: r.name });
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
