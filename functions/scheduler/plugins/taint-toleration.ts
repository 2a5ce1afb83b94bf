import { fits, normalizeToMax, unfit, type FilterPlugin, type ScorePlugin } from '../framework';
import { taintsOf, tolerates, tolerationsOf } from '../../../shared/scheduling/taints';

/** TaintToleration filter: NoSchedule and NoExecute taints must be tolerated. */
export const TaintToleration: FilterPlugin = {
  name: 'TaintToleration',
  filter(pod, node) {
    const taints = taintsOf(node.node).filter((t) => t.effect !== 'PreferNoSchedule');
    const tolerations = tolerationsOf(pod);
    const untolerated = taints.find((taint) => !tolerations.some((t) => tolerates(t, taint)));
    return untolerated ? unfit(`node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ''}}`) : fits;
  },
};

/** TaintToleration score: fewer untolerated PreferNoSchedule taints is better. */
export const TaintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  score(pod, node) {
    const tolerations = tolerationsOf(pod).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
    return taintsOf(node.node).filter((taint) => taint.effect === 'PreferNoSchedule' && !tolerations.some((t) => tolerates(t, taint))).length;
  },
  normalize: (scores) => normalizeToMax(scores, true),
};
