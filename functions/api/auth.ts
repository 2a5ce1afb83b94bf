import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { forbidden, unauthorized } from '../../shared/errors';
import { lookupToken, type Identity } from '../../shared/auth/tokens';
import type { Target } from '../../shared/registry/context';
import type { ApiRequest } from './request';
import type { ObjectStore } from '../../shared/store/store';
import { forbiddenMessage, rbacAuthorize, type AuthzAttributes, type Decision } from '../../shared/auth/rbac';
import { rbacCache } from '../../shared/auth/rbac-cache';

const CACHE_TTL_MS = 10_000;
const cache = new Map<string, { identity: Identity | undefined; at: number }>();

/**
 * Step 1 of every request: authentication. Bearer token → identity (tenant, user, groups).
 * Looked-up identities are cached for a few seconds per warm function instance.
 */
export async function authenticate(req: ApiRequest, doc: DynamoDBDocumentClient, config: Config): Promise<Identity> {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized();
  const token = m[1]!;
  const hit = cache.get(token);
  let identity: Identity | undefined;
  if (hit && Date.now() - hit.at < CACHE_TTL_MS) identity = hit.identity;
  else {
    identity = await lookupToken(doc, config, token);
    if (cache.size > 10_000) cache.clear();
    cache.set(token, { identity, at: Date.now() });
  }
  if (!identity) throw unauthorized();
  // A token reaches only its own virtual cluster; the path may name it, but cannot change it.
  if (req.cluster !== undefined && req.cluster !== identity.tenant)
    throw forbidden(`User "${identity.user}" cannot access cluster "${req.cluster}"`);
  return identity;
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

/** What a node agent may do (group/resource → verbs; `*` for all). */
const NODE_RULES: Readonly<Record<string, readonly string[] | '*'>> = {
  '/nodes': '*',
  '/pods': '*',
  '/events': '*',
  '/namespaces': '*',
  'coordination.k8s.io/leases': '*',
  // What pods mount or read into env: get by name only, so a node cannot list every Secret.
  '/configmaps': ['get'],
  '/secrets': ['get'],
  '/persistentvolumeclaims': ['get'],
  '/persistentvolumes': ['get'],
};

/**
 * The authorizer chain, as kube-apiserver's `--authorization-mode=Node,RBAC` with the
 * system:masters group first: members of system:masters may do everything; node agents (group
 * system:nodes) what a kubelet needs (NODE_RULES, until the node authorizer replaces it); then
 * RBAC over the cluster's roles and bindings (shared/auth/rbac.ts, cached per cluster).
 */
export async function authorizeDecision(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<Decision> {
  if (a.groups.includes('system:masters')) return { allowed: true, reason: '' };
  if (a.resourceRequest && a.groups.includes('system:nodes')) {
    const verbs = NODE_RULES[`${a.apiGroup ?? ''}/${a.resource ?? ''}`];
    if (verbs === '*' || verbs?.includes(a.verb)) return { allowed: true, reason: '' };
  }
  return rbacAuthorize(await rbacCache.get(store, tenant), a);
}

/** Step 2: authorization, once per request; 403 Forbidden in kube-apiserver's words when denied. */
export async function authorize(store: ObjectStore, tenant: string, a: RequestAttributes): Promise<void> {
  const d = await authorizeDecision(store, tenant, a);
  if (d.allowed) return;
  throw forbidden(forbiddenMessage(a, d.reason), a.resourceRequest ? { name: a.name, group: a.apiGroup || undefined, kind: a.resource } : undefined);
}
