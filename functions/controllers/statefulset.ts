import { resourceByName, type KubeObject } from '../../shared/resources';
import type { StatefulSet } from '../../shared/schemas/apps';
import type { PodSpec } from '../../shared/schemas/pod';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { claim } from './claim';
import { isActive, isPodAvailable, isPodReady, isTerminal, newControllerRef, podPhase, sameJson, templateHash } from './common';

/*
 * The StatefulSet controller: stable pod names `${name}-${ordinal}`; OrderedReady creates
 * ordinal i only when 0..i-1 are Running and Ready and removes the highest ordinal first, one
 * at a time; Parallel does both at once. RollingUpdate replaces pods from the highest ordinal
 * down to `partition`, one at a time, each once the rest are ready.
 * Not done: volumeClaimTemplates (there is no PersistentVolumeClaim kind yet); revisions are
 * labels, not ControllerRevision objects.
 */

export const COMPONENT = 'statefulset-controller';
export const REVISION_LABEL = 'controller-revision-hash';
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

type STS = StatefulSet & KubeObject;

export interface StatefulSetObserved {
  readonly sts: KubeObject;
  readonly pods: readonly KubeObject[];
  readonly now: Date;
}

export function ordinalOf(sts: KubeObject, pod: KubeObject): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const name = pod.metadata.name ?? '';
  const rest = name.startsWith(prefix) ? name.slice(prefix.length) : '';
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

const runningAndReady = (p: KubeObject) => podPhase(p) === 'Running' && isPodReady(p) && !p.metadata.deletionTimestamp;

export function reconcileStatefulSet({ sts: obj, pods, now }: StatefulSetObserved): Action[] {
  const sts = obj as STS;
  const actions: Action[] = [];
  const ref = newControllerRef(sts, 'apps/v1', 'StatefulSet');
  const c = claim(sts, sts.spec.selector, pods, ref);
  for (const p of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'pods', object: p });
  const owned = c.owned.filter((p) => ordinalOf(sts, p) !== undefined);
  const start = sts.spec.ordinals?.start ?? 0;
  const replicas = sts.spec.replicas ?? 1;
  const updateRevision = `${sts.metadata.name}-${templateHash(sts.spec.template)}`;
  const parallel = sts.spec.podManagementPolicy === 'Parallel';
  const byOrdinal = new Map(owned.map((p) => [ordinalOf(sts, p)!, p]));
  const del = (p: KubeObject) =>
    actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid, event: { about: sts, type: 'Normal', reason: 'SuccessfulDelete', message: `delete Pod ${p.metadata.name} in StatefulSet ${sts.metadata.name} successful` } });
  const deleting = !!sts.metadata.deletionTimestamp;
  let blocked = false;
  if (!deleting) {
    for (let i = start; i < start + replicas; i++) {
      const pod = byOrdinal.get(i);
      if (!pod) {
        actions.push(newPod(sts, ref, i, updateRevision));
        if (!parallel) {
          blocked = true;
          break;
        }
        continue;
      }
      if (isTerminal(pod) && !pod.metadata.deletionTimestamp) {
        del(pod); // recreated under the same name once gone
        blocked = true;
        if (!parallel) break;
        continue;
      }
      if (!runningAndReady(pod) && !parallel) {
        blocked = true;
        break;
      }
    }
    // Scale down: highest ordinal first; OrderedReady one at a time and only when the rest are ready.
    const condemned = owned.filter((p) => ordinalOf(sts, p)! >= start + replicas || ordinalOf(sts, p)! < start).sort((a, b) => ordinalOf(sts, b)! - ordinalOf(sts, a)!);
    if (parallel) condemned.filter((p) => !p.metadata.deletionTimestamp).forEach(del);
    else if (!blocked && condemned.length) {
      const top = condemned[0]!;
      if (!top.metadata.deletionTimestamp) del(top);
      blocked = true;
    }
    // Rolling update, highest ordinal first down to the partition, one at a time.
    const rolling = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    const inRange = [...Array(replicas).keys()].map((k) => byOrdinal.get(start + k));
    const allReady = inRange.every((p) => p && runningAndReady(p));
    if (rolling && !blocked && allReady) {
      for (let i = start + replicas - 1; i >= start + partition; i--) {
        const p = byOrdinal.get(i)!;
        if (p.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
          del(p);
          break;
        }
      }
    }
  }
  const active = owned.filter(isActive);
  const updated = active.filter((p) => p.metadata.labels?.[REVISION_LABEL] === updateRevision).length;
  const prevCurrent = sts.status?.currentRevision ?? updateRevision;
  const currentRevision = updated === replicas && active.length === replicas ? updateRevision : prevCurrent;
  const status = {
    ...sts.status,
    observedGeneration: sts.metadata.generation,
    replicas: active.length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, sts.spec.minReadySeconds ?? 0, now)).length,
    currentReplicas: active.filter((p) => p.metadata.labels?.[REVISION_LABEL] === currentRevision).length,
    updatedReplicas: updated,
    currentRevision,
    updateRevision,
  };
  if (!sameJson(status, sts.status)) actions.push({ type: 'update', resource: 'statefulsets', object: { ...sts, status } });
  return actions;
}

function newPod(sts: STS, ref: ReturnType<typeof newControllerRef>, ordinal: number, revision: string): Action {
  const t = sts.spec.template;
  const name = `${sts.metadata.name}-${ordinal}`;
  const spec = structuredClone(t.spec ?? {}) as PodSpec;
  spec.hostname = name;
  if (sts.spec.serviceName) spec.subdomain = sts.spec.serviceName;
  return {
    type: 'create',
    resource: 'pods',
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: sts.metadata.namespace,
        labels: { ...t.metadata?.labels, [REVISION_LABEL]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
        ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
        ownerReferences: [ref],
      },
      spec,
    },
    event: { about: sts, type: 'Normal', reason: 'SuccessfulCreate', message: `create Pod ${name} in StatefulSet ${sts.metadata.name} successful` },
  };
}

export async function syncStatefulSet(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const sts = await ctx.store.get(ctx.tenant, resourceByName('statefulsets'), namespace, name);
  if (!sts) return;
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace });
  await applyActions(ctx, COMPONENT, key, reconcileStatefulSet({ sts, pods, now: ctx.now }));
}
