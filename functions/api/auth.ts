import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { forbidden, unauthorized } from '../../shared/errors';
import { lookupToken, type Identity } from '../../shared/auth/tokens';
import type { ApiRequest } from './request';

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

export interface RequestAttributes {
  readonly verb: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/**
 * Step 2: authorization. Until RBAC lands, an authenticated identity may do everything in its
 * own tenant, except that node identities (group system:nodes) are limited to what a kubelet
 * needs: nodes, leases, events and pods (status, delete), never other kinds.
 */
export function authorize(identity: Identity, attrs: RequestAttributes): void {
  if (identity.groups.includes('system:masters')) return;
  if (identity.groups.includes('system:nodes')) {
    const allowed = ['nodes', 'leases', 'events', 'pods', 'namespaces'];
    // What pods mount or read into env: get by name only, so a node cannot list every Secret.
    const readable = ['configmaps', 'secrets', 'persistentvolumeclaims', 'persistentvolumes'];
    if (!allowed.includes(attrs.resource) && !(readable.includes(attrs.resource) && attrs.verb === 'get'))
      throw forbidden(
        `${attrs.resource} is forbidden: User "${identity.user}" cannot ${attrs.verb} resource "${attrs.resource}"${attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ''}`,
      );
  }
}
