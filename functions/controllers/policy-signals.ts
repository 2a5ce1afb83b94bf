import { canonicalJson } from '../../shared/canonical';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectChange } from '../../shared/store/changes';
import type { ObjectStore } from '../../shared/store/store';

/*
 * What NetworkPolicy enforcement needs the nodes to hear of (node-agent/network/network-policy.ts
 * reads the same cluster view as the service proxy, so these changes travel as the same signal:
 * service-signals.ts). A policy's own writes and a namespace's label changes always matter. A
 * pod's matter only for what selects or resolves it (its addresses, labels, whether it finished),
 * and only while its cluster has a NetworkPolicy: a cluster without policies gets no more messages
 * than before (one store query per stream batch with such a pod change tells).
 */

/** A NetworkPolicy written or removed, or a namespace whose labels changed. */
export const changesPolicies = (c: ObjectChange): boolean =>
  (c.group === 'networking.k8s.io' && c.resource === 'networkpolicies') ||
  (c.group === '' && c.resource === 'namespaces' && c.eventName === 'MODIFY' && canonicalJson(c.oldObject?.metadata.labels ?? {}) !== canonicalJson(c.newObject?.metadata.labels ?? {}));

/** What a pod is to a policy: its addresses, labels, whether it finished, whether it uses the host's network. */
function policyFacts(p: KubeObject | undefined): string {
  if (!p) return '';
  const status = (p.status ?? {}) as { podIP?: string; podIPs?: { ip: string }[]; phase?: string };
  const ips = status.podIPs?.map((i) => i.ip) ?? (status.podIP ? [status.podIP] : []);
  if (ips.length === 0) return '';
  const finished = status.phase === 'Succeeded' || status.phase === 'Failed';
  return canonicalJson({ ips, labels: p.metadata.labels ?? {}, finished, hostNetwork: (p.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork === true });
}

/** A pod change a policy could see (an address came or went, labels changed, the pod finished). */
export const changesPolicyPeers = (c: ObjectChange): boolean => c.group === '' && c.resource === 'pods' && policyFacts(c.oldObject) !== policyFacts(c.newObject);

/** Whether the cluster has at least one NetworkPolicy (one query, at most one item read). */
export async function hasNetworkPolicies(store: ObjectStore, tenant: string): Promise<boolean> {
  const { items } = await store.list(tenant, resourceByName('networkpolicies'), { limit: 1, versioned: false });
  return items.length > 0;
}
