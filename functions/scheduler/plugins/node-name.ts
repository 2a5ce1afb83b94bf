import { fits, unfit, type FilterPlugin } from '../framework';

/** NodeName: a pod that names its node (spec.nodeName) fits only there. */
export const NodeName: FilterPlugin = {
  name: 'NodeName',
  skips: (pod) => !(pod.spec as { nodeName?: string } | undefined)?.nodeName,
  filter(pod, node) {
    const wanted = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    return !wanted || wanted === node.node.metadata.name ? fits : unfit("node(s) didn't match the requested node name");
  },
};
