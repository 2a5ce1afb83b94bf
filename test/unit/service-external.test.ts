import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../node-agent/network/api-cluster-view';
import { buildRuleset, diffRulesets, proxyTableScript, rulesOf, type Collection, type ProxyNode, type ProxyRuleset } from '../../node-agent/network/service-rules';
import { request } from 'node:http';
import { HealthCheckServer, healthAnswer, healthChecks } from '../../node-agent/network/health-check';
import { staticClusterView } from '../../node-agent/network/cluster-view';
import { silentLogger } from '../../node-agent/log';

/*
 * Traffic from outside the cluster (service-external.ts through service-rules.ts): NodePorts and
 * LoadBalancer addresses by externalTrafficPolicy, and the health check server's answers.
 */

const NODE: ProxyNode = { nodeName: 'n1', bridge: 'stratus-0a8005', nodeIPs: ['192.0.2.2'] };
const LB = { loadBalancer: { ingress: [{ ip: '127.240.0.7', ipMode: 'VIP' }] } };
const svc = (spec: Record<string, unknown>, status: unknown = LB) => ({
  metadata: { namespace: 'default', name: 'web' },
  spec: { type: 'LoadBalancer', clusterIP: '10.96.0.10', externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }], ...spec },
  status,
});
const slice = (eps: { ip: string; node: string; ready?: boolean }[]) => ({
  metadata: { namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true } })),
  ports: [{ port: 8080, protocol: 'TCP' }],
});
const snap = (services: unknown[], slices: unknown[]) => buildSnapshot({ services: { items: services }, endpointSlices: { items: slices }, pods: { items: [] } });
const BOTH = [slice([{ ip: '10.128.5.2', node: 'n1' }, { ip: '10.128.6.2', node: 'n2' }])];
/**
 * Where a map entry leads: the first rule of its chain and the endpoints its DNATs reach, following
 * gotos and the endpoint maps' elements (`dst`: the address . port the packet was sent to).
 */
function follow(rs: ProxyRuleset, verdict: string | undefined, dst: { ip: string; port: number }): { first?: string; dnats: string[] } {
  if (!verdict) return { dnats: [] };
  const seen = new Set<string>();
  const dnats: string[] = [];
  const elements = (c: string, prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const v = rs[c as Collection].get(`${prefix} . ${i}`);
      dnats.push(v ? v.replace(' . ', ':') : `missing ${c} ${prefix} . ${i}`);
    }
  };
  const walk = (chain: string) => {
    if (seen.has(chain)) return;
    seen.add(chain);
    for (const r of rulesOf(rs, chain) ?? []) {
      const direct = / dnat ip to (\d\S+)/.exec(r);
      if (direct) dnats.push(direct[1]!);
      const byAddress = /dnat ip to ip daddr \. \w+ dport \. numgen random mod (\d+) map @(\w+)/.exec(r);
      if (byAddress) elements(byAddress[2]!, `${dst.ip} . ${dst.port}`, Number(byAddress[1]));
      const byPort = /dnat ip to \w+ dport \. numgen random mod (\d+) map @(\w+)/.exec(r);
      if (byPort) elements(byPort[2]!, String(dst.port), Number(byPort[1]));
      for (const m of r.matchAll(/goto (\S+?)(?=[,\s}]|$)/g)) walk(m[1]!);
    }
  };
  const entry = verdict.replace('goto ', '');
  walk(entry);
  return { first: rulesOf(rs, entry)?.[0], dnats: dnats.sort() };
}
const LB_DST = { ip: '127.240.0.7', port: 80 };
const NP_DST = { ip: '192.0.2.2', port: 30080 };
const LB_KEY = '127.240.0.7 . tcp . 80';

