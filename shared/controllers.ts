/**
 * The controllers, declared once: what each watches, the kind it manages, what it adopts and what
 * triggers it. Everything else about them is derived from this list:
 * - infra/wiring.ts: the controllers' stream filter (controllerFilters, CONTROLLER_RESOURCES) and
 *   their rows (the stream consumer, the schedule), so the CDK app and the local runtime too;
 * - functions/controllers/dispatch.ts: the Controller type, which writes give a workload its own
 *   key, the owner kinds whose dependents' changes reach their controller, who adopts orphans;
 * - functions/controllers/reconcilers.ts: a `Record<ControllerName, Reconcile>`, so a declaration
 *   without a reconcile does not compile.
 *
 * Pure data, no imports: infra/ (the CDK app) reads it and must not pull in handler code.
 * Resources are GroupResource strings, as the store's `res` attribute names them (`pods`,
 * `deployments.apps`; shared/store/keys.ts), so a resource of another group never matches.
 */

/** Every kind: for `creations` and `removals`. */
export const EVERY_KIND = '*';

export interface ControllerDeclaration {
  /** The key's controller (ControllerKey.controller); for a workload, its resource's plural. */
  readonly name: string;
  /** GroupResources any write of which may concern it: every write of these reaches the controllers. */
  readonly watches: readonly string[];
  /** GroupResources (or EVERY_KIND) of which only creations concern it. */
  readonly creations?: readonly string[];
  /** GroupResources (or EVERY_KIND) of which only removals concern it. */
  readonly removals?: readonly string[];
  /**
   * The kind it reconciles, as an owner: writes of this kind give it a key, and so do the changes
   * of objects it controls (a controller ownerReference to this apiVersion/kind), which reach the
   * controllers through the store's `gc` attribute. `resource` is the kind's GroupResource.
   */
  readonly owns?: { readonly apiVersion: string; readonly kind: string; readonly resource: string };
  /** GroupResources of orphans it may adopt (its selector is matched against their labels). */
  readonly adopts?: readonly string[];
  /** Objects whose deletion waits on finalizers concern it (the store's `gc` attribute). */
  readonly finalizing?: boolean;
  /**
   * What runs it: `stream`, the objects table's stream (the keys dispatch.ts derives from a
   * change); `schedule`, the timers it sets (requeueAt: deadlines, schedules, TTLs); or both.
   */
  readonly trigger: 'stream' | 'schedule' | 'both';
}

