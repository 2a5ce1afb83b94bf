/**
 * The cluster DNS's answers (CoreDNS's kubernetes plugin, per the Kubernetes DNS-Based Service
 * Discovery specification), as a pure function of one query and the agent's cluster view. The
 * sockets, forwarding and truncation are in dns-server.ts.
 *
 * Records (zone `cluster.local` unless configured, TTL 5 s as CoreDNS's default):
 * - `svc.ns.svc.zone` A: the ClusterIP; for a headless Service one A per ready endpoint (every
 *   endpoint with publishNotReadyAddresses); ExternalName: a CNAME to spec.externalName.
 * - `host.svc.ns.svc.zone` A: the endpoint whose hostname (a pod's spec.hostname under a matching
 *   spec.subdomain, e.g. a StatefulSet's `web-0`) or dashed IP (`10-128-0-5`) is `host`.
 * - `_port._proto.svc.ns.svc.zone` SRV: named ports; target the Service (ClusterIP) or each
 *   endpoint (headless), with the targets' A records as additionals. `svc.ns.svc.zone` SRV: all.
 * - `a-b-c-d.ns.pod.zone` A: a.b.c.d (CoreDNS's `pods insecure`, kubeadm's default).
 * - PTR of `d.c.b.a.in-addr.arpa`: a ClusterIP's Service name, an endpoint's name, else a pod's
 *   `a-b-c-d.ns.pod.zone`; an address of none of these is forwarded (CoreDNS's fallthrough).
 * - A name under the zone with no record is NXDOMAIN, with the zone's SOA in the authority
 *   section; a name that exists without records of the asked type (AAAA of an IPv4-only Service)
 *   is NOERROR with no answers and the SOA (NODATA).
 * - Names outside the zone: `forward` (the server sends them to the host's resolvers). A name
 *   under the zone is never forwarded.
 */
import type { Answer, Packet, Question, SoaAnswer } from 'dns-packet';
import type { ClusterSnapshot, SnapshotChanges, ViewPod } from './cluster-view';
import { ServiceIndex } from './service-index';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

export const DNS_TTL = 5;
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const FLAG_AA = 1 << 10;
const FLAG_RD = 1 << 8;
const FLAG_RA = 1 << 7;

interface Endpoint {
  readonly ip: string;
  readonly hostname?: string;
  readonly ready: boolean;
}

interface ServiceEntry {
  readonly service: Service;
  readonly endpoints: readonly Endpoint[];
  /** The slices' ports by name (a headless Service's SRV records carry the endpoint's port). */
  readonly endpointPorts: ReadonlyMap<string, { port: number; protocol: string }>;
}

/** The records of one snapshot, indexed for lookups (rebuilt on each new snapshot). */
export interface DnsIndex {
  readonly zone: string;
  /** Key `name.namespace`. */
  readonly services: ReadonlyMap<string, ServiceEntry>;
  readonly namespaces: ReadonlySet<string>;
  /** IP → PTR target (without the trailing dot). */
  readonly reverse: ReadonlyMap<string, string>;
  /** SOA serial: changes with the snapshot. */
  readonly serial: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const isIPv4 = (s: string): boolean => IPV4.test(s);
const dashed = (ip: string) => ip.replace(/\./g, '-');
const isHeadless = (s: Service) => s.spec.clusterIP === 'None';
const serviceIPs = (s: Service): string[] => (s.spec.clusterIPs?.length ? s.spec.clusterIPs : s.spec.clusterIP ? [s.spec.clusterIP] : []).filter(isIPv4);

function hashSerial(version: string): number {
  let h = 2166136261;
  for (let i = 0; i < version.length; i++) h = Math.imul(h ^ version.charCodeAt(i), 16777619) >>> 0;
  return h || 1;
}

interface SlicePart {
  readonly endpoints: Endpoint[];
  readonly ports: Map<string, { port: number; protocol: string }>;
}

/** What a Service's slices give its records (in the slices' order), added to `into`. */
function addSlice(into: SlicePart, slice: EndpointSlice): void {
  if (slice.addressType !== 'IPv4') return;
  for (const e of slice.endpoints) {
    // A nil ready condition means ready (EndpointConditions' contract).
    const ready = e.conditions?.ready !== false;
    for (const ip of e.addresses) if (isIPv4(ip)) into.endpoints.push({ ip, ready, ...(e.hostname ? { hostname: e.hostname.toLowerCase() } : {}) });
  }
  for (const p of slice.ports ?? []) if (p.port !== undefined) into.ports.set((p.name ?? '').toLowerCase(), { port: p.port, protocol: (p.protocol ?? 'TCP').toLowerCase() });
}

const entryOf = (service: Service, part: SlicePart | undefined): ServiceEntry => {
  const publishAll = service.spec.publishNotReadyAddresses === true;
  return { service, endpoints: (part?.endpoints ?? []).filter((e) => e.ready || publishAll), endpointPorts: part?.ports ?? new Map() };
};

const byName = (a: Service, b: Service) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);

