import { invalid } from '../../errors';
import { loadBalancerRange, rangeAddresses } from '../../services/load-balancer';
import type { AdmissionPlugin } from '../admission';

/*
 * LoadBalancerAddresses (Stratus' own; no Kubernetes counterpart, where one cluster owns its
 * nodes): status.loadBalancer.ingress[].ip of the host-local load balancer range is given only by
 * the `loadbalancers` controller (shared/services/load-balancer.ts), which writes as the system.
 * A client's write (a user's, a node's) may keep the addresses the Service holds, never add one:
 * node agents DNAT what a Service's status names in that range, and addresses there are unique
 * across every cluster of the host, so a forged one would aim another cluster's load balancer
 * address at this cluster's pods.
 */

export const LoadBalancerAddresses: AdmissionPlugin = {
  name: 'LoadBalancerAddresses',
  validate(a, ctx) {
    if (!ctx.user || a.operation === 'DELETE' || a.rt.group !== '' || a.rt.resource !== 'services' || !a.object) return;
    const range = loadBalancerRange(ctx.store.config);
    const had = new Set(rangeAddresses(a.oldObject, range));
    const ingress = ((a.object.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress ?? []);
    const added = rangeAddresses(a.object, range).filter((ip) => !had.has(ip));
    if (added.length === 0) return;
    const causes = added.map((ip) => ({
      reason: 'FieldValueForbidden',
      field: `status.loadBalancer.ingress[${ingress.findIndex((i) => i.ip === ip)}].ip`,
      message: `Forbidden: ${ip} is in the load balancer range ${range.cidr}, whose addresses only the load balancer controller assigns`,
    }));
    throw invalid('Service', a.name ?? a.object.metadata.name ?? '', causes);
  },
};
