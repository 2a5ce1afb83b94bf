import type { KubeObject } from '../../shared/resources';
import { NOT_READY_TAINT, UNREACHABLE_TAINT, tolerates, taintsOf, tolerationsOf, type Taint } from '../../shared/scheduling/taints';

/**
 * The node lifecycle controller's decisions, pure (Kubernetes' pkg/controller/nodelifecycle):
 * a node whose kubelet stopped heartbeating (Lease renewTime or Ready's lastHeartbeatTime)
 * for longer than the grace period goes Ready=Unknown; Ready≠True nodes carry the not-ready
 * or unreachable taints (NoSchedule and NoExecute); pods on a node with a NoExecute taint they
 * do not tolerate are evicted, at once or after their toleration's tolerationSeconds.
 */
export interface LifecycleSettings {
  /** node-monitor-grace-period. Kubernetes' default: 50 s. */
  readonly nodeMonitorGraceSeconds: number;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

const kubeTime = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
const conditionsOf = (node: KubeObject): Condition[] => ((node.status as { conditions?: Condition[] } | undefined)?.conditions ?? []);
export const readyStatus = (node: KubeObject): string | undefined => conditionsOf(node).find((c) => c.type === 'Ready')?.status;

/** When the kubelet last proved it is alive: Lease renewal, Ready heartbeat, or registration. */
export function lastHeartbeat(node: KubeObject, lease: KubeObject | undefined): number {
  const times = [
    (lease?.spec as { renewTime?: string } | undefined)?.renewTime,
    conditionsOf(node).find((c) => c.type === 'Ready')?.lastHeartbeatTime,
    node.metadata.creationTimestamp ?? undefined,
  ];
  return Math.max(0, ...times.map((t) => (t ? Date.parse(t) : 0)).filter((t) => Number.isFinite(t)));
}

/** The node as it should be now, or undefined when it is right already. */
export function reconcileNode(node: KubeObject, lease: KubeObject | undefined, now: Date, s: LifecycleSettings): KubeObject | undefined {
  let conditions = conditionsOf(node);
  let changed = false;
  const stale = now.getTime() - lastHeartbeat(node, lease) > s.nodeMonitorGraceSeconds * 1000;
  if (stale && readyStatus(node) !== 'Unknown') {
    const t = kubeTime(now);
    const types = conditions.length ? conditions.map((c) => c.type) : ['Ready'];
    conditions = types.map((type) => {
      const old = conditions.find((c) => c.type === type);
      return { ...old, type, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: t, lastHeartbeatTime: old?.lastHeartbeatTime };
    });
    changed = true;
  }
  const ready = conditions.find((c) => c.type === 'Ready')?.status;
  const wantKey = ready === 'True' ? undefined : ready === 'False' ? NOT_READY_TAINT : UNREACHABLE_TAINT;
  const current = taintsOf(node);
  const others = current.filter((t) => t.key !== NOT_READY_TAINT && t.key !== UNREACHABLE_TAINT);
  const wanted: Taint[] = wantKey
    ? (['NoSchedule', 'NoExecute'] as const).map((effect) => current.find((t) => t.key === wantKey && t.effect === effect) ?? { key: wantKey, effect, ...(effect === 'NoExecute' ? { timeAdded: kubeTime(now) } : {}) })
    : [];
  const taints = [...others, ...wanted];
  const same = (a: Taint[], b: Taint[]) => a.length === b.length && a.every((t) => b.some((u) => u.key === t.key && u.effect === t.effect));
  if (!same(taints, current)) changed = true;
  if (!changed) return undefined;
  const spec = { ...(node.spec as object) } as { taints?: Taint[] };
  if (taints.length) spec.taints = taints;
  else delete spec.taints;
  return { ...node, spec, status: { ...(node.status as object), conditions } };
}

export type PodAction = { readonly kind: 'evict'; readonly pod: KubeObject } | { readonly kind: 'wait'; readonly pod: KubeObject; readonly atMs: number };

/**
 * Kubernetes' taint-based eviction for the pods of one node: a NoExecute taint the pod does not
 * tolerate evicts it now; tolerated with tolerationSeconds, when that time (from the taint's
 * timeAdded) has passed; tolerated without tolerationSeconds, never.
 */
export function podActions(node: KubeObject, pods: readonly KubeObject[], now: Date): PodAction[] {
  const noExecute = taintsOf(node).filter((t) => t.effect === 'NoExecute');
  if (noExecute.length === 0) return [];
  const actions: PodAction[] = [];
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    let evictAt = Infinity;
    for (const taint of noExecute) {
      const matching = tolerationsOf(pod).filter((t) => tolerates(t, taint));
      if (matching.length === 0) {
        evictAt = -Infinity;
        break;
      }
      const seconds = Math.min(...matching.map((t) => (t.tolerationSeconds === undefined ? Infinity : Math.max(0, t.tolerationSeconds))));
      if (seconds === Infinity) continue;
      const added = taint.timeAdded ? Date.parse(taint.timeAdded) : now.getTime();
      evictAt = Math.min(evictAt, added + seconds * 1000);
    }
    if (evictAt <= now.getTime()) actions.push({ kind: 'evict', pod });
    else if (evictAt !== Infinity) actions.push({ kind: 'wait', pod, atMs: evictAt });
  }
  return actions;
}