describe('external traffic (NodePort, LoadBalancer address)', () => {
  it.each([
    ['Cluster: every endpoint, masqueraded', { externalTrafficPolicy: 'Cluster' }, BOTH, 'meta mark set mark or 0x4000', ['10.128.5.2:8080', '10.128.6.2:8080']],
    ['Local: this node\'s endpoints, loopback clients SNATed to the node address', { externalTrafficPolicy: 'Local', healthCheckNodePort: 30100 }, BOTH, 'ip saddr 127.0.0.0/8 meta mark set mark or 0x8000', ['10.128.5.2:8080']],
    ['Local with internalTrafficPolicy Local: the same', { externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local', healthCheckNodePort: 30100 }, BOTH, 'ip saddr 127.0.0.0/8 meta mark set mark or 0x8000', ['10.128.5.2:8080']],
    ['Cluster with internalTrafficPolicy Local: all endpoints all the same', { internalTrafficPolicy: 'Local' }, BOTH, 'meta mark set mark or 0x4000', ['10.128.5.2:8080', '10.128.6.2:8080']],
  ])('%s', (_n, spec, slices, first, want) => {
    // Act
    const rs = buildRuleset(snap([svc(spec)], slices), NODE);
    const lb = follow(rs, rs.external_ips.get(LB_KEY), LB_DST);
    const np = follow(rs, rs.node_ports.get('tcp . 30080'), NP_DST);
    const fromPods = follow(rs, rs.service_ips.get(LB_KEY), LB_DST);
    // Assess
    expect(lb).toEqual({ first, dnats: want });
    expect(np).toEqual(lb);
    expect(fromPods.dnats).toEqual(want); // pods (the bridge) reach the same endpoints, unmarked
    expect(fromPods.first).not.toContain('mark');
  });

  it.each([
    ['Cluster', 'Cluster', 'xc-', 'meta mark set mark or 0x4000'],
    ['Local', 'Local', 'xl-', 'ip saddr 127.0.0.0/8 meta mark set mark or 0x8000'],
  ])('ClientIP affinity, %s: an entry chain of its own for the address (bridge and host) and the NodePort', (_n, policy, prefix, first) => {
    // Act
    const rs = buildRuleset(snap([svc({ externalTrafficPolicy: policy, healthCheckNodePort: 30100, sessionAffinity: 'ClientIP' })], BOTH), NODE);
    // Assess
    const entry = rs.external_ips.get(LB_KEY)!;
    expect(entry).toMatch(new RegExp(`^goto ${prefix}\\w+$`));
    expect(rs.service_ips.get(LB_KEY)).toBe(entry);
    expect(rs.node_ports.get('tcp . 30080')).toBe(entry);
    expect(follow(rs, entry, LB_DST)).toEqual({ first, dnats: policy === 'Local' ? ['10.128.5.2:8080'] : ['10.128.5.2:8080', '10.128.6.2:8080'] });
  });

  it.each([
    ['Cluster', 'Cluster'],
    ['Local', 'Local'],
  ])('%s: an endpoint change is element commands only (chains only the shared pick chains of N, added or dropped)', (_n, policy) => {
    // Prepare
    const before = buildRuleset(snap([svc({ externalTrafficPolicy: policy, healthCheckNodePort: 30100 })], BOTH), NODE);
    const three = [slice([{ ip: '10.128.5.2', node: 'n1' }, { ip: '10.128.5.3', node: 'n1' }, { ip: '10.128.6.2', node: 'n2' }])];
    // Act
    const after = buildRuleset(snap([svc({ externalTrafficPolicy: policy, healthCheckNodePort: 30100 })], three), NODE);
    const commands = diffRulesets('t', before, after);
    // Assess
    expect(commands.filter((c) => !/^(add|delete) element /.test(c) && !/^(add|flush|delete) (chain|rule) ip t \w*pick-tcp-\d+/.test(c))).toEqual([]);
    expect(follow(after, after.external_ips.get(LB_KEY), LB_DST).dnats).toEqual(policy === 'Local' ? ['10.128.5.2:8080', '10.128.5.3:8080'] : ['10.128.5.2:8080', '10.128.5.3:8080', '10.128.6.2:8080']);
  });

  it('Local without endpoints on this node: no entry at all (another node of the host may serve it)', () => {
    // Act
    const rs = buildRuleset(snap([svc({ externalTrafficPolicy: 'Local', healthCheckNodePort: 30100 })], [slice([{ ip: '10.128.6.2', node: 'n2' }])]), NODE);
    // Assess
    expect(rs.external_ips.has(LB_KEY)).toBe(false);
    expect(rs.service_ips.has(LB_KEY)).toBe(false);
    expect(rs.node_ports.has('tcp . 30080')).toBe(false);
    expect(follow(rs, rs.service_ips.get('10.96.0.10 . tcp . 80'), { ip: '10.96.0.10', port: 80 }).dnats).toEqual(['10.128.6.2:8080']); // the ClusterIP still reaches it
  });

  it.each([
    ['an address outside the load balancer range (another implementation\'s)', svc({}, { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } })],
    ['a Service that is no LoadBalancer', { ...svc({ type: 'NodePort' }), status: LB }],
  ])('not served: %s', (_n, s) => {
    // Act
    const rs = buildRuleset(snap([s], BOTH), NODE);
    // Assess
    expect([...rs.service_ips.keys()].filter((k) => !k.startsWith('10.96.'))).toEqual([]);
    expect(rs.external_ips.size).toBe(0);
  });

  it('allocateLoadBalancerNodePorts false: the address without a NodePort', () => {
    // Act
    const rs = buildRuleset(snap([svc({ allocateLoadBalancerNodePorts: false, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] })], BOTH), NODE);
    // Assess
    expect(rs.node_ports.size).toBe(0);
    expect(follow(rs, rs.external_ips.get(LB_KEY), LB_DST).dnats).toHaveLength(2);
  });

  it('the static table looks load balancer addresses up from the host and SNATs mark 0x8000 to the node address', () => {
    // Act
    const body = proxyTableScript(NODE).body;
    // Assess
    expect(body).toContain('ip daddr 127.240.0.0/12 ip daddr . meta l4proto . th dport vmap @external_ips');
    expect(body).toContain('meta mark & 0x8000 == 0x8000 snat ip to 192.0.2.2');
    expect(body.indexOf('snat ip to')).toBeLessThan(body.indexOf('masquerade'));
  });
});

