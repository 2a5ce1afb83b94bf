import { resourceByName, type KubeObject } from '../../shared/resources';
import { scaledValue } from '../../shared/kinds/apps';
import type { DaemonSet } from '../../shared/schemas/apps';
import type { PodSpec } from '../../shared/schemas/pod';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { claim } from './claim';
import { byCreation, isActive, isPodAvailable, isPodReady, isTerminal, newControllerRef, nodeNameOf, sameJson, templateHash } from './common';
import { reconcileHistory } from './history';

/*
 * The DaemonSet controller: one pod on every eligible node (nodeSelector, taints tolerated),
 * none elsewhere; RollingUpdate replaces old pods node by node within maxUnavailable.
 * Pods are created bound to their node (spec.nodeName), as DaemonSet pods were before the
 * scheduler placed them through node affinity; a new node (stream) brings a pod there.
 * Each template is a ControllerRevision `<name>-<hash>` (history.ts), the pods' hash label.
 */

export const COMPONENT = 'daemonset-controller';
export const REVISION_LABEL = 'controller-revision-hash';

type DS = DaemonSet & KubeObject;

interface Taint {
  key: string;
  value?: string;
  effect: string;
}
interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

/** Tolerations Kubernetes adds to every DaemonSet pod, so daemons run on nodes in trouble too. */
export const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

const tolerates = (t: Toleration, taint: Taint) =>
  (!t.effect || t.effect === taint.effect) && (t.operator === 'Exists' ? !t.key || t.key === taint.key : t.key === taint.key && (t.value ?? '') === (taint.value ?? ''));

