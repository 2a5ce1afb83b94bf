import { fits, normalizeToMax, unfit, type FilterPlugin, type ScorePlugin } from '../framework';
import { affinityOf } from '../../../shared/scheduling/labels';
import { nodeSelectorTermMatches, podMatchesNode } from '../../../shared/scheduling/node-affinity';

/** NodeAffinity filter: spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution. */
export const NodeAffinity: FilterPlugin = {
  name: 'NodeAffinity',
  skips: (pod) =>
    Object.keys((pod.spec as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {}).length === 0 &&
    !affinityOf(pod).nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
  filter(pod, node) {
    return podMatchesNode(pod, node.node) ? fits : unfit("node(s) didn't match Pod's node affinity/selector");
  },
};

/** NodeAffinity score: the sum of the weights of the preferred terms the node matches. */
export const NodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  skips: (pod) => (affinityOf(pod).nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).length === 0,
  score(pod, node) {
    const preferred = affinityOf(pod).nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    return preferred.reduce((sum, p) => sum + (nodeSelectorTermMatches(p.preference, node.node) ? p.weight : 0), 0);
  },
  normalize: (scores) => normalizeToMax(scores),
};
