import { isAlreadyExists } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import type { PolicyRule, RbacLabelSelector } from '../schemas/rbac';
import { selectorMatches } from '../kinds/apps';
import type { ObjectStore } from '../store/store';
import { RBAC_GROUP } from './rbac';

/*
 * The default roles and bindings every cluster has from its first second, as Kubernetes'
 * bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) makes them: the
 * user-facing cluster-admin, admin, edit and view (the last three aggregated from the
 * system:aggregate-to-* roles, as the ClusterRole aggregation controller keeps them), the
 * discovery roles bound to system:authenticated, and the node roles. Each carries the
 * `rbac.authorization.kubernetes.io/autoupdate: "true"` annotation and the
 * `kubernetes.io/bootstrapping: rbac-defaults` label. Stratus's own components (controllers,
 * scheduler) act as the system and are not authorized per request, so the controller roles of
 * Kubernetes are not needed here.
 */

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const rule = (verbs: string[], apiGroups: string[], resources: string[]): PolicyRule => ({ verbs, apiGroups, resources });
const urls = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({ verbs, nonResourceURLs });

const AGGREGATE = (to: string) => `rbac.authorization.k8s.io/aggregate-to-${to}`;

interface RoleSpec {
  name: string;
  rules?: PolicyRule[];
  labels?: Record<string, string>;
  aggregateFrom?: string;
}

