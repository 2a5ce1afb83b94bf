/**
 * The service proxy's nftables ruleset, as data (pure: no nft is run here). service-proxy.ts
 * applies it; docs/networking.md "Service proxy" has the design. One table per node,
 * `ip stratus-0a8005-svc` beside node-bridge's `inet stratus-0a8005`:
 *
 *   prerouting (nat, dstnat)   iifname <bridge> ip daddr . l4proto . dport vmap @service_ips
 *                              ip daddr <node IP> l4proto . dport vmap @node_ports
 *                              ip daddr <node IP> dnat to l4proto . dport map @host_ports
 *   output (nat, dstnat)       ip daddr {127.0.0.1, <node IP>} l4proto . dport vmap @node_ports
 *                              ip daddr <node IP> dnat to l4proto . dport map @host_ports
 *   postrouting (nat, srcnat)  mark & 0x4000 → masquerade
 *   forward/output (filter)    iifname <bridge> ip daddr . l4proto . dport @no_endpoints reject
 *
 *   service_ips: ClusterIP . proto . port → goto svc-<h>   (one lookup, whatever the count)
 *   node_ports:  proto . nodePort → goto ext-<h>           (ext marks for masquerade, goto svc)
 *   svc-<h>:     [ip saddr @aff-<e> goto ep-<e> ...]        (ClientIP affinity, when set)
 *                numgen random mod N vmap { 0 : goto ep-<e0>, ... }
 *   ep-<e>:      ip saddr <ep> mark |= 0x4000               (hairpin: a pod reaching itself)
 *                [update @aff-<e> { ip saddr }]
 *                meta l4proto tcp dnat to <ep>:<port>
 *
 * Tenant isolation: Service traffic is DNATed only when it enters from this node's own bridge,
 * so another cluster's pods (their own bridges; service CIDRs overlap between clusters) never
 * match this table's ClusterIPs, and node-bridge's forward chain still filters after DNAT (an
 * endpoint of another cluster's bridge is dropped there). ClusterIPs from the host itself are
 * not served (they are ambiguous on a host of several clusters); NodePorts are.
 *
 * Names are hashes of what identifies a chain (a Service port; an endpoint of it), so an unchanged
 * endpoint keeps its chain across snapshots and a change touches only what it changes: diffRulesets
 * gives the commands of one transaction from the previous ruleset to the next.
 */
import { createHash } from 'node:crypto';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import type { ClusterSnapshot } from './cluster-view';
import { externalEntries, externalStaticRules } from './service-external';

/** The packet mark bit that asks postrouting to masquerade (kube-proxy's 0x4000). */
export const MASQ_MARK = '0x4000';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const DEFAULT_AFFINITY_SECONDS = 10_800;

export interface ProxyNode {
  readonly nodeName: string;
  /** The node's bridge interface: only traffic entering from it reaches ClusterIPs. */
  readonly bridge: string;
  /** The node's address(es): NodePorts and hostPorts are served there (and NodePorts on 127.0.0.1). */
  readonly nodeIPs: readonly string[];
}

/** A ruleset: what the table holds besides its static part (tableScript). */
export interface ProxyRuleset {
  /** chain name → its rules, in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** set name → its declaration body (the dynamic affinity sets). */
  readonly sets: ReadonlyMap<string, string>;
  /** element key → value, per map of the static part. */
  readonly serviceIps: ReadonlyMap<string, string>;
  readonly nodePorts: ReadonlyMap<string, string>;
  readonly hostPorts: ReadonlyMap<string, string>;
  /** ClusterIP . proto . port of Service ports without a ready endpoint (rejected). */
  readonly noEndpoints: ReadonlySet<string>;
}

export const EMPTY_RULESET: ProxyRuleset = {
  chains: new Map(),
  sets: new Map(),
  serviceIps: new Map(),
  nodePorts: new Map(),
  hostPorts: new Map(),
  noEndpoints: new Set(),
};

