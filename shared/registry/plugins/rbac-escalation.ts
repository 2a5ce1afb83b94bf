import { canonicalJson } from '../../canonical';
import { forbidden, notFound } from '../../errors';
import { authorizeDecision } from '../../auth/authorizer';
import { rbacCache } from '../../auth/rbac-cache';
import { escalationProblem, RBAC_GROUP, roleRefRules } from '../../auth/rbac';
import type { KubeObject } from '../../resources';
import type { Binding, PolicyRule, Role } from '../../schemas/rbac';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';
import type { RegistryContext } from '../context';

/*
 * RBAC escalation prevention, as Kubernetes' policy-based RBAC storage
 * (pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased): a user may
 * write a Role or ClusterRole only with rules they hold themselves (in the role's namespace), or
 * with the `escalate` verb on it; an aggregationRule needs full authority; a binding needs the
 * bound role's rules, or the `bind` verb on the role. Members of system:masters, and the system
 * itself (controllers, no user), are exempt. Refusals are 403 in Kubernetes' words.
 */

const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** IsOnlyMutatingGCFields: an update that only touches ownerReferences and finalizers. */
function onlyGCFields(obj: KubeObject, old: KubeObject | undefined): boolean {
  if (!old) return false;
  const strip = (o: KubeObject) => {
    const { ownerReferences: _o, finalizers: _f, resourceVersion: _r, managedFields: _m, ...meta } = o.metadata;
    return canonicalJson({ ...o, metadata: meta });
  };
  return strip(obj) === strip(old);
}

const refusal = (a: AdmissionAttributes, name: string, message: string) =>
  forbidden(`${a.rt.resource}.${RBAC_GROUP} "${name}" is forbidden: ${message}`, { name, group: RBAC_GROUP, kind: a.rt.resource });

async function allowedTo(ctx: RegistryContext, verb: string, resource: string, name: string, namespace: string | undefined): Promise<boolean> {
  const u = ctx.user!;
  const d = await authorizeDecision(ctx.store, ctx.tenant, { user: u.username, groups: u.groups, verb, resourceRequest: true, apiGroup: RBAC_GROUP, apiVersion: 'v1', resource, name, namespace });
  return d.allowed;
}

async function checkRole(a: AdmissionAttributes, ctx: RegistryContext, role: Role): Promise<void> {
  const name = role.metadata.name ?? '';
  const namespace = a.rt.namespaced ? a.namespace : undefined;
  if (await allowedTo(ctx, 'escalate', a.rt.resource, name, namespace)) return;
  const u = ctx.user!;
  const data = await rbacCache.get(ctx.store, ctx.tenant);
  const problem = escalationProblem(data, u.username, u.groups, namespace, role.rules ?? []);
  if (problem) throw refusal(a, name, problem);
  if (role.aggregationRule && escalationProblem(data, u.username, u.groups, undefined, FULL_AUTHORITY))
    throw refusal(a, name, 'must have cluster-admin privileges to use the aggregationRule');
}

async function checkBinding(a: AdmissionAttributes, ctx: RegistryContext, b: Binding): Promise<void> {
  const name = b.metadata.name ?? '';
  const namespace = a.rt.namespaced ? a.namespace : undefined;
  const ref = b.roleRef;
  const roleResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
  if (await allowedTo(ctx, 'bind', roleResource, ref.name, namespace)) return;
  const u = ctx.user!;
  const data = await rbacCache.get(ctx.store, ctx.tenant);
  const rules = roleRefRules(data, ref, namespace);
  if (!rules) throw notFound(roleResource, ref.name, RBAC_GROUP);
  const problem = escalationProblem(data, u.username, u.groups, namespace, rules);
  if (problem) throw refusal(a, name, problem);
}

export const RBACEscalation: AdmissionPlugin = {
  name: 'RBACEscalation',
  validate: async (a, ctx) => {
    if (a.rt.group !== RBAC_GROUP || a.operation === 'DELETE' || !a.object || a.subresource) return;
    // EscalationAllowed: the system's own writes, and system:masters.
    if (!ctx.user || ctx.user.groups.includes('system:masters')) return;
    if (a.operation === 'UPDATE' && onlyGCFields(a.object, a.oldObject)) return;
    if (a.rt.resource === 'roles' || a.rt.resource === 'clusterroles') await checkRole(a, ctx, a.object as unknown as Role);
    else await checkBinding(a, ctx, a.object as unknown as Binding);
  },
};