/** IP → PTR target: ClusterIPs first, then endpoints (Services sorted by namespace/name), then pods. */
function reverseOf(services: ReadonlyMap<string, ServiceEntry>, pods: readonly ViewPod[], zone: string): Map<string, string> {
  const reverse = new Map<string, string>();
  // Sorted so which name a shared IP's PTR gives does not depend on list order.
  const sorted = [...services.values()].sort((a, b) => byName(a.service, b.service));
  for (const { service } of sorted) {
    const fqdn = `${service.metadata.name}.${service.metadata.namespace ?? 'default'}.svc.${zone}`;
    for (const ip of serviceIPs(service)) if (!reverse.has(ip)) reverse.set(ip, fqdn);
  }
  for (const { service, endpoints } of sorted) {
    const fqdn = `${service.metadata.name}.${service.metadata.namespace ?? 'default'}.svc.${zone}`;
    for (const e of endpoints) if (!reverse.has(e.ip)) reverse.set(e.ip, `${e.hostname ?? dashed(e.ip)}.${fqdn}`);
  }
  for (const pod of pods) for (const ip of pod.ips) if (isIPv4(ip) && !reverse.has(ip)) reverse.set(ip, `${dashed(ip)}.${pod.namespace}.pod.${zone}`);
  return reverse;
}

/** An index whose reverse names are computed at the first PTR query (not on the change path). */
function indexOf(zone: string, services: ReadonlyMap<string, ServiceEntry>, namespaces: ReadonlySet<string>, pods: readonly ViewPod[], version: string): DnsIndex {
  let reverse: Map<string, string> | undefined;
  return {
    zone,
    services,
    namespaces,
    get reverse() {
      return (reverse ??= reverseOf(services, pods, zone));
    },
    serial: hashSerial(version),
  };
}

/** Indexes a snapshot: Services with their endpoints (from EndpointSlices), reverse names. */
export function buildIndex(snapshot: ClusterSnapshot, zone: string = DEFAULT_CLUSTER_DOMAIN): DnsIndex {
  const byService = new Map<string, SlicePart>();
  for (const slice of snapshot.endpointSlices) {
    if (slice.addressType !== 'IPv4') continue;
    const svcName = slice.metadata.labels?.['kubernetes.io/service-name'];
    if (!svcName) continue;
    const key = `${svcName}.${slice.metadata.namespace ?? 'default'}`;
    const entry = byService.get(key) ?? { endpoints: [] as Endpoint[], ports: new Map<string, { port: number; protocol: string }>() };
    byService.set(key, entry);
    addSlice(entry, slice);
  }
  const services = new Map<string, ServiceEntry>();
  const namespaces = new Set<string>();
  for (const service of [...snapshot.services].sort(byName)) {
    const ns = service.metadata.namespace ?? 'default';
    const name = service.metadata.name;
    if (!name) continue;
    namespaces.add(ns);
    services.set(`${name}.${ns}`, entryOf(service, byService.get(`${name}.${ns}`)));
  }
  for (const pod of snapshot.pods) namespaces.add(pod.namespace);
  return indexOf(zone, services, namespaces, snapshot.pods, snapshot.version);
}

/**
 * The DNS index kept in step with the cluster view: a snapshot whose `changes` follow the one
 * indexed last updates only the Services they name (or whose slices they name) and the namespaces'
 * counts (O(changes)); any other is indexed whole (buildIndex). The previous index's maps are
 * updated in place: only the newest index is to be used.
 */
export class DnsIndexer {
  private version = '';
  private current: DnsIndex | undefined;
  private services = new Map<string, ServiceEntry>();
  /** Services (by name.ns) and their slices. */
  private readonly index = new ServiceIndex((ns, name) => `${name}.${ns || 'default'}`);
  /** namespace → Services and pods in it (a namespace "exists" while one is there). */
  private nsCount = new Map<string, number>();
  private namespaces = new Set<string>();

