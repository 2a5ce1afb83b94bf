import { resourceByName, type KubeObject } from '../../shared/resources';
import type { StatefulSet } from '../../shared/schemas/apps';
import type { PodSpec } from '../../shared/schemas/pod';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { claim } from './claim';
import { isActive, isPodAvailable, isPodReady, isTerminal, newControllerRef, podPhase, sameJson, templateHash } from './common';
import { reconcileHistory } from './history';

/*
 * The StatefulSet controller: stable pod names `${name}-${ordinal}`; OrderedReady creates
 * ordinal i only when 0..i-1 are Running and Ready and removes the highest ordinal first, one
 * at a time; Parallel does both at once. RollingUpdate replaces pods from the highest ordinal
 * down to `partition`, one at a time, each once the rest are ready.
 * volumeClaimTemplates: each pod gets its claims `${template}-${name}-${ordinal}`, created
 * before the pod and mounted in place of the template's volume of the same name; they outlive
 * the pods (persistentVolumeClaimRetentionPolicy Retain/Retain by default). whenDeleted: Delete
 * makes the StatefulSet their owner (the garbage collector removes them with it); whenScaled:
 * Delete removes the claims of ordinals scaled away once their pod is gone.
 * Revisions: each template is a ControllerRevision `<name>-<hash>` (history.ts); pods carry its
 * name in controller-revision-hash, status.currentRevision/updateRevision name them.
 * Not done: changing the retention policy does not rewrite the owners of claims made before.
 */

export const COMPONENT = 'statefulset-controller';
export const REVISION_LABEL = 'controller-revision-hash';
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

type STS = StatefulSet & KubeObject;

export interface StatefulSetObserved {
  readonly sts: KubeObject;
  readonly pods: readonly KubeObject[];
  /** The namespace's PersistentVolumeClaims (only needed with volumeClaimTemplates). */
  readonly claims?: readonly KubeObject[];
  /** The namespace's ControllerRevisions. */
  readonly revisions?: readonly KubeObject[];
  readonly now: Date;
}

/** A volumeClaimTemplates entry: a PersistentVolumeClaim without namespace. */
interface ClaimTemplate {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

const claimTemplatesOf = (sts: STS) => (sts.spec.volumeClaimTemplates ?? []) as ClaimTemplate[];
/** Kubernetes' getPersistentVolumeClaimName. */
export const claimNameFor = (sts: KubeObject, template: string, ordinal: number) => `${template}-${sts.metadata.name}-${ordinal}`;

/** Creates for the claims of ordinal `i` that do not exist yet, as Kubernetes' createPersistentVolumeClaims. */
function missingClaims(sts: STS, ordinal: number, existing: ReadonlySet<string>): Action[] {
  const out: Action[] = [];
  const whenDeleted = sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted ?? 'Retain';
  for (const t of claimTemplatesOf(sts)) {
    const name = claimNameFor(sts, t.metadata?.name ?? '', ordinal);
    if (existing.has(name)) continue;
    out.push({
      type: 'create',
      resource: 'persistentvolumeclaims',
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name,
          namespace: sts.metadata.namespace,
          labels: { ...t.metadata?.labels, ...sts.spec.selector?.matchLabels },
          ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
          // Kubernetes: the set owns its claims only when they should go with it.
          ...(whenDeleted === 'Delete' ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata.name!, uid: sts.metadata.uid! }] } : {}),
        },
        spec: structuredClone(t.spec ?? {}),
      },
      event: { about: sts, type: 'Normal', reason: 'SuccessfulCreate', message: `create Claim ${name} Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} success` },
    });
  }
  return out;
}

export function ordinalOf(sts: KubeObject, pod: KubeObject): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const name = pod.metadata.name ?? '';
  const rest = name.startsWith(prefix) ? name.slice(prefix.length) : '';
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

const runningAndReady = (p: KubeObject) => podPhase(p) === 'Running' && isPodReady(p) && !p.metadata.deletionTimestamp;

