import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import type { Packet, RecordType } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticClusterView, type ClusterSnapshot } from '../../node-agent/network/cluster-view';
import { answerQuery, buildIndex, RCODE } from '../../node-agent/network/dns-records';
import { DnsServer, upstreamsOf } from '../../node-agent/network/dns-server';
import { kubeletPodDns } from '../../node-agent/network/pod-dns';
import { serviceEnvironment, makeEnvironment } from '../../node-agent/env';
import { silentLogger } from '../../node-agent/log';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import type { Pod } from '../../node-agent/types';
import { defaultClusterDNS, kubeDnsServiceObject } from '../../shared/kube-dns-service';

/*
 * The cluster DNS's answers (dns-records.ts) for every record kind, NXDOMAIN/NODATA with SOA and
 * forwarding decisions; the server (dns-server.ts) on a loopback port: malformed packets dropped,
 * truncation, forwarding to an upstream; the kubelet's resolv.conf (pod-dns.ts); the Service
 * environment variables (env.ts); the kube-dns Service.
 */

const svc = (ns: string, name: string, spec: Service['spec']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec });
const slice = (ns: string, service: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports'] = []): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: ns, name: `${service}-x`, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints,
  ports,
});

const snapshot: ClusterSnapshot = {
  version: 'v1',
  services: [
    svc('shop', 'api', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] }),
    svc('shop', 'web', { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] }),
    svc('shop', 'ext', { type: 'ExternalName', externalName: 'db.example.com' }),
    svc('shop', 'late', { clusterIP: 'None', publishNotReadyAddresses: true }),
  ],
  endpointSlices: [
    slice('shop', 'web', [
      { addresses: ['10.128.0.5'], hostname: 'web-0', conditions: { ready: true } },
      { addresses: ['10.128.0.6'], hostname: 'web-1', conditions: { ready: true } },
      { addresses: ['10.128.0.7'], conditions: { ready: false } },
    ], [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    slice('shop', 'late', [{ addresses: ['10.128.0.9'], conditions: { ready: false } }]),
    slice('shop', 'api', [{ addresses: ['10.128.0.8'], conditions: { ready: true } }]),
  ],
  pods: [{ namespace: 'shop', name: 'lone', ips: ['10.128.0.30'] }],
};
const index = buildIndex(snapshot);

const query = (name: string, type: RecordType | 'ANY' = 'A', id = 7): Packet => ({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as RecordType, class: 'IN' }] });
const rcodeOf = (p: Packet) => (p.flags ?? 0) & 0xf;
const ask = (name: string, type: RecordType | 'ANY' = 'A') => {
  const d = answerQuery(query(name, type), index);
  if (d.kind !== 'answer') throw new Error(`${name}: ${d.kind}`);
  return d.packet;
};
const data = (p: Packet, section: 'answers' | 'additionals' = 'answers') => (p[section] ?? []).map((r) => `${r.type} ${JSON.stringify((r as { data: unknown }).data)}`).sort();

