import type { KubeObject } from '../../shared/resources';
import { nodeCapacity, podRequests, type NodeSnapshot } from '../../shared/store/store';
import type { ClusterSnapshot } from './framework';

const TERMINAL = new Set(['Succeeded', 'Failed']);
export const nodeNameOf = (pod: KubeObject): string | undefined => (pod.spec as { nodeName?: string } | undefined)?.nodeName;
export const isTerminal = (pod: KubeObject): boolean => TERMINAL.has((pod.status as { phase?: string } | undefined)?.phase ?? '');

interface MutableNode {
  node: KubeObject;
  capacity: { cpu: number; memory: number; pods: number };
  allocated: { cpu: number; memory: number; pods: number };
}

/**
 * A ClusterSnapshot built from node and pod objects, as the kube-scheduler's cache builds its
 * snapshot: allocation per node is the sum of the requests of its non-terminal pods (pods
 * created already bound count too). `assume` records a decision before its bind lands, so the
 * next pod of a batch sees it; a lost bind is simply a reason to rebuild from fresh state.
 */
export class MutableSnapshot implements ClusterSnapshot {
  private readonly byName = new Map<string, MutableNode>();
  private readonly pods = new Map<string, KubeObject[]>();
  readonly nodes: NodeSnapshot[];

  constructor(nodes: Iterable<KubeObject>, pods: Iterable<KubeObject>) {
    for (const node of nodes) {
      this.byName.set(node.metadata.name!, { node, capacity: nodeCapacity(node), allocated: { cpu: 0, memory: 0, pods: 0 } });
    }
    // Stable order: the scheduler rotates its starting point, so order only needs to be fixed.
    this.nodes = [...this.byName.values()].sort((a, b) => (a.node.metadata.name! < b.node.metadata.name! ? -1 : 1));
    for (const pod of pods) {
      const n = nodeNameOf(pod);
      if (n && !isTerminal(pod)) this.add(pod, n);
    }
  }

  /** Snapshots from store NodeSnapshots (whose allocation sums the store keeps) plus pods. */
  static fromNodeSnapshots(nodes: readonly NodeSnapshot[], pods: Iterable<KubeObject>): MutableSnapshot {
    return new MutableSnapshot(nodes.map((n) => n.node), pods);
  }

  private add(pod: KubeObject, nodeName: string): void {
    const list = this.pods.get(nodeName) ?? [];
    list.push(pod);
    this.pods.set(nodeName, list);
    const n = this.byName.get(nodeName);
    if (!n) return; // bound to a node that is gone: counts nowhere
    const req = podRequests(pod);
    n.allocated.cpu += req.cpu;
    n.allocated.memory += req.memory;
    n.allocated.pods += 1;
  }

  /** Records that `pod` goes to `nodeName` (before the bind is confirmed). */
  assume(pod: KubeObject, nodeName: string): void {
    this.add({ ...pod, spec: { ...(pod.spec as object), nodeName } }, nodeName);
  }

  /** Takes pods off a node (preemption's what-if); returns a function that puts them back. */
  removeTemporarily(nodeName: string, victims: readonly KubeObject[]): () => void {
    const list = this.pods.get(nodeName) ?? [];
    const uids = new Set(victims.map((v) => v.metadata.uid));
    const kept = list.filter((p) => !uids.has(p.metadata.uid));
    const removed = list.filter((p) => uids.has(p.metadata.uid));
    this.pods.set(nodeName, kept);
    const n = this.byName.get(nodeName);
    const delta = { cpu: 0, memory: 0, pods: 0 };
    for (const p of removed) {
      const req = podRequests(p);
      delta.cpu += req.cpu;
      delta.memory += req.memory;
      delta.pods += 1;
    }
    if (n) {
      n.allocated.cpu -= delta.cpu;
      n.allocated.memory -= delta.memory;
      n.allocated.pods -= delta.pods;
    }
    return () => {
      this.pods.set(nodeName, list);
      if (n) {
        n.allocated.cpu += delta.cpu;
        n.allocated.memory += delta.memory;
        n.allocated.pods += delta.pods;
      }
    };
  }

  podsOn(nodeName: string): readonly KubeObject[] {
    return this.pods.get(nodeName) ?? [];
  }

  *boundPods(): Iterable<{ pod: KubeObject; node: NodeSnapshot }> {
    for (const [name, pods] of this.pods) {
      const node = this.byName.get(name);
      if (!node) continue;
      for (const pod of pods) yield { pod, node };
    }
  }

  node(name: string): NodeSnapshot | undefined {
    return this.byName.get(name);
  }
}
