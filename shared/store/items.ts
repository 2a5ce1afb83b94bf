import { canonicalJson } from '../canonical';
import type { KubeObject, ResourceType } from '../resources';
import { cpuMillis, quantityValue } from '../schemas/quantity';
import { decodeStored, isSecretsPartition, itemLocation } from '../secrets/store-codec';
import { decodeObject } from './codec';
import { groupResource, nodeKey } from './keys';

/*
 * Object items: what the objects table holds per Kubernetes object, beside the object itself
 * (`o`, compressed: codec.ts): the attributes the byNode index, the scheduler's node snapshots
 * and the stream filters read, which stay plain.
 */

/** What a bound pod holds on its node; released when the pod ends or goes away. */
export interface PodAllocation {
  readonly node: string;
  readonly cpu: number;
  readonly memory: number;
}

/** A node as the scheduler sees it: object plus the allocation sums kept beside it. */
export interface NodeSnapshot {
  readonly node: KubeObject;
  readonly capacity: { cpu: number; memory: number; pods: number };
  readonly allocated: { cpu: number; memory: number; pods: number };
}

export interface ObjectItem {
  pk: string;
  sk: string;
  /** The object (codec.ts: brotli-compressed JSON). */
  o: Uint8Array | string;
  rv: number;
  uid?: string;
  nodeKey?: string;
  bound?: PodAllocation;
  capCpu?: number;
  capMem?: number;
  capPods?: number;
  allocCpu?: number;
  allocMem?: number;
  allocPods?: number;
  /**
   * On a node: its last write changed only the allocation sums (a bind, a release), not the
   * object. Stream filters keep those records from both consumers (infra/wiring.ts); the next
   * write of the node object removes it.
   */
  allocOnly?: boolean;
  /** For stream filters (streamAttributes): the resource, and whether the garbage collector may care. */
  res?: string;
  gc?: boolean;
}

/** The core group's resources the store treats specially (binding, allocation sums). */
export const isCore = (rt: Pick<ResourceType, 'group' | 'resource'>, resource: 'pods' | 'nodes') => rt.group === '' && rt.resource === resource;

/** Sum of a pod's container requests, as the scheduler counts them (init containers: max). */
export function podRequests(pod: KubeObject): { cpu: number; memory: number } {
  const spec = (pod.spec ?? {}) as {
    containers?: { resources?: { requests?: Record<string, string> } }[];
    initContainers?: { resources?: { requests?: Record<string, string> } }[];
    overhead?: Record<string, string>;
  };
  let cpu = 0;
  let memory = 0;
  for (const c of spec.containers ?? []) {
    cpu += cpuMillis(c.resources?.requests?.cpu);
    memory += quantityValue(c.resources?.requests?.memory);
  }
  for (const c of spec.initContainers ?? []) {
    cpu = Math.max(cpu, cpuMillis(c.resources?.requests?.cpu));
    memory = Math.max(memory, quantityValue(c.resources?.requests?.memory));
  }
  cpu += cpuMillis(spec.overhead?.cpu);
  memory += quantityValue(spec.overhead?.memory);
  return { cpu, memory };
}

/** What a node offers pods (allocatable, else capacity; 110 pods when unstated), as bindPod checks it. */
export function nodeCapacity(node: KubeObject): { cpu: number; memory: number; pods: number } {
  const status = (node.status ?? {}) as { allocatable?: Record<string, string>; capacity?: Record<string, string> };
  const list = status.allocatable ?? status.capacity ?? {};
  return { cpu: cpuMillis(list.cpu), memory: quantityValue(list.memory), pods: quantityValue(list.pods ?? '110') };
}

/** The object of an item or log entry (`o`: compressed JSON, or JSON from before compression; codec.ts). */
export const parseObject = (item: Record<string, unknown>): KubeObject =>
  typeof item.pk === 'string' && isSecretsPartition(item.pk)
    ? // Secrets are sealed (shared/secrets/store-codec.ts): the item's key must be where the envelope says it belongs.
      decodeStored(item.pk, item.o, typeof item.sk === 'string' ? itemLocation(item.sk) : undefined)
    : decodeObject(item.o);

export function withVersion(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}

/** Whether anything outside metadata and status changed (metadata.generation advances then). */
export function specChanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
    return canonicalJson(rest);
  };
  return strip(a) !== strip(b);
}

/**
 * Attributes the stream consumers' filter criteria look at (infra/wiring.ts, infra/stream-filter.ts),
 * since a filter cannot parse `o`: `res`, the resource as a GroupResource string (`pods`,
 * `deployments.apps`: keys.ts); `gc`, present (true) when the object has a controller owner
 * reference or is being deleted with finalizers pending — the two things that make an ordinary
 * update interesting to the controllers (the owner's controller, gc-finalize).
 */
export function streamAttributes(rt: ResourceType, obj: KubeObject): Pick<ObjectItem, 'res' | 'gc'> {
  const refs = (obj.metadata.ownerReferences ?? []) as { controller?: boolean }[];
  const gc = refs.some((r) => r.controller === true) || (!!obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length > 0);
  return { res: groupResource(rt), ...(gc ? { gc: true } : {}) };
}

/**
 * Attributes derived from the object: the byNode index for pods, capacity for nodes, and the
 * stream filters' `res` and `gc`.
 */
export function indexAttributes(tenant: string, rt: ResourceType, obj: KubeObject): Partial<ObjectItem> {
  const stream = streamAttributes(rt, obj);
  if (isCore(rt, 'pods')) {
    const nodeName = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
    return nodeName ? { ...stream, nodeKey: nodeKey(tenant, nodeName) } : stream;
  }
  if (isCore(rt, 'nodes')) {
    const cap = nodeCapacity(obj);
    return { ...stream, capCpu: cap.cpu, capMem: cap.memory, capPods: cap.pods };
  }
  return stream;
}
