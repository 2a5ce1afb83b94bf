import type { KubeObject } from '../../../shared/resources';
import { fits, normalizeToMax, unfit, type FilterPlugin, type ScorePlugin } from '../framework';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** core/v1 Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key === undefined || t.key === '') return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
}

export const taintsOf = (node: KubeObject): Taint[] => ((node.spec as { taints?: Taint[] } | undefined)?.taints ?? []);
export const tolerationsOf = (pod: KubeObject): Toleration[] => ((pod.spec as { tolerations?: Toleration[] } | undefined)?.tolerations ?? []);

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
