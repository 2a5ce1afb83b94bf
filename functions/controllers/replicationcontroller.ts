import type { Action } from './actions';
import type { ControllerContext } from './apply';
import { reconcileReplicas, syncReplicas, type ReplicaKind, type ReplicaSetObserved } from './replicaset';

/*
 * The ReplicationController controller (core/v1): the ReplicaSet controller's reconcile run for
 * another kind, as Kubernetes' replication manager wraps replica_set.go. An RC's selector is a
 * plain label map; workloadSelector (shared/kinds/replication.ts) is the one adapter.
 */

export const COMPONENT = 'replication-controller';

export const REPLICATION_CONTROLLER: ReplicaKind = { apiVersion: 'v1', kind: 'ReplicationController', resource: 'replicationcontrollers', component: COMPONENT };

export function reconcileReplicationController(observed: ReplicaSetObserved): Action[] {
  return reconcileReplicas(REPLICATION_CONTROLLER, observed);
}

export const syncReplicationController = (ctx: ControllerContext, key: string, namespace: string, name: string) =>
  syncReplicas(REPLICATION_CONTROLLER, ctx, key, namespace, name);