describe('cluster DNS records', () => {
  it.each([
    ['ClusterIP Service by FQDN', 'api.shop.svc.cluster.local', 'A', ['A "10.96.0.20"']],
    ['case and trailing dot do not matter', 'API.Shop.svc.cluster.local.', 'A', ['A "10.96.0.20"']],
    ['headless Service: one A per ready endpoint', 'web.shop.svc.cluster.local', 'A', ['A "10.128.0.5"', 'A "10.128.0.6"']],
    ['publishNotReadyAddresses: not-ready endpoints too', 'late.shop.svc.cluster.local', 'A', ['A "10.128.0.9"']],
    ['StatefulSet pod by hostname.subdomain', 'web-0.web.shop.svc.cluster.local', 'A', ['A "10.128.0.5"']],
    ['endpoint by dashed IP', '10-128-0-6.web.shop.svc.cluster.local', 'A', ['A "10.128.0.6"']],
    ['pod record (pods insecure)', '1-2-3-4.shop.pod.cluster.local', 'A', ['A "1.2.3.4"']],
    ['ExternalName is a CNAME', 'ext.shop.svc.cluster.local', 'A', ['CNAME "db.example.com"']],
    ['PTR of a ClusterIP', '20.0.96.10.in-addr.arpa', 'PTR', ['PTR "api.shop.svc.cluster.local"']],
    ['PTR of a headless endpoint', '5.0.128.10.in-addr.arpa', 'PTR', ['PTR "web-0.web.shop.svc.cluster.local"']],
    ['PTR of an endpoint without hostname', '8.0.128.10.in-addr.arpa', 'PTR', ['PTR "10-128-0-8.api.shop.svc.cluster.local"']],
    ['PTR of a pod IP', '30.0.128.10.in-addr.arpa', 'PTR', ['PTR "10-128-0-30.shop.pod.cluster.local"']],
    ['SRV of a named port (ClusterIP)', '_http._tcp.api.shop.svc.cluster.local', 'SRV', ['SRV {"priority":0,"weight":100,"port":80,"target":"api.shop.svc.cluster.local"}']],
    [
      'SRV of a named port (headless: each endpoint, its port)',
      '_http._tcp.web.shop.svc.cluster.local',
      'SRV',
      ['SRV {"priority":0,"weight":50,"port":8080,"target":"web-0.web.shop.svc.cluster.local"}', 'SRV {"priority":0,"weight":50,"port":8080,"target":"web-1.web.shop.svc.cluster.local"}'],
    ],
    [
      'SRV of the Service name: every named port',
      'api.shop.svc.cluster.local',
      'SRV',
      ['SRV {"priority":0,"weight":50,"port":80,"target":"api.shop.svc.cluster.local"}', 'SRV {"priority":0,"weight":50,"port":9090,"target":"api.shop.svc.cluster.local"}'],
    ],
  ] as const)('%s: %s %s', (_what, name, type, want) => {
    // Act
    const p = ask(name, type);
    // Assess
    expect(rcodeOf(p)).toBe(RCODE.NOERROR);
    expect(p.flags! & dnsPacket.AUTHORITATIVE_ANSWER).toBeTruthy();
    expect(p.id).toBe(7);
    expect(data(p)).toEqual([...want].sort());
    for (const r of p.answers ?? []) expect((r as { ttl?: number }).ttl).toBe(5);
  });

  it('SRV answers carry their targets\' A records as additionals', () => {
    expect(data(ask('_http._tcp.web.shop.svc.cluster.local', 'SRV'), 'additionals')).toEqual(['A "10.128.0.5"', 'A "10.128.0.6"']);
  });

  it.each([
    ['an unknown Service', 'nope.shop.svc.cluster.local', 'A'],
    ['an unknown namespace', 'api.nons.svc.cluster.local', 'A'],
    ['a name below a ClusterIP Service that is no endpoint', 'x.api.shop.svc.cluster.local', 'A'],
    ['an unnamed or unknown port', '_grpc._tcp.api.shop.svc.cluster.local', 'SRV'],
    ['a wrong protocol', '_http._udp.api.shop.svc.cluster.local', 'SRV'],
    ['a not-ready endpoint', '10-128-0-7.web.shop.svc.cluster.local', 'A'],
    ['a bad pod record', '1-2-3.shop.pod.cluster.local', 'A'],
    ['a pod record with a bad octet', '1-2-3-400.shop.pod.cluster.local', 'A'],
    ['a search-path expansion of an outside name', 'example.com.shop.svc.cluster.local', 'A'],
    ['anything else in the zone', 'foo.cluster.local', 'A'],
  ] as const)('NXDOMAIN with the SOA for %s', (_what, name, type) => {
    // Act
    const p = ask(name, type);
    // Assess
    expect(rcodeOf(p)).toBe(RCODE.NXDOMAIN);
    expect(p.answers).toEqual([]);
    const soa = p.authorities?.[0] as unknown as { type: string; name: string; ttl: number; data: Record<string, unknown> };
    expect(soa.type).toBe('SOA');
    expect(soa.name).toBe('cluster.local');
    expect(soa.data).toMatchObject({ mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', refresh: 7200, retry: 1800, expire: 86400, minimum: 5 });
  });

  it.each([
    ['AAAA of an IPv4-only Service', 'api.shop.svc.cluster.local', 'AAAA'],
    ['AAAA of a headless Service', 'web.shop.svc.cluster.local', 'AAAA'],
    ['MX of a Service', 'api.shop.svc.cluster.local', 'MX'],
    ['a namespace (an empty non-terminal)', 'shop.svc.cluster.local', 'A'],
    ['the apex, A', 'cluster.local', 'A'],
  ] as const)('NOERROR with no answers (NODATA) and the SOA for %s', (_what, name, type) => {
    const p = ask(name, type);
    expect(rcodeOf(p)).toBe(RCODE.NOERROR);
    expect(p.answers).toEqual([]);
    expect(p.authorities?.[0]?.type).toBe('SOA');
  });

  it('answers the apex SOA', () => {
    expect(ask('cluster.local', 'SOA').answers?.[0]?.type).toBe('SOA');
  });

  it.each([
    ['a name outside the zone', 'example.com'],
    ['a single label', 'localhost'],
    ['a name that only ends like the zone', 'evilcluster.local'],
    ['the PTR of an address the cluster does not know', '4.3.2.1.in-addr.arpa'],
  ])('forwards %s', (_what, name) => {
    expect(answerQuery(query(name), index).kind).toBe('forward');
  });

  it('never forwards a name under the zone, whatever the type', () => {
    for (const t of ['A', 'AAAA', 'TXT', 'SRV', 'PTR', 'CNAME'] as const) expect(answerQuery(query('whatever.else.cluster.local', t), index).kind).toBe('answer');
  });

  it('FORMERR for no or several questions, NOTIMP for another opcode, drops responses', () => {
    expect(answerQuery({ type: 'query', id: 1, questions: [] }, index)).toMatchObject({ kind: 'answer', packet: { flags: expect.any(Number) } });
    const two = answerQuery({ type: 'query', id: 1, questions: [{ name: 'a.cluster.local', type: 'A' }, { name: 'b.cluster.local', type: 'A' }] }, index);
    expect(two.kind === 'answer' && rcodeOf(two.packet)).toBe(RCODE.FORMERR);
    const update = answerQuery({ type: 'query', id: 1, flags: 5 << 11, questions: [{ name: 'a.cluster.local', type: 'A' }] }, index);
    expect(update.kind === 'answer' && rcodeOf(update.packet)).toBe(RCODE.NOTIMP);
    expect(answerQuery({ ...query('api.shop.svc.cluster.local'), type: 'response' }, index).kind).toBe('drop');
  });

  it('honours another cluster domain', () => {
    const other = buildIndex(snapshot, 'corp.internal');
    const d = answerQuery(query('api.shop.svc.corp.internal'), other);
    expect(d.kind === 'answer' && data(d.packet)).toEqual(['A "10.96.0.20"']);
    expect(answerQuery(query('api.shop.svc.cluster.local'), other).kind).toBe('forward');
  });
});

describe('cluster DNS server', () => {
  let server: DnsServer;
  let upstream: ReturnType<typeof createSocket>;
  const upstreamQueries: string[] = [];

  beforeAll(async () => {
    // A tiny upstream on loopback: answers example.test with 192.0.2.1, anything else NXDOMAIN.
    upstream = createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions![0]!.name;
      upstreamQueries.push(name);
      const answers = name === 'example.test' ? [{ type: 'A' as const, name, ttl: 60, data: '192.0.2.1' }] : [];
      upstream.send(dnsPacket.encode({ type: 'response', id: q.id, flags: answers.length ? 0 : 3, questions: q.questions, answers }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    const big: ClusterSnapshot = {
      ...snapshot,
      services: [...snapshot.services, svc('shop', 'many', { clusterIP: 'None' })],
      endpointSlices: [...snapshot.endpointSlices, slice('shop', 'many', Array.from({ length: 60 }, (_, i) => ({ addresses: [`10.128.1.${i + 2}`] })))],
    };
    server = new DnsServer({ view: staticClusterView(big), address: '127.0.0.1', port: 0, upstreams: [{ address: '127.0.0.1', port: upstream.address().port }], timeoutMs: 500, log: silentLogger });
    await server.start();
  });
  afterAll(async () => {
    await server.close();
    upstream.close();
  });

  const roundTrip = (msg: Buffer) =>
    new Promise<Buffer | undefined>((resolve) => {
      const s = createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        resolve(undefined);
      }, 700);
      s.on('message', (b) => {
        clearTimeout(timer);
        s.close();
        resolve(b);
      });
      s.send(msg, server.port, '127.0.0.1');
    });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['a truncated header', Buffer.from([1, 2, 3])],
    ['a question count with no question', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])],
    ['a label running past the end', Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 97])],
    ['random bytes', Buffer.from('deadbeefcafebabe0102030405060708090a', 'hex')],
  ])('drops %s and keeps serving', async (_what, bytes) => {
    expect(await server.handle(bytes, 'udp')).toBeUndefined();
    const after = await roundTrip(dnsPacket.encode(query('api.shop.svc.cluster.local')));
    expect(after && data(dnsPacket.decode(after))).toEqual(['A "10.96.0.20"']);
  });

  it('forwards an outside name to the upstream and relays its answer', async () => {
    const reply = await roundTrip(dnsPacket.encode(query('example.test', 'A', 4242)));
    const p = dnsPacket.decode(reply!);
    expect(p.id).toBe(4242);
    expect(data(p)).toEqual(['A "192.0.2.1"']);
  });

  it('never sends a cluster name upstream', async () => {
    upstreamQueries.length = 0;
    await roundTrip(dnsPacket.encode(query('nothing.shop.svc.cluster.local')));
    expect(upstreamQueries).toEqual([]);
  });

  it('follows an ExternalName CNAME through the upstream', async () => {
    const extSnap: ClusterSnapshot = { ...snapshot, services: [...snapshot.services, svc('shop', 'exttest', { type: 'ExternalName', externalName: 'example.test' })] };
    const s = new DnsServer({ view: staticClusterView(extSnap), address: '127.0.0.1', port: 0, upstreams: [{ address: '127.0.0.1', port: upstream.address().port }], log: silentLogger });
    await s.start();
    try {
      const p = dnsPacket.decode((await s.handle(dnsPacket.encode(query('exttest.shop.svc.cluster.local')), 'udp'))!);
      expect(data(p)).toEqual(['A "192.0.2.1"', 'CNAME "example.test"']);
    } finally {
      await s.close();
    }
  });

  it('truncates an answer too big for UDP, and gives it whole over TCP', async () => {
    const udp = dnsPacket.decode((await server.handle(dnsPacket.encode(query('many.shop.svc.cluster.local')), 'udp'))!);
    expect(udp.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(udp.answers).toEqual([]);
    const tcp = dnsPacket.decode((await server.handle(dnsPacket.encode(query('many.shop.svc.cluster.local')), 'tcp'))!);
    expect(tcp.answers).toHaveLength(60);
  });

  it('SERVFAIL when no upstream answers', async () => {
    const s = new DnsServer({ view: staticClusterView(snapshot), address: '127.0.0.1', port: 0, upstreams: [{ address: '127.0.0.1', port: 9 }], timeoutMs: 200, log: silentLogger });
    await s.start();
    try {
      const p = dnsPacket.decode((await s.handle(dnsPacket.encode(query('example.test')), 'udp'))!);
      expect(rcodeOf(p)).toBe(RCODE.SERVFAIL);
    } finally {
      await s.close();
    }
  });

  it('reads upstreams from resolv.conf lines', () => {
    expect(upstreamsOf('# c\nnameserver 10.0.0.2\nnameserver ::1\nsearch a b\nnameserver 127.0.0.53 # local\n')).toEqual([
      { address: '10.0.0.2', port: 53 },
      { address: '127.0.0.53', port: 53 },
    ]);
  });
});