  constructor(private readonly zone: string = DEFAULT_CLUSTER_DOMAIN) {}

  private count(ns: string, d: number): void {
    const n = (this.nsCount.get(ns) ?? 0) + d;
    if (n > 0) {
      this.nsCount.set(ns, n);
      this.namespaces.add(ns);
    } else {
      this.nsCount.delete(ns);
      this.namespaces.delete(ns);
    }
  }

  private whole(snapshot: ClusterSnapshot): DnsIndex {
    this.index.rebuild(snapshot.services, snapshot.endpointSlices);
    this.nsCount = new Map();
    this.namespaces = new Set();
    for (const svc of snapshot.services) if (svc.metadata.name) this.count(svc.metadata.namespace ?? 'default', 1);
    for (const p of snapshot.pods) this.count(p.namespace, 1);
    this.podKeys = new Set(snapshot.pods.map((p) => `${p.namespace}/${p.name}`));
    const index = buildIndex(snapshot, this.zone);
    this.services = new Map(index.services);
    return indexOf(this.zone, this.services, this.namespaces, snapshot.pods, snapshot.version);
  }

  /** The index of `snapshot` (by its changes when they follow the last one indexed). */
  update(snapshot: ClusterSnapshot): DnsIndex {
    const c = snapshot.changes;
    const index = this.current && c && c.since === this.version ? this.apply(snapshot, c) : this.whole(snapshot);
    this.current = index;
    this.version = snapshot.version;
    return index;
  }

  private apply(snapshot: ClusterSnapshot, c: SnapshotChanges): DnsIndex {
    const affected = this.index.applyChanges(c, (ns, had, has) => {
      if (had !== has) this.count(ns || 'default', has ? 1 : -1);
    });
    for (const k of affected) {
      const svc = this.index.service(k);
      if (!svc) {
        this.services.delete(k);
        continue;
      }
      // The slices in the snapshot's order (slice namespace/name), as buildIndex reads them.
      const part: SlicePart = { endpoints: [], ports: new Map() };
      for (const slice of this.index.slicesOf(k)) addSlice(part, slice);
      this.services.set(k, entryOf(svc, part));
    }
    // Pods: only the namespaces' counts here (their reverse names are computed when asked).
    const pods = c.Pod;
    if (pods) {
      const keys = this.podKeys;
      for (const [key, pod] of pods) {
        const had = keys.has(key);
        if (had !== !!pod) this.count(key.slice(0, key.indexOf('/')) || 'default', pod ? 1 : -1);
        if (pod) keys.add(key);
        else keys.delete(key);
      }
    }
    return indexOf(this.zone, this.services, this.namespaces, snapshot.pods, snapshot.version);
  }

  private podKeys = new Set<string>();
}

/** What to do with a query: answer it, forward it upstream, or drop it. */
export type DnsDecision =
  | { readonly kind: 'answer'; readonly packet: Packet }
  | { readonly kind: 'forward' }
  | { readonly kind: 'drop' };

const a = (name: string, ip: string): Answer => ({ type: 'A', name, ttl: DNS_TTL, class: 'IN', data: ip });

function soa(index: DnsIndex): SoaAnswer {
  const z = index.zone;
  // CoreDNS's: ns.dns.<zone>, hostmaster.<zone>, refresh 7200, retry 1800, expire 86400, minimum = the TTL.
  return {
    type: 'SOA',
    name: z,
    ttl: DNS_TTL,
    class: 'IN',
    data: { mname: `ns.dns.${z}`, rname: `hostmaster.${z}`, serial: index.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: DNS_TTL },
  };
}

/** A response to `query` (id, question and RD copied; RA set; AA for our zone). */
export function response(query: Packet, rcode: number, sections: { answers?: Answer[]; authorities?: Answer[]; additionals?: Answer[]; authoritative?: boolean } = {}): Packet {
  const rd = (query.flags ?? 0) & FLAG_RD;
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: (sections.authoritative ? FLAG_AA : 0) | rd | FLAG_RA | rcode,
    questions: query.questions ?? [],
    answers: sections.answers ?? [],
    authorities: sections.authorities ?? [],
    additionals: sections.additionals ?? [],
  };
}

