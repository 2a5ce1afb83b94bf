import { describe, expect, it } from 'vitest';
import { buildSnapshot, SnapshotCache } from '../../node-agent/network/api-cluster-view';
import { buildRuleset, diffRulesets, EMPTY_RULESET, endpointsFor, fullScript, proxyTableScript, RulesetState, rulesOf, serviceRules, type ProxyNode } from '../../node-agent/network/service-rules';
import type { EndpointSlice } from '../../shared/schemas/service';

/*
 * The service proxy's ruleset builder (pure): which Service ports get which map elements and
 * chains, endpoint choice (ready only, terminating as fallback, internalTrafficPolicy Local),
 * NodePorts, hostPorts, affinity, and the diff between two rulesets (only what changed).
 */

const NODE: ProxyNode = { nodeName: 'n1', bridge: 'stratus-0a8005', nodeIPs: ['192.0.2.2'] };
type Ep = { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; node?: string };
const svc = (name: string, spec: Record<string, unknown>, ns = 'default') => ({ metadata: { namespace: ns, name }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }], ...spec } });
const slice = (svcName: string, eps: Ep[], ports: unknown[] = [{ port: 8080, protocol: 'TCP' }], ns = 'default') => ({
  metadata: { namespace: ns, name: `${svcName}-abc`, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  endpoints: eps.map((e) => ({
    addresses: [e.ip],
    conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}), ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
    ...(e.node ? { nodeName: e.node } : {}),
  })),
  ports,
});
const snap = (services: unknown[], slices: unknown[] = [], pods: unknown[] = []) =>
  buildSnapshot({ services: { items: services }, endpointSlices: { items: slices }, pods: { items: pods } });
/** Where a ruleset DNATs to: the endpoint elements, and the affinity chains' DNAT targets. */
const dnats = (rs: ReturnType<typeof buildRuleset>) =>
  [...[...rs.endpoints_tcp.values(), ...rs.endpoints_udp.values()].map((v) => v.replace(' . ', ':')), ...[...rs.chains.values()].flatMap((r) => r.split('\n')).filter((r) => / dnat ip to \d/.test(r)).map((r) => r.replace(/.* to /, ''))].sort();

describe('endpointsFor', () => {
  const s = (eps: Ep[]) => slice('web', eps) as unknown as EndpointSlice;
  it.each<[string, Ep[], { localOnly?: boolean }, string[]]>([
    ['ready and unset-ready endpoints', [{ ip: '10.1.0.3', ready: true }, { ip: '10.1.0.2' }], {}, ['10.1.0.2', '10.1.0.3']],
    ['unready ones left out', [{ ip: '10.1.0.2', ready: true }, { ip: '10.1.0.3', ready: false }], {}, ['10.1.0.2']],
    ['serving terminating ones only when none is ready', [{ ip: '10.1.0.2', ready: false, serving: true, terminating: true }], {}, ['10.1.0.2']],
    ['serving terminating ones not when one is ready', [{ ip: '10.1.0.2', ready: false, serving: true, terminating: true }, { ip: '10.1.0.4', ready: true }], {}, ['10.1.0.4']],
    ['not serving: none', [{ ip: '10.1.0.2', ready: false, serving: false, terminating: true }], {}, []],
    ['Local: this node\'s only', [{ ip: '10.1.0.2', node: 'n1' }, { ip: '10.1.0.3', node: 'n2' }], { localOnly: true }, ['10.1.0.2']],
    ['duplicates once', [{ ip: '10.1.0.2' }, { ip: '10.1.0.2' }], {}, ['10.1.0.2']],
    ['IPv6 left out', [{ ip: 'fd00::2' }], {}, []],
  ])('%s', (_, eps, o, want) => {
    expect(endpointsFor([s(eps)], '', 'TCP', { nodeName: 'n1', ...o }).map((e) => e.ip)).toEqual(want);
  });

  it('matches the Service port by name and protocol', () => {
    const sl = slice('web', [{ ip: '10.1.0.2' }], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]) as unknown as EndpointSlice;
    expect(endpointsFor([sl], 'http', 'TCP')).toEqual([{ ip: '10.1.0.2', port: 8080 }]);
    expect(endpointsFor([sl], 'dns', 'UDP')).toEqual([{ ip: '10.1.0.2', port: 53 }]);
    expect(endpointsFor([sl], 'dns', 'TCP')).toEqual([]);
  });
});