const pod = (spec: Record<string, unknown>, ns = 'shop'): Pod => ({ metadata: { name: 'p', namespace: ns, uid: 'u' }, spec: { containers: [{ name: 'main', image: 'x' }], ...spec } });
const host = { nameservers: ['10.0.0.2', '10.0.0.3'], searches: ['corp.example.', 'example.'], options: ['timeout:2', 'rotate'] };
const settings = { host, clusterDNS: '10.96.0.10', clusterDomain: 'cluster.local' };

describe('pod resolv.conf (the kubelet\'s)', () => {
  it.each([
    ['ClusterFirst (the default)', {}, { nameservers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'example'], options: ['ndots:5'] }],
    ['ClusterFirst on hostNetwork is Default', { hostNetwork: true }, { nameservers: ['10.0.0.2', '10.0.0.3'], searches: ['corp.example', 'example'], options: ['timeout:2', 'rotate'] }],
    ['ClusterFirstWithHostNet on hostNetwork', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }, { nameservers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'example'], options: ['ndots:5'] }],
    ['Default', { dnsPolicy: 'Default' }, { nameservers: ['10.0.0.2', '10.0.0.3'], searches: ['corp.example', 'example'], options: ['timeout:2', 'rotate'] }],
    ['None is exactly dnsConfig', { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.b'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }, { nameservers: ['1.1.1.1'], searches: ['a.b'], options: ['ndots:2', 'edns0'] }],
    [
      'ClusterFirst with dnsConfig: nameservers appended, searches first, options overridden by name',
      { dnsConfig: { nameservers: ['1.1.1.1', '10.96.0.10'], searches: ['my.dom', 'cluster.local'], options: [{ name: 'ndots', value: '2' }, { name: 'single-request' }] } },
      { nameservers: ['10.96.0.10', '1.1.1.1'], searches: ['my.dom', 'cluster.local', 'shop.svc.cluster.local', 'svc.cluster.local', 'corp.example', 'example'], options: ['ndots:2', 'single-request'] },
    ],
  ])('%s', (_what, spec, want) => {
    expect(kubeletPodDns(pod(spec), settings).dns).toEqual(want);
  });

  it('without a cluster DNS ClusterFirst falls back to Default, with the kubelet\'s warning', () => {
    const r = kubeletPodDns(pod({}), { host });
    expect(r.dns.nameservers).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(r.warnings[0]).toContain('Falling back to "Default" policy');
  });

  it('keeps 3 nameservers and 32 search domains, with the kubelet\'s warnings', () => {
    const r = kubeletPodDns(pod({ dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'], searches: Array.from({ length: 40 }, (_, i) => `d${i}.example`) } }), settings);
    expect(r.dns.nameservers).toEqual(['10.96.0.10', '1.1.1.1', '2.2.2.2']);
    expect(r.dns.searches).toHaveLength(32);
    expect(r.dns.searches[0]).toBe('d0.example');
    expect(r.warnings).toEqual([
      'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2',
      expect.stringMatching(/^Search Line limits were exceeded, some search paths have been omitted, the applied search line is: d0.example /),
    ]);
  });

  it('cuts the search line to 2,048 characters', () => {
    const long = Array.from({ length: 10 }, (_, i) => `${String(i).padStart(250, 'x')}.example`);
    const r = kubeletPodDns(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: long } }), settings);
    expect(r.dns.searches.join(' ').length).toBeLessThanOrEqual(2048);
    expect(r.dns.searches.length).toBeLessThan(10);
  });
});

