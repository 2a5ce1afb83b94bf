/**
 * Traffic from outside the cluster to a Service (kube-proxy's "external" chains), as data for the
 * service proxy's table (service-rules.ts calls these per Service port; pure):
 *
 * - NodePorts (`node_ports`: proto . nodePort) and LoadBalancer addresses (the addresses of the
 *   host-local range in the Service's status.loadBalancer.ingress, shared/services/load-balancer.ts)
 *   go to the endpoints externalTrafficPolicy selects:
 *   - Cluster: every ready endpoint, masqueraded (mark 0x4000);
 *   - Local: only this node's endpoints, without SNAT, so the pod sees the client's address. One
 *     exception: a client on the host that used a loopback address (127.0.0.1:nodePort, or the
 *     127.240/12 load balancer addresses) has a loopback source no pod can answer, so it is
 *     SNATed to the node's address (mark 0x8000, LOCAL_SNAT_MARK): the pod sees the host's
 *     address, not the bridge gateway's. A node without local endpoints adds no entry at all, so
 *     on a host of several nodes of one cluster another node's table (one that has local
 *     endpoints) takes the connection; when none has, it is refused.
 * - Services without session affinity (externalElements) are elements only, as their ClusterIPs
 *   (service-rules.ts): a LoadBalancer address is a key of `endpoints_<proto>` (address . port . i
 *   → endpoint, the external endpoints) read by shared chains of N endpoints: `service_ips`
 *   (pods, from the bridge) → pick-<proto>-N, and `external_ips` (the host, output hook) →
 *   xpick-<proto>-N (Cluster: marks for masquerade) or lpick-<proto>-N (Local: marks loopback
 *   sources for the SNAT to the node address). A NodePort is `nodeport_endpoints_<proto>`
 *   (nodePort . i) read by npick-<proto>-N (Cluster) or lnpick-<proto>-N (Local). An endpoint
 *   change stays element commands.
 * - Services with ClientIP affinity (externalEntries) keep chains of their own: an entry chain
 *   per Service port (`xc-`: Cluster, `xl-`: Local) going to the internal chain when internal and
 *   external traffic go to the same endpoints, else to chains made here (`xsvc-`, `xep-`, `xaff-`).
 * - The static part gains two rules (externalStaticRules): the output hook looks addresses up in
 *   `external_ips` (only load balancer addresses are there: ClusterIPs from the host stay
 *   unserved, they are ambiguous between clusters), and postrouting SNATs mark 0x8000 to the
 *   node's address.
 * - loadBalancerSourceRanges (firewallEntries), kube-proxy's firewall check: a filter chain on
 *   the output hook (and prerouting, for pods) before DNAT looks new connections' destination up
 *   in `firewall_ips` (LoadBalancer address . proto . port → goto fw-<h>), and fw-<h> drops a
 *   source outside the ranges. Only the load balancer address is guarded: NodePorts are not,
 *   as in Kubernetes ("nodeports are not subject to loadBalancerSourceRanges").
 */
import { createHash } from 'node:crypto';
import type { Service, ServicePort } from '../../shared/schemas/service';
import { loadConfig } from '../../shared/config';
import { loadBalancerRange, rangeAddresses, sourceRangesOf } from '../../shared/services/load-balancer';
import { disjointCidrs, ipToNumber, parseAnyCidr, type Ipv4Range } from '../../shared/services/ip';

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

/** What one Service port with ClientIP affinity adds for traffic from outside the cluster (NodePort, LoadBalancer address): chains of its own. */
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

/** The firewall check: new connections to a guarded address . proto . port go to its fw- chain. */
const FIREWALL_CHECK = 'ct state new ip daddr . meta l4proto . th dport vmap @firewall_ips';

/**
 * The static table's extra parts: rules for the output chain, for postrouting (before its
 * masquerade) and for the filter prerouting chain; declarations (maps, chains) of their own.
 */
