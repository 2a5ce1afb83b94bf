import { fits, unfit, type FilterPlugin } from '../framework';

interface Toleration {
  key?: string;
  operator?: string;
  effect?: string;
}

/** NodeUnschedulable: cordoned nodes take no new pods, unless the pod tolerates it. */
export const NodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter(pod, node) {
    if (!(node.node.spec as { unschedulable?: boolean } | undefined)?.unschedulable) return fits;
    const tolerations = ((pod.spec as { tolerations?: Toleration[] } | undefined)?.tolerations ?? []);
    const tolerated = tolerations.some(
      (t) => (t.key === 'node.kubernetes.io/unschedulable' || (t.key === undefined && t.operator === 'Exists')) && (!t.effect || t.effect === 'NoSchedule'),
    );
    return tolerated ? fits : unfit('node(s) were unschedulable');
  },
};