const VIEW_RULES: PolicyRule[] = [
  rule(READ, [''], ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status']),
  rule(READ, [''], ['bindings', 'events', 'limitranges', 'namespaces/status', 'pods/log', 'pods/status', 'replicationcontrollers/status', 'resourcequotas', 'resourcequotas/status']),
  rule(READ, [''], ['namespaces']),
  rule(READ, ['discovery.k8s.io'], ['endpointslices']),
  rule(READ, ['apps'], ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status']),
  rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
  rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
  rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
  rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
];

const EDIT_RULES: PolicyRule[] = [
  rule(['impersonate'], [''], ['serviceaccounts']),
  rule(WRITE, [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
  rule(['create'], [''], ['pods/eviction']),
  rule(WRITE, [''], ['configmaps', 'events', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy']),
  rule(['create'], [''], ['serviceaccounts/token']),
  rule(WRITE, ['apps'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale']),
  rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
  rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
  rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
  rule(WRITE, ['policy'], ['poddisruptionbudgets']),
  rule(READ, [''], ['secrets', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'services/proxy']),
];

const ADMIN_RULES: PolicyRule[] = [
  rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
  rule([...WRITE, ...READ], [RBAC_GROUP], ['rolebindings', 'roles']),
];

export const BOOTSTRAP_CLUSTER_ROLES: readonly RoleSpec[] = [
  { name: 'cluster-admin', rules: [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])] },
  { name: 'admin', aggregateFrom: 'admin' },
  { name: 'edit', aggregateFrom: 'edit', labels: { [AGGREGATE('admin')]: 'true' } },
  { name: 'view', aggregateFrom: 'view', labels: { [AGGREGATE('edit')]: 'true' } },
  { name: 'system:aggregate-to-admin', rules: ADMIN_RULES, labels: { [AGGREGATE('admin')]: 'true' } },
  { name: 'system:aggregate-to-edit', rules: EDIT_RULES, labels: { [AGGREGATE('edit')]: 'true' } },
  { name: 'system:aggregate-to-view', rules: VIEW_RULES, labels: { [AGGREGATE('view')]: 'true' } },
  {
    name: 'system:discovery',
    rules: [urls(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'])],
  },
  {
    name: 'system:basic-user',
    rules: [rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']), rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews'])],
  },
  { name: 'system:public-info-viewer', rules: [urls(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])] },
  { name: 'system:monitoring', rules: [urls(['get'], ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/metrics/slis', '/readyz', '/readyz/*'])] },
  {
    name: 'system:node',
    rules: [
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews', 'subjectaccessreviews']),
      rule(READ, [''], ['services']),
      rule(['create', 'get', 'list', 'watch'], [''], ['nodes']),
      rule(['patch', 'update'], [''], ['nodes/status']),
      rule(['patch', 'update'], [''], ['nodes']),
      rule(['create', 'patch', 'update'], [''], ['events']),
      rule(READ, [''], ['pods']),
      rule(['create', 'delete'], [''], ['pods']),
      rule(['patch', 'update'], [''], ['pods/status']),
      rule(['create'], [''], ['pods/eviction']),
      rule(['get'], [''], ['configmaps', 'secrets']),
      rule(['get'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
      rule(['get'], [''], ['endpoints']),
      rule(['create', 'delete', 'get', 'patch', 'update'], ['coordination.k8s.io'], ['leases']),
      rule(['get'], ['storage.k8s.io'], ['volumeattachments']),
      rule(['create'], [''], ['serviceaccounts/token']),
    ],
  },
  {
    name: 'system:node-proxier',
    rules: [
      rule(['list', 'watch'], [''], ['endpoints', 'services']),
      rule(['get', 'list', 'watch'], [''], ['nodes']),
      rule(['create', 'patch', 'update'], ['', 'events.k8s.io'], ['events']),
      rule(['list', 'watch'], ['discovery.k8s.io'], ['endpointslices']),
    ],
  },
];

const group = (name: string) => ({ kind: 'Group', apiGroup: RBAC_GROUP, name });
const user = (name: string) => ({ kind: 'User', apiGroup: RBAC_GROUP, name });

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: readonly { name: string; role: string; subjects: { kind: string; apiGroup: string; name: string }[] }[] = [
  { name: 'cluster-admin', role: 'cluster-admin', subjects: [group('system:masters')] },
  { name: 'system:discovery', role: 'system:discovery', subjects: [group('system:authenticated')] },
  { name: 'system:basic-user', role: 'system:basic-user', subjects: [group('system:authenticated')] },
  { name: 'system:public-info-viewer', role: 'system:public-info-viewer', subjects: [group('system:authenticated'), group('system:unauthenticated')] },
  { name: 'system:monitoring', role: 'system:monitoring', subjects: [group('system:monitoring')] },
  { name: 'system:node-proxier', role: 'system:node-proxier', subjects: [user('system:kube-proxy')] },
];

const META = (name: string, labels: Record<string, string> = {}) => ({
  name,
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...labels },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
});

/** An RBAC selector (nullable lists, as clients send them) as the label selector matcher takes it. */
const labelSelector = (s: RbacLabelSelector): Parameters<typeof selectorMatches>[0] => ({
  matchLabels: s.matchLabels ?? undefined,
  matchExpressions: (s.matchExpressions ?? []).map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? undefined })),
});

/** Rules an aggregated role gets: those of every other ClusterRole its selector matches, de-duplicated, in name order. */
export function aggregatedRules(selectors: readonly RbacLabelSelector[], roles: readonly KubeObject[], self: string): PolicyRule[] {
  const out: PolicyRule[] = [];
  const seen = new Set<string>();
  for (const r of [...roles].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))) {
    if (r.metadata.name === self) continue;
    if (!selectors.some((s) => selectorMatches(labelSelector(s), r.metadata.labels))) continue;
    for (const rl of (r.rules as PolicyRule[] | null | undefined) ?? []) {
      const k = JSON.stringify(rl);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(rl);
    }
  }
  return out;
}

/** The default ClusterRoles as objects, with admin/edit/view's rules already aggregated. */
export function bootstrapClusterRoles(): KubeObject[] {
  const base: KubeObject[] = BOOTSTRAP_CLUSTER_ROLES.map((r) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: META(r.name, r.labels),
    ...(r.aggregateFrom ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE(r.aggregateFrom)]: 'true' } }] } } : {}),
    rules: r.rules ?? [],
  }));
  // view first, then edit (which takes view's), then admin (which takes edit's).
  for (const name of ['view', 'edit', 'admin']) {
    const role = base.find((r) => r.metadata.name === name)!;
    const selectors = (role.aggregationRule as { clusterRoleSelectors: { matchLabels: Record<string, string> }[] }).clusterRoleSelectors;
    role.rules = aggregatedRules(selectors, base, name);
  }
  return base;
}

export function bootstrapClusterRoleBindings(): KubeObject[] {
  return BOOTSTRAP_CLUSTER_ROLE_BINDINGS.map((b) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: META(b.name),
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: b.role },
    subjects: b.subjects,
  }));
}

/** Creates whichever default roles and bindings `tenant` lacks. Idempotent, safe to run concurrently. */
export async function ensureBootstrapPolicy(store: ObjectStore, tenant: string): Promise<void> {
  const roles = resourceByName('clusterroles');
  const bindings = resourceByName('clusterrolebindings');
  const work = [...bootstrapClusterRoles().map((o) => [roles, o] as const), ...bootstrapClusterRoleBindings().map((o) => [bindings, o] as const)];
  await Promise.all(
    work.map(async ([rt, obj]) => {
      if (await store.get(tenant, rt, undefined, obj.metadata.name!)) return;
      try {
        await store.create(tenant, rt, obj);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }),
  );
}