export function externalStaticRules(nodeIPs: readonly string[], range: Ipv4Range = LB_RANGE): { output: string[]; postrouting: string[]; filterPrerouting: string[]; declarations: string[] } {
  const nodeIp = nodeIPs.find((ip) => ip !== '127.0.0.1');
  return {
    output: [`    ip daddr ${range.cidr} ip daddr . meta l4proto . th dport vmap @external_ips`],
    postrouting: nodeIp ? [`    meta mark & ${LOCAL_SNAT_MARK} == ${LOCAL_SNAT_MARK} snat ip to ${nodeIp}`] : [],
    filterPrerouting: [`    ${FIREWALL_CHECK}`],
    declarations: [
      `  map firewall_ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
      // Before the nat output chain (priority -100): the destination is still the load balancer address.
      `  chain filter_output {`,
      `    type filter hook output priority -110; policy accept;`,
      `    ${FIREWALL_CHECK}`,
      `  }`,
    ],
  };
}

const LOOPBACK = { base: ipToNumber('127.0.0.0'), prefix: 8 };
const contains = (r: { base: number; prefix: number }, ip: string): boolean => Math.floor(ipToNumber(ip) / 2 ** (32 - r.prefix)) === Math.floor(r.base / 2 ** (32 - r.prefix));

/**
 * What one Service port's loadBalancerSourceRanges add (kube-proxy's firewall chain), when it has
 * load balancer addresses and IPv4 ranges (spec.loadBalancerSourceRanges, else the annotation;
 * ranges of another family are ignored, as kube-proxy ignores them): a chain dropping sources
 * outside the ranges, shared by every port with the same ranges, and a `firewall_ips` element per
 * address. As kube-proxy allows the node itself when a range holds the node's address, so does
 * this, as the node's clients reach these loopback addresses: from 127.0.0.0/8.
 */
export function firewallEntries(svc: Service, sp: ServicePort, proto: string, nodeIPs: readonly string[], range: Ipv4Range = LB_RANGE): { chains: [string, string][]; firewallIps: [string, string][] } {
  const lbIps = loadBalancerAddresses(svc, range);
  const ranges = sourceRangesOf(svc)
    .map(parseAnyCidr)
    .filter((r): r is { base: number; prefix: number } => typeof r === 'object');
  if (!lbIps.length || !ranges.length) return { chains: [], firewallIps: [] };
  if (nodeIPs.some((ip) => ip !== '127.0.0.1' && ranges.some((r) => contains(r, ip)))) ranges.push(LOOPBACK);
  const sources = disjointCidrs(ranges);
  const chain = `fw-${hash(sources.join(','))}`;
  return { chains: [[chain, `ip saddr != { ${sources.join(', ')} } drop`]], firewallIps: lbIps.map((ip) => [`${ip} . ${proto} . ${sp.port}`, `goto ${chain}`]) };
}

/** A collection of the table's per-protocol maps and chains this file writes elements to (service-rules.ts' Collection). */
type Share = { readonly [collection: string]: Map<string, string> };

/** The rule that DNATs to the `endpoints_<proto>` element of the destination and a random index below n. */
export const pickRule = (proto: string, n: number): string => `dnat ip to ip daddr . ${proto} dport . numgen random mod ${n} map @endpoints_${proto}`;
const nodePortPickRule = (proto: string, n: number): string => `dnat ip to ${proto} dport . numgen random mod ${n} map @nodeport_endpoints_${proto}`;

export interface ExternalElementsInput {
  readonly svc: Service;
  readonly port: ServicePort;
  /** nft's protocol name (tcp, udp, sctp). */
  readonly proto: string;
  readonly nodeIPs: readonly string[];
  /** The port's endpoints: all ready ones, and this node's ready ones. */
  readonly endpoints: (localOnly: boolean) => readonly ExternalEndpoint[];
  /** @default LB_RANGE */
  readonly lbRange?: Ipv4Range;
}

/**
 * What one Service port without session affinity adds for traffic from outside the cluster, as
 * elements (and shared chains) written into `rs`, a Service's share of the table.
 */
export function externalElements(rs: Share, input: ExternalElementsInput): void {
  const { svc, port: sp, proto } = input;
  const nodePort = (svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer') && sp.nodePort ? sp.nodePort : undefined;
  const lbIps = loadBalancerAddresses(svc, input.lbRange);
  if (!nodePort && !lbIps.length) return;
  const local = svc.spec.externalTrafficPolicy === 'Local';
  const eps = input.endpoints(local);
  const n = eps.length;
  if (!n) return; // nothing to serve here (Local: another node may)
  for (const e of eps) rs.hairpin!.set(`${e.ip} . ${e.ip}`, '');
  const hasNodeIp = input.nodeIPs.some((ip) => ip !== '127.0.0.1');
  const mark = local ? `ip saddr 127.0.0.0/8 meta mark set mark or ${hasNodeIp ? LOCAL_SNAT_MARK : MASQ}` : `meta mark set mark or ${MASQ}`;
  if (lbIps.length) {
    const hostChain = `${local ? 'lpick' : 'xpick'}-${proto}-${n}`;
    rs.chains!.set(`pick-${proto}-${n}`, pickRule(proto, n));
    rs.chains!.set(hostChain, [mark, pickRule(proto, n)].join('\n'));
    const endpoints = rs[`endpoints_${proto}`]!;
    for (const ip of lbIps) {
      // From pods (the bridge): as a ClusterIP, to the external endpoints. From the host: marked first.
      rs.service_ips!.set(`${ip} . ${proto} . ${sp.port}`, `goto pick-${proto}-${n}`);
      rs.external_ips!.set(`${ip} . ${proto} . ${sp.port}`, `goto ${hostChain}`);
      eps.forEach((e, i) => endpoints.set(`${ip} . ${sp.port} . ${i}`, `${e.ip} . ${e.port}`));
    }
  }
  if (nodePort) {
    const chain = `${local ? 'lnpick' : 'npick'}-${proto}-${n}`;
    rs.chains!.set(chain, [mark, nodePortPickRule(proto, n)].join('\n'));
    rs.node_ports!.set(`${proto} . ${nodePort}`, `goto ${chain}`);
    const endpoints = rs[`nodeport_endpoints_${proto}`]!;
    eps.forEach((e, i) => endpoints.set(`${nodePort} . ${i}`, `${e.ip} . ${e.port}`));
  }
}