interface Found {
  /** undefined: the name does not exist (NXDOMAIN). */
  readonly answers?: Answer[];
  readonly additionals?: Answer[];
}

/** Lower-cased, without the trailing dot. */
export const normalizeName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** Answers one query (the whole decoded packet). */
export function answerQuery(query: Packet, index: DnsIndex): DnsDecision {
  if (query.type === 'response') return { kind: 'drop' };
  const opcode = ((query.flags ?? 0) >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'answer', packet: response(query, RCODE.NOTIMP) };
  const questions = query.questions ?? [];
  if (questions.length !== 1) return { kind: 'answer', packet: response(query, RCODE.FORMERR) };
  const q = questions[0]!;
  const name = normalizeName(q.name);
  const zone = index.zone;
  let found: Found;
  if (name.endsWith('.in-addr.arpa')) {
    const ptr = reverseLookup(name, q, index);
    if (!ptr) return { kind: 'forward' };
    found = ptr;
  } else {
    if (name !== zone && !name.endsWith(`.${zone}`)) return { kind: 'forward' };
    if (q.class !== undefined && q.class !== 'IN' && q.class !== 'ANY') return { kind: 'answer', packet: response(query, RCODE.REFUSED) };
    found = lookup(name.slice(0, Math.max(0, name.length - zone.length - 1)), q, index);
  }
  if (!found.answers) return { kind: 'answer', packet: response(query, RCODE.NXDOMAIN, { authorities: [soa(index)], authoritative: true }) };
  if (found.answers.length === 0) return { kind: 'answer', packet: response(query, RCODE.NOERROR, { authorities: [soa(index)], authoritative: true }) };
  return { kind: 'answer', packet: response(query, RCODE.NOERROR, { answers: found.answers, additionals: found.additionals ?? [], authoritative: true }) };
}

/** The PTR of a reverse name, undefined when the address is not the cluster's (forwarded). */
function reverseLookup(name: string, q: Question, index: DnsIndex): Found | undefined {
  const labels = name.slice(0, -'.in-addr.arpa'.length).split('.');
  if (labels.length !== 4) return undefined;
  const ip = labels.reverse().join('.');
  if (!isIPv4(ip)) return undefined;
  const target = index.reverse.get(ip);
  if (!target) return undefined;
  return { answers: q.type === 'PTR' || isAny(q) ? [{ type: 'PTR', name: q.name.replace(/\.$/, ''), ttl: DNS_TTL, class: 'IN', data: target }] : [] };
}

/** Records of `rel`, the name without the zone ("" is the apex). */
function lookup(rel: string, q: Question, index: DnsIndex): Found {
  const zone = index.zone;
  const qname = q.name.replace(/\.$/, '');
  const wants = (t: string) => q.type === t || isAny(q);
  if (rel === '') {
    if (wants('SOA')) return { answers: [soa(index)] };
    if (wants('NS')) return { answers: [{ type: 'NS', name: qname, ttl: DNS_TTL, class: 'IN', data: `ns.dns.${zone}` }] };
    return { answers: [] };
  }
  const labels = rel.split('.');
  const kind = labels[labels.length - 1];
  if (kind === 'svc') return lookupService(labels.slice(0, -1), q, index, qname);
  if (kind === 'pod') return lookupPod(labels.slice(0, -1), q);
  // ns.dns.<zone>: the SOA's name server (CoreDNS answers it with its own address; we have none to give).
  return {};
}

function lookupPod(labels: string[], q: Question): Found {
  if (labels.length === 0) return { answers: [] };
  if (labels.length === 1) return { answers: [] }; // <ns>.pod.<zone>: an empty non-terminal
  if (labels.length !== 2) return {};
  const ip = labels[0]!.replace(/-/g, '.');
  if (!isIPv4(ip) || labels[0]!.split('-').length !== 4) return {};
  const name = q.name.replace(/\.$/, '');
  return { answers: q.type === 'A' || isAny(q) ? [a(name, ip)] : [] };
}