describe('service health checks (kube-proxy service_health.go)', () => {
  it.each([
    ['a local ready endpoint: 200', [{ ip: '10.128.5.2', node: 'n1' }], 1, 200],
    ['only another node\'s: 503', [{ ip: '10.128.6.2', node: 'n2' }], 0, 503],
    ['a local unready one: 503', [{ ip: '10.128.5.2', node: 'n1', ready: false }], 0, 503],
  ])('%s', (_n, eps, count, status) => {
    // Act
    const checks = healthChecks(snap([svc({ externalTrafficPolicy: 'Local', healthCheckNodePort: 30100 })], [slice(eps)]), 'n1');
    const answer = healthAnswer(checks.get(30100)!);
    // Assess
    expect([...checks.keys()]).toEqual([30100]);
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body)).toEqual({ service: { namespace: 'default', name: 'web' }, localEndpoints: count, serviceProxyHealthy: true });
  });

  it('only LoadBalancer Services with externalTrafficPolicy Local get one', () => {
    // Assess
    expect(healthChecks(snap([svc({})], BOTH), 'n1').size).toBe(0);
  });
});

describe('HealthCheckServer', () => {
  it('listens on each given address at the healthCheckNodePort and answers with the JSON body; stops when the Service goes', async () => {
    // Prepare
    const port = 40000 + Math.floor(Math.random() * 10000);
    const view = staticClusterView(snap([svc({ externalTrafficPolicy: 'Local', healthCheckNodePort: port })], BOTH));
    const server = new HealthCheckServer({ view, nodeName: 'n1', addresses: () => ['127.0.0.1'], log: silentLogger });
    const getOnce = () =>
      new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/anything' }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
        })
          .on('error', reject)
          .end();
      });
    // Act
    server.start();
    await new Promise((r) => setTimeout(r, 100));
    const answer = await getOnce();
    const listening = server.listening();
    server.sync(snap([], []) as never);
    const after = server.listening();
    server.stop();
    // Assess
    expect(listening).toEqual([`127.0.0.1:${port}`]);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('application/json');
    expect(JSON.parse(answer.body)).toMatchObject({ service: { name: 'web' }, localEndpoints: 1 });
    expect(after).toEqual([]);
  });
});


