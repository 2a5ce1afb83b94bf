import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { forbidden, unauthorized } from '../../shared/errors';
import { isOperator } from '../../shared/clusters';
import { hashToken, type Identity } from '../../shared/auth/tokens';
import { lookupBearer } from '../../shared/auth/node-credentials';
import type { Target } from '../../shared/registry/context';
import type { ApiRequest } from './request';
import type { AuthzAttributes } from '../../shared/auth/rbac';
import type { ObjectStore } from '../../shared/store/store';
import { authenticateServiceAccountToken, isServiceAccountToken } from '../../shared/serviceaccounts/authenticator';

const CACHE_TTL_MS = 10_000;
/** Keyed by the token's SHA-256 (no plain token kept in memory); `until`: when the entry ends. */
const cache = new Map<string, { identity: Identity | undefined; until: number }>();

/**
 * How long a looked-up token's answer may be reused: CACHE_TTL_MS, and never past the token's
 * own end (a join token's expiresAt). An unknown token is remembered no longer than a known one.
 */
export function tokenCacheUntil(now: number, expiresAtMs: number | undefined): number {
  return expiresAtMs === undefined ? now + CACHE_TTL_MS : Math.min(now + CACHE_TTL_MS, expiresAtMs);
}

/**
 * Step 1 of every request: authentication. Bearer token → identity (tenant, user, groups).
 * Looked-up identities are cached for a few seconds per warm function instance, never past the
 * token's expiry (node tokens expire and rotate: shared/auth/node-credentials.ts).
 */
export async function authenticate(req: ApiRequest, doc: DynamoDBDocumentClient, config: Config, store?: ObjectStore): Promise<Identity> {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized();
  const token = m[1]!;
  const key = hashToken(token);
  // Service account tokens (JWTs signed by the cluster's keys: shared/serviceaccounts).
  if (store && isServiceAccountToken(token)) {
    const sa = await authenticateServiceAccountToken(store, token);
    noteValidity(key, sa !== undefined);
    return checkCluster(req, sa ?? unauthenticated());
  }
  const hit = cache.get(key);
  let identity: Identity | undefined;
  const now = Date.now();
  if (hit && now < hit.until) identity = hit.identity;
  else {
    // Node credentials carry their end (node-credentials.ts); join tokens too; user tokens none.
    const found = await lookupBearer({ doc, config }, token, now);
    identity = found?.identity;
    if (cache.size > 10_000) cache.clear();
    cache.set(key, { identity, until: tokenCacheUntil(now, found && Number.isFinite(found.expiresAt) ? found.expiresAt : undefined) });
  }
  noteValidity(key, identity !== undefined);
  if (!identity) throw unauthorized();
  return checkCluster(req, identity);
}

/** How long a token that authenticated stays exempt from its source's budget in this instance (knownValidToken). */
const VALID_TTL_MS = 15 * 60_000;
/** Hashes of tokens that authenticated lately (never the identity: a hit here verifies nothing). */
const valid = new Map<string, number>();

function noteValidity(key: string, ok: boolean): void {
  if (!ok) {
    valid.delete(key);
    return;
  }
  if (valid.size > 10_000) valid.clear();
  valid.set(key, Date.now() + VALID_TTL_MS);
}

/**
 * Whether the request's bearer token authenticated in this instance within VALID_TTL_MS (and has
 * not failed since). Only to exempt it from its source address's budget, whose refusal comes
 * before any verification (functions/api/source-limit.ts): the token is still verified as
 * always, so a token revoked since is refused (and forgotten here) by authenticate().
 */
export function knownValidToken(req: Pick<ApiRequest, 'headers'>): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const until = valid.get(hashToken(m[1]!));
  return until !== undefined && Date.now() < until;
}

/**
 * The identity authenticate() would answer from this instance's cache alone, without a read:
 * an opaque bearer token whose cached lookup is fresh and found. Undefined otherwise (no or a
 * malformed header, a service account token, a miss, an unknown token): authenticate() decides.
 * The cluster check is the caller's.
 */
export function cachedIdentity(req: Pick<ApiRequest, 'headers'>): Identity | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m || isServiceAccountToken(m[1]!)) return undefined;
  const hit = cache.get(hashToken(m[1]!));
  return hit && Date.now() < hit.until ? hit.identity : undefined;
}

const unauthenticated = (): never => {
  throw unauthorized();
};

/**
 * A token reaches only its own virtual cluster; the path may name it, but cannot change it. At
 * another cluster's URL the token is unknown to that cluster, and the answer is what any unknown
 * token gets there: 401 Unauthorized (never 403, which would tell the caller the token is valid
 * somewhere, and whose user it is), counted as a failed authentication of the source. The
 * operator credential alone is 403 there, as everywhere outside the operator API.
 */
function checkCluster(req: ApiRequest, identity: Identity): Identity {
  if (req.cluster === undefined || req.cluster === identity.tenant) return identity;
  // The operator credential is the deployment's, known at every cluster's URL: it reaches none (403).
  if (isOperator(identity)) throw forbidden(`User "${identity.user}" cannot access cluster "${req.cluster}"`);
  throw unauthorized();
}

/**
 * authorizer.Attributes of a request: who (user, groups, extra), the verb, and what (API group
 * and version, resource, subresource, namespace, name), or, for a non-resource request, its
 * path. Built once per request by the router and passed to the one authorization call.
 */
export interface RequestAttributes extends AuthzAttributes {
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export function requestAttributes(identity: Identity, verb: string, t: Target): RequestAttributes {
  return {
    user: identity.user,
    groups: identity.groups,
    extra: identity.extra ?? {},
    verb,
    resourceRequest: true,
    apiGroup: t.rt.group,
    apiVersion: t.rt.version,
    resource: t.rt.resource,
    subresource: t.subresource,
    namespace: t.namespace,
    name: t.name,
  };
}

/** Attributes of a non-resource request (`/apis`, `/version`, `/openapi/v3`...). */
export function pathAttributes(identity: Identity, verb: string, path: string): RequestAttributes {
  return { user: identity.user, groups: identity.groups, extra: identity.extra ?? {}, verb, resourceRequest: false, path };
}

export { authorize, authorizeDecision } from '../../shared/auth/authorizer';
