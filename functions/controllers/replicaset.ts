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
 */

export const COMPONENT = 'replicaset-controller';

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

export function reconcileReplicaSet({ rs: obj, pods, now }: ReplicaSetObserved): Action[] {
  const rs = obj as RS;
  const actions: Action[] = [];
  const ref = newControllerRef(rs, 'apps/v1', 'ReplicaSet');
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
          event: { about: rs, type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: $NAME' },
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
          event: { about: rs, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${p.metadata.name}` },
        });
      }
    }
  }
  const status = replicaSetStatus(rs, active, now);
  if (!sameJson(status, rs.status)) actions.push({ type: 'update', resource: 'replicasets', object: { ...rs, status } });
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

/** Re-reads the ReplicaSet and its namespace's pods, reconciles, applies. NotFound is done. */
export async function syncReplicaSet(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const rs = await ctx.store.get(ctx.tenant, resourceByName('replicasets'), namespace, name);
  if (!rs) return;
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false });
  await applyActions(ctx, COMPONENT, key, reconcileReplicaSet({ rs, pods, now: ctx.now }));
}

