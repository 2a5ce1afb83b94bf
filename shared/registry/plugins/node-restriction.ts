import { forbidden } from '../../errors';
import type { KubeObject } from '../../resources';
import { nodeNameOf } from '../../auth/node-identity';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';

/*
 * NodeRestriction (plugin/pkg/admission/noderestriction), the rules that need the object: what
 * a node (user system:node:NAME) may write. The rules that need only the request and the stored
 * object (another node's Node, pods bound elsewhere) are checked right after authorization
 * (shared/auth/authorizer.ts nodeRestriction).
 * - Node create: only its own name, without labels of the node-restriction.kubernetes.io/ prefix
 *   or kubernetes.io/k8s.io labels other than the kubelet's own set.
 * - Node update (and status): not its taints, not its ownerReferences, not those labels.
 * - Lease create: only the one named as the node.
 * - Pod create: never (no static pods, so no mirror pods, here).
 */

const CORE = (a: AdmissionAttributes, resource: string) => a.rt.group === '' && a.rt.resource === resource;

/** The kubelet's own labels (kubeletapis.IsKubeletLabel). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
const NODE_RESTRICTION_NAMESPACE = 'node-restriction.kubernetes.io';

const labelNamespace = (key: string) => (key.includes('/') ? key.slice(0, key.indexOf('/')) : '');
const inDomain = (ns: string, domain: string) => ns === domain || ns.endsWith(`.${domain}`);

function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  return KUBELET_LABEL_NAMESPACES.some((d) => inDomain(ns, d));
}

/** Labels a node may not add, remove or change on its own Node (getForbiddenLabels), sorted. */
export function forbiddenNodeLabels(next: Readonly<Record<string, string>> | undefined, prev: Readonly<Record<string, string>> | undefined): string[] {
  const a = next ?? {};
  const b = prev ?? {};
  const modified = new Set<string>();
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) modified.add(k);
  const out: string[] = [];
  for (const k of modified) {
    const ns = labelNamespace(k);
    const restricted = inDomain(ns, NODE_RESTRICTION_NAMESPACE);
    const kubernetes = (inDomain(ns, 'kubernetes.io') || inDomain(ns, 'k8s.io')) && !isKubeletLabel(k);
    if (restricted || kubernetes) out.push(k);
  }
  return out.sort();
}

const same = (x: unknown, y: unknown) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
const taintsOf = (o: KubeObject | undefined) => {
  const t = (o?.spec as { taints?: unknown[] } | undefined)?.taints;
  return t && t.length ? t : undefined;
};
const ownersOf = (o: KubeObject | undefined) => {
  const r = o?.metadata.ownerReferences;
  return r && r.length ? r : undefined;
};

export const NodeRestriction: AdmissionPlugin = {
  name: 'NodeRestriction',
  validate(a, ctx) {
    if (!ctx.user) return;
    const node = nodeNameOf({ user: ctx.user.username, groups: ctx.user.groups });
    if (node === undefined) return;
    const name = a.object?.metadata.name ?? a.name ?? '';
    if (CORE(a, 'nodes')) {
      const refuse = (why: string) => forbidden(`nodes "${name}" is forbidden: ${why}`, { name, kind: 'nodes' });
      if (a.operation === 'DELETE') return;
      if (name !== node) throw refuse(`node "${node}" is not allowed to modify node "${name}"`);
      if (a.operation === 'CREATE') {
        const bad = forbiddenNodeLabels(a.object?.metadata.labels, undefined);
        if (bad.length) throw refuse(`node "${node}" is not allowed to set the following labels: ${bad.join(', ')}`);
        return;
      }
      if (a.operation === 'UPDATE') {
        if (!same(taintsOf(a.object), taintsOf(a.oldObject))) throw refuse(`node "${node}" is not allowed to modify taints`);
        if (!same(ownersOf(a.object), ownersOf(a.oldObject))) throw refuse(`node "${node}" is not allowed to modify ownerReferences`);
        const bad = forbiddenNodeLabels(a.object?.metadata.labels, a.oldObject?.metadata.labels);
        if (bad.length) throw refuse(`is not allowed to modify labels: ${bad.join(', ')}`);
      }
      return;
    }
    if (a.rt.group === 'coordination.k8s.io' && a.rt.resource === 'leases' && a.operation === 'CREATE' && name !== node)
      throw forbidden(`leases.coordination.k8s.io "${name}" is forbidden: can only access node lease with the same name as the requesting node`, { name, group: 'coordination.k8s.io', kind: 'leases' });
    if (CORE(a, 'pods') && a.operation === 'CREATE' && !a.subresource) {
      const mirror = a.object?.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined;
      throw forbidden(
        mirror
          ? `pods "${name}" is forbidden: node "${node}" can not create mirror pods: this cluster has no static pods`
          : `pods "${name}" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "${node}" can only create mirror pods`,
        { name, kind: 'pods' },
      );
    }
  },
};
