import type { Binding, PolicyRule, Role, Subject } from '../schemas/rbac';

/*
 * The RBAC authorizer, as Kubernetes' (plugin/pkg/auth/authorizer/rbac and
 * pkg/registry/rbac/validation/rule.go): a request is allowed when a rule of a role bound to the
 * user (a ClusterRoleBinding, or a RoleBinding in the request's namespace) allows it. Pure: the
 * RBAC objects come in as an RbacData snapshot (shared/auth/rbac-cache.ts keeps one per cluster).
 */

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** authorizer.Attributes: who, and either a resource request or a non-resource one (path). */
export interface AuthzAttributes {
  readonly user: string;
  readonly groups: readonly string[];
  readonly verb: string;
  readonly resourceRequest: boolean;
  readonly apiGroup?: string;
  readonly apiVersion?: string;
  readonly resource?: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Non-resource requests: the URL path (`/apis`). */
  readonly path?: string;
  /** The request's field selector (list/watch), as authorizer.Attributes' GetFieldSelector: the node authorizer reads it. */
  readonly fieldSelector?: string;
}

/** One cluster's RBAC objects, indexed by subject for the authorizer. */
export interface RbacData {
  readonly roles: ReadonlyMap<string, Role>;
  readonly clusterRoles: ReadonlyMap<string, Role>;
  /** Subject key (subjectKeys) → ClusterRoleBindings naming it. */
  readonly clusterBindings: ReadonlyMap<string, readonly Binding[]>;
  /** Namespace → subject key → RoleBindings. */
  readonly roleBindings: ReadonlyMap<string, ReadonlyMap<string, readonly Binding[]>>;
}

const USER = 'User';
const GROUP = 'Group';
const SA = 'ServiceAccount';
const SA_PREFIX = 'system:serviceaccount:';

/** The username of a ServiceAccount (serviceaccount.MakeUsername). */
export const serviceAccountUser = (namespace: string, name: string) => `${SA_PREFIX}${namespace}:${name}`;

function subjectKey(s: Subject, bindingNamespace: string | undefined): string | undefined {
  switch (s.kind) {
    case USER:
      return `u:${s.name}`;
    case GROUP:
      return `g:${s.name}`;
    case SA: {
      const ns = s.namespace || bindingNamespace;
      return ns ? `u:${serviceAccountUser(ns, s.name)}` : undefined;
    }
    default:
      return undefined;
  }
}

/** The keys a user's bindings are found under: its name and each of its groups. */
function userKeys(user: string, groups: readonly string[]): string[] {
  return [`u:${user}`, ...groups.map((g) => `g:${g}`)];
}

const roleKey = (namespace: string, name: string) => `${namespace}/${name}`;

function addTo(map: Map<string, Binding[]>, key: string, b: Binding): void {
  const list = map.get(key);
  if (!list) map.set(key, [b]);
  else if (!list.includes(b)) list.push(b);
}

/** Builds the indexed snapshot from the four kinds' objects. */
export function buildRbacData(input: { roles: readonly Role[]; clusterRoles: readonly Role[]; roleBindings: readonly Binding[]; clusterRoleBindings: readonly Binding[] }): RbacData {
  const roles = new Map<string, Role>();
  for (const r of input.roles) roles.set(roleKey(r.metadata.namespace ?? '', r.metadata.name ?? ''), r);
  const clusterRoles = new Map<string, Role>();
  for (const r of input.clusterRoles) clusterRoles.set(r.metadata.name ?? '', r);
  const clusterBindings = new Map<string, Binding[]>();
  for (const b of input.clusterRoleBindings) for (const s of b.subjects ?? []) {
    const k = subjectKey(s, undefined);
    if (k) addTo(clusterBindings, k, b);
  }
  const roleBindings = new Map<string, Map<string, Binding[]>>();
  for (const b of input.roleBindings) {
    const ns = b.metadata.namespace ?? '';
    let byKey = roleBindings.get(ns);
    if (!byKey) roleBindings.set(ns, (byKey = new Map<string, Binding[]>()));
    for (const s of b.subjects ?? []) {
      const k = subjectKey(s, ns);
      if (k) addTo(byKey, k, b);
    }
  }
  return { roles, clusterRoles, clusterBindings, roleBindings };
}

export const EMPTY_RBAC: RbacData = buildRbacData({ roles: [], clusterRoles: [], roleBindings: [], clusterRoleBindings: [] });

// --- rule matching (rbac.go RuleAllows) --------------------------------------------------------