export function reconcileStatefulSet({ sts: obj, pods, claims = [], revisions = [], now }: StatefulSetObserved): Action[] {
  const sts = obj as STS;
  const actions: Action[] = [];
  const ref = newControllerRef(sts, 'apps/v1', 'StatefulSet');
  const c = claim(sts, sts.spec.selector, pods, ref);
  for (const p of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'pods', object: p });
  const owned = c.owned.filter((p) => ordinalOf(sts, p) !== undefined);
  const start = sts.spec.ordinals?.start ?? 0;
  const replicas = sts.spec.replicas ?? 1;
  const hash = templateHash(sts.spec.template);
  const updateRevision = `${sts.metadata.name}-${hash}`;
  // History first, as Kubernetes' getStatefulSetRevisions: the revision exists before its pods.
  const inUse = new Set([updateRevision, ...(sts.status?.currentRevision ? [sts.status.currentRevision] : []), ...owned.filter(isActive).flatMap((p) => (p.metadata.labels?.[REVISION_LABEL] ? [p.metadata.labels[REVISION_LABEL]] : []))]);
  const history = reconcileHistory({
    owner: sts,
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    selector: sts.spec.selector,
    template: sts.spec.template,
    name: updateRevision,
    hash,
    revisions,
    inUse,
    limit: sts.spec.revisionHistoryLimit ?? 10,
  });
  actions.push(...history.actions);
  const parallel = sts.spec.podManagementPolicy === 'Parallel';
  const byOrdinal = new Map(owned.map((p) => [ordinalOf(sts, p)!, p]));
  const del = (p: KubeObject) =>
    actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid, event: { about: sts, type: 'Normal', reason: 'SuccessfulDelete', message: `delete Pod ${p.metadata.name} in StatefulSet ${sts.metadata.name} successful` } });
  const deleting = !!sts.metadata.deletionTimestamp;
  const claimNames = new Set(claims.filter((c) => c.metadata.namespace === sts.metadata.namespace).map((c) => c.metadata.name!));
  let blocked = false;
  if (!deleting) {
    for (let i = start; i < start + replicas; i++) {
      const pod = byOrdinal.get(i);
      // Claims first, for a new pod and for one whose claim went missing.
      if (!pod || !pod.metadata.deletionTimestamp) actions.push(...missingClaims(sts, i, claimNames));
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
    // whenScaled: Delete — the claims of ordinals scaled away go once their pod has.
    if ((sts.spec.persistentVolumeClaimRetentionPolicy?.whenScaled ?? 'Retain') === 'Delete') {
      for (const t of claimTemplatesOf(sts)) {
        const prefix = `${t.metadata?.name ?? ''}-${sts.metadata.name}-`;
        for (const c of claims) {
          const rest = c.metadata.name!.startsWith(prefix) ? c.metadata.name!.slice(prefix.length) : '';
          if (c.metadata.namespace !== sts.metadata.namespace || !/^\d+$/.test(rest) || c.metadata.deletionTimestamp) continue;
          const ordinal = Number(rest);
          if ((ordinal >= start && ordinal < start + replicas) || byOrdinal.has(ordinal)) continue;
          actions.push({ type: 'delete', resource: 'persistentvolumeclaims', namespace: c.metadata.namespace!, name: c.metadata.name!, uid: c.metadata.uid, event: { about: sts, type: 'Normal', reason: 'SuccessfulDelete', message: `delete Claim ${c.metadata.name} in StatefulSet ${sts.metadata.name} successful` } });
        }
      }
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
  // Each claim template becomes the pod's volume of that name, backed by the ordinal's claim.
  const templates = claimTemplatesOf(sts);
  if (templates.length) {
    const byTemplate = new Set(templates.map((c) => c.metadata?.name ?? ''));
    spec.volumes = [
      ...(spec.volumes ?? []).filter((v) => !byTemplate.has(String((v as { name?: unknown }).name))),
      ...templates.map((c) => ({ name: c.metadata?.name ?? '', persistentVolumeClaim: { claimName: claimNameFor(sts, c.metadata?.name ?? '', ordinal) } })),
    ];
  }
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
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false });
  const withClaims = ((sts as STS).spec.volumeClaimTemplates ?? []).length > 0;
  const claims = withClaims ? (await ctx.store.list(ctx.tenant, resourceByName('persistentvolumeclaims'), { namespace, versioned: false })).items : [];
  const { items: revisions } = await ctx.store.list(ctx.tenant, resourceByName('controllerrevisions'), { namespace, versioned: false });
  await applyActions(ctx, COMPONENT, key, reconcileStatefulSet({ sts, pods, claims, revisions, now: ctx.now }));
}
