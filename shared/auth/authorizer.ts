import { forbidden } from '../errors';
import type { ObjectStore } from '../store/store';
import { nodeNameOf } from './node-identity';
import { rbacCache } from './rbac-cache';
import { forbiddenMessage, rbacAuthorize, type AuthzAttributes, type Decision } from './rbac';

/** What a node agent may do (group/resource → verbs; `*` for all), until the node authorizer replaces it. */
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
  // The cluster view of its service proxy and DNS (node-agent/network/api-cluster-view.ts), as
  // kube-proxy's system:node-proxier role reads them.
  '/services': ['get', 'list', 'watch'],
  '/endpoints': ['get', 'list', 'watch'],
  'discovery.k8s.io/endpointslices': ['get', 'list', 'watch'],
  // NetworkPolicies its node enforces (node-agent/network/network-policy.ts), as CNI agents read them.
  'networking.k8s.io/networkpolicies': ['get', 'list', 'watch'],
  // The routes of its Ingress proxy (node-agent/network/ingress-proxy.ts), as an ingress
  // controller's role reads them: never their status, which a controller writes.
  'networking.k8s.io/ingresses': ['get', 'list', 'watch'],
  'networking.k8s.io/ingressclasses': ['get', 'list', 'watch'],
  // Tokens of the pods bound to it only (shared/serviceaccounts/token-request.ts checks the pod).
  '/serviceaccounts/token': ['create'],
};

/**
 * The authorizer chain, as kube-apiserver's `--authorization-mode=Node,RBAC` with the
 * system:masters group first: members of system:masters may do everything; node agents (group
 * system:nodes) what a kubelet needs (NODE_RULES); then RBAC over the cluster's roles and
 * bindings (shared/auth/rbac.ts, cached per cluster: rbac-cache.ts).
 */
export async function authorizeDecision(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<Decision> {
  if (a.groups.includes('system:masters')) return { allowed: true, reason: '' };
  if (a.resourceRequest && a.groups.includes('system:nodes')) {
    const verbs = (a.subresource && NODE_RULES[`${a.apiGroup ?? ''}/${a.resource ?? ''}/${a.subresource}`]) || NODE_RULES[`${a.apiGroup ?? ''}/${a.resource ?? ''}`];
    if (verbs === '*' || verbs?.includes(a.verb)) return { allowed: true, reason: '' };
  }
  return rbacAuthorize(await rbacCache.get(store, tenant), a);
}

/** Authorization of one request; 403 Forbidden in kube-apiserver's words when denied. */
export async function authorize(store: ObjectStore, tenant: string, a: AuthzAttributes): Promise<void> {
  const d = await authorizeDecision(store, tenant, a);
  if (d.allowed) {
    nodeRestriction(a);
    return;
  }
  throw forbidden(forbiddenMessage(a, d.reason), a.resourceRequest ? { name: a.name, group: a.apiGroup || undefined, kind: a.resource } : undefined);
}

/**
 * NodeRestriction's rule for Node objects (plugin/pkg/admission/noderestriction): a node may
 * modify (update, patch, delete, and their status) only its own Node, in its words.
 */
function nodeRestriction(a: AuthzAttributes): void {
  if (!a.resourceRequest || a.resource !== 'nodes' || (a.apiGroup ?? '') !== '' || a.name === undefined) return;
  if (!['update', 'patch', 'delete'].includes(a.verb)) return;
  const own = nodeNameOf(a);
  if (own === undefined || own === a.name) return;
  throw forbidden(`nodes "${a.name}" is forbidden: node "${own}" is not allowed to modify node "${a.name}"`, { name: a.name, kind: 'nodes' });
}