const has = (list: readonly string[] | null | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, combined: string, subresource: string | undefined): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.slice(2) === subresource) return true;
  }
  return false;
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** Whether one rule allows the request. */
export function ruleAllows(a: AuthzAttributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path ?? '');
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '');
  if (!has(rule.apiGroups, a.apiGroup ?? '')) return false;
  if (!resourceMatches(rule, combined, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (!!a.name && names.includes(a.name));
}

// --- visiting the rules that apply to a user -----------------------------------------------

/** Why a rule applies, for SubjectAccessReview's reason (rbac.go's authorizingVisitor). */
export interface RuleSource {
  readonly binding: Binding;
  readonly bindingKind: 'ClusterRoleBinding' | 'RoleBinding';
  readonly role: Role;
}

function roleOf(data: RbacData, b: Binding, bindingNamespace: string | undefined, errors: string[]): Role | undefined {
  const ref = b.roleRef;
  if (ref.kind === 'ClusterRole') {
    const r = data.clusterRoles.get(ref.name);
    if (!r) errors.push(`clusterrole.rbac.authorization.k8s.io "${ref.name}" not found`);
    return r;
  }
  if (ref.kind === 'Role' && bindingNamespace !== undefined) {
    const r = data.roles.get(roleKey(bindingNamespace, ref.name));
    if (!r) errors.push(`role.rbac.authorization.k8s.io "${ref.name}" not found`);
    return r;
  }
  return undefined;
}

/**
 * Visits every rule that applies to the user in `namespace` (cluster-wide bindings first, then
 * the namespace's), until `visit` returns false. Errors (a binding's role not found) are collected.
 */
export function visitRules(data: RbacData, user: string, groups: readonly string[], namespace: string | undefined, visit: (rule: PolicyRule, source: RuleSource) => boolean, errors: string[] = []): void {
  const keys = userKeys(user, groups);
  const seen = new Set<Binding>();
  for (const k of keys) {
    for (const b of data.clusterBindings.get(k) ?? []) {
      if (seen.has(b)) continue;
      seen.add(b);
      const role = roleOf(data, b, undefined, errors);
      if (!role) continue;
      for (const rule of role.rules ?? []) if (!visit(rule, { binding: b, bindingKind: 'ClusterRoleBinding', role })) return;
    }
  }
  if (!namespace) return;
  const inNs = data.roleBindings.get(namespace);
  if (!inNs) return;
  for (const k of keys) {
    for (const b of inNs.get(k) ?? []) {
      if (seen.has(b)) continue;
      seen.add(b);
      const role = roleOf(data, b, namespace, errors);
      if (!role) continue;
      for (const rule of role.rules ?? []) if (!visit(rule, { binding: b, bindingKind: 'RoleBinding', role })) return;
    }
  }
}

export interface Decision {
  readonly allowed: boolean;
  /** Allowed: which binding and role; denied: resolution errors, `RBAC: ...`, or empty. */
  readonly reason: string;
}

/** Subject of a binding in rbac.go's words (`User "alice"`, `ServiceAccount "ns/name"`). */
function describeSubject(user: string, groups: readonly string[], b: Binding, bindingNamespace: string | undefined): string {
  for (const s of b.subjects ?? []) {
    if (s.kind === USER && s.name === user) return `User "${s.name}"`;
    if (s.kind === GROUP && groups.includes(s.name)) return `Group "${s.name}"`;
    if (s.kind === SA && user === serviceAccountUser(s.namespace || bindingNamespace || '', s.name)) return `ServiceAccount "${s.namespace || bindingNamespace}/${s.name}"`;
  }
  return '';
}

/** The RBAC decision for one request. */
export function rbacAuthorize(data: RbacData, a: AuthzAttributes): Decision {
  let allowedBy: RuleSource | undefined;
  const errors: string[] = [];
  visitRules(
    data,
    a.user,
    a.groups,
    a.resourceRequest ? a.namespace : undefined,
    (rule, source) => {
      if (!ruleAllows(a, rule)) return true;
      allowedBy = source;
      return false;
    },
    errors,
  );
  if (allowedBy) {
    const b = allowedBy.binding;
    const where = allowedBy.bindingKind === 'RoleBinding' ? `"${b.metadata.name}/${b.metadata.namespace}"` : `"${b.metadata.name}"`;
    return {
      allowed: true,
      reason: `RBAC: allowed by ${allowedBy.bindingKind} ${where} of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(a.user, a.groups, b, b.metadata.namespace)}`,
    };
  }
  return { allowed: false, reason: errors.length ? `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` : '' };
}

/** Every rule that applies to the user in `namespace` (RulesFor), with resolution errors. */
export function rulesFor(data: RbacData, user: string, groups: readonly string[], namespace: string | undefined): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRules(data, user, groups, namespace, (rule) => (rules.push(rule), true), errors);
  return { rules, errors };
}

/** The rules a role reference grants (GetRoleReferenceRules); undefined when the role is missing. */
export function roleRefRules(data: RbacData, ref: { kind: string; name: string }, namespace: string | undefined): PolicyRule[] | undefined {
  const role = ref.kind === 'ClusterRole' ? data.clusterRoles.get(ref.name) : namespace !== undefined ? data.roles.get(roleKey(namespace, ref.name)) : undefined;
  return role ? (role.rules ?? []) : undefined;
}

