import type { Identity } from '../auth/tokens';
import { resourceByName } from '../resources';
import type { ObjectStore } from '../store/store';
import { clusterKeys } from './keys';
import { looksLikeJwt, serviceAccountUser, tenantOfIssuer, unverifiedIssuer, verifyToken } from './jwt';

/*
 * The service account token authenticator (Kubernetes' pkg/serviceaccount/jwt.go and
 * legacy/bound validators): a JWT signed by one of its cluster's keys, unexpired, whose
 * ServiceAccount still exists with the uid in the token, and, for a bound token, whose Pod or
 * Secret still exists with its uid (a token outlives neither). Results are cached per warm
 * instance for at most CHECK_CACHE_MS (and never past the token's exp): a deleted pod's token
 * stops working within that.
 */

export const CHECK_CACHE_MS = 2_000;
const cache = new Map<string, { identity: Identity | undefined; until: number }>();

/** Whether the authenticate step should treat this bearer token as a service account JWT. */
export const isServiceAccountToken = looksLikeJwt;

export async function authenticateServiceAccountToken(store: ObjectStore, token: string): Promise<Identity | undefined> {
  const now = Date.now();
  const hit = cache.get(token);
  if (hit && now < hit.until) return hit.identity;
  const identity = await check(store, token);
  if (cache.size > 10_000) cache.clear();
  const exp = identity ? (identity as Identity & { exp?: number }).exp : undefined;
  cache.set(token, { identity: identity && { tenant: identity.tenant, user: identity.user, groups: identity.groups }, until: Math.min(now + CHECK_CACHE_MS, exp ? exp * 1000 : Infinity) });
  return identity && { tenant: identity.tenant, user: identity.user, groups: identity.groups };
}

async function check(store: ObjectStore, token: string): Promise<(Identity & { exp: number }) | undefined> {
  // The token's cluster is its issuer's (checked below with that cluster's keys and issuer); the
  // authenticate step then refuses it at any other cluster's path (403, naming the user).
  const { iss, kid } = unverifiedIssuer(token);
  const tenant = iss ? tenantOfIssuer(iss) : undefined;
  if (!tenant) return undefined;
  const keys = await clusterKeys(store.doc, store.config, tenant, kid);
  if (!keys) return undefined;
  const v = await verifyToken(keys, tenant, token);
  if (!v) return undefined;
  const sa = await store.get(tenant, resourceByName('serviceaccounts'), v.namespace, v.serviceAccount.name);
  if (!sa || sa.metadata.uid !== v.serviceAccount.uid || sa.metadata.deletionTimestamp) return undefined;
  if (v.pod) {
    const pod = await store.get(tenant, resourceByName('pods'), v.namespace, v.pod.name);
    if (!pod || pod.metadata.uid !== v.pod.uid) return undefined;
  }
  if (v.secret) {
    const secret = await store.get(tenant, resourceByName('secrets'), v.namespace, v.secret.name);
    if (!secret || secret.metadata.uid !== v.secret.uid) return undefined;
  }
  return { tenant, ...serviceAccountUser(v.namespace, v.serviceAccount.name), exp: v.exp };
}

/** Forgets cached results (tests). */
export const clearAuthenticatorCache = () => cache.clear();
