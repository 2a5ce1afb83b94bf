import { fits, unfit, type FilterPlugin } from '../framework';
import { NOT_READY_TAINT, UNREACHABLE_TAINT } from '../../../shared/scheduling/taints';

interface Condition {
  type: string;
  status: string;
}
interface Taint {
  key: string;
}


/**
 * NodeReady: a node whose Ready condition is not True takes no pods. Once the node lifecycle
 * controller has tainted it (not-ready / unreachable), TaintToleration decides instead, as in
 * Kubernetes, so pods tolerating those taints (DaemonSet pods) still fit. This filter covers the
 * window before the controller's next pass.
 */
export const NodeReady: FilterPlugin = {
  name: 'NodeReady',
  filter(_pod, node) {
    const conditions = ((node.node.status as { conditions?: Condition[] } | undefined)?.conditions ?? []);
    if (conditions.find((c) => c.type === 'Ready')?.status === 'True') return fits;
    const taints = ((node.node.spec as { taints?: Taint[] } | undefined)?.taints ?? []);
    if (taints.some((t) => t.key === NOT_READY_TAINT || t.key === UNREACHABLE_TAINT)) return fits;
    return unfit('node(s) were not ready');
  },
};
