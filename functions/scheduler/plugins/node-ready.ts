import { fits, unfit, type FilterPlugin } from '../framework';

interface Condition {
  type: string;
  status: string;
}

/**
 * NodeReady: only nodes whose Ready condition is True take pods. (Kubernetes expresses this
 * with the node.kubernetes.io/not-ready taint set by the node lifecycle controller, which
 * Stratus does not have yet, so the condition is read directly.)
 */
export const NodeReady: FilterPlugin = {
  name: 'NodeReady',
  filter(_pod, node) {
    const conditions = ((node.node.status as { conditions?: Condition[] } | undefined)?.conditions ?? []);
    const ready = conditions.find((c) => c.type === 'Ready');
    return ready?.status === 'True' ? fits : unfit('node(s) were not ready');
  },
};
