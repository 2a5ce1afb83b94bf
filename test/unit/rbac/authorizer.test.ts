import { describe, expect, it } from 'vitest';
import {
  buildRbacData,
  compactString,
  escalationProblem,
  forbiddenMessage,
  missingRules,
  rbacAuthorize,
  ruleAllows,
  type AuthzAttributes,
} from '../../../shared/auth/rbac';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from '../../../shared/auth/bootstrap-policy';
import type { Binding, PolicyRule, Role } from '../../../shared/schemas/rbac';

const G = 'rbac.authorization.k8s.io';
const res = (verb: string, resource: string, extra: Partial<AuthzAttributes> = {}): AuthzAttributes => ({
  user: 'alice',
  groups: ['system:authenticated'],
  verb,
  resourceRequest: true,
  apiGroup: '',
  resource,
  namespace: 'default',
  ...extra,
});
const path = (p: string, verb = 'get'): AuthzAttributes => ({ user: 'alice', groups: ['system:authenticated'], verb, resourceRequest: false, path: p });

describe('ruleAllows (RuleAllows)', () => {
  const cases: { name: string; rule: PolicyRule; a: AuthzAttributes; allowed: boolean }[] = [
    { name: 'exact', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, a: res('get', 'pods'), allowed: true },
    { name: 'other verb', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, a: res('delete', 'pods'), allowed: false },
    { name: 'other group', rule: { verbs: ['get'], apiGroups: ['apps'], resources: ['pods'] }, a: res('get', 'pods'), allowed: false },
    { name: 'verb *', rule: { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, a: res('delete', 'pods'), allowed: true },
    { name: 'group *', rule: { verbs: ['get'], apiGroups: ['*'], resources: ['deployments'] }, a: res('get', 'deployments', { apiGroup: 'apps' }), allowed: true },
    { name: 'resource * covers subresources', rule: { verbs: ['get'], apiGroups: [''], resources: ['*'] }, a: res('get', 'pods', { subresource: 'log' }), allowed: true },
    { name: 'resource without its subresource', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, a: res('get', 'pods', { subresource: 'log' }), allowed: false },
    { name: 'resource/subresource', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, a: res('get', 'pods', { subresource: 'log' }), allowed: true },
    { name: '*/subresource', rule: { verbs: ['get'], apiGroups: [''], resources: ['*/status'] }, a: res('get', 'pods', { subresource: 'status' }), allowed: true },
    { name: '*/subresource is not the main resource', rule: { verbs: ['get'], apiGroups: [''], resources: ['*/status'] }, a: res('get', 'pods'), allowed: false },
    { name: 'resourceNames match', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: res('get', 'pods', { name: 'a' }), allowed: true },
    { name: 'resourceNames other', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: res('get', 'pods', { name: 'b' }), allowed: false },
    { name: 'resourceNames never a list', rule: { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: res('list', 'pods'), allowed: false },
    { name: 'url exact', rule: { verbs: ['get'], nonResourceURLs: ['/version'] }, a: path('/version'), allowed: true },
    { name: 'url prefix *', rule: { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, a: path('/apis/apps/v1'), allowed: true },
    { name: 'url prefix * is not the bare path', rule: { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, a: path('/apis'), allowed: false },
    { name: 'url rule never a resource', rule: { verbs: ['*'], nonResourceURLs: ['*'] }, a: res('get', 'pods'), allowed: false },
    { name: 'resource rule never a url', rule: { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, a: path('/version'), allowed: false },
    { name: 'url other verb', rule: { verbs: ['get'], nonResourceURLs: ['*'] }, a: path('/version', 'post'), allowed: false },
  ];
  for (const c of cases)
    it(c.name, () => {
      // Act / Assess
      expect(ruleAllows(c.a, c.rule)).toBe(c.allowed);
    });
});

const role = (name: string, rules: PolicyRule[], namespace?: string): Role => ({ metadata: { name, namespace }, rules });
const binding = (name: string, kind: string, roleName: string, subjects: Binding['subjects'], namespace?: string): Binding => ({
  metadata: { name, namespace },
  roleRef: { apiGroup: G, kind, name: roleName },
  subjects,
});

describe('rbacAuthorize', () => {
  const data = buildRbacData({
    clusterRoles: [...(bootstrapClusterRoles() as unknown as Role[])],
    clusterRoleBindings: [
      ...(bootstrapClusterRoleBindings() as unknown as Binding[]),
      binding('alice-view', 'ClusterRole', 'view', [{ kind: 'User', apiGroup: G, name: 'alice' }]),
      binding('broken', 'ClusterRole', 'missing', [{ kind: 'User', apiGroup: G, name: 'carol' }]),
    ],
    roles: [role('pod-deleter', [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }], 'team')],
    roleBindings: [
      binding('bob-deletes', 'Role', 'pod-deleter', [{ kind: 'User', apiGroup: G, name: 'bob' }], 'team'),
      binding('sa-edit', 'ClusterRole', 'edit', [{ kind: 'ServiceAccount', name: 'builder' }], 'team'),
    ],
  });
  const cases: { name: string; a: AuthzAttributes; allowed: boolean }[] = [
    { name: 'view: get pods', a: res('get', 'pods'), allowed: true },
    { name: 'view: list deployments', a: res('list', 'deployments', { apiGroup: 'apps' }), allowed: true },
    { name: 'view: not delete', a: res('delete', 'pods', { name: 'x' }), allowed: false },
    { name: 'view: not secrets', a: res('get', 'secrets', { name: 's' }), allowed: false },
    { name: 'view: not rolebindings', a: res('create', 'rolebindings', { apiGroup: G }), allowed: false },
    { name: 'view: logs', a: res('get', 'pods', { subresource: 'log', name: 'x' }), allowed: true },
    { name: 'discovery for every authenticated user', a: path('/apis'), allowed: true },
    { name: 'self access reviews for every authenticated user', a: res('create', 'selfsubjectaccessreviews', { apiGroup: 'authorization.k8s.io', namespace: undefined }), allowed: true },
    { name: 'a role binding applies in its namespace', a: { ...res('delete', 'pods', { name: 'x', namespace: 'team' }), user: 'bob' }, allowed: true },
    { name: 'a role binding does not apply elsewhere', a: { ...res('delete', 'pods', { name: 'x', namespace: 'default' }), user: 'bob' }, allowed: false },
    { name: 'a role binding never grants cluster scope', a: { ...res('delete', 'pods', { name: 'x', namespace: undefined }), user: 'bob' }, allowed: false },
    { name: 'service account subject (namespace from the binding)', a: { ...res('create', 'deployments', { apiGroup: 'apps', namespace: 'team' }), user: 'system:serviceaccount:team:builder' }, allowed: true },
    { name: 'service account of another namespace', a: { ...res('create', 'deployments', { apiGroup: 'apps', namespace: 'team' }), user: 'system:serviceaccount:other:builder' }, allowed: false },
    { name: 'group system:masters through cluster-admin', a: { ...res('delete', 'nodes', { namespace: undefined }), user: 'root', groups: ['system:masters'] }, allowed: true },
    { name: 'unauthenticated user gets nothing', a: { ...res('get', 'pods'), user: 'system:anonymous', groups: [] }, allowed: false },
  ];
  for (const c of cases)
    it(c.name, () => {
      // Act / Assess
      expect(rbacAuthorize(data, c.a).allowed).toBe(c.allowed);
    });

  it('says why it allowed, and names a missing role when it denies', () => {
    // Act
    const allowed = rbacAuthorize(data, res('get', 'pods'));
    const denied = rbacAuthorize(data, { ...res('get', 'pods'), user: 'carol' });
    // Assess
    expect(allowed.reason).toBe('RBAC: allowed by ClusterRoleBinding "alice-view" of ClusterRole "view" to User "alice"');
    expect(denied).toEqual({ allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found' });
  });
});

describe('forbiddenMessage', () => {
  const cases: { a: AuthzAttributes; want: string }[] = [
    { a: res('list', 'pods'), want: 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"' },
    { a: res('delete', 'pods', { name: 'web' }), want: 'pods "web" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "default"' },
    { a: res('list', 'nodes', { namespace: undefined }), want: 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope' },
    { a: res('get', 'deployments', { apiGroup: 'apps', name: 'd' }), want: 'deployments.apps "d" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "default"' },
    { a: res('get', 'pods', { name: 'p', subresource: 'log' }), want: 'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "default"' },
    { a: path('/apis'), want: 'forbidden: User "alice" cannot get path "/apis"' },
  ];
  for (const c of cases)
    it(c.want, () => {
      // Act / Assess
      expect(forbiddenMessage(c.a)).toBe(c.want);
    });
});

describe('escalation (Covers, CompactString)', () => {
  it('covers what is held, and names what is not', () => {
    // Arrange
    const owner: PolicyRule[] = [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'pods/log'] }, { verbs: ['get'], nonResourceURLs: ['/apis/*'] }];
    // Act / Assess
    expect(missingRules(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }])).toEqual([]);
    expect(missingRules(owner, [{ verbs: ['get'], nonResourceURLs: ['/apis/apps'] }])).toEqual([]);
    expect(missingRules(owner, [{ verbs: ['get', 'delete', 'create'], apiGroups: [''], resources: ['pods'] }])).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['delete', 'create'] }]);
    expect(missingRules(owner, [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }])).toHaveLength(1);
    expect(missingRules([{ verbs: ['get'], apiGroups: [''], resources: ['*/status'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods/status'] }])).toEqual([]);
    expect(missingRules([{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }])).toHaveLength(1);
  });

  it("writes Kubernetes' message", () => {
    // Arrange
    const data = buildRbacData({ clusterRoles: [], clusterRoleBindings: [], roles: [], roleBindings: [] });
    // Act
    const msg = escalationProblem(data, 'alice', ['system:authenticated'], 'default', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }]);
    // Assess
    expect(msg).toBe('user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}');
    expect(compactString({ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a', 'b'] })).toBe('{APIGroups:[""], Resources:["pods"], ResourceNames:["a" "b"], Verbs:["get"]}');
  });
});

describe('bootstrap policy', () => {
  it('aggregates view into edit into admin, and labels and annotates every default', () => {
    // Act
    const roles = bootstrapClusterRoles();
    const byName = new Map(roles.map((r) => [r.metadata.name, r]));
    const rulesOf = (n: string) => (byName.get(n)!.rules as PolicyRule[]).map((r) => JSON.stringify(r));
    // Assess
    for (const r of [...roles, ...bootstrapClusterRoleBindings()]) {
      expect(r.metadata.labels?.['kubernetes.io/bootstrapping']).toBe('rbac-defaults');
      expect(r.metadata.annotations?.['rbac.authorization.kubernetes.io/autoupdate']).toBe('true');
    }
    expect(rulesOf('view').length).toBeGreaterThan(0);
    for (const r of rulesOf('view')) expect(rulesOf('edit')).toContain(r);
    for (const r of rulesOf('edit')) expect(rulesOf('admin')).toContain(r);
    expect(rulesOf('view').some((r) => r.includes('"secrets"'))).toBe(false);
    expect(rulesOf('admin').some((r) => r.includes('"rolebindings"'))).toBe(true);
  });
});
