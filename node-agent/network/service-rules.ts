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
 *                              ip daddr <LB range> l4proto . dport vmap @external_ips
 *   postrouting (nat, srcnat)  mark & 0x4000 → masquerade; ip saddr . ip daddr @hairpin → masquerade
 *   forward/output (filter)    iifname <bridge> ip daddr . l4proto . dport @no_endpoints reject
 *
 *   service_ips:    address . proto . port → goto pick-<proto>-<N>   (an address → Service lookup:
 *                   ClusterIPs; any other address kind is one more key)
 *   pick-tcp-<N>:   dnat to ip daddr . tcp dport . numgen random mod N map @endpoints_tcp
 *   endpoints_tcp:  address . port . i → endpoint IP . port   (i in 0..N-1; _udp, _sctp alike)
 *   node_ports:     proto . nodePort → goto npick-<proto>-<N>
 *   npick-tcp-<N>:  mark |= 0x4000 ; dnat to tcp dport . numgen random mod N map @nodeport_endpoints_tcp
 *   hairpin:     ep . ep for every endpoint IP (a pod reaching itself through its Service)
 *   external_ips:   LoadBalancer address . proto . port → goto xpick-/lpick-<proto>-<N> (from the
 *                   host; service-external.ts has them, externalTrafficPolicy Local included)
 *   firewall_ips:   LoadBalancer address . proto . port → goto fw-<h> (loadBalancerSourceRanges,
 *                   checked by filter chains on output and prerouting before DNAT)
 *
 * The chains pick-*-<N>/npick-*-<N> are shared by every Service port with N endpoints, so the table
 * has a handful of chains whatever the number of Services, and an endpoint change is only element
 * commands (`delete element`/`add element` of @endpoints_*, @hairpin, and of @service_ips when N
 * changes): nft needs no chain cache for them. Services with ClientIP session affinity keep chains
 * of their own (svc-<h> → ep-<e> with a timed set per endpoint; xc-/xl-<h> for their NodePorts and
 * LoadBalancer addresses).
 *
 * Tenant isolation: Service traffic is DNATed only when it enters from this node's own bridge,
 * so another cluster's pods (their own bridges; service CIDRs overlap between clusters) never
 * match this table's ClusterIPs, and node-bridge's forward chain still filters after DNAT (an
 * endpoint of another cluster's bridge is dropped there). ClusterIPs from the host itself are
 * not served (they are ambiguous on a host of several clusters); NodePorts are.
 *
 * A ruleset is built per Service (serviceRules) and merged (RulesetState, or buildRuleset for a
 * whole snapshot); a change of one Service gives the commands of what its share changed.
 */
import { createHash } from 'node:crypto';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import type { ClusterSnapshot } from './cluster-view';
import { externalElements, externalEntries, externalStaticRules, firewallEntries, pickRule } from './service-external';
import { nodePortsComment } from './nodeport-conflicts';

/** The packet mark bit that asks postrouting to masquerade (kube-proxy's 0x4000). */
export const MASQ_MARK = '0x4000';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const DEFAULT_AFFINITY_SECONDS = 10_800;

export interface ProxyNode {
  readonly nodeName: string;
  /** The node's bridge interface: only traffic entering from it reaches ClusterIPs. */
  readonly bridge: string;
  /** The node's address(es): NodePorts and hostPorts are served there (and NodePorts on 127.0.0.1). */
  readonly nodeIPs: readonly string[];
  /**
   * The node's cluster: named in the node_ports map's comment, so agents of other clusters on the
   * host see whose NodePorts these are (nodeport-conflicts.ts). @default none (no comment)
   */
  readonly cluster?: string;
}

/** The table's dynamic collections: sets/maps of the static part, and the chains and sets added beside them. */
export const COLLECTIONS = ['sets', 'chains', 'endpoints_tcp', 'endpoints_udp', 'endpoints_sctp', 'nodeport_endpoints_tcp', 'nodeport_endpoints_udp', 'nodeport_endpoints_sctp', 'hairpin', 'no_endpoints', 'host_ports', 'service_ips', 'node_ports', 'external_ips', 'firewall_ips'] as const;
export type Collection = (typeof COLLECTIONS)[number];
/** Collections that are sets (elements without a value). */
const SET_COLLECTIONS: ReadonlySet<Collection> = new Set(['hairpin', 'no_endpoints']);

/**
 * A ruleset (a whole table's, or one Service's share of it): per collection, key → value.
 * `chains`: chain name → its rules joined by "\n"; `sets`: set name → its declaration body;
 * maps: element key → value; `hairpin` and `no_endpoints` (sets): key → "".
 */
export type ProxyRuleset = { readonly [C in Collection]: ReadonlyMap<string, string> };
type MutableRuleset = { readonly [C in Collection]: Map<string, string> };

const emptyRuleset = (): MutableRuleset => Object.fromEntries(COLLECTIONS.map((c) => [c, new Map<string, string>()])) as MutableRuleset;
export const EMPTY_RULESET: ProxyRuleset = emptyRuleset();

/** A chain's rules in a ruleset (undefined: no such chain). */
export const rulesOf = (rs: ProxyRuleset, chain: string): string[] | undefined => rs.chains.get(chain)?.split('\n');

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
    `  map node_ports { type inet_proto . inet_service : verdict;${node.cluster ? ` comment "${nodePortsComment(node.cluster)}";` : ''} }`,
    `  map external_ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `  map host_ports { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `  set no_endpoints { type ipv4_addr . inet_proto . inet_service; }`,
    // Per protocol: nft 1.0.6 cannot read back a typeof of `th dport` beside `ip daddr`.
    ...Object.values(PROTOCOLS).flatMap((p) => [
      `  map endpoints_${p} { typeof ip daddr . ${p} dport . numgen random mod 1 : ip daddr . ${p} dport; }`,
      `  map nodeport_endpoints_${p} { typeof ${p} dport . numgen random mod 1 : ip daddr . ${p} dport; }`,
    ]),
    `  set hairpin { type ipv4_addr . ipv4_addr; }`,
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
    `    ct status dnat ip saddr . ip daddr @hairpin masquerade`,
    `  }`,
    // Martian loopback from pods (route_localnet is on for the bridge) never reaches NAT.
    `  chain filter_prerouting {`,
    `    type filter hook prerouting priority -150; policy accept;`,
    `    iifname "${node.bridge}" ip daddr 127.0.0.0/8 drop`,
    ...external.filterPrerouting,
    `  }`,
    ...external.declarations,
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

/** Services' EndpointSlices by namespace/name of their Service. */
export function slicesByService(slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = `${s.metadata.namespace ?? ''}/${svc}`;
    (out.get(k) ?? out.set(k, []).get(k)!).push(s);
  }
  return out;
}

export const serviceId = (svc: Service): string => `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;

const pickChain = pickRule;

/** One Service's share of the table (pure): its addresses, endpoints and (affinity) chains. */
export function serviceRules(svc: Service, slices: readonly EndpointSlice[], node: ProxyNode): ProxyRuleset {
  const rs = emptyRuleset();
  // The address → Service keys (address . proto . port). A new kind of address (a LoadBalancer
  // ingress IP) is one more entry here: its service_ips and endpoints elements follow.
  const ips = clusterIPsOf(svc);
  if (!ips.length) return rs;
  const id = serviceId(svc);
  const affinity = svc.spec.sessionAffinity === 'ClientIP' ? (svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : undefined;
  const localOnly = svc.spec.internalTrafficPolicy === 'Local';
  for (const sp of svc.spec.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    const proto = PROTOCOLS[protocol];
    if (!proto) continue;
    const addresses = ips.map((ip) => `${ip} . ${proto} . ${sp.port}`);
    // loadBalancerSourceRanges: whatever the endpoints (service-external.ts).
    const fw = firewallEntries(svc, sp, proto, node.nodeIPs.filter(isIPv4));
    for (const [k, v] of fw.chains) rs.chains.set(k, v);
    for (const [k, v] of fw.firewallIps) rs.firewall_ips.set(k, v);
    const eps = endpointsFor(slices, sp.name ?? '', protocol, { nodeName: node.nodeName, localOnly });
    // From outside the cluster (NodePorts, LoadBalancer addresses): by externalTrafficPolicy (service-external.ts).
    const external = (local: boolean) => endpointsFor(slices, sp.name ?? '', protocol, { nodeName: node.nodeName, localOnly: local });
    if (affinity === undefined) externalElements(rs, { svc, port: sp, proto, nodeIPs: node.nodeIPs.filter(isIPv4), endpoints: external });
    const portId = `${id}:${sp.name ?? ''}/${protocol}`;
    const svcChain = `svc-${hash(portId)}`;
    if (affinity !== undefined) {
      const x = externalEntries({ svc, port: sp, portId, proto, nodeName: node.nodeName, nodeIPs: node.nodeIPs, endpoints: external, ...(eps.length ? { internal: { chain: svcChain, endpoints: eps } } : {}) });
      for (const [k, v] of x.chains) rs.chains.set(k, v.join('\n'));
      for (const [k, v] of x.sets) rs.sets.set(k, v);
      for (const [k, v] of x.nodePorts) rs.node_ports.set(k, v);
      // The address from pods (the bridge) and from the host alike.
      for (const [k, v] of x.serviceIps) {
        rs.service_ips.set(k, v);
        rs.external_ips.set(k, v);
      }
    }
    if (!eps.length) {
      for (const a of addresses) rs.no_endpoints.set(a, '');
      continue;
    }
    for (const e of eps) rs.hairpin.set(`${e.ip} . ${e.ip}`, '');
    if (affinity === undefined) {
      // Elements only: the shared pick-N chain chooses among this address's N endpoint elements.
      const n = eps.length;
      const endpoints = rs[`endpoints_${proto}` as Collection];
      rs.chains.set(`pick-${proto}-${n}`, pickChain(proto, n));
      for (const ip of ips) {
        rs.service_ips.set(`${ip} . ${proto} . ${sp.port}`, `goto pick-${proto}-${n}`);
        eps.forEach((e, i) => endpoints.set(`${ip} . ${sp.port} . ${i}`, `${e.ip} . ${e.port}`));
      }
      continue;
    }
    // ClientIP affinity: chains of its own, a timed set per endpoint looked up before the random choice.
    const epChains = eps.map((e) => ({ e, chain: `ep-${hash(`${portId}|${e.ip}:${e.port}|${affinity}`)}` }));
    const svcRules: string[] = [];
    for (const { e, chain } of epChains) {
      const set = `aff-${chain.slice(3)}`;
      rs.sets.set(set, `type ipv4_addr; flags dynamic,timeout; timeout ${affinity}s;`);
      svcRules.push(`ip saddr @${set} goto ${chain}`);
      rs.chains.set(chain, [`update @${set} { ip saddr }`, `meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`].join('\n'));
    }
    svcRules.push(
      epChains.length === 1
        ? `goto ${epChains[0]!.chain}`
        : `numgen random mod ${epChains.length} vmap { ${epChains.map(({ chain }, i) => `${i} : goto ${chain}`).join(', ')} }`,
    );
    rs.chains.set(svcChain, svcRules.join('\n'));
    for (const a of addresses) rs.service_ips.set(a, `goto ${svcChain}`);
  }
  return rs;
}

/** The hostPorts' share of the table (first pod by namespace/name wins a port). */
export function hostPortRules(mappings: readonly HostPortMapping[]): ProxyRuleset {
  const rs = emptyRuleset();
  for (const m of mappings) {
    const key = `${PROTOCOLS[m.protocol]} . ${m.hostPort}`;
    if (!rs.host_ports.has(key)) rs.host_ports.set(key, `${m.podIP} . ${m.containerPort}`);
  }
  return rs;
}

/** The owner of the hostPorts' share in a RulesetState (no Service's namespace/name has it). */
export const HOST_PORTS_OWNER = '~hostPorts';

/** The ruleset of a snapshot for one node (pure): every Service's share and the hostPorts' merged. */
export function buildRuleset(snapshot: ClusterSnapshot, node: ProxyNode): ProxyRuleset {
  const state = new RulesetState();
  const slices = slicesByService(snapshot.endpointSlices);
  for (const svc of snapshot.services) state.replace(serviceId(svc), serviceRules(svc, slices.get(serviceId(svc)) ?? [], node));
  state.replace(HOST_PORTS_OWNER, hostPortRules(hostPortsOf(snapshot, node.nodeName)));
  return state.ruleset();
}

/** What changed in a collection: key → [value before, value after] (undefined: absent). */
export type Changes = { readonly [C in Collection]: Map<string, [string | undefined, string | undefined]> };
const noChanges = (): Changes => Object.fromEntries(COLLECTIONS.map((c) => [c, new Map()])) as Changes;

/**
 * The table's content as the merge of its owners' shares (a Service's, the hostPorts'), kept
 * apart per owner so that replacing one owner's share costs what that share holds, not the table.
 * A key two owners give (two Services of one ClusterIP and port, a shared pick-N chain) takes the
 * oldest owner's value and stays while any owner gives it.
 */
export class RulesetState {
  private readonly shares = new Map<string, ProxyRuleset>();
  /** collection → key → owner → value (owners in the order they came). */
  private readonly owners = Object.fromEntries(COLLECTIONS.map((c) => [c, new Map<string, Map<string, string>>()])) as { [C in Collection]: Map<string, Map<string, string>> };
  private changes = noChanges();

  private value(c: Collection, key: string): string | undefined {
    const o = this.owners[c].get(key);
    if (!o) return undefined;
    for (const v of o.values()) return v;
    return undefined;
  }

  /** Replaces `owner`'s share (undefined: removes it); the change is recorded for takeCommands. */
  replace(owner: string, next: ProxyRuleset | undefined): void {
    const prev = this.shares.get(owner);
    if (!prev && !next) return;
    if (next) this.shares.set(owner, next);
    else this.shares.delete(owner);
    for (const c of COLLECTIONS) {
      const a = prev?.[c];
      const b = next?.[c];
      if (!a?.size && !b?.size) continue;
      const touch = (key: string, v: string | undefined) => {
        const before = this.value(c, key);
        const o = this.owners[c].get(key) ?? this.owners[c].set(key, new Map()).get(key)!;
        if (v === undefined) o.delete(owner);
        else o.set(owner, v);
        if (!o.size) this.owners[c].delete(key);
        const after = this.value(c, key);
        if (before === after) return;
        const seen = this.changes[c].get(key);
        this.changes[c].set(key, [seen ? seen[0] : before, after]);
      };
      if (a) for (const [k] of a) if (!b?.has(k)) touch(k, undefined);
      if (b) for (const [k, v] of b) if (a?.get(k) !== v) touch(k, v);
    }
  }

  /** The owners' shares merged (a copy). */
  ruleset(): ProxyRuleset {
    const rs = emptyRuleset();
    for (const c of COLLECTIONS) for (const key of this.owners[c].keys()) rs[c].set(key, this.value(c, key)!);
    return rs;
  }

  /** The commands of ONE transaction for what changed since the last call (diffCommands). */
  takeCommands(table: string): string[] {
    const changes = this.changes;
    this.changes = noChanges();
    return changeCommands(table, changes);
  }
}

/**
 * The commands of ONE transaction from `prev` to `next` (nothing when equal), as the full
 * comparison of two rulesets: tests, and what RulesetState gives incrementally.
 */
export function diffRulesets(table: string, prev: ProxyRuleset, next: ProxyRuleset): string[] {
  const changes = noChanges();
  for (const c of COLLECTIONS) {
    for (const [k, v] of prev[c]) if (next[c].get(k) !== v) changes[c].set(k, [v, next[c].get(k)]);
    for (const [k, v] of next[c]) if (!prev[c].has(k)) changes[c].set(k, [undefined, v]);
  }
  return changeCommands(table, changes);
}

/**
 * Changes as commands: new sets and chains first (empty, so rules and elements may jump to any of
 * them), then changed chains rewritten, then per map and set the elements that went or changed
 * deleted and those that came or changed added (two commands per collection at most, whatever
 * their count), and last what nothing references any more removed.
 */
export function changeCommands(table: string, changes: Changes): string[] {
  const t = `ip ${table}`;
  const out: string[] = [];
  const real = (c: Collection) => [...changes[c]].filter(([, [a, b]]) => a !== b);
  const sets = real('sets');
  const chains = real('chains');
  for (const [name, [a, b]] of sets) if (a === undefined) out.push(`add set ${t} ${name} { ${b} }`);
  const added = chains.filter(([, [a]]) => a === undefined);
  for (const [c] of added) out.push(`add chain ${t} ${c}`);
  for (const [c, [, b]] of added) for (const r of b!.split('\n')) out.push(`add rule ${t} ${c} ${r}`);
  for (const [c, [a, b]] of chains) {
    if (a === undefined || b === undefined) continue;
    out.push(`flush chain ${t} ${c}`);
    for (const r of b.split('\n')) out.push(`add rule ${t} ${c} ${r}`);
  }
  for (const c of COLLECTIONS) {
    if (c === 'sets' || c === 'chains') continue;
    const ch = real(c);
    const gone = ch.filter(([, [a]]) => a !== undefined).map(([k]) => k);
    const come = ch.filter(([, [, b]]) => b !== undefined).map(([k, [, b]]) => (SET_COLLECTIONS.has(c) ? k : `${k} : ${b}`));
    if (gone.length) out.push(`delete element ${t} ${c} { ${gone.join(', ')} }`);
    if (come.length) out.push(`add element ${t} ${c} { ${come.join(', ')} }`);
  }
  const removed = chains.filter(([, [, b]]) => b === undefined);
  // Flushed first: a removed chain may jump to another removed one.
  for (const [c] of removed) out.push(`flush chain ${t} ${c}`);
  for (const [c] of removed) out.push(`delete chain ${t} ${c}`);
  for (const [name, [, b]] of sets) if (b === undefined) out.push(`delete set ${t} ${name}`);
  return out;
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
