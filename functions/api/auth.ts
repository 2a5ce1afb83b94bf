import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { forbidden, unauthorized } from '../../shared/errors';
import { lookupToken, type Identity } from '../../shared/auth/tokens';
import type { Target } from '../../shared/registry/context';
import type { ApiRequest } from './request';
import type { ObjectStore } from '../../shared/store/store';
import { authenticateServiceAccountToken, isServiceAccountToken } from '../../shared/serviceaccounts/authenticator';

const CACHE_TTL_MS = 10_000;
const cache = new Map<string, { identity: Identity | undefined; at: number }>();

/**
 * Step 1 of every request: authentication. Bearer token → identity (tenant, user, groups).
 * Looked-up identities are cached for a few seconds per warm function instance.
 */
export async function authenticate(req: ApiRequest, doc: DynamoDBDocumentClient, config: Config, store?: ObjectStore): Promise<Identity> {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized();
  const token = m[1]!;
  // Service account tokens (JWTs signed by the cluster's keys: shared/serviceaccounts).
  if (store && isServiceAccountToken(token)) return checkCluster(req, (await authenticateServiceAccountToken(store, token)) ?? unauthenticated());
  const hit = cache.get(token);
  let identity: Identity | undefined;
  if (hit && Date.now() - hit.at < CACHE_TTL_MS) identity = hit.identity;
  else {
    identity = await lookupToken(doc, config, token);
    if (cache.size > 10_000) cache.clear();
    cache.set(token, { identity, at: Date.now() });
  }
  if (!identity) throw unauthorized();
  return checkCluster(req, identity);
}

const unauthenticated = (): never => {
  throw unauthorized();
};

/** A token reaches only its own virtual cluster; the path may name it, but cannot change it. */
function checkCluster(req: ApiRequest, identity: Identity): Identity {
  if (req.cluster !== undefined && req.cluster !== identity.tenant)
    throw forbidden(`User "${identity.user}" cannot access cluster "${req.cluster}"`);
  return identity;
}

/**
 * authorizer.Attributes of a resource request: who (user, groups, extra), the verb, and what
 * (API group and version, resource, subresource, namespace, name). Built once per request by the
 * router and passed to the one authorization call.
 */
export interface RequestAttributes {
  readonly user: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
  readonly verb: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

export function requestAttributes(identity: Identity, verb: string, t: Target): RequestAttributes {
  return {
    user: identity.user,
    groups: identity.groups,
    extra: {},
    verb,
    apiGroup: t.rt.group,
    apiVersion: t.rt.version,
    resource: t.rt.resource,
    subresource: t.subresource,
    namespace: t.namespace,
    name: t.name,
  };
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
  // Tokens of the pods bound to it only (shared/serviceaccounts/token-request.ts checks the pod).
  '/serviceaccounts/token': ['create'],
};

/**
 * Step 2: authorization, once per request. Until RBAC lands, an authenticated identity may do
 * everything in its own tenant, except that node identities (group system:nodes) are limited to
 * what a kubelet needs (NODE_RULES), never other kinds.
 */
export function authorize(a: RequestAttributes): void {
  if (a.groups.includes('system:masters')) return;
  if (a.groups.includes('system:nodes')) {
    const verbs = (a.subresource && NODE_RULES[`${a.apiGroup}/${a.resource}/${a.subresource}`]) || NODE_RULES[`${a.apiGroup}/${a.resource}`];
    if (verbs !== '*' && !verbs?.includes(a.verb)) {
      const resource = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
      const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
      throw forbidden(
        `${resource}${a.name ? ` "${a.name}"` : ''} is forbidden: User "${a.user}" cannot ${a.verb} resource "${what}" in API group "${a.apiGroup}"${a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope'}`,
        { name: a.name, group: a.apiGroup || undefined, kind: a.resource },
      );
    }
  }
}
