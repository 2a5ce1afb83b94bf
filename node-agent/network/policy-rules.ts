/**
 * NetworkPolicy enforcement as nftables data (pure: no nft is run here). One table per node,
 * `ip stratus-0a8005-pol`, beside node-bridge's and the service proxy's tables; its filter chains
 * hook forward (and input, for what pods send to the host: the node's DNS, the API's address), so
 * they see every packet AFTER the service proxy's DNAT (prerouting): policies match real pod
 * destinations, never ClusterIPs.
 *
 *   egress (forward, filter - 4) / egress_host (input, filter - 4):
 *     iifname != <bridge> accept; ip saddr != @egress_isolated accept;
 *     ct state established,related accept; jump egress_policies; drop
 *   ingress (forward, filter - 3):
 *     oifname != <bridge> accept; ip daddr != @ingress_isolated accept;
 *     ct state established,related accept; jump ingress_policies; drop
 *   ingress_policies: ip daddr @it-<h> jump ip-<h>      (one per policy selecting a local pod)
 *   ip-<h>:           ip saddr @ir-<h>-<i> meta l4proto . th dport { tcp . 80 } accept, ...
 *
 * An accept ends only its own base chain, so egress and ingress are two base chains: a packet
 * between two pods of this node passes both checks. Peers from selectors are sets of pod IPs
 * (`ir-`/`er-`), named ports sets of address . protocol . port (`in-`/`en-`), ipBlocks inline
 * prefixes with their excepts. The node's DNS address counts as a kube-system pod labelled
 * k8s-app=kube-dns (ports dns/53 UDP, dns-tcp/53 TCP), so the usual "allow DNS" egress rule works.
 * Names hash the policy's namespace/name: a policy keeps its chains as its pods come and go.
 */
import { createHash } from 'node:crypto';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../../shared/schemas/network-policy';
import { labelSelectorMatches } from '../../shared/validation/label-selector';
import { ipv4CidrString, parseCidr } from '../../shared/validation/cidr';
import type { ClusterSnapshot, ViewNamedPort } from './cluster-view';

export interface PolicyNode {
  readonly nodeName: string;
  readonly bridge: string;
  /** The node's DNS address (its bridge gateway): the kube-dns peer. */
  readonly dnsAddress?: string;
}

export interface PolicySet {
  readonly type: string;
  readonly elements: ReadonlySet<string>;
}

export interface PolicyRuleset {
  readonly chains: ReadonlyMap<string, readonly string[]>;
  readonly sets: ReadonlyMap<string, PolicySet>;
}

export const EMPTY_POLICY_RULESET: PolicyRuleset = { chains: new Map(), sets: new Map() };
const STATIC_CHAINS = new Set(['ingress_policies', 'egress_policies']);
const STATIC_SETS = new Set(['ingress_isolated', 'egress_isolated']);
const PROTOCOLS: Readonly<Record<string, string>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
export const KUBE_DNS_PEER = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } } as const;

export const policyTableName = (bridge: string): string => `${bridge}-pol`;
const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** The static part (base chains, dispatch chains, isolation sets): its hash goes in the table's comment. */
export function policyTableScript(bridge: string): { name: string; body: string; hash: string } {
  const base = (name: string, hook: string, prio: string, dir: 'iifname' | 'oifname', addr: 'saddr' | 'daddr', isolated: string, dispatch: string) => [
    `  chain ${name} {`,
    `    type filter hook ${hook} priority ${prio}; policy accept;`,
    `    ${dir} != "${bridge}" accept`,
    `    ip ${addr} != @${isolated} accept`,
    `    ct state established,related accept`,
    `    jump ${dispatch}`,
    `    drop`,
    `  }`,
  ];
  const body = [
    `  set ingress_isolated { type ipv4_addr; }`,
    `  set egress_isolated { type ipv4_addr; }`,
    `  chain ingress_policies {`,
    `  }`,
    `  chain egress_policies {`,
    `  }`,
    ...base('egress', 'forward', 'filter - 4', 'iifname', 'saddr', 'egress_isolated', 'egress_policies'),
    ...base('egress_host', 'input', 'filter - 4', 'iifname', 'saddr', 'egress_isolated', 'egress_policies'),
    ...base('ingress', 'forward', 'filter - 3', 'oifname', 'daddr', 'ingress_isolated', 'ingress_policies'),
  ].join('\n');
  return { name: policyTableName(bridge), body, hash: hash(body) };
}

interface Peer {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip: string;
  readonly nodeName?: string;
  readonly namedPorts: readonly ViewNamedPort[];
}