// --- Forbidden messages (apiserver's responsewriters.forbiddenMessage and NewForbidden) ---------

/** The message of a 403 for a denied request, in kube-apiserver's words. */
export function forbiddenMessage(a: AuthzAttributes, reason = ''): string {
  let msg: string;
  let prefix: string;
  if (!a.resourceRequest) {
    msg = `User "${a.user}" cannot ${a.verb} path "${a.path ?? ''}"`;
    prefix = 'forbidden';
  } else {
    const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    msg = a.namespace
      ? `User "${a.user}" cannot ${a.verb} resource "${what}" in API group "${a.apiGroup ?? ''}" in the namespace "${a.namespace}"`
      : `User "${a.user}" cannot ${a.verb} resource "${what}" in API group "${a.apiGroup ?? ''}" at the cluster scope`;
    const gr = a.apiGroup ? `${a.resource}.${a.apiGroup}` : (a.resource ?? '');
    prefix = gr ? (a.name ? `${gr} "${a.name}" is forbidden` : `${gr} is forbidden`) : 'forbidden';
  }
  return `${prefix}: ${msg}${reason ? `: ${reason}` : ''}`;
}

// --- escalation checks (pkg/registry/rbac/validation: Covers, CompactString) -----------------

interface SimpleRule {
  verb: string;
  group?: string;
  resource?: string;
  name?: string;
  url?: string;
}

/** BreakdownRule: one rule per verb × group × resource × name (or × URL). */
function breakdown(rule: PolicyRule): SimpleRule[] {
  const out: SimpleRule[] = [];
  for (const verb of rule.verbs ?? []) {
    for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) {
      const names = rule.resourceNames ?? [];
      if (names.length === 0) out.push({ verb, group, resource });
      else for (const name of names) out.push({ verb, group, resource, name });
    }
    for (const url of rule.nonResourceURLs ?? []) out.push({ verb, url });
  }
  return out;
}

function ruleCovers(owner: PolicyRule, s: SimpleRule): boolean {
  if (!has(owner.verbs, s.verb)) return false;
  if (s.url !== undefined) {
    return (owner.nonResourceURLs ?? []).some((u) => u === '*' || u === s.url || (u.endsWith('*') && s.url!.startsWith(u.slice(0, -1))));
  }
  if (!has(owner.apiGroups, s.group!)) return false;
  const res = owner.resources ?? [];
  const r = s.resource!;
  if (!(res.includes('*') || res.includes(r) || (r.includes('/') && res.includes(`*/${r.slice(r.indexOf('/') + 1)}`)))) return false;
  const names = owner.resourceNames ?? [];
  return names.length === 0 || (s.name !== undefined && names.includes(s.name));
}

/** Covers: the simple rules of `rules` no owner rule covers (empty when all are covered). */
export function missingRules(ownerRules: readonly PolicyRule[], rules: readonly PolicyRule[]): PolicyRule[] {
  const missing: SimpleRule[] = [];
  for (const rule of rules) for (const s of breakdown(rule)) if (!ownerRules.some((o) => ruleCovers(o, s))) missing.push(s);
  // CompactRules: simple resource rules differing only in verb are merged.
  const merged = new Map<string, PolicyRule>();
  const out: PolicyRule[] = [];
  for (const s of missing) {
    if (s.url !== undefined) {
      out.push({ nonResourceURLs: [s.url], verbs: [s.verb] });
      continue;
    }
    const key = JSON.stringify([s.group, s.resource, s.name ?? null]);
    const m = merged.get(key);
    if (m) {
      if (!m.verbs!.includes(s.verb)) m.verbs!.push(s.verb);
      continue;
    }
    const r: PolicyRule = { apiGroups: [s.group!], resources: [s.resource!], ...(s.name !== undefined ? { resourceNames: [s.name] } : {}), verbs: [s.verb] };
    merged.set(key, r);
    out.push(r);
  }
  return out;
}

/** Go's %q of a []string: `["a" "b"]`. */
export const goQuotedList = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;

/** rbacv1helpers.CompactString. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuotedList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuotedList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuotedList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuotedList(r.resourceNames)}`);
  if (r.verbs?.length) parts.push(`Verbs:${goQuotedList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/**
 * ConfirmNoEscalation's message when `rules` are not all held by the user; undefined when they are.
 */
export function escalationProblem(data: RbacData, user: string, groups: readonly string[], namespace: string | undefined, rules: readonly PolicyRule[]): string | undefined {
  const owner = rulesFor(data, user, groups, namespace);
  const missing = missingRules(owner.rules, rules);
  if (missing.length === 0) return undefined;
  const descriptions = [...new Set(missing.map(compactString))].sort();
  let msg = `user "${user}" (groups=${goQuotedList(groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`;
  if (owner.errors.length) msg += `; resolution errors: [${owner.errors.join(' ')}]`;
  return msg;
}