describe('Service environment variables', () => {
  const services = [
    svc('shop', 'redis-primary', { clusterIP: '10.96.0.11', ports: [{ port: 6379, protocol: 'TCP' }] }),
    svc('shop', 'web', { clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80 }, { name: 'dns-udp', port: 53, protocol: 'UDP' }] }),
    svc('shop', 'headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
    svc('shop', 'ext', { type: 'ExternalName', externalName: 'x.example.com' }),
    svc('other', 'elsewhere', { clusterIP: '10.96.0.13', ports: [{ port: 80 }] }),
    svc('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] }),
  ];

  it('gives the pod\'s namespace\'s Services with a ClusterIP, in the kubelet\'s forms', () => {
    expect(serviceEnvironment(pod({}), services)).toEqual([
      { name: 'REDIS_PRIMARY_SERVICE_HOST', value: '10.96.0.11' },
      { name: 'REDIS_PRIMARY_SERVICE_PORT', value: '6379' },
      { name: 'REDIS_PRIMARY_PORT', value: 'tcp://10.96.0.11:6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP', value: 'tcp://10.96.0.11:6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_PROTO', value: 'tcp' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_PORT', value: '6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_ADDR', value: '10.96.0.11' },
      { name: 'WEB_SERVICE_HOST', value: '10.96.0.12' },
      { name: 'WEB_SERVICE_PORT', value: '80' },
      { name: 'WEB_SERVICE_PORT_HTTP', value: '80' },
      { name: 'WEB_SERVICE_PORT_DNS_UDP', value: '53' },
      { name: 'WEB_PORT', value: 'tcp://10.96.0.12:80' },
      { name: 'WEB_PORT_80_TCP', value: 'tcp://10.96.0.12:80' },
      { name: 'WEB_PORT_80_TCP_PROTO', value: 'tcp' },
      { name: 'WEB_PORT_80_TCP_PORT', value: '80' },
      { name: 'WEB_PORT_80_TCP_ADDR', value: '10.96.0.12' },
      { name: 'WEB_PORT_53_UDP', value: 'udp://10.96.0.12:53' },
      { name: 'WEB_PORT_53_UDP_PROTO', value: 'udp' },
      { name: 'WEB_PORT_53_UDP_PORT', value: '53' },
      { name: 'WEB_PORT_53_UDP_ADDR', value: '10.96.0.12' },
    ]);
  });

  it('gives none when enableServiceLinks is false, and never the kubernetes Service\'s (made elsewhere)', () => {
    expect(serviceEnvironment(pod({ enableServiceLinks: false }), services)).toEqual([]);
    expect(serviceEnvironment(pod({}, 'default'), services)).toEqual([]);
  });

  it('lets the container\'s own variables win and $(VAR) refer to Service variables', async () => {
    const p = pod({ containers: [{ name: 'main', image: 'x', env: [{ name: 'WEB_SERVICE_PORT', value: 'mine' }, { name: 'URL', value: 'http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT_HTTP)' }] }] });
    const r = await makeEnvironment(p, p.spec.containers[0]!, { hostIP: '192.0.2.1', nodeCpuCores: 1, nodeMemoryBytes: 1, services }, { configMap: async () => undefined, secret: async () => undefined });
    const env = new Map(r.env.map((e) => [e.name, e.value]));
    expect(env.get('WEB_SERVICE_PORT')).toBe('mine');
    expect(env.get('URL')).toBe('http://10.96.0.12:80');
    expect(env.get('WEB_SERVICE_HOST')).toBe('10.96.0.12');
  });
});

describe('kube-dns Service', () => {
  it.each([
    ['10.96.0.0/12', '10.96.0.10'],
    ['10.100.0.0/16', '10.100.0.10'],
    ['172.20.0.0/24', '172.20.0.10'],
  ])('takes the 10th address of %s: %s', (cidr, ip) => {
    expect(defaultClusterDNS(cidr)).toBe(ip);
  });

  it('is kubeadm\'s: kube-system/kube-dns, dns/53 UDP and dns-tcp/53 TCP', () => {
    const s = kubeDnsServiceObject({}) as unknown as Service;
    expect(s.metadata).toMatchObject({ name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } });
    expect(s.spec).toMatchObject({ clusterIP: '10.96.0.10', type: 'ClusterIP' });
    expect(s.spec.ports).toEqual([
      expect.objectContaining({ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }),
      expect.objectContaining({ name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }),
    ]);
  });
});