/** policyTypes as the API defaults them (for objects written before the defaults). */
export function policyTypesOf(p: NetworkPolicy): string[] {
  const t = p.spec.policyTypes ?? [];
  return t.length ? t : (p.spec.egress ?? []).length ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The ruleset of a snapshot for one node (pure). */
export function buildPolicyRuleset(snapshot: ClusterSnapshot, node: PolicyNode): PolicyRuleset {
  const chains = new Map<string, string[]>();
  const sets = new Map<string, PolicySet>();
  const isolated = { ingress: new Set<string>(), egress: new Set<string>() };
  const dispatch = { ingress: [] as string[], egress: [] as string[] };
  const nsLabels = new Map((snapshot.namespaces ?? []).map((n) => [n.name, n.labels]));
  const labelsOfNs = (ns: string) => nsLabels.get(ns) ?? { 'kubernetes.io/metadata.name': ns };
  const peers: Peer[] = snapshot.pods.flatMap((p) => {
    const ip = p.ips.find((i) => IPV4.test(i));
    if (!ip || p.hostNetwork || p.finished) return [];
    return [{ namespace: p.namespace, labels: p.labels ?? {}, ip, ...(p.nodeName ? { nodeName: p.nodeName } : {}), namedPorts: p.namedPorts ?? [] }];
  });
  const local = peers.filter((p) => p.nodeName === node.nodeName);
  if (node.dnsAddress)
    peers.push({
      ...KUBE_DNS_PEER,
      ip: node.dnsAddress,
      namedPorts: [
        { name: 'dns', protocol: 'UDP', containerPort: 53 },
        { name: 'dns-tcp', protocol: 'TCP', containerPort: 53 },
      ],
    });
  const selects = (peer: NetworkPolicyPeer, p: Peer, policyNs: string): boolean => {
    if (peer.namespaceSelector) {
      if (!labelSelectorMatches(peer.namespaceSelector, labelsOfNs(p.namespace))) return false;
    } else if (p.namespace !== policyNs) return false;
    return peer.podSelector ? labelSelectorMatches(peer.podSelector, p.labels) : true;
  };

  for (const policy of snapshot.networkPolicies ?? []) {
    const ns = policy.metadata.namespace ?? 'default';
    const targets = local.filter((p) => p.namespace === ns && labelSelectorMatches(policy.spec.podSelector ?? {}, p.labels));
    if (!targets.length) continue;
    const h = hash(`${ns}/${policy.metadata.name ?? ''}`);
    for (const dir of ['ingress', 'egress'] as const) {
      if (!policyTypesOf(policy).includes(dir === 'ingress' ? 'Ingress' : 'Egress')) continue;
      const d = dir[0]!;
      const peerAddr = dir === 'ingress' ? 'saddr' : 'daddr';
      const targetSet = `${d}t-${h}`;
      sets.set(targetSet, { type: 'ipv4_addr', elements: new Set(targets.map((t) => t.ip)) });
      const rules: string[] = [];
      const list = (dir === 'ingress' ? policy.spec.ingress : policy.spec.egress) ?? [];
      list.forEach((rule, i) => {
        const rulePeers = ('from' in rule ? rule.from : 'to' in rule ? rule.to : undefined) ?? [];
        const peerMatches: string[] = [];
        if (!rulePeers.length) peerMatches.push('');
        else {
          const selectorPeers = rulePeers.filter((p) => p.podSelector || p.namespaceSelector);
          if (selectorPeers.length) {
            const name = `${d}r-${h}-${i}`;
            sets.set(name, { type: 'ipv4_addr', elements: new Set(peers.filter((p) => selectorPeers.some((sp) => selects(sp, p, ns))).map((p) => p.ip)) });
            peerMatches.push(`ip ${peerAddr} @${name}`);
          }
          for (const p of rulePeers) {
            const cidr = p.ipBlock?.cidr ? parseCidr(p.ipBlock.cidr) : undefined;
            if (!cidr || cidr.family !== 4) continue; // IPv6 blocks match no IPv4 packet
            const excepts = (p.ipBlock?.except ?? []).map(parseCidr).filter((c) => c?.family === 4).map((c) => ipv4CidrString(c!));
            peerMatches.push(`ip ${peerAddr} ${ipv4CidrString(cidr)}${excepts.length ? ` ip ${peerAddr} != { ${excepts.join(', ')} }` : ''}`);
          }
        }
        const portMatches = portMatchesOf(rule.ports ?? [], `${d}n-${h}-${i}`, dir === 'ingress' ? targets : peers, sets);
        for (const pm of peerMatches) for (const qm of portMatches) rules.push([pm, qm, 'accept'].filter(Boolean).join(' '));
      });
      chains.set(`${d}p-${h}`, rules);
      dispatch[dir].push(`ip ${dir === 'ingress' ? 'daddr' : 'saddr'} @${targetSet} jump ${d}p-${h}`);
      for (const t of targets) isolated[dir].add(t.ip);
    }
  }
  chains.set('ingress_policies', dispatch.ingress);
  chains.set('egress_policies', dispatch.egress);
  sets.set('ingress_isolated', { type: 'ipv4_addr', elements: isolated.ingress });
  sets.set('egress_isolated', { type: 'ipv4_addr', elements: isolated.egress });
  return { chains, sets };
}

/** A rule's port matches: '' (every port), a set of protocol . port(-range), a named-port set. */
function portMatchesOf(ports: readonly NetworkPolicyPort[], namedSet: string, owners: readonly Peer[], sets: Map<string, PolicySet>): string[] {
  if (!ports.length) return [''];
  const numeric: string[] = [];
  const named: { name: string; protocol: string }[] = [];
  for (const p of ports) {
    const protocol = p.protocol ?? 'TCP';
    const proto = PROTOCOLS[protocol];
    if (!proto) continue;
    if (p.port === undefined || p.port === null) numeric.push(`${proto} . 0-65535`);
    else if (typeof p.port === 'number') numeric.push(p.endPort && p.endPort > p.port ? `${proto} . ${p.port}-${p.endPort}` : `${proto} . ${p.port}`);
    else named.push({ name: p.port, protocol });
  }
  const out: string[] = [];
  if (numeric.length) out.push(`meta l4proto . th dport { ${[...new Set(numeric)].join(', ')} }`);
  if (named.length) {
    const elements = new Set<string>();
    for (const o of owners)
      for (const n of named)
        for (const np of o.namedPorts) if (np.name === n.name && np.protocol === n.protocol) elements.add(`${o.ip} . ${PROTOCOLS[n.protocol]} . ${np.containerPort}`);
    sets.set(namedSet, { type: 'ipv4_addr . inet_proto . inet_service', elements });
    out.push(`ip daddr . meta l4proto . th dport @${namedSet}`);
  }
  return out;
}

/** The whole ruleset as commands after the static part (the first apply, and a rebuild). */
export function fullPolicyScript(table: string, rs: PolicyRuleset): string[] {
  return diffPolicyRulesets(table, EMPTY_POLICY_RULESET, rs);
}

/**
 * The commands of ONE transaction from `prev` to `next`: new sets and their elements, new chains,
 * changed chains rewritten (the dispatch chains included), elements gone deleted, and last the
 * chains and sets nothing references any more.
 */
export function diffPolicyRulesets(table: string, prev: PolicyRuleset, next: PolicyRuleset): string[] {
  const t = `ip ${table}`;
  const out: string[] = [];
  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    if (!old && !STATIC_SETS.has(name)) out.push(`add set ${t} ${name} { type ${set.type}; }`);
    const come = [...set.elements].filter((e) => !old?.elements.has(e));
    if (come.length) out.push(`add element ${t} ${name} { ${come.join(', ')} }`);
  }
  const added = [...next.chains.keys()].filter((c) => !prev.chains.has(c) && !STATIC_CHAINS.has(c));
  for (const c of added) out.push(`add chain ${t} ${c}`);
  for (const c of added) for (const r of next.chains.get(c)!) out.push(`add rule ${t} ${c} ${r}`);
  for (const [c, rules] of next.chains) {
    if (added.includes(c)) continue;
    const old = prev.chains.get(c) ?? [];
    if (old.join('\n') === rules.join('\n')) continue;
    out.push(`flush chain ${t} ${c}`);
    for (const r of rules) out.push(`add rule ${t} ${c} ${r}`);
  }
  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    const gone = old ? [...old.elements].filter((e) => !set.elements.has(e)) : [];
    if (gone.length) out.push(`delete element ${t} ${name} { ${gone.join(', ')} }`);
  }
  const removed = [...prev.chains.keys()].filter((c) => !next.chains.has(c) && !STATIC_CHAINS.has(c));
  for (const c of removed) out.push(`flush chain ${t} ${c}`);
  for (const c of removed) out.push(`delete chain ${t} ${c}`);
  for (const name of prev.sets.keys()) if (!next.sets.has(name) && !STATIC_SETS.has(name)) out.push(`delete set ${t} ${name}`);
  return out;
}
