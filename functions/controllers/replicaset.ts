import { workloadSelector } from '../../shared/kinds/replication';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ReplicaSet } from '../../shared/schemas/apps';
import type { Action } from './actions';
import { applyActions, BURST, type ControllerContext } from './apply';
import { claim } from './claim';
import { availableAt, deletionOrder, isActive, isPodAvailable, isPodReady, newControllerRef, sameJson } from './common';

/*
 * The ReplicaSet controller: keeps exactly spec.replicas active pods that match the selector.
 * Pure reconcile + thin sync, as Kubernetes' replica_set.go: claim (adopt/release), then
 * create or delete the difference (burst-limited, least valuable pods first), then status.
 * The ReplicationController controller is this very reconcile for another kind
 * (replicationcontroller.ts), as Kubernetes runs replica_set.go for both.
 */

export const COMPONENT = 'replicaset-controller';

/** What differs between the kinds this reconcile serves: identity, component and selector form. */
export interface ReplicaKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly resource: string;
  readonly component: string;
}

export const REPLICA_SET: ReplicaKind = { apiVersion: 'apps/v1', kind: 'ReplicaSet', resource: 'replicasets', component: COMPONENT };

type RS = ReplicaSet & KubeObject;

export interface ReplicaSetObserved {
  readonly rs: KubeObject;
  /** Every pod of the ReplicaSet's namespace (claiming needs the orphans too). */
  readonly pods: readonly KubeObject[];
  readonly now: Date;
}

/** The status Kubernetes' calculateStatus derives from the active pods. */
export function replicaSetStatus(rs: RS, active: readonly KubeObject[], now: Date) {
  const minReady = rs.spec.minReadySeconds ?? 0;
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  return {
    ...rs.status,
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata.generation,
  };
}

export function reconcileReplicaSet(observed: ReplicaSetObserved): Action[] {
  return reconcileReplicas(REPLICA_SET, observed);
}

/** The reconcile of every kind that keeps N replicas of a template (ReplicaSet, ReplicationController). */
export function reconcileReplicas(k: ReplicaKind, { rs: obj, pods, now }: ReplicaSetObserved): Action[] {
  // Only the selector's form differs: the adapter turns an RC's label map into a LabelSelector.
  const rs = { ...obj, spec: { ...(obj.spec as object), selector: workloadSelector(k.resource, obj) } } as RS;
  const actions: Action[] = [];
  const ref = newControllerRef(rs, k.apiVersion, k.kind);
  const c = claim(rs, rs.spec.selector, pods, ref);
  for (const p of c.adopt) actions.push({ type: 'update', resource: 'pods', object: p });
  for (const p of c.release) actions.push({ type: 'update', resource: 'pods', object: p });
  const active = c.owned.filter(isActive);
  const want = rs.spec.replicas ?? 1;
  if (!rs.metadata.deletionTimestamp) {
    const diff = active.length - want;
    if (diff < 0) {
      const template = rs.spec.template ?? {};
      const n = Math.min(-diff, BURST);
      for (let i = 0; i < n; i++) {
        actions.push({
          type: 'create',
          resource: 'pods',
          generateName: `${rs.metadata.name}-`,
          object: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              namespace: rs.metadata.namespace,
              labels: { ...template.metadata?.labels },
              ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
              ownerReferences: [ref],
            },
            spec: structuredClone(template.spec ?? {}),
          },
          event: { about: obj, type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: $NAME' },
        });
      }
    } else if (diff > 0) {
      for (const p of [...active].sort(deletionOrder).slice(0, diff)) {
        actions.push({
          type: 'delete',
          resource: 'pods',
          namespace: p.metadata.namespace!,
          name: p.metadata.name!,
          uid: p.metadata.uid,
          event: { about: obj, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${p.metadata.name}` },
        });
      }
    }
  }
  const status = replicaSetStatus(rs, active, now);
  // Written with the status it describes: the very object read (its own selector form), one write.
  if (!sameJson(status, obj.status)) actions.push({ type: 'update', resource: k.resource, object: { ...obj, status } });
  // minReadySeconds: look again when the next ready pod becomes available.
  const minReady = rs.spec.minReadySeconds ?? 0;
  const next = active
    .filter((p) => !isPodAvailable(p, minReady, now))
    .map((p) => availableAt(p, minReady))
    .filter((d): d is Date => !!d)
    .sort((a, b) => a.getTime() - b.getTime())[0];
  if (next) actions.push({ type: 'requeueAt', at: next });
  return actions;
}

/** Re-reads the object and its namespace's pods, reconciles, applies. NotFound is done. */
export async function syncReplicas(k: ReplicaKind, ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const rs = await ctx.store.get(ctx.tenant, resourceByName(k.resource), namespace, name);
  if (!rs) return;
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false });
  await applyActions(ctx, k.component, key, reconcileReplicas(k, { rs, pods, now: ctx.now }));
}

export const syncReplicaSet = (ctx: ControllerContext, key: string, namespace: string, name: string) => syncReplicas(REPLICA_SET, ctx, key, namespace, name);

