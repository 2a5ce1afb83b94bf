import type { KubeObject } from '../../../shared/resources';
import type { NodeSnapshot } from '../../../shared/store/store';
import { fits, normalizeToMax, unfit, type ClusterSnapshot, type CycleState, type FilterPlugin, type ScorePlugin } from '../framework';
import { labelSelectorMatches, labelsOf, type LabelSelector } from '../../../shared/scheduling/labels';
import { podMatchesNode } from '../../../shared/scheduling/node-affinity';
import { taintsOf, tolerates, tolerationsOf } from '../../../shared/scheduling/taints';

export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector | null;
  minDomains?: number;
  nodeAffinityPolicy?: 'Honor' | 'Ignore';
  nodeTaintsPolicy?: 'Honor' | 'Ignore';
  matchLabelKeys?: string[];
}

const constraintsOf = (pod: KubeObject, when: TopologySpreadConstraint['whenUnsatisfiable']): TopologySpreadConstraint[] =>
  ((pod.spec as { topologySpreadConstraints?: TopologySpreadConstraint[] } | undefined)?.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === when);

/** The selector with matchLabelKeys folded in (values taken from the incoming pod's labels). */
function selectorOf(c: TopologySpreadConstraint, pod: KubeObject): LabelSelector | undefined {
  const base = c.labelSelector ?? undefined;
  if (!base || !c.matchLabelKeys?.length) return base;
  const own = labelsOf(pod);
  const extra = Object.fromEntries(c.matchLabelKeys.filter((k) => own[k] !== undefined).map((k) => [k, own[k]!]));
  return { ...base, matchLabels: { ...base.matchLabels, ...extra } };
}

/** Nodes that count for a constraint: they have the key and (by the policies) suit the pod. */
function eligible(c: TopologySpreadConstraint, pod: KubeObject, node: NodeSnapshot): boolean {
  if (labelsOf(node.node)[c.topologyKey] === undefined) return false;
  if ((c.nodeAffinityPolicy ?? 'Honor') === 'Honor' && !podMatchesNode(pod, node.node)) return false;
  if (c.nodeTaintsPolicy === 'Honor') {
    const tol = tolerationsOf(pod);
    if (taintsOf(node.node).some((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tol.some((x) => tolerates(x, t)))) return false;
  }
  return true;
}

interface Counts {
  byDomain: Map<string, number>;
  min: number;
  selfMatch: number;
}

function counts(c: TopologySpreadConstraint, pod: KubeObject, cluster: ClusterSnapshot): Counts {
  const selector = selectorOf(c, pod);
  const byDomain = new Map<string, number>();
  for (const node of cluster.nodes) if (eligible(c, pod, node)) byDomain.set(labelsOf(node.node)[c.topologyKey]!, 0);
  for (const { pod: other, node } of cluster.boundPods()) {
    if (other.metadata.namespace !== pod.metadata.namespace || other.metadata.deletionTimestamp) continue;
    const domain = labelsOf(node.node)[c.topologyKey];
    if (domain === undefined || !byDomain.has(domain) || !labelSelectorMatches(selector, labelsOf(other))) continue;
    byDomain.set(domain, byDomain.get(domain)! + 1);
  }
  let min = byDomain.size ? Math.min(...byDomain.values()) : 0;
  // Fewer domains than minDomains: the global minimum is taken as 0.
  if (c.minDomains && byDomain.size < c.minDomains) min = 0;
  return { byDomain, min, selfMatch: labelSelectorMatches(selector, labelsOf(pod)) ? 1 : 0 };
}

function cached(key: string, pod: KubeObject, cluster: ClusterSnapshot, state: CycleState, cs: TopologySpreadConstraint[]): Counts[] {
  let v = state.get(key) as Counts[] | undefined;
  if (!v) {
    v = cs.map((c) => counts(c, pod, cluster));
    state.set(key, v);
  }
  return v;
}

/** PodTopologySpread filter: DoNotSchedule constraints must keep skew within maxSkew. */
export const PodTopologySpread: FilterPlugin = {
  name: 'PodTopologySpread',
  skips: (pod) => constraintsOf(pod, 'DoNotSchedule').length === 0,
  filter(pod, node, cluster, state) {
    const cs = constraintsOf(pod, 'DoNotSchedule');
    if (cs.length === 0) return fits;
    const all = cached('PodTopologySpread', pod, cluster, state, cs);
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i]!;
      const domain = labelsOf(node.node)[c.topologyKey];
      if (domain === undefined) return unfit("node(s) didn't match pod topology spread constraints (missing required label)");
      const { byDomain, min, selfMatch } = all[i]!;
      const skew = (byDomain.get(domain) ?? 0) + selfMatch - min;
      if (skew > c.maxSkew) return unfit("node(s) didn't match pod topology spread constraints");
    }
    return fits;
  },
};

/** PodTopologySpread score (ScheduleAnyway): fewer matching pods in the node's domains is better. */
export const PodTopologySpreadScore: ScorePlugin = {
  name: 'PodTopologySpread',
  weight: 2,
  skips: (pod) => constraintsOf(pod, 'ScheduleAnyway').length === 0,
  score(pod, node, cluster, state) {
    const cs = constraintsOf(pod, 'ScheduleAnyway');
    if (cs.length === 0) return 0;
    const all = cached('PodTopologySpreadScore', pod, cluster, state, cs);
    let total = 0;
    cs.forEach((c, i) => {
      const domain = labelsOf(node.node)[c.topologyKey];
      // A node without the key is the least preferred: count it as the fullest domain.
      total += domain === undefined ? Math.max(0, ...all[i]!.byDomain.values()) + 1 : (all[i]!.byDomain.get(domain) ?? 0);
    });
    return total;
  },
  normalize: (scores) => normalizeToMax(scores, true),
};