function lookupService(labels: string[], q: Question, index: DnsIndex, qname: string): Found {
  const zone = index.zone;
  // svc.<zone> and <ns>.svc.<zone> exist (empty non-terminals) when something is under them.
  if (labels.length === 0) return { answers: [] };
  const ns = labels[labels.length - 1]!;
  if (labels.length === 1) return index.namespaces.has(ns) ? { answers: [] } : {};
  const svcName = labels[labels.length - 2]!;
  const entry = index.services.get(`${svcName}.${ns}`);
  if (!entry) return {};
  const { service } = entry;
  const fqdn = `${svcName}.${ns}.svc.${zone}`;
  const wantsA = q.type === 'A' || isAny(q);
  const wantsSrv = q.type === 'SRV' || isAny(q);

  if (service.spec.type === 'ExternalName') {
    // Only the Service's own name is a CNAME; nothing exists below it.
    if (labels.length !== 2 || !service.spec.externalName) return {};
    return { answers: [{ type: 'CNAME', name: qname, ttl: DNS_TTL, class: 'IN', data: normalizeName(service.spec.externalName) }] };
  }

  if (labels.length === 2) {
    const answers: Answer[] = [];
    if (wantsA) answers.push(...addressesOf(entry).map((ip) => a(qname, ip)));
    if (wantsSrv) return srvRecords(entry, fqdn, qname, () => true, answers);
    return { answers };
  }
  if (labels.length === 3) {
    // An endpoint by hostname or dashed IP.
    const host = labels[0]!;
    const matches = entry.endpoints.filter((e) => (e.hostname ?? dashed(e.ip)) === host || dashed(e.ip) === host);
    if (!matches.length) return {};
    return { answers: wantsA ? unique(matches.map((e) => e.ip)).map((ip) => a(qname, ip)) : [] };
  }
  if (labels.length === 4) {
    // _port._proto.<svc>.<ns>.svc.<zone>
    const [port, proto] = labels as [string, string];
    if (!port.startsWith('_') || !proto.startsWith('_')) return {};
    const portName = port.slice(1);
    const protocol = proto.slice(1);
    const match = (p: { name?: string; protocol?: string }) => (p.name ?? '').toLowerCase() === portName && (p.protocol ?? 'TCP').toLowerCase() === protocol;
    if (!(service.spec.ports ?? []).some(match)) return {};
    if (wantsSrv) return srvRecords(entry, fqdn, qname, match, []);
    if (wantsA) return { answers: addressesOf(entry).map((ip) => a(qname, ip)) };
    return { answers: [] };
  }
  return {};
}

/** QTYPE ANY (255): dns-packet decodes it, its types do not list it. */
const isAny = (q: Question): boolean => (q.type as string) === 'ANY';

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The A records of a Service name: its ClusterIP, or its ready endpoints when headless. */
function addressesOf(entry: ServiceEntry): string[] {
  return isHeadless(entry.service) ? unique(entry.endpoints.map((e) => e.ip)) : serviceIPs(entry.service);
}

function srvRecords(entry: ServiceEntry, fqdn: string, qname: string, match: (p: { name?: string; protocol?: string }) => boolean, extra: Answer[]): Found {
  const answers: Answer[] = [...extra];
  const additionals: Answer[] = [];
  const ports = (entry.service.spec.ports ?? []).filter((p) => p.name && match(p));
  if (!isHeadless(entry.service)) {
    const ips = serviceIPs(entry.service);
    for (const p of ports) answers.push({ type: 'SRV', name: qname, ttl: DNS_TTL, class: 'IN', data: { priority: 0, weight: Math.floor(100 / ports.length), port: p.port, target: fqdn } });
    if (ports.length) additionals.push(...ips.map((ip) => a(fqdn, ip)));
    return { answers, additionals };
  }
  // Headless: one record per endpoint and port; the port is the endpoint's (the slice's), weights split evenly (CoreDNS).
  const targets = new Map<string, string>();
  for (const e of entry.endpoints) targets.set(`${e.hostname ?? dashed(e.ip)}.${fqdn}`, e.ip);
  const count = targets.size * ports.length;
  for (const p of ports) {
    const ep = entry.endpointPorts.get(p.name!.toLowerCase());
    const port = ep?.port ?? (typeof p.targetPort === 'number' ? p.targetPort : p.port);
    for (const target of targets.keys()) answers.push({ type: 'SRV', name: qname, ttl: DNS_TTL, class: 'IN', data: { priority: 0, weight: Math.max(1, Math.floor(100 / count)), port, target } });
  }
  if (ports.length) for (const [target, ip] of targets) additionals.push(a(target, ip));
  return { answers, additionals };
}
