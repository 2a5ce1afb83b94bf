import type { KubeObject } from '../resources';
import { AGE, age, arr, col, NAME, rec, str, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of the rbac.authorization.k8s.io kinds, as Kubernetes' printers
 * (pkg/printers/internalversion/printers.go: roleColumnDefinitions, roleBindingsColumnDefinitions).
 */

const CREATED_AT = col(
  'Created At',
  'CreationTimestamp is a timestamp representing the server time when this object was created. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  0,
  'date',
);

/** Role and ClusterRole: NAME, CREATED AT (RFC 3339, UTC). */
export const roles: TableConvertor = {
  columns: [NAME, CREATED_AT],
  cells: (o: KubeObject) => {
    const t = o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) : NaN;
    return [o.metadata.name, Number.isNaN(t) ? '' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z')];
  },
};

/** Users, groups and service accounts of a binding, as SubjectsStrings splits them. */
function subjectsStrings(o: KubeObject): [string, string, string] {
  const users: string[] = [];
  const groups: string[] = [];
  const sas: string[] = [];
  for (const s of arr(o.subjects)) {
    const name = str(s.name);
    if (s.kind === 'User') users.push(name);
    else if (s.kind === 'Group') groups.push(name);
    else if (s.kind === 'ServiceAccount') sas.push(`${str(s.namespace)}/${name}`);
  }
  return [users.join(', '), groups.join(', '), sas.join(', ')];
}

/** RoleBinding and ClusterRoleBinding: NAME ROLE AGE, wide USERS GROUPS SERVICEACCOUNTS. */
export const roleBindings: TableConvertor = {
  columns: [
    NAME,
    col('Role', 'RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.'),
    AGE,
    col('Users', 'Users in the roleBinding', 1),
    col('Groups', 'Groups in the roleBinding', 1),
    col('ServiceAccounts', 'ServiceAccounts in the roleBinding', 1),
  ],
  cells: (o, now) => {
    const ref = rec(o.roleRef);
    return [o.metadata.name, `${str(ref.kind)}/${str(ref.name)}`, age(o, now), ...subjectsStrings(o)];
  },
};