/** The node's service table: `stratus-0a8005-svc` beside node-bridge's `stratus-0a8005`. */
export const proxyTableName = (bridge: string): string => `${bridge}-svc`;

const PROTOCOLS: Readonly<Record<string, string>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
export const isIPv4 = (s: string | undefined): s is string => !!s && IPV4.test(s);

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** The static part of the table (hook chains, maps, sets): its hash goes in the table's comment. */
export function proxyTableScript(node: ProxyNode): { name: string; body: string; hash: string } {
  const name = proxyTableName(node.bridge);
  const ips = node.nodeIPs.filter(isIPv4);
  const nodeAddrs = ips.length ? `{ ${ips.join(', ')} }` : undefined;
  const localAddrs = `{ ${['127.0.0.1', ...ips.filter((i) => i !== '127.0.0.1')].join(', ')} }`;
  const external = externalStaticRules(ips);
  const body = [
    `  map service_ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `  map node_ports { type inet_proto . inet_service : verdict; }`,
    `  map host_ports { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `  set no_endpoints { type ipv4_addr . inet_proto . inet_service; }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    iifname "${node.bridge}" ip daddr . meta l4proto . th dport vmap @service_ips`,
    ...(nodeAddrs
      ? [`    ip daddr ${nodeAddrs} meta l4proto . th dport vmap @node_ports`, `    ip daddr ${nodeAddrs} dnat ip to meta l4proto . th dport map @host_ports`]
      : []),
    `  }`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    ip daddr ${localAddrs} meta l4proto . th dport vmap @node_ports`,
    ...(nodeAddrs ? [`    ip daddr ${nodeAddrs} dnat ip to meta l4proto . th dport map @host_ports`] : []),
    ...external.output,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...external.postrouting,
    `    meta mark & ${MASQ_MARK} == ${MASQ_MARK} masquerade`,
    `  }`,
    // Martian loopback from pods (route_localnet is on for the bridge) never reaches NAT.
    `  chain filter_prerouting {`,
    `    type filter hook prerouting priority -150; policy accept;`,
    `    iifname "${node.bridge}" ip daddr 127.0.0.0/8 drop`,
    `  }`,
    `  chain filter_forward {`,
    `    type filter hook forward priority filter - 5; policy accept;`,
    `    iifname "${node.bridge}" ip daddr . meta l4proto . th dport @no_endpoints reject`,
    `  }`,
  ].join('\n');
  return { name, body, hash: hash(body) };
}

interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

/** Endpoints of one Service port (by port name and protocol) from the Service's slices. */
export function endpointsFor(
  slices: readonly EndpointSlice[],
  portName: string,
  protocol: string,
  opts: { nodeName?: string; localOnly?: boolean } = {},
): Endpoint[] {
  const ready: Endpoint[] = [];
  const terminating: Endpoint[] = [];
  const seen = new Set<string>();
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const sp = (s.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === protocol);
    if (!sp?.port) continue;
    for (const e of s.endpoints) {
      if (opts.localOnly && e.nodeName !== opts.nodeName) continue;
      const ip = e.addresses[0];
      if (!isIPv4(ip)) continue;
      const c = e.conditions ?? {};
      // As kube-proxy: ready (nil is ready); else, when no endpoint is ready, serving terminating ones.
      const list = c.ready !== false ? ready : c.serving === true && c.terminating === true ? terminating : undefined;
      const key = `${ip}:${sp.port}`;
      if (!list || seen.has(key)) continue;
      seen.add(key);
      list.push({ ip, port: sp.port });
    }
  }
  const out = ready.length ? ready : terminating;
  return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** The Service's ClusterIPs (IPv4; none for headless and ExternalName). */
function clusterIPsOf(svc: Service): string[] {
  const { spec } = svc;
  if (spec.type === 'ExternalName') return [];
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.filter(isIPv4);
}

/** hostPort mappings of this node's pods (from the cluster view's pods). */
export interface HostPortMapping {
  readonly protocol: string;
  readonly hostPort: number;
  readonly podIP: string;
  readonly containerPort: number;
}

/** The ruleset of a snapshot for one node (pure). */
export function buildRuleset(snapshot: ClusterSnapshot, node: ProxyNode): ProxyRuleset {
  const chains = new Map<string, string[]>();
  const sets = new Map<string, string>();
  const serviceIps = new Map<string, string>();
  const nodePorts = new Map<string, string>();
  const hostPorts = new Map<string, string>();
  const noEndpoints = new Set<string>();

  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of snapshot.endpointSlices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = `${s.metadata.namespace ?? ''}/${svc}`;
    (slicesBySvc.get(k) ?? slicesBySvc.set(k, []).get(k)!).push(s);
  }

  for (const svc of snapshot.services) {
    const ips = clusterIPsOf(svc);
    if (!ips.length) continue;
    const id = `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;
    const slices = slicesBySvc.get(id) ?? [];
    const affinity = svc.spec.sessionAffinity === 'ClientIP' ? (svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : undefined;
    const localOnly = svc.spec.internalTrafficPolicy === 'Local';
    for (const sp of svc.spec.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      const proto = PROTOCOLS[protocol];
      if (!proto) continue;
      const portId = `${id}:${sp.name ?? ''}/${protocol}`;
      const eps = endpointsFor(slices, sp.name ?? '', protocol, { nodeName: node.nodeName, localOnly });
      const svcChain = `svc-${hash(portId)}`;
      // From outside the cluster: NodePorts and LoadBalancer addresses, by externalTrafficPolicy (service-external.ts).
      const endpoints = (local: boolean) => endpointsFor(slices, sp.name ?? '', protocol, { nodeName: node.nodeName, localOnly: local });
      const x = externalEntries({ svc, port: sp, portId, proto, nodeName: node.nodeName, nodeIPs: node.nodeIPs, endpoints, ...(eps.length ? { internal: { chain: svcChain, endpoints: eps } } : {}) });
      for (const [k, v] of x.chains) chains.set(k, v);
      for (const [k, v] of x.sets) sets.set(k, v);
      for (const [k, v] of x.nodePorts) nodePorts.set(k, v);
      for (const [k, v] of x.serviceIps) serviceIps.set(k, v);
      if (!eps.length) {
        for (const ip of ips) noEndpoints.add(`${ip} . ${proto} . ${sp.port}`);
        continue;
      }
      const epChains = eps.map((e) => ({ e, chain: `ep-${hash(`${portId}|${e.ip}:${e.port}|${affinity ?? ''}`)}` }));
      const svcRules: string[] = [];
      for (const { e, chain } of epChains) {
        const rules = [`ip saddr ${e.ip} meta mark set mark or ${MASQ_MARK}`];
        if (affinity !== undefined) {
          const set = `aff-${chain.slice(3)}`;
          sets.set(set, `type ipv4_addr; flags dynamic,timeout; timeout ${affinity}s;`);
          rules.push(`update @${set} { ip saddr }`);
          svcRules.push(`ip saddr @${set} goto ${chain}`);
        }
        rules.push(`meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`);
        chains.set(chain, rules);
      }
      svcRules.push(
        epChains.length === 1
          ? `goto ${epChains[0]!.chain}`
          : `numgen random mod ${epChains.length} vmap { ${epChains.map(({ chain }, i) => `${i} : goto ${chain}`).join(', ')} }`,
      );
      chains.set(svcChain, svcRules);
      for (const ip of ips) serviceIps.set(`${ip} . ${proto} . ${sp.port}`, `goto ${svcChain}`);
    }
  }

  for (const m of hostPortsOf(snapshot, node.nodeName)) {
    const key = `${PROTOCOLS[m.protocol]} . ${m.hostPort}`;
    if (!hostPorts.has(key)) hostPorts.set(key, `${m.podIP} . ${m.containerPort}`);
  }
  return { chains, sets, serviceIps, nodePorts, hostPorts, noEndpoints };
}

/** The hostPorts of this node's running pods (first pod by namespace/name wins a port). */
export function hostPortsOf(snapshot: ClusterSnapshot, nodeName: string): HostPortMapping[] {
  const out: HostPortMapping[] = [];
  for (const p of snapshot.pods) {
    if (p.nodeName !== nodeName) continue;
    const ip = p.ips.find(isIPv4);
    if (!ip) continue;
    for (const hp of p.hostPorts ?? []) {
      if (!PROTOCOLS[hp.protocol] || hp.hostPort <= 0) continue;
      out.push({ protocol: hp.protocol, hostPort: hp.hostPort, podIP: ip, containerPort: hp.containerPort });
    }
  }
  return out;
}

/** The whole ruleset as commands (after the static part): the initial sync and the rebuild. */
export function fullScript(table: string, rs: ProxyRuleset): string[] {
  return diffRulesets(table, EMPTY_RULESET, rs);
}

const elements = (m: Iterable<[string, string]>) => [...m].map(([k, v]) => `${k} : ${v}`).join(', ');

/**
 * The commands of ONE transaction from `prev` to `next` (nothing when equal): new sets and chains
 * first (empty, so rules may jump to any of them), then changed chains rewritten, map elements
 * moved, and last what nothing references any more removed.
 */
export function diffRulesets(table: string, prev: ProxyRuleset, next: ProxyRuleset): string[] {
  const t = `ip ${table}`;
  const out: string[] = [];
  for (const [name, body] of next.sets) if (!prev.sets.has(name)) out.push(`add set ${t} ${name} { ${body} }`);
  const added = [...next.chains.keys()].filter((c) => !prev.chains.has(c));
  for (const c of added) out.push(`add chain ${t} ${c}`);
  for (const c of added) for (const r of next.chains.get(c)!) out.push(`add rule ${t} ${c} ${r}`);
  for (const [c, rules] of next.chains) {
    const old = prev.chains.get(c);
    if (!old || old.join('\n') === rules.join('\n')) continue;
    out.push(`flush chain ${t} ${c}`);
    for (const r of rules) out.push(`add rule ${t} ${c} ${r}`);
  }
  for (const [map, a, b] of [
    ['service_ips', prev.serviceIps, next.serviceIps],
    ['node_ports', prev.nodePorts, next.nodePorts],
    ['host_ports', prev.hostPorts, next.hostPorts],
  ] as const) {
    const gone = [...a].filter(([k, v]) => b.get(k) !== v);
    const come = [...b].filter(([k, v]) => a.get(k) !== v);
    if (gone.length) out.push(`delete element ${t} ${map} { ${gone.map(([k]) => k).join(', ')} }`);
    if (come.length) out.push(`add element ${t} ${map} { ${elements(come)} }`);
  }
  const goneNoEp = [...prev.noEndpoints].filter((k) => !next.noEndpoints.has(k));
  const newNoEp = [...next.noEndpoints].filter((k) => !prev.noEndpoints.has(k));
  if (goneNoEp.length) out.push(`delete element ${t} no_endpoints { ${goneNoEp.join(', ')} }`);
  if (newNoEp.length) out.push(`add element ${t} no_endpoints { ${newNoEp.join(', ')} }`);
  const removed = [...prev.chains.keys()].filter((c) => !next.chains.has(c));
  // Flushed first: a removed chain may jump to another removed one.
  for (const c of removed) out.push(`flush chain ${t} ${c}`);
  for (const c of removed) out.push(`delete chain ${t} ${c}`);
  for (const name of prev.sets.keys()) if (!next.sets.has(name)) out.push(`delete set ${t} ${name}`);
  return out;
}
