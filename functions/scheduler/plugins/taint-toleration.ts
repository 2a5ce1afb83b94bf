import { fits, unfit, type FilterPlugin } from '../framework';

interface Taint {
  key: string;
  value?: string;
  effect: string;
}
interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: string;
}

export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key === undefined || t.key === '') return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
}

/** TaintToleration: NoSchedule and NoExecute taints must be tolerated. */
export const TaintToleration: FilterPlugin = {
  name: 'TaintToleration',
  filter(pod, node) {
    const taints = ((node.node.spec as { taints?: Taint[] } | undefined)?.taints ?? []).filter((t) => t.effect !== 'PreferNoSchedule');
    const tolerations = (pod.spec as { tolerations?: Toleration[] } | undefined)?.tolerations ?? [];
    const untolerated = taints.find((taint) => !tolerations.some((t) => tolerates(t, taint)));
    return untolerated ? unfit(`node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ''}}`) : fits;
  },
};
