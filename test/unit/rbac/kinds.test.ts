import { describe, expect, it } from 'vitest';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import { validateObject } from '../../../shared/registry/decode';
import { isStatusError, type StatusCause } from '../../../shared/errors';

const G = 'rbac.authorization.k8s.io';
const NOW = Date.parse('2026-01-01T12:00:00Z');

function causesOf(resource: string, obj: KubeObject, old?: KubeObject): StatusCause[] {
  const rt = resourceByName(resource);
  try {
    validateObject(rt, rt.applyDefaults(obj), old ? rt.applyDefaults(old) : undefined);
    return [];
  } catch (e) {
    if (!isStatusError(e)) throw e;
    return [...(e.details?.causes ?? [])];
  }
}

const binding = (extra: Record<string, unknown> = {}): KubeObject => ({ metadata: { name: 'b', namespace: 'default' }, roleRef: { kind: 'ClusterRole', name: 'view' }, ...extra });

describe('RBAC kinds: validation as Kubernetes words it', () => {
  const cases: { name: string; resource: string; obj: KubeObject; old?: KubeObject; want: StatusCause[] }[] = [
    { name: 'a role with a colon in its name', resource: 'clusterroles', obj: { metadata: { name: 'system:thing' }, rules: [] }, want: [] },
    {
      name: 'a name with a slash',
      resource: 'roles',
      obj: { metadata: { name: 'a/b', namespace: 'default' }, rules: [] },
      want: [{ reason: 'FieldValueInvalid', message: 'Invalid value: "a/b": may not contain \'/\'', field: 'metadata.name' }],
    },
    {
      name: 'a rule without verbs, groups and resources',
      resource: 'roles',
      obj: { metadata: { name: 'r', namespace: 'default' }, rules: [{}] },
      want: [
        { reason: 'FieldValueRequired', message: 'Required value: verbs must contain at least one value', field: 'rules[0].verbs' },
        { reason: 'FieldValueRequired', message: 'Required value: resource rules must supply at least one api group', field: 'rules[0].apiGroups' },
        { reason: 'FieldValueRequired', message: 'Required value: resource rules must supply at least one resource', field: 'rules[0].resources' },
      ],
    },
    {
      name: 'non-resource URLs in a Role',
      resource: 'roles',
      obj: { metadata: { name: 'r', namespace: 'default' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }] },
      want: [{ reason: 'FieldValueInvalid', message: 'Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs', field: 'rules[0].nonResourceURLs' }],
    },
    {
      name: 'non-resource URLs mixed with resources',
      resource: 'clusterroles',
      obj: { metadata: { name: 'r' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/x'], resources: ['pods'] }] },
      want: [{ reason: 'FieldValueInvalid', message: 'Invalid value: []string{"/x"}: rules cannot apply to both regular resources and non-resource URLs', field: 'rules[0].nonResourceURLs' }],
    },
    {
      name: 'an aggregation rule without selectors',
      resource: 'clusterroles',
      obj: { metadata: { name: 'r' }, aggregationRule: {} },
      want: [{ reason: 'FieldValueRequired', message: 'Required value: at least one clusterRoleSelector required if aggregationRule is non-nil', field: 'aggregationRule.clusterRoleSelectors' }],
    },
    { name: 'a binding: defaults fill the API groups', resource: 'rolebindings', obj: binding({ subjects: [{ kind: 'User', name: 'alice' }, { kind: 'ServiceAccount', name: 'sa' }] }), want: [] },
    {
      name: 'a binding to a Role kind from a ClusterRoleBinding',
      resource: 'clusterrolebindings',
      obj: { metadata: { name: 'b' }, roleRef: { kind: 'Role', name: 'x' } },
      want: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Role": supported values: "ClusterRole"', field: 'roleRef.kind' }],
    },
    {
      name: 'a roleRef in another group',
      resource: 'rolebindings',
      obj: binding({ roleRef: { apiGroup: 'example.com', kind: 'ClusterRole', name: 'view' } }),
      want: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"', field: 'roleRef.apiGroup' }],
    },
    {
      name: 'subjects: an unknown kind, a nameless user, a cluster binding service account without namespace',
      resource: 'clusterrolebindings',
      obj: { metadata: { name: 'b' }, roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Robot', name: 'r' }, { kind: 'User', name: '' }, { kind: 'ServiceAccount', name: 'sa' }] },
      want: [
        { reason: 'FieldValueNotSupported', message: 'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"', field: 'subjects[0].kind' },
        { reason: 'FieldValueRequired', message: 'Required value', field: 'subjects[1].name' },
        { reason: 'FieldValueRequired', message: 'Required value', field: 'subjects[2].namespace' },
      ],
    },
    {
      name: 'roleRef is immutable',
      resource: 'rolebindings',
      obj: binding({ roleRef: { kind: 'ClusterRole', name: 'edit' } }),
      old: binding(),
      want: [{ reason: 'FieldValueInvalid', message: `Invalid value: rbac.RoleRef{APIGroup:"${G}", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef`, field: 'roleRef' }],
    },
    { name: 'subjects may change', resource: 'rolebindings', obj: binding({ subjects: [{ kind: 'Group', name: 'g' }] }), old: binding(), want: [] },
  ];
  for (const c of cases)
    it(c.name, () => {
      // Act / Assess
      expect(causesOf(c.resource, c.obj, c.old)).toEqual(c.want);
    });
});

describe('RBAC kinds: kubectl get columns', () => {
  it('roles: NAME, CREATED AT', () => {
    // Arrange
    const table = resourceByName('clusterroles').table!;
    // Act / Assess
    expect(table.columns.map((c) => c.name)).toEqual(['Name', 'Created At']);
    expect(table.cells({ metadata: { name: 'view', creationTimestamp: '2026-01-01T10:00:00Z' } }, NOW)).toEqual(['view', '2026-01-01T10:00:00Z']);
  });
  it('bindings: NAME, ROLE, AGE, wide USERS, GROUPS, SERVICEACCOUNTS', () => {
    // Arrange
    const table = resourceByName('rolebindings').table!;
    const obj: KubeObject = {
      metadata: { name: 'b', creationTimestamp: '2026-01-01T11:55:00Z' },
      roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'view' },
      subjects: [
        { kind: 'User', name: 'alice' },
        { kind: 'User', name: 'bob' },
        { kind: 'Group', name: 'devs' },
        { kind: 'ServiceAccount', name: 'sa', namespace: 'team' },
      ],
    };
    // Act / Assess
    expect(table.columns.map((c) => [c.name, c.priority])).toEqual([['Name', 0], ['Role', 0], ['Age', 0], ['Users', 1], ['Groups', 1], ['ServiceAccounts', 1]]);
    expect(table.cells(obj, NOW)).toEqual(['b', 'ClusterRole/view', '5m', 'alice, bob', 'devs', 'team/sa']);
  });
});
