import { requestsOf } from '../snapshot';
import { fits, unfit, type FilterPlugin } from '../framework';

/** NodeResourcesFit: the pod's requests fit in what the node has not yet given out. */
export const NodeResourcesFit: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(pod, node) {
    const req = requestsOf(pod);
    const reasons: string[] = [];
    if (node.allocated.pods + 1 > node.capacity.pods) reasons.push('Too many pods');
    if (req.cpu > 0 && node.allocated.cpu + req.cpu > node.capacity.cpu) reasons.push('Insufficient cpu');
    if (req.memory > 0 && node.allocated.memory + req.memory > node.capacity.memory) reasons.push('Insufficient memory');
    return reasons.length ? unfit(...reasons) : fits;
  },
};
