import { requestsOf } from '../snapshot';
import type { ScorePlugin } from '../framework';

/** Fraction of `cap` used (1 when nothing is offered). Module-level: score runs per pod × node. */
function frac(cap: number, used: number): number {
  return cap <= 0 ? 1 : Math.min(1, used / cap);
}

/**
 * NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory would be used in equal
 * fractions after placing the pod: score = (1 - standard deviation of the fractions) * 100.
 */
export const BalancedAllocation: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  score(pod, node) {
    const req = requestsOf(pod);
    const cpu = frac(node.capacity.cpu, node.allocated.cpu + req.cpu);
    const mem = frac(node.capacity.memory, node.allocated.memory + req.memory);
    // With two resources the standard deviation is half their difference.
    const std = Math.abs(cpu - mem) / 2;
    return Math.round((1 - std) * 100);
  },
};
