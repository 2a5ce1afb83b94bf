/**
 * Traffic from outside the cluster to a Service (kube-proxy's "external" chains), as data for the
 * service proxy's table (service-rules.ts calls externalEntries per Service port; pure):
 *
 * - NodePorts (`node_ports`: proto . nodePort) and LoadBalancer addresses (`service_ips`:
 *   address . proto . port; the addresses of the host-local range in the Service's
 *   status.loadBalancer.ingress, shared/services/load-balancer.ts) jump to one entry chain per
 *   Service port, which goes to the endpoints externalTrafficPolicy selects:
 *   - Cluster: every ready endpoint, masqueraded (mark 0x4000), as before;
 *   - Local: only this node's endpoints, without SNAT, so the pod sees the client's address. One
 *     exception: a client on the host that used a loopback address (127.0.0.1:nodePort, or the
 *     127.240/12 load balancer addresses) has a loopback source no pod can answer, so it is
 *     SNATed to the node's address (mark 0x8000, LOCAL_SNAT_MARK): the pod sees the host's
 *     address, not the bridge gateway's. A node without local endpoints adds no entry at all, so
 *     on a host of several nodes of one cluster another node's table (one that has local
 *     endpoints) takes the connection; when none has, it is refused.
 * - The endpoint chains are the internal ones when internal and external traffic go to the same
 *   endpoints (internalTrafficPolicy = externalTrafficPolicy, the usual case); otherwise this file
 *   makes its own (`xsvc-`, `xep-`, `xaff-`).
 * - The static part gains two rules (externalStaticRules): the output hook looks LoadBalancer
 *   addresses up in `service_ips` (only addresses of the load balancer range: ClusterIPs from the
 *   host stay unserved, they are ambiguous between clusters), and postrouting SNATs mark 0x8000 to
 *   the node's address.
 */
import { createHash } from 'node:crypto';
import type { Service, ServicePort } from '../../shared/schemas/service';
import { loadConfig } from '../../shared/config';
import { loadBalancerRange, rangeAddresses } from '../../shared/services/load-balancer';
import type { Ipv4Range } from '../../shared/services/ip';

/** The packet mark asking postrouting to SNAT to the node's address (loopback clients of Local Services). */
export const LOCAL_SNAT_MARK = '0x8000';
const MASQ = '0x4000';
const DEFAULT_AFFINITY_SECONDS = 10_800;

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** The deployment's load balancer range, as the API allocates from it (STRATUS_LOADBALANCER_CIDR). */
export const LB_RANGE: Ipv4Range = loadBalancerRange(loadConfig());

export interface ExternalEndpoint {
  readonly ip: string;
  readonly port: number;
}

export interface ExternalInput {
  readonly svc: Service;
  readonly port: ServicePort;
  /** What identifies the Service port (service-rules.ts' portId). */
  readonly portId: string;
  /** nft's protocol name (tcp, udp, sctp). */
  readonly proto: string;
  readonly nodeName: string;
  readonly nodeIPs: readonly string[];
  /** The port's endpoints: all ready ones, and this node's ready ones. */
  readonly endpoints: (localOnly: boolean) => ExternalEndpoint[];
  /** The internal chain of the port and the endpoints it goes to (none when it has none). */
  readonly internal?: { readonly chain: string; readonly endpoints: readonly ExternalEndpoint[] };
  /** @default LB_RANGE */
  readonly lbRange?: Ipv4Range;
}

export interface ExternalEntries {
  readonly chains: [string, string[]][];
  readonly sets: [string, string][];
  readonly nodePorts: [string, string][];
  readonly serviceIps: [string, string][];
}

const same = (a: readonly ExternalEndpoint[], b: readonly ExternalEndpoint[]) => a.length === b.length && a.every((e, i) => e.ip === b[i]!.ip && e.port === b[i]!.port);

/** The Service's LoadBalancer addresses this proxy serves (those of the host-local range). */
export const loadBalancerAddresses = (svc: Service, range: Ipv4Range = LB_RANGE): string[] => (svc.spec.type === 'LoadBalancer' ? rangeAddresses(svc, range) : []);

/** What one Service port adds for traffic from outside the cluster (NodePort, LoadBalancer address). */
export function externalEntries(input: ExternalInput): ExternalEntries {
  const out: ExternalEntries = { chains: [], sets: [], nodePorts: [], serviceIps: [] };
  const { svc, port: sp, proto, portId } = input;
  const nodePort = (svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer') && sp.nodePort ? sp.nodePort : undefined;
  const lbIps = loadBalancerAddresses(svc, input.lbRange);
  if (!nodePort && !lbIps.length) return out;
  const local = svc.spec.externalTrafficPolicy === 'Local';
  const eps = input.endpoints(local);
  if (!eps.length) return out; // nothing to serve here (Local: another node may)
  let target = input.internal && same(input.internal.endpoints, eps) ? input.internal.chain : undefined;
  if (!target) {
    // Chains of our own for the external endpoint set.
    const affinity = svc.spec.sessionAffinity === 'ClientIP' ? (svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : undefined;
    target = `xsvc-${hash(`${portId}|${local}`)}`;
    const svcRules: string[] = [];
    const epChains = eps.map((e) => ({ e, chain: `xep-${hash(`${portId}|${local}|${e.ip}:${e.port}|${affinity ?? ''}`)}` }));
    for (const { e, chain } of epChains) {
      const rules = [`ip saddr ${e.ip} meta mark set mark or ${MASQ}`];
      if (affinity !== undefined) {
        const set = `xaff-${chain.slice(4)}`;
        out.sets.push([set, `type ipv4_addr; flags dynamic,timeout; timeout ${affinity}s;`]);
        rules.push(`update @${set} { ip saddr }`);
        svcRules.push(`ip saddr @${set} goto ${chain}`);
      }
      rules.push(`meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`);
      out.chains.push([chain, rules]);
    }
    svcRules.push(epChains.length === 1 ? `goto ${epChains[0]!.chain}` : `numgen random mod ${epChains.length} vmap { ${epChains.map(({ chain }, i) => `${i} : goto ${chain}`).join(', ')} }`);
    out.chains.push([target, svcRules]);
  }
  const entry = `${local ? 'xl' : 'xc'}-${hash(portId)}`;
  const hasNodeIp = input.nodeIPs.some((ip) => ip !== '127.0.0.1');
  out.chains.push([
    entry,
    local
      ? [`ip saddr 127.0.0.0/8 meta mark set mark or ${hasNodeIp ? LOCAL_SNAT_MARK : MASQ}`, `goto ${target}`]
      : [`meta mark set mark or ${MASQ}`, `goto ${target}`],
  ]);
  if (nodePort) out.nodePorts.push([`${proto} . ${nodePort}`, `goto ${entry}`]);
  for (const ip of lbIps) out.serviceIps.push([`${ip} . ${proto} . ${sp.port}`, `goto ${entry}`]);
  return out;
}

/** The static table's extra rules: for the output chain, and for postrouting (before its masquerade). */
export function externalStaticRules(nodeIPs: readonly string[], range: Ipv4Range = LB_RANGE): { output: string[]; postrouting: string[] } {
  const nodeIp = nodeIPs.find((ip) => ip !== '127.0.0.1');
  return {
    output: [`    ip daddr ${range.cidr} ip daddr . meta l4proto . th dport vmap @service_ips`],
    postrouting: nodeIp ? [`    meta mark & ${LOCAL_SNAT_MARK} == ${LOCAL_SNAT_MARK} snat ip to ${nodeIp}`] : [],
  };
}
