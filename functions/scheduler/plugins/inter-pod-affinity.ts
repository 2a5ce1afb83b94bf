import type { KubeObject } from '../../../shared/resources';
import type { NodeSnapshot } from '../../../shared/store/store';
import { fits, unfit, type ClusterSnapshot, type CycleState, type FilterPlugin, type ScorePlugin } from '../framework';
import { affinityOf, labelSelectorMatches, labelsOf, type PodAffinityTerm } from '../../../shared/scheduling/labels';

/**
 * Whether `other` is selected by `term`, declared by a pod in `ownerNamespace`. Namespaces: the
 * term's list, else the owner's; a namespaceSelector of {} means all namespaces. (Namespace
 * labels are not in the scheduler's snapshot, so a non-empty namespaceSelector is treated as
 * all namespaces too: more conservative for anti-affinity, looser for affinity.)
 */
export function termSelects(term: PodAffinityTerm, ownerNamespace: string | undefined, other: KubeObject): boolean {
  const namespaces = term.namespaces ?? [];
  const ns = other.metadata.namespace;
  const allNamespaces = !!term.namespaceSelector;
  if (!allNamespaces && !(namespaces.length ? namespaces.includes(ns!) : ns === ownerNamespace)) return false;
  return labelSelectorMatches(term.labelSelector, labelsOf(other));
}

const topologyValue = (node: NodeSnapshot, key: string): string | undefined => labelsOf(node.node)[key];

/** Per term: how many selected pods sit in each topology domain (value of topologyKey). */
function domainCounts(term: PodAffinityTerm, pod: KubeObject, cluster: ClusterSnapshot): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { pod: other, node } of cluster.boundPods()) {
    if (other.metadata.uid === pod.metadata.uid) continue;
    const v = topologyValue(node, term.topologyKey);
    if (v === undefined || !termSelects(term, pod.metadata.namespace, other)) continue;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

interface FilterState {
  affinity: { term: PodAffinityTerm; counts: Map<string, number> }[];
  anti: { term: PodAffinityTerm; counts: Map<string, number> }[];
  /** topologyKey=value pairs where an existing pod's required anti-affinity rejects this pod. */
  existingAnti: Set<string>;
}

function filterState(pod: KubeObject, cluster: ClusterSnapshot, state: CycleState): FilterState {
  const cached = state.get('InterPodAffinity') as FilterState | undefined;
  if (cached) return cached;
  const a = affinityOf(pod);
  const s: FilterState = {
    affinity: (a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((term) => ({ term, counts: domainCounts(term, pod, cluster) })),
    anti: (a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((term) => ({ term, counts: domainCounts(term, pod, cluster) })),
    existingAnti: new Set(),
  };
  for (const { pod: other, node } of cluster.podsWithRequiredAntiAffinity()) {
    for (const term of affinityOf(other).podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const v = topologyValue(node, term.topologyKey);
      if (v !== undefined && termSelects(term, other.metadata.namespace, pod)) s.existingAnti.add(`${term.topologyKey}=${v}`);
    }
  }
  state.set('InterPodAffinity', s);
  return s;
}

/** InterPodAffinity filter: required pod affinity and anti-affinity, both ways, per topologyKey. */
export const InterPodAffinity: FilterPlugin = {
  name: 'InterPodAffinity',
  // Nothing to check when the pod has no required terms and no bound pod has anti-affinity ones.
  skips(pod, cluster) {
    const a = affinityOf(pod);
    if ((a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).length > 0) return false;
    if ((a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).length > 0) return false;
    return cluster.podsWithRequiredAntiAffinity()[Symbol.iterator]().next().done === true;
  },
  filter(pod, node, cluster, state) {
    const s = filterState(pod, cluster, state);
    for (const key of s.existingAnti) {
      const [k, v] = [key.slice(0, key.indexOf('=')), key.slice(key.indexOf('=') + 1)];
      if (topologyValue(node, k) === v) return unfit("node(s) didn't satisfy existing pods anti-affinity rules");
    }
    for (const { term, counts } of s.affinity) {
      const v = topologyValue(node, term.topologyKey);
      if (v !== undefined && (counts.get(v) ?? 0) > 0) continue;
      // The first pod of a group may go anywhere its own term would select it (Kubernetes' rule),
      // provided the node has the topology key at all.
      const noneAnywhere = [...counts.values()].every((c) => c === 0);
      if (v !== undefined && noneAnywhere && termSelects(term, pod.metadata.namespace, pod)) continue;
      return unfit("node(s) didn't match pod affinity rules");
    }
    for (const { term, counts } of s.anti) {
      const v = topologyValue(node, term.topologyKey);
      if (v !== undefined && (counts.get(v) ?? 0) > 0) return unfit("node(s) didn't match pod anti-affinity rules");
    }
    return fits;
  },
};

/**
 * InterPodAffinity score: + weight per selected pod in the node's domain for preferred
 * affinity, - weight for preferred anti-affinity; normalized min..max to 0..100.
 */
export const InterPodAffinityScore: ScorePlugin = {
  name: 'InterPodAffinity',
  weight: 2,
  skips(pod) {
    const a = affinityOf(pod);
    return (a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).length === 0 && (a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).length === 0;
  },
  score(pod, node, cluster, state) {
    const a = affinityOf(pod);
    const preferred = [
      ...(a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => ({ ...w, sign: 1 })),
      ...(a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => ({ ...w, sign: -1 })),
    ];
    if (preferred.length === 0) return 0;
    let counts = state.get('InterPodAffinityScore') as Map<string, number>[] | undefined;
    if (!counts) {
      counts = preferred.map((p) => domainCounts(p.podAffinityTerm, pod, cluster));
      state.set('InterPodAffinityScore', counts);
    }
    let score = 0;
    preferred.forEach((p, i) => {
      const v = topologyValue(node, p.podAffinityTerm.topologyKey);
      if (v !== undefined) score += p.sign * p.weight * (counts[i]!.get(v) ?? 0);
    });
    return score;
  },
  normalize(scores) {
    const min = Math.min(...scores);
    const max = Math.max(...scores);
    if (max === min) return scores.map(() => 0);
    return scores.map((s) => Math.floor(((s - min) * 100) / (max - min)));
  },
};