export const CONTROLLERS = [
  {
    name: 'deployments',
    owns: { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments.apps' },
    watches: ['deployments.apps', 'replicasets.apps'],
    adopts: ['replicasets.apps'],
    trigger: 'both', // progress deadlines, minReadySeconds
  },
  {
    name: 'replicasets',
    owns: { apiVersion: 'apps/v1', kind: 'ReplicaSet', resource: 'replicasets.apps' },
    watches: ['replicasets.apps', 'pods'],
    adopts: ['pods'],
    trigger: 'both', // minReadySeconds
  },
  {
    name: 'replicationcontrollers',
    owns: { apiVersion: 'v1', kind: 'ReplicationController', resource: 'replicationcontrollers' },
    watches: ['replicationcontrollers', 'pods'],
    adopts: ['pods'],
    trigger: 'both', // minReadySeconds (the ReplicaSet controller's reconcile)
  },
  {
    name: 'daemonsets',
    owns: { apiVersion: 'apps/v1', kind: 'DaemonSet', resource: 'daemonsets.apps' },
    watches: ['daemonsets.apps', 'pods', 'nodes'],
    adopts: ['pods'],
    trigger: 'stream',
  },
  {
    name: 'statefulsets',
    owns: { apiVersion: 'apps/v1', kind: 'StatefulSet', resource: 'statefulsets.apps' },
    watches: ['statefulsets.apps', 'pods'],
    adopts: ['pods'],
    trigger: 'stream',
  },
  {
    name: 'jobs',
    owns: { apiVersion: 'batch/v1', kind: 'Job', resource: 'jobs.batch' },
    watches: ['jobs.batch', 'pods'],
    adopts: ['pods'],
    trigger: 'both', // activeDeadlineSeconds, ttlSecondsAfterFinished
  },
  {
    name: 'cronjobs',
    owns: { apiVersion: 'batch/v1', kind: 'CronJob', resource: 'cronjobs.batch' },
    watches: ['cronjobs.batch', 'jobs.batch'],
    trigger: 'both', // the schedule
  },
  {
    // Binding, provisioning, pvc-protection (volumes.ts); pods that mount claims.
    name: 'persistentvolumeclaims',
    watches: ['persistentvolumeclaims', 'persistentvolumes', 'pods'],
    trigger: 'stream',
  },
  {
    // Reclaim, release (volumes.ts).
    name: 'persistentvolumes',
    watches: ['persistentvolumes', 'persistentvolumeclaims'],
    trigger: 'stream',
  },
  {
    // A removed node's pods (podgc.ts); rechecked on a timer.
    name: 'podgc',
    watches: [],
    removals: ['nodes'],
    trigger: 'both',
  },
  {
    // A system namespace removed is made again (system-namespaces.ts).
    name: 'system-namespaces',
    watches: [],
    removals: ['namespaces'],
    trigger: 'stream',
  },
  {
    // Every namespace's `default` ServiceAccount: on the namespace's creation, and again when removed (serviceaccounts.ts).
    name: 'serviceaccounts',
    watches: [],
    creations: ['namespaces'],
    removals: ['serviceaccounts'],
    trigger: 'stream',
  },
  {
    // Every namespace's kube-root-ca.crt ConfigMap: on the namespace's creation, and again when removed (serviceaccounts.ts).
    name: 'root-ca-cert-publisher',
    watches: [],
    creations: ['namespaces'],
    removals: ['configmaps'],
    trigger: 'stream',
  },
  {
    // Legacy service-account-token Secrets get their token (serviceaccount-tokens.ts).
    name: 'serviceaccount-tokens',
    watches: [],
    creations: ['secrets'],
    trigger: 'stream',
  },
  {
    // ClusterRole aggregation (clusterrole-aggregation.ts): an aggregated role's rules follow the roles its selectors match.
    name: 'clusterroles',
    owns: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', resource: 'clusterroles.rbac.authorization.k8s.io' },
    watches: ['clusterroles.rbac.authorization.k8s.io'],
    trigger: 'stream',
  },
  {
    // Garbage collector: an owner that went away → its dependents.
    name: 'gc-dependents',
    watches: [],
    removals: [EVERY_KIND],
    trigger: 'stream',
  },
  {
    // Garbage collector: foreground and orphan deletion; a blockOwnerDeletion dependent's removal.
    name: 'gc-finalize',
    watches: [],
    removals: [EVERY_KIND],
    finalizing: true,
    trigger: 'stream',
  },
  {
    // HorizontalPodAutoscaler (hpa.ts): each HPA requeues itself every 15 s while it exists, on
    // the controllers' timers (woken on time by the tick queue); a cluster without HPAs has none.
    name: 'horizontalpodautoscalers',
    owns: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', resource: 'horizontalpodautoscalers.autoscaling' },
    watches: ['horizontalpodautoscalers.autoscaling'],
    trigger: 'both',
  },
  {
    // Garbage collector: a new object's owners exist (else it is collected).
    name: 'gc-owners',
    watches: [],
    creations: [EVERY_KIND],
    trigger: 'stream',
  },
  {
    // Endpoints of Services with a selector, from their pods (functions/controllers/endpoints.ts).
    name: 'endpoints',
    watches: ['services', 'pods'],
    removals: ['endpoints'],
    trigger: 'stream',
  },
  {
    // EndpointSlices of Services with a selector, and mirrors of selector-less Services' Endpoints.
    name: 'endpointslices',
    watches: ['services', 'pods', 'endpoints', 'endpointslices.discovery.k8s.io'],
    trigger: 'stream',
  },
  {
    // ResourceQuota status.used recomputed (resourcequota.ts): on a quota's creation, spec change or
    // new charge; when an object of its namespace goes or a pod finishes; timers for expiring charges.
    name: 'resourcequotas',
    watches: ['resourcequotas', 'pods'],
    removals: [EVERY_KIND],
    trigger: 'both',
  },
  {
    // Ingress status.loadBalancer (ingress-status.ts): the Ready nodes serving the Ingress proxy,
    // for Ingresses of a class the node agents serve; again when a class or a node's address changes.
    name: 'ingresses',
    owns: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', resource: 'ingresses.networking.k8s.io' },
    watches: ['ingresses.networking.k8s.io', 'ingressclasses.networking.k8s.io', 'nodes'],
    trigger: 'stream',
  },
  {
    // LoadBalancer Services' host-local addresses in status.loadBalancer (loadbalancer.ts): on a
    // Service's change of type, class, loadBalancerIP or load balancer status; a timer retries a
    // loadBalancerIP it could not have.
    name: 'loadbalancers',
    watches: ['services'],
    trigger: 'both',
  },
] as const satisfies readonly ControllerDeclaration[];

/**
 * GroupResources no controller watches whose every write the controllers' stream consumer must
 * still see: it tells the nodes of their cluster to list their cluster view again
 * (functions/controllers/service-signals.ts, policy-signals.ts), which NetworkPolicy enforcement
 * reads: policies themselves, and namespaces (their labels, for namespaceSelectors).
 */
export const NODE_SIGNAL_RESOURCES: readonly string[] = ['networkpolicies.networking.k8s.io', 'namespaces'];

export type ControllerName = (typeof CONTROLLERS)[number]['name'];

/** The declarations, each as the interface (optional fields readable). */
export const controllerDeclarations: readonly ControllerDeclaration[] = CONTROLLERS;

const controllerNames: ReadonlySet<string> = new Set(controllerDeclarations.map((c) => c.name));
export const isControllerName = (s: string): s is ControllerName => controllerNames.has(s);

const union = (lists: readonly (readonly string[] | undefined)[]) => [...new Set(lists.flatMap((l) => l ?? []))];

/** GroupResources any write of which concerns some controller: the union of `watches`, in declaration order. */
export const watchedResources = (cs: readonly ControllerDeclaration[] = controllerDeclarations): string[] => union(cs.map((c) => c.watches));

/** GroupResources (or EVERY_KIND) of which some controller hears creations, `watches` aside. */
export const createdResources = (cs: readonly ControllerDeclaration[] = controllerDeclarations): string[] => union(cs.map((c) => c.creations));

/** GroupResources (or EVERY_KIND) of which some controller hears removals, `watches` aside. */
export const removedResources = (cs: readonly ControllerDeclaration[] = controllerDeclarations): string[] => union(cs.map((c) => c.removals));

/** Whether some controller hears of objects by the store's `gc` attribute (it owns a kind, or it finalizes). */
export const hearsGcAttribute = (cs: readonly ControllerDeclaration[] = controllerDeclarations): boolean => cs.some((c) => c.owns !== undefined || c.finalizing === true);

export const hasTrigger = (trigger: 'stream' | 'schedule', cs: readonly ControllerDeclaration[] = controllerDeclarations): boolean =>
  cs.some((c) => c.trigger === trigger || c.trigger === 'both');

/**
 * Checks that a timer may be set for `controllerName`: only a controller declared with the
 * `schedule` or `both` trigger has its timers run (the wiring gives a `stream` one no schedule,
 * so its timer would never fire). Throws naming the declaration to fix.
 */
export function assertSetsTimers(controllerName: string, cs: readonly ControllerDeclaration[] = controllerDeclarations): void {
  const c = cs.find((d) => d.name === controllerName);
  if (!c) throw new Error(`a timer for "${controllerName}", which is not a declared controller (shared/controllers.ts)`);
  if (c.trigger === 'stream')
    throw new Error(`controller "${controllerName}" set a timer but is declared with trigger 'stream' in shared/controllers.ts: declare 'both' so its timers run`);
}
