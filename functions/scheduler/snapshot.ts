import type { KubeObject } from '../../shared/resources';
import { nodeCapacity, podRequests, type NodeSnapshot } from '../../shared/store/store';
import type { ClusterSnapshot } from './framework';
import { affinityOf } from '../../shared/scheduling/labels';

const TERMINAL = new Set(['Succeeded', 'Failed']);
export const nodeNameOf = (pod: KubeObject): string | undefined => (pod.spec as { nodeName?: string } | undefined)?.nodeName;
export const isTerminal = (pod: KubeObject): boolean => TERMINAL.has((pod.status as { phase?: string } | undefined)?.phase ?? '');
export const podKey = (pod: KubeObject): string => `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;

/**
 * A pod's summed requests, computed once per pod object (objects from the store are never
 * mutated, so the object itself is the cache key). Filters and scores ask for it per node.
 */
const requestsCache = new WeakMap<KubeObject, { cpu: number; memory: number }>();
export function requestsOf(pod: KubeObject): { readonly cpu: number; readonly memory: number } {
  let r = requestsCache.get(pod);
  if (!r) requestsCache.set(pod, (r = podRequests(pod)));
  return r;
}

const hasRequiredAntiAffinity = (pod: KubeObject): boolean => (affinityOf(pod).podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).length > 0;

interface NodeInfo {
  node: KubeObject;
  capacity: { cpu: number; memory: number; pods: number };
  allocated: { cpu: number; memory: number; pods: number };
}

/** Where a pod counts: its node and the exact object counted (so removal subtracts the same). */
interface Placement {
  readonly nodeName: string;
  readonly pod: KubeObject;
}

/**
 * The scheduler's view of one tenant, as kube-scheduler's cache keeps it: nodes with their
 * allocation sums (requests of their non-terminal pods, pods created already bound included) and
 * the pods on each, maintained INCREMENTALLY from the informer-style caches (setPod / setNode on
 * every change), so a warm scheduler never rebuilds it from all pods.
 *
 * Assume cache: `assume` records a decision before its bind lands, so later decisions see it;
 * `forget` takes it back when the bind lost its race; the bound pod arriving (setPod with a
 * nodeName) confirms it. While a pod is assumed, updates of its unbound version keep the assumed
 * placement (as kube-scheduler does), so a status write racing the bind cannot make the node look
 * emptier than it will be.
 */
export class MutableSnapshot implements ClusterSnapshot {
  private readonly byName = new Map<string, NodeInfo>();
  /** Pods per node name, including nodes that are gone (they count again if the node returns). */
  private readonly podsByNode = new Map<string, Map<string, KubeObject>>();
  /** Every pod that counts somewhere, by key. */
  private readonly placed = new Map<string, Placement>();
  /** Assumed pods (key → the pod as assumed), until confirmed or forgotten. */
  private readonly assumed = new Map<string, KubeObject>();
  /** Counted pods with required anti-affinity terms (InterPodAffinity checks only these). */
  private readonly antiAffinity = new Map<string, Placement>();
  private sorted: NodeInfo[] | undefined;

  constructor(nodes: Iterable<KubeObject> = [], pods: Iterable<KubeObject> = []) {
    for (const node of nodes) this.setNode(node);
    for (const pod of pods) this.setPod(pod);
  }

  /** Snapshots from store NodeSnapshots (whose allocation sums the store keeps) plus pods. */
  static fromNodeSnapshots(nodes: readonly NodeSnapshot[], pods: Iterable<KubeObject>): MutableSnapshot {
    return new MutableSnapshot(
      nodes.map((n) => n.node),
      pods,
    );
  }

  /** Nodes in a stable order (by name): the scheduler rotates its starting point over it. */
  get nodes(): readonly NodeSnapshot[] {
    this.sorted ??= [...this.byName.values()].sort((a, b) => (a.node.metadata.name! < b.node.metadata.name! ? -1 : 1));
    return this.sorted;
  }

  /** A node was added or changed: its allocation is recomputed from the pods counted on it. */
  setNode(node: KubeObject): void {
    const name = node.metadata.name!;
    const have = this.byName.get(name);
    if (have) {
      have.node = node;
      have.capacity = nodeCapacity(node);
      return;
    }
    const info: NodeInfo = { node, capacity: nodeCapacity(node), allocated: { cpu: 0, memory: 0, pods: 0 } };
    for (const pod of this.podsByNode.get(name)?.values() ?? []) addTo(info, pod, 1);
    this.byName.set(name, info);
    this.sorted = undefined;
  }

  removeNode(name: string): void {
    if (this.byName.delete(name)) this.sorted = undefined;
  }

  /** The latest version of a pod (from the informer or our own write); undefined pod = deleted. */
  setPod(pod: KubeObject): void {
    const key = podKey(pod);
    const assumed = this.assumed.get(key);
    if (assumed) {
      if (!nodeNameOf(pod) && !isTerminal(pod) && !pod.metadata.deletionTimestamp) return; // still ours to bind
      this.assumed.delete(key); // confirmed (bound), or gone another way
    }
    this.unplace(key);
    const n = nodeNameOf(pod);
    if (n && !isTerminal(pod)) this.place(key, n, pod);
  }

  deletePod(pod: KubeObject): void {
    const key = podKey(pod);
    this.assumed.delete(key);
    this.unplace(key);
  }

  /** Records that `pod` goes to `nodeName` (before the bind is confirmed). */
  assume(pod: KubeObject, nodeName: string): void {
    const key = podKey(pod);
    const as = { ...pod, spec: { ...(pod.spec as object), nodeName } };
    requestsCache.set(as, requestsOf(pod));
    this.unplace(key);
    this.assumed.set(key, as);
    this.place(key, nodeName, as);
  }

  /** Takes back an assumption (its bind lost a race); `current` is the pod as last known, if any. */
  forget(pod: KubeObject, current?: KubeObject): void {
    const key = podKey(pod);
    if (!this.assumed.delete(key)) return;
    this.unplace(key);
    if (current) this.setPod(current);
  }

  isAssumed(pod: KubeObject): boolean {
    return this.assumed.has(podKey(pod));
  }

  get assumedCount(): number {
    return this.assumed.size;
  }

  /** Every counted pod is dropped (before a fresh list refills the snapshot). */
  clearPods(): void {
    this.placed.clear();
    this.podsByNode.clear();
    this.assumed.clear();
    this.antiAffinity.clear();
    for (const n of this.byName.values()) n.allocated = { cpu: 0, memory: 0, pods: 0 };
  }

  clearNodes(): void {
    this.byName.clear();
    this.sorted = undefined;
  }

  private place(key: string, nodeName: string, pod: KubeObject): void {
    const p = { nodeName, pod };
    this.placed.set(key, p);
    let onNode = this.podsByNode.get(nodeName);
    if (!onNode) this.podsByNode.set(nodeName, (onNode = new Map<string, KubeObject>()));
    onNode.set(key, pod);
    const n = this.byName.get(nodeName);
    if (n) addTo(n, pod, 1); // bound to a node that is gone: counts nowhere
    if (hasRequiredAntiAffinity(pod)) this.antiAffinity.set(key, p);
  }

  private unplace(key: string): void {
    const p = this.placed.get(key);
    if (!p) return;
    this.placed.delete(key);
    this.antiAffinity.delete(key);
    const onNode = this.podsByNode.get(p.nodeName);
    onNode?.delete(key);
    if (onNode?.size === 0) this.podsByNode.delete(p.nodeName);
    const n = this.byName.get(p.nodeName);
    if (n) addTo(n, p.pod, -1);
  }

  /** Takes pods off a node (preemption's what-if); returns a function that puts them back. */
  removeTemporarily(nodeName: string, victims: readonly KubeObject[]): () => void {
    const removed = victims.map((v) => this.placed.get(podKey(v))).filter((p): p is Placement => !!p && p.nodeName === nodeName);
    for (const p of removed) this.unplace(podKey(p.pod));
    return () => {
      for (const p of removed) this.place(podKey(p.pod), p.nodeName, p.pod);
    };
  }

  podsOn(nodeName: string): readonly KubeObject[] {
    const onNode = this.podsByNode.get(nodeName);
    return onNode ? [...onNode.values()] : [];
  }

  *boundPods(): Iterable<{ pod: KubeObject; node: NodeSnapshot }> {
    for (const [name, pods] of this.podsByNode) {
      const node = this.byName.get(name);
      if (!node) continue;
      for (const pod of pods.values()) yield { pod, node };
    }
  }

  *podsWithRequiredAntiAffinity(): Iterable<{ pod: KubeObject; node: NodeSnapshot }> {
    for (const { pod, nodeName } of this.antiAffinity.values()) {
      const node = this.byName.get(nodeName);
      if (node) yield { pod, node };
    }
  }

  node(name: string): NodeSnapshot | undefined {
    return this.byName.get(name);
  }
}

function addTo(n: NodeInfo, pod: KubeObject, sign: 1 | -1): void {
  const req = requestsOf(pod);
  n.allocated.cpu += sign * req.cpu;
  n.allocated.memory += sign * req.memory;
  n.allocated.pods += sign;
}
