import type { KubeObject } from '../../shared/resources';
import type { NodeSnapshot } from '../../shared/store/store';
import { runFilters, type FilterPlugin } from './framework';
import type { MutableSnapshot } from './snapshot';

/** spec.priority (set at admission from the PriorityClass), 0 when absent. */
export const priorityOf = (pod: KubeObject): number => (pod.spec as { priority?: number } | undefined)?.priority ?? 0;

export interface Preemption {
  readonly node: NodeSnapshot;
  /** Lower-priority pods to evict so the preemptor fits, lowest priority first. */
  readonly victims: readonly KubeObject[];
}

/** Reasons preemption cannot fix by removing pods (the node is wrong for the pod, not full). */
const UNRESOLVABLE = [/taint/, /node affinity/, /unschedulable/, /not ready/, /requested node name/, /missing required label/];

/**
 * Kubernetes' DefaultPreemption, simplified: on each node where the pod failed for reasons that
 * removing pods could fix, take away every pod of lower priority; if the pod then fits, give back
 * as many of them as still leave room (highest priority first: the "reprieve"). Choose the node
 * whose most important victim has the lowest priority, then the fewest victims.
 * Pure apart from the snapshot's temporary what-if edits, which it always undoes.
 */
export function findPreemption(
  pod: KubeObject,
  snapshot: MutableSnapshot,
  filters: readonly FilterPlugin[],
  reasonsByNode: ReadonlyMap<string, readonly string[]>,
): Preemption | undefined {
  const policy = (pod.spec as { preemptionPolicy?: string } | undefined)?.preemptionPolicy;
  if (policy === 'Never') return undefined;
  const priority = priorityOf(pod);
  let best: { node: NodeSnapshot; victims: KubeObject[]; top: number } | undefined;
  for (const node of snapshot.nodes) {
    const name = node.node.metadata.name!;
    const reasons = reasonsByNode.get(name);
    if (!reasons || reasons.some((r) => UNRESOLVABLE.some((u) => u.test(r)))) continue;
    const lower = snapshot
      .podsOn(name)
      .filter((p) => priorityOf(p) < priority && !p.metadata.deletionTimestamp)
      .sort((a, b) => priorityOf(b) - priorityOf(a));
    if (lower.length === 0) continue;
    const fitsWithout = (gone: readonly KubeObject[]) => {
      const undo = snapshot.removeTemporarily(name, gone);
      try {
        return runFilters(pod, node, snapshot, filters, new Map()).fits;
      } finally {
        undo();
      }
    };
    if (!fitsWithout(lower)) continue;
    // Reprieve: try to keep each candidate (most important first); keep it if the pod still fits.
    let victims = [...lower];
    for (const candidate of lower) {
      const without = victims.filter((v) => v !== candidate);
      if (fitsWithout(without)) victims = without;
    }
    if (victims.length === 0) continue;
    const top = Math.max(...victims.map(priorityOf));
    if (!best || top < best.top || (top === best.top && victims.length < best.victims.length)) best = { node, victims, top };
  }
  return best && { node: best.node, victims: best.victims.sort((a, b) => priorityOf(a) - priorityOf(b)) };
}