describe('buildRuleset', () => {
  it.each<[string, unknown[], unknown[], { ips: string[]; nodePorts?: string[]; noEp?: string[]; dnat: string[] }]>([
    ['ClusterIP with two ready endpoints', [svc('web', {})], [slice('web', [{ ip: '10.1.0.2' }, { ip: '10.1.0.3' }])], { ips: ['10.96.0.10 . tcp . 80'], dnat: ['10.1.0.2:8080', '10.1.0.3:8080'] }],
    ['no ready endpoint: rejected, no DNAT', [svc('web', {})], [slice('web', [{ ip: '10.1.0.2', ready: false }])], { ips: [], noEp: ['10.96.0.10 . tcp . 80'], dnat: [] }],
    ['headless: nothing', [svc('web', { clusterIP: 'None' })], [slice('web', [{ ip: '10.1.0.2' }])], { ips: [], dnat: [] }],
    ['ExternalName: nothing', [svc('web', { type: 'ExternalName', externalName: 'x.example', clusterIP: undefined })], [], { ips: [], dnat: [] }],
    ['UDP port', [svc('dns', { ports: [{ port: 53, protocol: 'UDP' }] })], [slice('dns', [{ ip: '10.1.0.2' }], [{ port: 5353, protocol: 'UDP' }])], { ips: ['10.96.0.10 . udp . 53'], dnat: ['10.1.0.2:5353'] }],
    ['NodePort', [svc('web', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] })], [slice('web', [{ ip: '10.1.0.2' }])], { ips: ['10.96.0.10 . tcp . 80'], nodePorts: ['tcp . 30080'], dnat: ['10.1.0.2:8080'] }],
    ['LoadBalancer has its NodePorts', [svc('web', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP', nodePort: 30081 }] })], [slice('web', [{ ip: '10.1.0.2' }])], { ips: ['10.96.0.10 . tcp . 80'], nodePorts: ['tcp . 30081'], dnat: ['10.1.0.2:8080'] }],
    ['a ClusterIP Service\'s stale nodePort is not served', [svc('web', { ports: [{ port: 80, protocol: 'TCP', nodePort: 30082 }] })], [slice('web', [{ ip: '10.1.0.2' }])], { ips: ['10.96.0.10 . tcp . 80'], dnat: ['10.1.0.2:8080'] }],
    ['slices of another namespace do not count', [svc('web', {})], [slice('web', [{ ip: '10.1.0.2' }], undefined, 'other')], { ips: [], noEp: ['10.96.0.10 . tcp . 80'], dnat: [] }],
  ])('%s', (_, services, slices, want) => {
    const rs = buildRuleset(snap(services, slices), NODE);
    expect([...rs.service_ips.keys()]).toEqual(want.ips);
    expect([...rs.node_ports.keys()]).toEqual(want.nodePorts ?? []);
    expect([...rs.no_endpoints.keys()]).toEqual(want.noEp ?? []);
    expect(dnats(rs)).toEqual(want.dnat);
  });

  it('chooses among N endpoints with numgen over the endpoints map; a shared chain per N; hairpin pairs', () => {
    const rs = buildRuleset(snap([svc('web', {}), svc('api', { clusterIP: '10.96.0.11' })], [slice('web', [{ ip: '10.1.0.2' }, { ip: '10.1.0.3' }, { ip: '10.1.0.4' }]), slice('api', [{ ip: '10.1.0.5' }, { ip: '10.1.0.6' }, { ip: '10.1.0.7' }])]), NODE);
    expect(rs.service_ips.get('10.96.0.10 . tcp . 80')).toBe('goto pick-tcp-3');
    expect(rs.service_ips.get('10.96.0.11 . tcp . 80')).toBe('goto pick-tcp-3');
    expect([...rs.chains.keys()]).toEqual(['pick-tcp-3']);
    expect(rulesOf(rs, 'pick-tcp-3')).toEqual(['dnat ip to ip daddr . tcp dport . numgen random mod 3 map @endpoints_tcp']);
    expect([...rs.endpoints_tcp].filter(([k]) => k.startsWith('10.96.0.10 '))).toEqual([
      ['10.96.0.10 . 80 . 0', '10.1.0.2 . 8080'],
      ['10.96.0.10 . 80 . 1', '10.1.0.3 . 8080'],
      ['10.96.0.10 . 80 . 2', '10.1.0.4 . 8080'],
    ]);
    expect(rs.hairpin.has('10.1.0.2 . 10.1.0.2')).toBe(true);
    expect(rs.hairpin.size).toBe(6);
  });

  it('ClientIP affinity: chains of its own, a timed set per endpoint looked up before the random choice', () => {
    const rs = buildRuleset(snap([svc('web', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })], [slice('web', [{ ip: '10.1.0.2' }, { ip: '10.1.0.3' }])]), NODE);
    expect([...rs.sets.values()]).toEqual(['type ipv4_addr; flags dynamic,timeout; timeout 60s;', 'type ipv4_addr; flags dynamic,timeout; timeout 60s;']);
    const svcChain = rulesOf(rs, rs.service_ips.get('10.96.0.10 . tcp . 80')!.replace('goto ', ''))!;
    expect(svcChain.slice(0, 2).every((r) => /^ip saddr @aff-\w+ goto ep-\w+$/.test(r))).toBe(true);
    expect(svcChain[2]).toMatch(/^numgen random mod 2/);
    expect(rs.endpoints_tcp.size).toBe(0);
    expect(rs.hairpin.size).toBe(2);
  });

  it('NodePort goes through a shared chain that marks for masquerade', () => {
    const rs = buildRuleset(snap([svc('web', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] })], [slice('web', [{ ip: '10.1.0.2' }])]), NODE);
    expect(rs.node_ports.get('tcp . 30080')).toBe('goto npick-tcp-1');
    expect(rulesOf(rs, 'npick-tcp-1')).toEqual(['meta mark set mark or 0x4000', 'dnat ip to tcp dport . numgen random mod 1 map @nodeport_endpoints_tcp']);
    expect([...rs.nodeport_endpoints_tcp]).toEqual([['30080 . 0', '10.1.0.2 . 8080']]);
  });

  it('NodePort with affinity: an ext chain marks and goes to the Service\'s chain', () => {
    const rs = buildRuleset(snap([svc('web', { type: 'NodePort', sessionAffinity: 'ClientIP', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] })], [slice('web', [{ ip: '10.1.0.2' }])]), NODE);
    const ext = rulesOf(rs, rs.node_ports.get('tcp . 30080')!.replace('goto ', ''))!;
    expect(ext).toEqual(['meta mark set mark or 0x4000', rs.service_ips.get('10.96.0.10 . tcp . 80')]);
  });

  it('hostPorts of this node\'s running pods only', () => {
    const pod = (name: string, node: string, phase: string, hostPort: number) => ({
      metadata: { namespace: 'default', name },
      spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort, protocol: 'TCP' }, { containerPort: 81 }] }] },
      status: { phase, podIP: `10.1.0.${hostPort % 100}` },
    });
    const rs = buildRuleset(snap([], [], [pod('a', 'n1', 'Running', 8081), pod('b', 'n2', 'Running', 8082), pod('c', 'n1', 'Succeeded', 8083)]), NODE);
    expect([...rs.host_ports]).toEqual([['tcp . 8081', '10.1.0.81 . 80']]);
  });
});

