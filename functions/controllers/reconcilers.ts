import type { ControllerName } from '../../shared/controllers';
import { resourceByName } from '../../shared/resources';
import type { ControllerContext } from './apply';
import { syncCronJob } from './cronjob';
import { syncDaemonSet } from './daemonset';
import { syncDeployment } from './deployment';
import type { ControllerKey } from './dispatch';
import { collectDependents, finalizeOwner, verifyOwners } from './gc';
import { syncHpa } from './hpa';
import { syncJob } from './job';
import { collectOrphanedPods } from './podgc';
import { syncReplicaSet } from './replicaset';
import { syncReplicationController } from './replicationcontroller';
import { syncStatefulSet } from './statefulset';
import { syncSystemNamespaces } from './system-namespaces';
import { syncClusterRoleAggregation } from './clusterrole-aggregation';
import { syncDefaultServiceAccount, syncRootCaConfigMap } from './serviceaccounts';
import { syncLegacyToken } from './serviceaccount-tokens';
import { syncClaim, syncVolume } from './volumes';
import { syncEndpoints, syncEndpointSlices } from './endpoints';
import { syncResourceQuotas } from './resourcequota';
import { syncIngressStatus } from './ingress-status';
import { syncLoadBalancer } from './loadbalancer';

/**
 * Reconciles one key once: `k` is its string (the lease and timers' name), `key` the parsed key.
 * Reads current state itself; a Conflict is retried by the caller (handler.ts reconcileKey).
 */
export type Reconcile = (ctx: ControllerContext, k: string, key: ControllerKey) => Promise<void>;

/**
 * Every declared controller's reconcile (shared/controllers.ts). A Record over the declared
 * names: a declaration without its reconcile here does not compile.
 */
export const reconcilers: Record<ControllerName, Reconcile> = {
  deployments: (ctx, k, key) => syncDeployment(ctx, k, key.namespace, key.name),
  replicasets: (ctx, k, key) => syncReplicaSet(ctx, k, key.namespace, key.name),
  replicationcontrollers: (ctx, k, key) => syncReplicationController(ctx, k, key.namespace, key.name),
  daemonsets: (ctx, k, key) => syncDaemonSet(ctx, k, key.namespace, key.name),
  statefulsets: (ctx, k, key) => syncStatefulSet(ctx, k, key.namespace, key.name),
  jobs: (ctx, k, key) => syncJob(ctx, k, key.namespace, key.name),
  cronjobs: (ctx, k, key) => syncCronJob(ctx, k, key.namespace, key.name),
  persistentvolumeclaims: (ctx, k, key) => syncClaim(ctx, k, key.namespace, key.name),
  persistentvolumes: (ctx, k, key) => syncVolume(ctx, k, key.name),
  podgc: async (ctx, _k, key) => {
    await collectOrphanedPods(ctx, key.name, key.resource === 'recheck');
  },
  'system-namespaces': (ctx) => syncSystemNamespaces(ctx),
  clusterroles: (ctx) => syncClusterRoleAggregation(ctx),
  serviceaccounts: (ctx, _k, key) => syncDefaultServiceAccount(ctx, key.namespace),
  'root-ca-cert-publisher': (ctx, _k, key) => syncRootCaConfigMap(ctx, key.namespace),
  'serviceaccount-tokens': (ctx, _k, key) => syncLegacyToken(ctx, key.namespace, key.name),
  horizontalpodautoscalers: (ctx, k, key) => syncHpa(ctx, k, key.namespace, key.name),
  'gc-dependents': (ctx, k, key) => collectDependents(ctx, k, key.namespace, key.name),
  'gc-finalize': (ctx, k, key) => finalizeOwner(ctx, k, resourceByName(key.resource!), key.namespace, key.name),
  'gc-owners': (ctx, k, key) => verifyOwners(ctx, k, resourceByName(key.resource!), key.namespace, key.name),
  endpoints: (ctx, k, key) => syncEndpoints(ctx, k, key.namespace, key.name),
  endpointslices: (ctx, k, key) => syncEndpointSlices(ctx, k, key.namespace, key.name),
  resourcequotas: (ctx, _k, key) => syncResourceQuotas(ctx, key.namespace, key.name),
  ingresses: (ctx, _k, key) => syncIngressStatus(ctx, key.namespace, key.name),
  loadbalancers: (ctx, _k, key) => syncLoadBalancer(ctx, key.namespace, key.name),
};
