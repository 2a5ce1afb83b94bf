import { badRequest } from '../../shared/errors';
import { authorize } from '../../shared/auth/authorizer';
import type { AuthzAttributes } from '../../shared/auth/rbac';
import type { Identity } from '../../shared/auth/tokens';
import type { ObjectStore } from '../../shared/store/store';
import type { ApiRequest } from './request';

/*
 * User impersonation, as k8s.io/apiserver's WithImpersonation filter: the `Impersonate-User`,
 * `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-{key}` headers (kubectl --as,
 * --as-group, --as-uid) make the request act as another user, if the caller may `impersonate`
 * each of them: users (or serviceaccounts, for `system:serviceaccount:NS:NAME`) and groups in the
 * core group, uids and userextras/{key} in authentication.k8s.io. The impersonated user is
 * authenticated (system:authenticated added) but gets nothing else of the caller's. A repeated
 * header reaches the handler joined with commas (Function URL events), so values are split there.
 */

const SA_PREFIX = 'system:serviceaccount:';

const values = (v: string | undefined): string[] =>
  v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');

/** The identity the request acts as: the caller's, or the one it may impersonate (403 otherwise). */
export async function impersonate(req: ApiRequest, caller: Identity, store: ObjectStore): Promise<Identity> {
  const headers = req.headers;
  const userHeader = headers['impersonate-user'];
  const groups = values(headers['impersonate-group']);
  const uid = headers['impersonate-uid'];
  const extra: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(headers)) {
    if (!name.startsWith('impersonate-extra-') || v === undefined) continue;
    const key = decodeURIComponent(name.slice('impersonate-extra-'.length)).toLowerCase();
    extra[key] = [...(extra[key] ?? []), ...values(v)];
  }
  const asksOthers = groups.length > 0 || uid !== undefined || Object.keys(extra).length > 0;
  if (userHeader === undefined) {
    if (asksOthers) throw badRequest('requested impersonation of groups, extra or uid without impersonating a user');
    return caller;
  }
  const username = userHeader.trim();
  if (!username) throw badRequest('impersonating user name must not be empty');
  const acting = { user: caller.user, groups: caller.groups, verb: 'impersonate', resourceRequest: true } as const;
  const checks: AuthzAttributes[] = [];
  let allGroups = [...groups];
  if (username.startsWith(SA_PREFIX)) {
    const [namespace, name] = username.slice(SA_PREFIX.length).split(':');
    checks.push({ ...acting, apiGroup: '', resource: 'serviceaccounts', namespace, name });
    // A ServiceAccount's groups come with it (serviceaccount.MakeGroupNames).
    if (groups.length === 0 && namespace) allGroups = ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
  } else checks.push({ ...acting, apiGroup: '', resource: 'users', name: username });
  for (const g of groups) checks.push({ ...acting, apiGroup: '', resource: 'groups', name: g });
  for (const [key, vs] of Object.entries(extra)) for (const v of vs) checks.push({ ...acting, apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: v });
  if (uid !== undefined) checks.push({ ...acting, apiGroup: 'authentication.k8s.io', resource: 'uids', name: uid });
  for (const a of checks) await authorize(store, caller.tenant, a);
  if (username === 'system:anonymous') {
    if (!allGroups.includes('system:unauthenticated')) allGroups.push('system:unauthenticated');
  } else if (!allGroups.includes('system:authenticated')) allGroups.push('system:authenticated');
  return { tenant: caller.tenant, user: username, groups: allGroups, extra, ...(uid !== undefined ? { uid } : {}) };
}
