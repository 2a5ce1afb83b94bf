import { forbidden } from '../errors';
import { resourceByName } from '../resources';
import type { ObjectStore } from '../store/store';
import { nodeAuthorize, StoreNodeGraph } from './node-authorizer';
import { nodeNameOf } from './node-identity';
import { rbacCache } from './rbac-cache';
import { forbiddenMessage, rbacAuthorize, type AuthzAttributes, type Decision } from './rbac';

/**
 * The authorizer chain, as kube-apiserver's `--authorization-mode=Node,RBAC` with the
 * system:masters group first: members of system:masters may do everything; node agents (user
 * system:node:NAME, group system:nodes) what the node authorizer allows (node-authorizer.ts:
 * their own pods and what those pods use, read from the store); then RBAC over the cluster's
 * roles and bindings (shared/auth/rbac.ts, cached per cluster: rbac-cache.ts). A denial's reason
 * is the node authorizer's when it had one.
 */
export async function authorizeDecision(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<Decision> {
  if (a.groups.includes('system:masters')) return { allowed: true, reason: '' };
  let nodeReason = '';
  if (a.groups.includes('system:nodes')) {
    const node = nodeNameOf(a);
    const d = node === undefined ? { allowed: false, reason: `unknown node for user "${a.user}"` } : await nodeAuthorize(new StoreNodeGraph(store, tenant), node, a);
    if (d?.allowed) return d;
    nodeReason = d?.reason ?? '';
  }
  const rbac = rbacAuthorize(await rbacCache.get(store, tenant), a);
  return rbac.allowed || !nodeReason ? rbac : { allowed: false, reason: [nodeReason, rbac.reason].filter(Boolean).join(', ') };
}

/** Authorization of one request; 403 Forbidden in kube-apiserver's words when denied. */
export async function authorize(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<void> {
  const d = await authorizeDecision(store, tenant, a);
  if (d.allowed) {
    await nodeRestriction(store, tenant, a);
    return;
  }
  throw forbidden(forbiddenMessage(a, d.reason), a.resourceRequest ? { name: a.name, group: a.apiGroup || undefined, kind: a.resource } : undefined);
}

/**
 * NodeRestriction's rules that need only the request and the stored object
 * (plugin/pkg/admission/noderestriction), in its words; those that need the body (a Node's
 * labels and taints, a Lease's name at create, pod creates) are the NodeRestriction admission
 * plugin (shared/registry/plugins/node-restriction.ts):
 *  - a node modifies (update, patch, delete, and their status) only its own Node;
 *  - it updates the status of, deletes and evicts only pods bound to it.
 */
async function nodeRestriction(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<void> {
  if (!a.resourceRequest || (a.apiGroup ?? '') !== '' || a.name === undefined) return;
  const own = nodeNameOf(a);
  if (own === undefined) return;
  if (a.resource === 'nodes') {
    if (!['update', 'patch', 'delete'].includes(a.verb) || own === a.name) return;
    throw forbidden(`nodes "${a.name}" is forbidden: node "${own}" is not allowed to modify node "${a.name}"`, { name: a.name, kind: 'nodes' });
  }
  if (a.resource !== 'pods') return;
  const sub = a.subresource ?? '';
  const what =
    sub === 'status' && ['update', 'patch'].includes(a.verb)
      ? 'update pod status for'
      : sub === '' && a.verb === 'delete'
        ? 'delete'
        : sub === 'eviction' && a.verb === 'create'
          ? 'evict'
          : undefined;
  if (!what) return;
  const pod = await store.get(tenant, resourceByName('pods'), a.namespace, a.name);
  if (!pod) return; // the registry answers 404
  if ((pod.spec as { nodeName?: string } | undefined)?.nodeName === own) return;
  throw forbidden(`pods "${a.name}" is forbidden: node "${own}" can only ${what} pods with spec.nodeName set to itself`, { name: a.name, kind: 'pods' });
}
