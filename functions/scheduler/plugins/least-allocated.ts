import { requestsOf } from '../snapshot';
import type { ScorePlugin } from '../framework';

/** Percent of `cap` left after `used` (0 when nothing is offered). Module-level: score runs per pod × node. */
function free(cap: number, used: number): number {
  return cap <= 0 ? 0 : Math.max(0, ((cap - used) * 100) / cap);
}

/** NodeResourcesFit's LeastAllocated strategy: prefer the most free cpu and memory after placing. */
export const LeastAllocated: ScorePlugin = {
  name: 'NodeResourcesLeastAllocated',
  weight: 1,
  score(pod, node) {
    const req = requestsOf(pod);
    const cpu = free(node.capacity.cpu, node.allocated.cpu + req.cpu);
    const mem = free(node.capacity.memory, node.allocated.memory + req.memory);
    const pods = free(node.capacity.pods, node.allocated.pods + 1);
    return Math.round((cpu + mem + pods) / 3);
  },
};