describe('proxyTableScript', () => {
  it('matches ClusterIPs on the node\'s bridge only, NodePorts on its address and 127.0.0.1', () => {
    const { name, body } = proxyTableScript(NODE);
    expect(name).toBe('stratus-0a8005-svc');
    expect(body).toContain('iifname "stratus-0a8005" ip daddr . meta l4proto . th dport vmap @service_ips');
    expect(body).toContain('ip daddr { 127.0.0.1, 192.0.2.2 } meta l4proto . th dport vmap @node_ports');
    expect(body).toContain('iifname "stratus-0a8005" ip daddr 127.0.0.0/8 drop');
    expect(body).not.toMatch(/^\s*ip daddr . meta l4proto . th dport vmap @service_ips/m);
  });
  it('changes its hash with the node', () => {
    expect(proxyTableScript(NODE).hash).not.toBe(proxyTableScript({ ...NODE, nodeIPs: ['192.0.2.3'] }).hash);
  });
});

describe('diffRulesets', () => {
  const T = 'stratus-0a8005-svc';
  const base = [svc('web', {}), svc('api', { clusterIP: '10.96.0.11' })];
  const eps = (ips: string[]) => [slice('web', ips.map((ip) => ({ ip }))), slice('api', [{ ip: '10.1.0.9' }])];

  it('nothing when nothing changed', () => {
    const a = buildRuleset(snap(base, eps(['10.1.0.2'])), NODE);
    expect(diffRulesets(T, a, buildRuleset(snap(base, eps(['10.1.0.2'])), NODE))).toEqual([]);
  });

  it('an endpoint replaced: element commands only, the other Service untouched', () => {
    const a = buildRuleset(snap(base, eps(['10.1.0.2', '10.1.0.3'])), NODE);
    const b = buildRuleset(snap(base, eps(['10.1.0.2', '10.1.0.4'])), NODE);
    expect(diffRulesets(T, a, b)).toEqual([
      `delete element ip ${T} endpoints_tcp { 10.96.0.10 . 80 . 1 }`,
      `add element ip ${T} endpoints_tcp { 10.96.0.10 . 80 . 1 : 10.1.0.4 . 8080 }`,
      `delete element ip ${T} hairpin { 10.1.0.3 . 10.1.0.3 }`,
      `add element ip ${T} hairpin { 10.1.0.4 . 10.1.0.4 }`,
    ]);
  });

  it('an endpoint added: the Service moves to the next pick chain (made once), still no rule of its own', () => {
    const a = buildRuleset(snap(base, eps(['10.1.0.2', '10.1.0.3'])), NODE);
    const b = buildRuleset(snap(base, eps(['10.1.0.2', '10.1.0.3', '10.1.0.4'])), NODE);
    const cmds = diffRulesets(T, a, b);
    expect(cmds).toContain(`add chain ip ${T} pick-tcp-3`);
    expect(cmds).toContain(`add element ip ${T} service_ips { 10.96.0.10 . tcp . 80 : goto pick-tcp-3 }`);
    expect(cmds).toContain(`delete chain ip ${T} pick-tcp-2`); // nothing uses it any more
    expect(cmds.some((c) => c.includes('10.1.0.9'))).toBe(false); // the other Service untouched
    // With the chain there already (another Service has 3 endpoints): elements only.
    const c = buildRuleset(snap([...base, svc('three', { clusterIP: '10.96.0.12' })], [...eps(['10.1.0.2']), slice('three', [{ ip: '10.1.1.1' }, { ip: '10.1.1.2' }, { ip: '10.1.1.3' }])]), NODE);
    const d = buildRuleset(snap([...base, svc('three', { clusterIP: '10.96.0.12' })], [...eps(['10.1.0.2', '10.1.0.3', '10.1.0.4']), slice('three', [{ ip: '10.1.1.1' }, { ip: '10.1.1.2' }, { ip: '10.1.1.3' }])]), NODE);
    expect(diffRulesets(T, c, d).every((x) => / element /.test(x))).toBe(true);
  });

  it('the last endpoint removed: map elements out, the port rejected, the unused chain deleted after', () => {
    const a = buildRuleset(snap(base, eps(['10.1.0.2'])), NODE);
    const b = buildRuleset(snap(base, eps([])), NODE);
    const cmds = diffRulesets(T, a, b);
    expect(cmds).toContain(`delete element ip ${T} service_ips { 10.96.0.10 . tcp . 80 }`);
    expect(cmds).toContain(`delete element ip ${T} endpoints_tcp { 10.96.0.10 . 80 . 0 }`);
    expect(cmds).toContain(`add element ip ${T} no_endpoints { 10.96.0.10 . tcp . 80 }`);
    expect(cmds.some((c) => c.startsWith('delete chain'))).toBe(false); // pick-tcp-1 is the api Service's too
  });

  it('full script of a ruleset = diff from empty; its size grows with Services, a change\'s does not', () => {
    const many = (n: number, extra: string[]) => {
      const services = Array.from({ length: n }, (_, i) => ({ metadata: { namespace: 'default', name: `s${i}` }, spec: { clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`, ports: [{ port: 80, protocol: 'TCP' }] } }));
      const slices = services.map((s, i) => slice(s.metadata.name, [{ ip: `10.2.${Math.floor(i / 250)}.${(i % 250) + 1}` }, ...(i === 0 ? extra.map((ip) => ({ ip })) : [])], [{ port: 80, protocol: 'TCP' }]));
      return buildRuleset(snap(services, slices), NODE);
    };
    const small = diffRulesets(T, many(10, ['10.3.0.1']), many(10, ['10.3.0.2']));
    const big = diffRulesets(T, many(1000, ['10.3.0.1']), many(1000, ['10.3.0.2']));
    expect(big).toEqual(small);
    expect(big.every((c) => / element /.test(c))).toBe(true);
    expect(fullScript(T, many(10, []))).toEqual(diffRulesets(T, EMPTY_RULESET, many(10, [])));
  });
});

describe('RulesetState', () => {
  const T = 'stratus-0a8005-svc';
  const share = (name: string, ip: string, eps: string[]) => {
    const s = snap([svc(name, { clusterIP: ip })], [slice(name, eps.map((e) => ({ ip: e })))]);
    return serviceRules(s.services[0]!, s.endpointSlices, NODE);
  };

  it('replacing one Service\'s share gives the same commands as the full diff', () => {
    const st = new RulesetState();
    st.replace('default/a', share('a', '10.96.0.10', ['10.1.0.2', '10.1.0.3']));
    st.replace('default/b', share('b', '10.96.0.11', ['10.1.0.3']));
    const before = st.ruleset();
    st.takeCommands(T);
    st.replace('default/a', share('a', '10.96.0.10', ['10.1.0.2', '10.1.0.4']));
    expect(st.takeCommands(T)).toEqual(diffRulesets(T, before, st.ruleset()));
  });

  it('a key given by two owners stays until both are gone (hairpin of an IP behind two Services, a shared chain)', () => {
    const st = new RulesetState();
    st.replace('default/a', share('a', '10.96.0.10', ['10.1.0.3']));
    st.replace('default/b', share('b', '10.96.0.11', ['10.1.0.3']));
    st.takeCommands(T);
    st.replace('default/a', undefined);
    expect(st.takeCommands(T)).toEqual([`delete element ip ${T} endpoints_tcp { 10.96.0.10 . 80 . 0 }`, `delete element ip ${T} service_ips { 10.96.0.10 . tcp . 80 }`]);
    st.replace('default/b', undefined);
    const last = st.takeCommands(T);
    expect(last).toContain(`delete element ip ${T} hairpin { 10.1.0.3 . 10.1.0.3 }`);
    expect(last.slice(-2)).toEqual([`flush chain ip ${T} pick-tcp-1`, `delete chain ip ${T} pick-tcp-1`]);
  });

  it('nothing when a share is replaced by an equal one', () => {
    const st = new RulesetState();
    st.replace('default/a', share('a', '10.96.0.10', ['10.1.0.2']));
    st.takeCommands(T);
    st.replace('default/a', share('a', '10.96.0.10', ['10.1.0.2']));
    expect(st.takeCommands(T)).toEqual([]);
  });
});

describe('buildSnapshot with a cache', () => {
  const withRv = <T extends { metadata: object }>(o: T, rv: string) => ({ ...o, metadata: { ...o.metadata, resourceVersion: rv } });
  it('reuses the objects whose resourceVersion is unchanged, reads the changed ones; the version follows the content', () => {
    const cache = new SnapshotCache();
    const lists = (rvB: string, ipB: string) => ({
      services: { items: [withRv(svc('a', {}), '1'), withRv(svc('b', { clusterIP: '10.96.0.11' }), '2')] },
      endpointSlices: { items: [withRv(slice('a', [{ ip: '10.1.0.2' }]), '3'), withRv(slice('b', [{ ip: ipB }]), rvB)] },
      pods: { items: [] },
    });
    const s1 = buildSnapshot(lists('4', '10.1.0.3'), undefined, cache);
    const s2 = buildSnapshot(lists('5', '10.1.0.4'), undefined, cache);
    expect(s2.services[0]).toBe(s1.services[0]);
    expect(s2.endpointSlices[0]).toBe(s1.endpointSlices[0]);
    expect(s2.endpointSlices[1]).not.toBe(s1.endpointSlices[1]);
    expect(s2.endpointSlices[1]!.endpoints[0]!.addresses).toEqual(['10.1.0.4']);
    expect(s2.version).not.toBe(s1.version);
    expect(buildSnapshot(lists('5', '10.1.0.4')).version).toBe(s2.version); // without a cache: the same version
    // Out of order: sorted by namespace/name, the same content the same version; a Service gone leaves the cache.
    const l = lists('5', '10.1.0.4');
    const rev = { ...l, services: { items: [...l.services.items].reverse() }, endpointSlices: { items: [...l.endpointSlices.items].reverse() } };
    const s3 = buildSnapshot(rev, undefined, cache);
    expect(s3.services.map((x) => x.metadata.name)).toEqual(['a', 'b']);
    expect(s3.version).toBe(s2.version);
    buildSnapshot({ ...l, services: { items: l.services.items.slice(0, 1) } }, undefined, cache);
    expect(cache.store.size('Service')).toBe(1);
    expect(cache.store.has('Service', 'default/a')).toBe(true);
  });
});
