import { fits, unfit, type FilterPlugin } from '../framework';

/** NodeAffinity (nodeSelector part): every nodeSelector label must match the node's. */
export const NodeSelector: FilterPlugin = {
  name: 'NodeAffinity',
  filter(pod, node) {
    const selector = (pod.spec as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
    const labels = node.node.metadata.labels ?? {};
    const ok = Object.entries(selector).every(([k, v]) => labels[k] === v);
    return ok ? fits : unfit("node(s) didn't match Pod's node affinity/selector");
  },
};