/** Whether the DaemonSet should run on `node`: its nodeSelector matches and every NoSchedule/NoExecute taint is tolerated. */
export function eligible(ds: DS, node: KubeObject): boolean {
  const spec = (ds.spec.template.spec ?? {}) as PodSpec;
  const labels = node.metadata.labels ?? {};
  if (!Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const tolerations = [...((spec.tolerations ?? []) as Toleration[]), ...DAEMON_TOLERATIONS];
  const taints = ((node.spec as { taints?: Taint[] } | undefined)?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  return taints.every((taint) => tolerations.some((t) => tolerates(t, taint)));
}

export interface DaemonSetObserved {
  readonly ds: KubeObject;
  readonly nodes: readonly KubeObject[];
  readonly pods: readonly KubeObject[];
  /** The namespace's ControllerRevisions. */
  readonly revisions?: readonly KubeObject[];
  readonly now: Date;
}

export function reconcileDaemonSet({ ds: obj, nodes, pods, revisions = [], now }: DaemonSetObserved): Action[] {
  const ds = obj as DS;
  const actions: Action[] = [];
  const ref = newControllerRef(ds, 'apps/v1', 'DaemonSet');
  const c = claim(ds, ds.spec.selector, pods, ref);
  for (const p of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'pods', object: p });
  const hash = templateHash(ds.spec.template);
  // History first, as Kubernetes' constructHistory: the revision exists before its pods.
  const revisionName = (h: string) => `${ds.metadata.name}-${h}`;
  const inUse = new Set([revisionName(hash), ...c.owned.filter(isActive).flatMap((p) => (p.metadata.labels?.[REVISION_LABEL] ? [revisionName(p.metadata.labels[REVISION_LABEL])] : []))]);
  const history = reconcileHistory({
    owner: ds,
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    selector: ds.spec.selector,
    template: ds.spec.template,
    name: revisionName(hash),
    hash,
    revisions,
    inUse,
    limit: ds.spec.revisionHistoryLimit ?? 10,
  });
  actions.push(...history.actions);
  const minReady = ds.spec.minReadySeconds ?? 0;
  const del = (p: KubeObject) =>
    actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid, event: { about: ds, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${p.metadata.name}` } });
  const byNode = new Map<string, KubeObject[]>();
  for (const p of c.owned) {
    const n = nodeNameOf(p) ?? '';
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const wanted = nodes.filter((n) => eligible(ds, n));
  const wantedNames = new Set(wanted.map((n) => n.metadata.name!));
  let misscheduled = 0;
  const deleting = !!ds.metadata.deletionTimestamp;
  const current: KubeObject[] = [];
  for (const [nodeName, list] of byNode) {
    if (wantedNames.has(nodeName)) continue;
    const live = list.filter(isActive);
    misscheduled += live.length;
    if (!deleting) live.forEach(del);
  }
  const desired = wanted.length;
  const maxUnavailable = Math.max(1, scaledValue(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired, true));
  const rolling = (ds.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  const old: KubeObject[] = [];
  let unavailable = 0;
  for (const node of wanted) {
    const list = byNode.get(node.metadata.name!) ?? [];
    const live = list.filter(isActive).sort(byCreation);
    const terminating = list.some((p) => !!p.metadata.deletionTimestamp && !isTerminal(p));
    for (const p of list.filter(isTerminal)) if (!deleting) del(p); // failed daemons are replaced
    if (live.length === 0) {
      unavailable++;
      if (!deleting && !terminating) actions.push(newPod(ds, ref, node.metadata.name!, hash));
      continue;
    }
    live.slice(1).forEach((p) => !deleting && del(p)); // exactly one per node: keep the oldest
    const pod = live[0]!;
    current.push(pod);
    if (!isPodAvailable(pod, minReady, now)) unavailable++;
    if (pod.metadata.labels?.[REVISION_LABEL] !== hash) old.push(pod);
  }
  if (rolling && !deleting) {
    // Old pods that are not available anyway go first; then available ones within maxUnavailable.
    let budget = maxUnavailable - unavailable;
    for (const p of old) {
      if (!isPodAvailable(p, minReady, now)) del(p);
      else if (budget > 0) {
        del(p);
        budget--;
      }
    }
  }
  const status = {
    ...ds.status,
    desiredNumberScheduled: desired,
    currentNumberScheduled: current.length,
    numberMisscheduled: misscheduled,
    numberReady: current.filter(isPodReady).length,
    numberAvailable: current.filter((p) => isPodAvailable(p, minReady, now)).length,
    numberUnavailable: Math.max(0, desired - current.filter((p) => isPodAvailable(p, minReady, now)).length),
    updatedNumberScheduled: current.filter((p) => p.metadata.labels?.[REVISION_LABEL] === hash).length,
    observedGeneration: ds.metadata.generation,
  };
  if (!sameJson(status, ds.status)) actions.push({ type: 'update', resource: 'daemonsets', object: { ...ds, status } });
  return actions;
}

function newPod(ds: DS, ref: ReturnType<typeof newControllerRef>, nodeName: string, hash: string): Action {
  const t = ds.spec.template;
  const spec = structuredClone(t.spec ?? {}) as PodSpec;
  const tolerations = [...((spec.tolerations ?? []) as Toleration[])];
  for (const d of DAEMON_TOLERATIONS) if (!tolerations.some((x) => x.key === d.key && x.effect === d.effect)) tolerations.push(d);
  return {
    type: 'create',
    resource: 'pods',
    generateName: `${ds.metadata.name}-`,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        namespace: ds.metadata.namespace,
        labels: { ...t.metadata?.labels, [REVISION_LABEL]: hash },
        ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
        ownerReferences: [ref],
      },
      spec: { ...spec, nodeName, tolerations },
    },
    event: { about: ds, type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: $NAME' },
  };
}

export async function syncDaemonSet(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const ds = await ctx.store.get(ctx.tenant, resourceByName('daemonsets'), namespace, name);
  if (!ds) return;
  const { items: nodes } = await ctx.store.list(ctx.tenant, resourceByName('nodes'), { versioned: false });
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false });
  const { items: revisions } = await ctx.store.list(ctx.tenant, resourceByName('controllerrevisions'), { namespace, versioned: false });
  await applyActions(ctx, COMPONENT, key, reconcileDaemonSet({ ds, nodes, pods, revisions, now: ctx.now }));
}

