import type { KubeObject } from '../../shared/resources';
import type { NodeSnapshot } from '../../shared/store/store';

/**
 * The scheduling framework, shaped as Kubernetes' (pkg/scheduler/framework): plugins at named
 * extension points. Filter says whether a pod fits a node, and why not; Score ranks the nodes
 * that fit, 0..100. Decisions are made on a snapshot; binding is a separate, conditional step.
 */
export interface FilterResult {
  readonly fits: boolean;
  /** Kubernetes' words for why not, e.g. "Insufficient cpu"; counted per reason in messages. */
  readonly reasons?: readonly string[];
}

export interface FilterPlugin {
  readonly name: string;
  filter(pod: KubeObject, node: NodeSnapshot): FilterResult;
}

export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** 0 (worst) .. 100 (best). */
  score(pod: KubeObject, node: NodeSnapshot): number;
}

export const fits: FilterResult = { fits: true };
export const unfit = (...reasons: string[]): FilterResult => ({ fits: false, reasons });

export type Decision =
  | { readonly kind: 'bind'; readonly node: NodeSnapshot }
  | { readonly kind: 'unschedulable'; readonly message: string };

/**
 * Runs every filter on every node, then scores the feasible ones. The message for an
 * unschedulable pod is Kubernetes': "0/3 nodes are available: 1 Insufficient cpu, 2 node(s)
 * were unschedulable." (reasons counted and sorted).
 */
export function schedulePod(pod: KubeObject, nodes: readonly NodeSnapshot[], filters: readonly FilterPlugin[], scores: readonly ScorePlugin[]): Decision {
  const counts = new Map<string, number>();
  const feasible: NodeSnapshot[] = [];
  for (const node of nodes) {
    let ok = true;
    for (const f of filters) {
      const r = f.filter(pod, node);
      if (!r.fits) {
        ok = false;
        for (const reason of r.reasons ?? [f.name]) counts.set(reason, (counts.get(reason) ?? 0) + 1);
        break; // like Kubernetes, the first failing filter explains the node
      }
    }
    if (ok) feasible.push(node);
  }
  if (feasible.length === 0) {
    const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `${n} ${reason}`);
    const base = `0/${nodes.length} nodes are available`;
    return { kind: 'unschedulable', message: parts.length ? `${base}: ${parts.join(', ')}.` : `${base}.` };
  }
  let best: NodeSnapshot[] = [];
  let bestScore = -Infinity;
  for (const node of feasible) {
    const total = scores.reduce((sum, s) => sum + s.weight * s.score(pod, node), 0);
    if (total > bestScore) {
      bestScore = total;
      best = [node];
    } else if (total === bestScore) best.push(node);
  }
  // Ties are broken at random, as kube-scheduler does, to spread concurrent decisions.
  return { kind: 'bind', node: best[Math.floor(Math.random() * best.length)]! };
}
