import { describe, expect, it } from 'vitest';
import { RBACEscalation } from '../../../shared/registry/plugins/rbac-escalation';
import type { AdmissionAttributes } from '../../../shared/registry/admission';
import type { RegistryContext } from '../../../shared/registry/context';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import type { ObjectStore } from '../../../shared/store/store';
import { isStatusError } from '../../../shared/errors';

const G = 'rbac.authorization.k8s.io';
let n = 0;

/** A cluster whose only RBAC objects are `clusterRoles` and `clusterRoleBindings` (plus cluster-admin). */
function ctxFor(user: string, groups: string[], objects: { clusterRoles?: KubeObject[]; clusterRoleBindings?: KubeObject[] } = {}): RegistryContext {
  const byResource: Record<string, KubeObject[]> = {
    clusterroles: [{ metadata: { name: 'cluster-admin' }, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] }, ...(objects.clusterRoles ?? [])],
    clusterrolebindings: objects.clusterRoleBindings ?? [],
  };
  const store = {
    rbacGeneration: () => Promise.resolve(1),
    list: (_t: string, rt: { resource: string }) => Promise.resolve({ items: byResource[rt.resource] ?? [], resourceVersion: 0 }),
  } as unknown as ObjectStore;
  return { store, tenant: `esc-${n++}`, user: { username: user, groups } };
}

const attrs = (resource: string, object: KubeObject, operation: 'CREATE' | 'UPDATE' = 'CREATE', oldObject?: KubeObject): AdmissionAttributes => ({
  operation,
  rt: resourceByName(resource),
  namespace: object.metadata.namespace,
  name: object.metadata.name,
  object,
  oldObject,
  dryRun: false,
});

async function refusal(a: AdmissionAttributes, ctx: RegistryContext): Promise<{ code: number; message: string } | undefined> {
  try {
    await RBACEscalation.validate!(a, ctx);
    return undefined;
  } catch (e) {
    if (!isStatusError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

const podReader: KubeObject = { metadata: { name: 'pod-reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] };
const boundTo = (role: string, user: string): KubeObject => ({ metadata: { name: `${user}-${role}` }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: role }, subjects: [{ kind: 'User', apiGroup: G, name: user }] });

describe('RBACEscalation', () => {
  it('lets a user write a role with rules it holds, and refuses one with more', async () => {
    // Arrange
    const ctx = ctxFor('alice', ['system:authenticated'], { clusterRoles: [podReader], clusterRoleBindings: [boundTo('pod-reader', 'alice')] });
    const same: KubeObject = { metadata: { name: 'mine', namespace: 'default' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] };
    const more: KubeObject = { metadata: { name: 'more', namespace: 'default' }, rules: [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods'] }] };
    // Act / Assess
    expect(await refusal(attrs('roles', same), ctx)).toBeUndefined();
    expect(await refusal(attrs('roles', more), ctx)).toEqual({
      code: 403,
      message: 'roles.rbac.authorization.k8s.io "more" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
    });
  });

  it('an aggregationRule needs full authority', async () => {
    // Arrange
    const ctx = ctxFor('alice', [], { clusterRoles: [podReader], clusterRoleBindings: [boundTo('pod-reader', 'alice')] });
    const agg: KubeObject = { metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: 'b' } }] }, rules: [] };
    // Act / Assess
    expect((await refusal(attrs('clusterroles', agg), ctx))?.message).toBe('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule');
  });

  it('a binding to a role the user does not hold is refused; to a missing role is NotFound; with bind it is allowed', async () => {
    // Arrange
    const binding: KubeObject = { metadata: { name: 'b', namespace: 'default' }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', apiGroup: G, name: 'alice' }] };
    const missing: KubeObject = { ...binding, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'nope' } };
    const binder: KubeObject = { metadata: { name: 'binder' }, rules: [{ verbs: ['bind'], apiGroups: [G], resources: ['clusterroles'], resourceNames: ['cluster-admin'] }] };
    // Act / Assess
    expect((await refusal(attrs('rolebindings', binding), ctxFor('alice', [])))?.code).toBe(403);
    expect((await refusal(attrs('rolebindings', missing), ctxFor('alice', [])))?.code).toBe(404);
    expect(await refusal(attrs('rolebindings', binding), ctxFor('alice', [], { clusterRoles: [binder], clusterRoleBindings: [boundTo('binder', 'alice')] }))).toBeUndefined();
  });

  it('system:masters and the system itself are exempt; an update of ownerReferences/finalizers only is not checked', async () => {
    // Arrange
    const binding: KubeObject = { metadata: { name: 'b', namespace: 'default' }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [] };
    const system = { ...ctxFor('x', []), user: undefined };
    // Act / Assess
    expect(await refusal(attrs('rolebindings', binding), ctxFor('root', ['system:masters']))).toBeUndefined();
    expect(await refusal(attrs('rolebindings', binding), system)).toBeUndefined();
    expect(await refusal(attrs('rolebindings', { ...binding, metadata: { ...binding.metadata, finalizers: ['x'] } }, 'UPDATE', binding), ctxFor('alice', []))).toBeUndefined();
    expect((await refusal(attrs('rolebindings', { ...binding, subjects: [{ kind: 'User', apiGroup: G, name: 'alice' }] }, 'UPDATE', binding), ctxFor('alice', [])))?.code).toBe(403);
  });
});
