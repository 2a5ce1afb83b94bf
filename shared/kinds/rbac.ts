import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { dns1123SubdomainProblem } from '../schemas/meta';
import { ClusterRoleBindingSchema, ClusterRoleSchema, RoleBindingSchema, RoleSchema, type Binding, type PolicyRule, type Role } from '../schemas/rbac';
import { roleBindings, roles } from '../printers/rbac';
import { RBAC_GROUP } from '../auth/rbac';

/*
 * rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding, with
 * Kubernetes' defaulting (pkg/apis/rbac/v1/defaults.go) and validation
 * (pkg/apis/rbac/validation/validation.go), in its words. Every write of these kinds bumps the
 * cluster's RBAC generation (ResourceType.bumpsRbacGeneration), which the authorizer's cache
 * checks (shared/auth/rbac-cache.ts).
 */

/** ValidateRBACName: names are path segments (so `system:node` is valid). */
export function rbacNameProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `may not be '${name}'`;
  const p = ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
  return p.length ? p.join(', ') : undefined;
}

const required = (field: string, detail = ''): StatusCause => ({ reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value', field });
const goList = (xs: readonly string[]) => `[]string{${xs.map((x) => JSON.stringify(x)).join(', ')}}`;
const notSupported = (field: string, value: string, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  field,
});

/** ValidatePolicyRule. */
export function validatePolicyRule(rule: PolicyRule, namespaced: boolean, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!rule.verbs?.length) causes.push(required(`${at}.verbs`, 'verbs must contain at least one value'));
  if (rule.nonResourceURLs?.length) {
    if (namespaced)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${goList(rule.nonResourceURLs)}: namespaced rules cannot apply to non-resource URLs`, field: `${at}.nonResourceURLs` });
    if (rule.apiGroups?.length || rule.resources?.length || rule.resourceNames?.length)
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${goList(rule.nonResourceURLs)}: rules cannot apply to both regular resources and non-resource URLs`,
        field: `${at}.nonResourceURLs`,
      });
    return causes;
  }
  if (!rule.apiGroups?.length) causes.push(required(`${at}.apiGroups`, 'resource rules must supply at least one api group'));
  if (!rule.resources?.length) causes.push(required(`${at}.resources`, 'resource rules must supply at least one resource'));
  return causes;
}

function validateRole(namespaced: boolean) {
  return (o: KubeObject): StatusCause[] => {
    const role = o as unknown as Role;
    const causes = (role.rules ?? []).flatMap((r, i) => validatePolicyRule(r, namespaced, `rules[${i}]`));
    const agg = role.aggregationRule;
    if (agg) {
      if (!agg.clusterRoleSelectors?.length)
        causes.push(required('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
      (agg.clusterRoleSelectors ?? []).forEach((s, i) =>
        (s.matchExpressions ?? []).forEach((e, j) => {
          const has = (e.values ?? []).length > 0;
          if ((e.operator === 'In' || e.operator === 'NotIn') && !has)
            causes.push(required(`aggregationRule.clusterRoleSelectors[${i}].matchExpressions[${j}].values`, 'must be specified when `operator` is \'In\' or \'NotIn\''));
          if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && has)
            causes.push({
              reason: 'FieldValueForbidden',
              message: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
              field: `aggregationRule.clusterRoleSelectors[${i}].matchExpressions[${j}].values`,
            });
        }),
      );
    }
    return causes;
  };
}

/** Go's %#v of an rbac.RoleRef, as Kubernetes prints it in "cannot change roleRef". */
const roleRefValue = (r: Binding['roleRef']) => `rbac.RoleRef{APIGroup:${JSON.stringify(r.apiGroup ?? '')}, Kind:${JSON.stringify(r.kind)}, Name:${JSON.stringify(r.name)}}`;

function validateBinding(namespaced: boolean) {
  return (o: KubeObject, old?: KubeObject): StatusCause[] => {
    const b = o as unknown as Binding;
    const causes: StatusCause[] = [];
    const ref = b.roleRef;
    if (ref.apiGroup !== RBAC_GROUP) causes.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if (!kinds.includes(ref.kind)) causes.push(notSupported('roleRef.kind', ref.kind, kinds));
    if (!ref.name) causes.push(required('roleRef.name'));
    else {
      const p = rbacNameProblem(ref.name);
      if (p) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(ref.name)}: ${p}`, field: 'roleRef.name' });
    }
    (b.subjects ?? []).forEach((s, i) => {
      const at = `subjects[${i}]`;
      if (!s.name) causes.push(required(`${at}.name`));
      switch (s.kind) {
        case 'ServiceAccount': {
          const p = s.name ? dns1123SubdomainProblem(s.name) : undefined;
          if (p) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(s.name)}: ${p}`, field: `${at}.name` });
          if (s.apiGroup) causes.push(notSupported(`${at}.apiGroup`, s.apiGroup, ['']));
          if (!namespaced && !s.namespace) causes.push(required(`${at}.namespace`));
          break;
        }
        case 'User':
        case 'Group':
          if (s.apiGroup !== RBAC_GROUP) causes.push(notSupported(`${at}.apiGroup`, s.apiGroup ?? '', [RBAC_GROUP]));
          break;
        default:
          causes.push(notSupported(`${at}.kind`, s.kind, ['ServiceAccount', 'User', 'Group']));
      }
    });
    const oldRef = (old as unknown as Binding | undefined)?.roleRef;
    if (oldRef && (oldRef.apiGroup !== ref.apiGroup || oldRef.kind !== ref.kind || oldRef.name !== ref.name))
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${roleRefValue(ref)}: cannot change roleRef`, field: 'roleRef' });
    return causes;
  };
}

/** SetDefaults_RoleBinding / _ClusterRoleBinding / _Subject: the rbac API group where it is implied. */
export function defaultBinding(o: KubeObject): KubeObject {
  const b = o as unknown as Binding;
  const roleRef = { ...b.roleRef, apiGroup: b.roleRef?.apiGroup || RBAC_GROUP };
  const subjects = b.subjects?.map((s) => ((s.kind === 'User' || s.kind === 'Group') && !s.apiGroup ? { ...s, apiGroup: RBAC_GROUP } : s));
  return { ...o, roleRef, ...(subjects ? { subjects } : {}) };
}

const common = {
  group: RBAC_GROUP,
  version: 'v1',
  shortNames: [],
  subresources: [],
  nameIsLabel: false,
  nameProblem: rbacNameProblem,
  bumpsRbacGeneration: true,
} as const;

export const rbacTypes: readonly ResourceType[] = [
  { ...common, resource: 'roles', kind: 'Role', singular: 'role', namespaced: true, schema: RoleSchema, validate: validateRole(true), applyDefaults: (o) => o, table: roles },
  {
    ...common,
    resource: 'clusterroles',
    kind: 'ClusterRole',
    singular: 'clusterrole',
    namespaced: false,
    schema: ClusterRoleSchema,
    validate: validateRole(false),
    applyDefaults: (o) => o,
    table: roles,
  },
  {
    ...common,
    resource: 'rolebindings',
    kind: 'RoleBinding',
    singular: 'rolebinding',
    namespaced: true,
    schema: RoleBindingSchema,
    validate: validateBinding(true),
    applyDefaults: defaultBinding,
    table: roleBindings,
  },
  {
    ...common,
    resource: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    singular: 'clusterrolebinding',
    namespaced: false,
    schema: ClusterRoleBindingSchema,
    validate: validateBinding(false),
    applyDefaults: defaultBinding,
    table: roleBindings,
  },
];