describe('loadBalancerSourceRanges (firewall_ips, kube-proxy\'s firewall check)', () => {
  const LB_FW_KEY = '127.240.0.7 . tcp . 80';
  const annotated = (value: string, spec: Record<string, unknown> = {}) => ({ ...svc(spec), metadata: { namespace: 'default', name: 'web', annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': value } } });
  it.each([
    ['no ranges: no check', svc({}), undefined],
    ['one range', svc({ loadBalancerSourceRanges: ['127.0.0.2/32'] }), 'ip saddr != { 127.0.0.2/32 } drop'],
    ['padded, nested, unaligned and IPv6 ranges: disjoint IPv4 networks', svc({ loadBalancerSourceRanges: [' 10.1.2.3/16 ', '10.0.0.0/8', '10.1.0.0/16', '2001:db8::/64', '172.16.0.0/12'] }), 'ip saddr != { 10.0.0.0/8, 172.16.0.0/12 } drop'],
    ['only IPv6 ranges: no check (as kube-proxy ignores the other family)', svc({ loadBalancerSourceRanges: ['2001:db8::/64'] }), undefined],
    ['a range holding the node address lets the node\'s loopback clients in', svc({ loadBalancerSourceRanges: ['192.0.2.0/24'] }), 'ip saddr != { 127.0.0.0/8, 192.0.2.0/24 } drop'],
    ['the annotation when the field is empty', annotated(' 127.0.0.2/32, 127.0.0.3/32 '), 'ip saddr != { 127.0.0.2/32, 127.0.0.3/32 } drop'],
    ['the field wins over the annotation', annotated('127.0.0.3/32', { loadBalancerSourceRanges: ['127.0.0.2/32'] }), 'ip saddr != { 127.0.0.2/32 } drop'],
    ['no load balancer address yet: no check', svc({ loadBalancerSourceRanges: ['127.0.0.2/32'] }, {}), undefined],
    ['a NodePort Service: no check', svc({ type: 'NodePort', loadBalancerSourceRanges: ['127.0.0.2/32'] }), undefined],
  ])('%s', (_n, s, want) => {
    // Act
    const rs = buildRuleset(snap([s], BOTH), NODE);
    const verdict = rs.firewall_ips.get(LB_FW_KEY);
    // Assess
    expect(verdict && rulesOf(rs, verdict.replace('goto ', ''))).toEqual(want && [want]);
    expect(rs.firewall_ips.size).toBe(want ? 1 : 0);
  });

  it('the check holds without endpoints too, the NodePort is not guarded, ClientIP affinity is guarded alike', () => {
    // Act
    const none = buildRuleset(snap([svc({ loadBalancerSourceRanges: ['127.0.0.2/32'] })], []), NODE);
    const affinity = buildRuleset(snap([svc({ loadBalancerSourceRanges: ['127.0.0.2/32'], sessionAffinity: 'ClientIP' })], BOTH), NODE);
    // Assess
    expect(none.firewall_ips.has(LB_FW_KEY)).toBe(true);
    expect([...affinity.firewall_ips.keys()]).toEqual([LB_FW_KEY]);
    expect([...affinity.node_ports.keys()]).toEqual(['tcp . 30080']);
  });

  it('two Services with the same ranges share one chain; a change of ranges is a chain swap and one element', () => {
    // Prepare
    const other = { ...svc({ clusterIP: '10.96.0.11', loadBalancerSourceRanges: ['127.0.0.2/32'] }, { loadBalancer: { ingress: [{ ip: '127.240.0.8' }] } }), metadata: { namespace: 'default', name: 'other' } };
    const before = buildRuleset(snap([svc({ loadBalancerSourceRanges: ['127.0.0.2/32'] }), other], BOTH), NODE);
    const after = buildRuleset(snap([svc({ loadBalancerSourceRanges: ['127.0.0.3/32'] }), other], BOTH), NODE);
    // Act
    const cmds = diffRulesets('t', before, after);
    // Assess
    expect(before.chains.size - after.chains.size).toBe(-1);
    expect(new Set(before.firewall_ips.values()).size).toBe(1);
    expect(cmds.filter((c) => c.includes('firewall_ips'))).toEqual([expect.stringMatching(/^delete element ip t firewall_ips \{ 127\.240\.0\.7 \. tcp \. 80 \}$/), expect.stringMatching(/^add element ip t firewall_ips \{ 127\.240\.0\.7 \. tcp \. 80 : goto fw-/)]);
    expect(cmds.some((c) => c.startsWith('delete chain'))).toBe(false);
  });

  it('the static table checks new connections on output and prerouting, before DNAT', () => {
    // Act
    const body = proxyTableScript(NODE).body;
    // Assess
    expect(body).toContain('map firewall_ips { type ipv4_addr . inet_proto . inet_service : verdict; }');
    expect(body).toMatch(/chain filter_output \{\n\s+type filter hook output priority -110; policy accept;\n\s+ct state new ip daddr \. meta l4proto \. th dport vmap @firewall_ips/);
    expect(body).toMatch(/chain filter_prerouting \{[^}]*ct state new ip daddr \. meta l4proto \. th dport vmap @firewall_ips/);
  });
});
