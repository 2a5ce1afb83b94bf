import { isAlreadyExists } from './errors';
import { resourceByName, type KubeObject } from './resources';
import { numberToIp, parseCidr } from './services/ip';
import { IP_POOL } from './services/allocator';
import { defaultService } from './services/validation';
import type { ObjectStore } from './store/store';

/*
 * The `kube-dns` Service of kube-system, as kubeadm's CoreDNS add-on makes it: ClusterIP the
 * service range's 10th address (10.96.0.10), ports dns/53 UDP and dns-tcp/53 TCP (kubeadm's
 * metrics/9153 is left out: nothing serves it). No selector and no endpoints: every node agent
 * answers DNS itself on its bridge gateway and DNATs this address there from its own pods
 * (node-agent/network/node-bridge.ts), as NodeLocal DNSCache does. Made with the system namespaces;
 * safe to repeat and to run concurrently (the address is claimed as the allocator claims it).
 */

export const KUBE_DNS_SERVICE = 'kube-dns';
const NS = 'kube-system';

/** The 10th address of the service CIDR (kubeadm's clusterDNS): 10.96.0.10 for 10.96.0.0/12. */
export function defaultClusterDNS(serviceCidr: string = '10.96.0.0/12'): string {
  return numberToIp(parseCidr(serviceCidr).base + 10);
}

export function kubeDnsServiceObject(config: { serviceCidr?: string }): KubeObject {
  return defaultService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: KUBE_DNS_SERVICE,
      namespace: NS,
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' },
      annotations: { 'prometheus.io/port': '9153', 'prometheus.io/scrape': 'true' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: defaultClusterDNS(config.serviceCidr),
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
      sessionAffinity: 'None',
    },
    status: { loadBalancer: {} },
  });
}

/** Creates the kube-dns Service when `tenant` lacks it. */
export async function ensureKubeDnsService(store: ObjectStore, tenant: string): Promise<void> {
  const rt = resourceByName('services');
  if (await store.get(tenant, rt, NS, KUBE_DNS_SERVICE)) return;
  const service = kubeDnsServiceObject(store.config);
  const ip = (service.spec as { clusterIP: string }).clusterIP;
  const owner = `${NS}/${KUBE_DNS_SERVICE}`;
  const claimed = await store.allocations.claim(tenant, IP_POOL, ip, owner);
  if (!claimed && (await store.allocations.holder(tenant, IP_POOL, ip)) !== owner) return; // a user's Service took it first
  try {
    await store.create(tenant, rt, service);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}
