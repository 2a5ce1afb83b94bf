import type { KubeObject } from '../resources';

/**
 * Taints and tolerations (core/v1), as the scheduler's TaintToleration plugin, the node lifecycle
 * controller and the DefaultTolerationSeconds admission plugin all read them.
 */
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

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

/** core/v1 Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key === undefined || t.key === '') return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
}

export const taintsOf = (node: KubeObject): Taint[] => ((node.spec as { taints?: Taint[] } | undefined)?.taints ?? []);
export const tolerationsOf = (pod: KubeObject): Toleration[] => ((pod.spec as { tolerations?: Toleration[] } | undefined)?.tolerations ?? []);

/**
 * DefaultTolerationSeconds admission: pods that do not tolerate not-ready / unreachable
 * NoExecute taints get tolerations for `seconds` (Kubernetes: 300).
 */
export function withDefaultTolerations(pod: KubeObject, seconds: number): KubeObject {
  const tolerations = [...tolerationsOf(pod)];
  for (const key of [NOT_READY_TAINT, UNREACHABLE_TAINT]) {
    if (tolerations.some((t) => tolerates(t, { key, effect: 'NoExecute' }))) continue;
    tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds });
  }
  return { ...pod, spec: { ...(pod.spec as object), tolerations } };
}
