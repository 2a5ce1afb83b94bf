import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../node-agent/log';
import { buildSnapshot } from '../../node-agent/network/api-cluster-view';
import type { ClusterSnapshot, ClusterView } from '../../node-agent/network/cluster-view';
import { foreignNodePorts, nodePortConflictMessage, nodePortsComment, withoutForeignNodePorts, yields } from '../../node-agent/network/nodeport-conflicts';
import { ServiceProxy, type NftRunner } from '../../node-agent/network/service-proxy';
import { proxyTableScript, serviceRules, type ProxyNode } from '../../node-agent/network/service-rules';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

/*
 * NodePorts of two clusters on one host (node-agent/network/nodeport-conflicts.ts): the later
 * cluster's agent never programs a NodePort another cluster's service table on the host holds,
 * and says so on the Service.
 */

/** One node_ports map of `nft -j list maps ip`. */
const nodePortsMap = (table: string, ports: [string, number][], comment?: string) => ({
  map: {
    family: 'ip',
    name: 'node_ports',
    table,
    type: ['inet_proto', 'inet_service'],
    handle: 8,
    ...(comment !== undefined ? { comment } : {}),
    map: 'verdict',
    ...(ports.length ? { elem: ports.map(([p, n]) => [{ concat: [p, n] }, { goto: { target: `npick-${p}-1` } }]) } : {}),
  },
});
const listing = (...maps: unknown[]) => ({ nftables: [{ metainfo: { version: '1.0.6' } }, ...maps] });

const NODE: ProxyNode = { nodeName: 'b1', bridge: 'stratus-0a8002', nodeIPs: ['192.0.2.2'], cluster: 'team-b' };
const OWN = 'stratus-0a8002-svc';

const nodePortService = (name: string, nodePort: number, extra: Partial<Service['spec']> = {}): Service =>
  ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name, uid: `uid-${name}`, resourceVersion: '1' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.50', clusterIPs: ['10.96.0.50'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort }], ...extra },
  }) as unknown as Service;

/** A ready endpoint of a Service on both its ports' names (NodePorts are programmed for Services with endpoints). */
const sliceOf = (name: string): EndpointSlice =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${name}-1`, resourceVersion: '1', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.128.2.5'], conditions: { ready: true }, nodeName: 'b1' }],
    ports: [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'alt', port: 8081, protocol: 'TCP' },
    ],
  }) as unknown as EndpointSlice;

describe('foreignNodePorts', () => {
  it('reads the NodePorts of other clusters\' service tables, with their table and cluster', () => {
    const got = foreignNodePorts(listing(nodePortsMap('stratus-0a8000-svc', [['tcp', 30080], ['udp', 30053]], nodePortsComment('team-a'))), OWN, 'team-b');
    expect([...got.values()]).toEqual([
      { key: 'tcp . 30080', table: 'stratus-0a8000-svc', cluster: 'team-a' },
      { key: 'udp . 30053', table: 'stratus-0a8000-svc', cluster: 'team-a' },
    ]);
  });

  it.each([
    { what: 'its own table', maps: [nodePortsMap(OWN, [['tcp', 30080]], nodePortsComment('team-b'))] },
    { what: 'another table of its own cluster (two nodes of one cluster on the host)', maps: [nodePortsMap('stratus-0a8001-svc', [['tcp', 30080]], nodePortsComment('team-b'))] },
    { what: 'a map of another name', maps: [{ map: { ...nodePortsMap('stratus-0a8000-svc', [['tcp', 30080]], nodePortsComment('team-a')).map, name: 'service_ips' } }] },
    { what: 'a table that is no service table', maps: [nodePortsMap('stratus-0a8000-pol', [['tcp', 30080]], nodePortsComment('team-a'))] },
    { what: 'an empty map', maps: [nodePortsMap('stratus-0a8000-svc', [], nodePortsComment('team-a'))] },
    { what: 'nothing parseable', maps: [{ map: { name: 'node_ports', table: 'x-svc', elem: [['junk', 1], [{ concat: ['tcp'] }, {}]] } }, { table: {} }] },
  ])('ignores $what', ({ maps }) => {
    expect(foreignNodePorts(listing(...maps), OWN, 'team-b').size).toBe(0);
  });

  it('counts a table whose cluster is unknown (an older agent\'s, no comment) as another cluster\'s', () => {
    const got = foreignNodePorts(listing(nodePortsMap('stratus-0a8000-svc', [['tcp', 30080]])), OWN, 'team-b');
    expect(got.get('tcp . 30080')).toEqual({ key: 'tcp . 30080', table: 'stratus-0a8000-svc', cluster: undefined });
  });

  it('answers nothing for an answer that is not nft\'s', () => {
    expect(foreignNodePorts(undefined, OWN, 'team-b').size).toBe(0);
    expect(foreignNodePorts({ nftables: 'x' }, OWN, 'team-b').size).toBe(0);
  });
});

describe('withoutForeignNodePorts', () => {
  it('drops only the NodePorts another cluster holds, keeping the ClusterIP and other ports', () => {
    const svc = nodePortService('web', 30080, { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }, { name: 'alt', port: 81, targetPort: 8081, protocol: 'TCP', nodePort: 30081 }] } as Partial<Service['spec']>);
    const rules = serviceRules(svc, [sliceOf('web')], NODE);
    expect([...rules.node_ports.keys()].sort()).toEqual(['tcp . 30080', 'tcp . 30081']);
    const foreign = foreignNodePorts(listing(nodePortsMap('stratus-0a8000-svc', [['tcp', 30080], ['udp', 30081]], nodePortsComment('team-a'))), OWN, 'team-b');
    const { rules: kept, refused } = withoutForeignNodePorts(rules, foreign);
    expect([...kept.node_ports.keys()]).toEqual(['tcp . 30081']);
    expect(refused.map((f) => f.key)).toEqual(['tcp . 30080']);
    // the rest of the share is untouched, and the input is not mutated
    expect(kept.service_ips).toBe(rules.service_ips);
    expect(rules.node_ports.size).toBe(2);
  });

  it.each([
    { what: 'a port it does not hold yet: always (the first keeps it)', table: 'stratus-0a8009-svc', held: false, want: true },
    { what: 'a port both hold: when the other table sorts first', table: 'stratus-0a8000-svc', held: true, want: true },
    { what: 'a port both hold: not when the other table sorts later (the other one gives it up)', table: 'stratus-0a8009-svc', held: true, want: false },
  ])('yields $what', ({ table, held, want }) => {
    expect(yields({ key: 'tcp . 30080', table, cluster: 'team-a' }, OWN, held)).toBe(want);
  });

  it('answers the very share when nothing conflicts', () => {
    const rules = serviceRules(nodePortService('web', 30080), [sliceOf('web')], NODE);
    expect(withoutForeignNodePorts(rules, new Map()).rules).toBe(rules);
  });

  it('message: the ports and the node, never the other cluster\'s name', () => {
    const one = nodePortConflictMessage([{ key: 'tcp . 30080', table: 'stratus-0a8000-svc', cluster: 'team-a' }], 'b1');
    expect(one).toMatch(/^NodePort 30080\/TCP is already in use on the host of node b1 by another cluster's Service; node b1 does not serve it/);
    expect(one).not.toContain('team-a');
    expect(nodePortConflictMessage([{ key: 'tcp . 30080', table: 't', cluster: 'x' }, { key: 'udp . 30053', table: 't', cluster: 'x' }], 'b1')).toContain('NodePorts 30080/TCP, 30053/UDP are');
  });
});

describe('service table: the node_ports map names its cluster', () => {
  it('carries cluster=<name> in the map\'s comment (and no comment without a cluster)', () => {
    expect(proxyTableScript(NODE).body).toContain('map node_ports { type inet_proto . inet_service : verdict; comment "cluster=team-b"; }');
    const { cluster: _cluster, ...noCluster } = NODE;
    expect(proxyTableScript(noCluster).body).toContain('map node_ports { type inet_proto . inet_service : verdict; }');
  });
});

describe('ServiceProxy with another cluster\'s NodePort on the host', () => {
  class Recorder implements NftRunner {
    scripts: string[] = [];
    transactions: string[][] = [];
    transaction(c: readonly string[]) {
      this.transactions.push([...c]);
      return Promise.resolve();
    }
    script(text: string) {
      this.scripts.push(text);
      return Promise.resolve();
    }
    close() {}
  }
  const snapshot = (services: Service[]): ClusterSnapshot => buildSnapshot({ services: { items: services }, endpointSlices: { items: services.map((s) => sliceOf(s.metadata.name!)) }, pods: { items: [] } });
  const view = (s: ClusterSnapshot): ClusterView => ({ current: () => s, subscribe: () => () => undefined });

  it('does not program it, records one Warning NodePortConflict on the Service, and programs it once the other cluster let go', async () => {
    let host = listing(nodePortsMap('stratus-0a8000-svc', [['tcp', 30080]], nodePortsComment('team-a')));
    const events: { svc: string; type: string; reason: string; message: string }[] = [];
    const nft = new Recorder();
    const s1 = snapshot([nodePortService('web', 30080), nodePortService('other', 30090)]);
    const proxy = new ServiceProxy({
      view: view(s1),
      node: () => NODE,
      log: silentLogger,
      nft,
      routeLocalnet: () => Promise.resolve(),
      listNodePortMaps: async (own) => (expect(own).toBe(OWN), host),
      serviceEvent: (svc, type, reason, message) => events.push({ svc: `${svc.metadata.namespace}/${svc.metadata.name}`, type, reason, message }),
    });
    await proxy.start();
    // Assess: the full script has the other Service's NodePort, not the taken one
    expect(nft.scripts).toHaveLength(1);
    expect(nft.scripts[0]).toMatch(/add element ip stratus-0a8002-svc node_ports \{[^}]*tcp \. 30090/);
    expect(nft.scripts[0]).not.toMatch(/tcp \. 30080 :/);
    expect(events).toEqual([{ svc: 'default/web', type: 'Warning', reason: 'NodePortConflict', message: expect.stringMatching(/^NodePort 30080\/TCP is already in use/) }]);
    expect(proxy.refusedServices()).toEqual(['default/web']);

    // The same snapshot again (the retry timer's), still taken: no second Event, nothing added
    const reads = { n: 0 };
    const before = host;
    host = new Proxy(before, { get: (t, k) => (k === 'nftables' && reads.n++, Reflect.get(t, k)) });
    await proxy.update(snapshot([nodePortService('web', 30080), nodePortService('other', 30090)]));
    expect(reads.n).toBeGreaterThan(0);
    expect(events).toHaveLength(1);
    expect(nft.transactions.flat().join('\n')).not.toMatch(/30080/);

    // The other cluster let go: the retry programs it
    host = listing(nodePortsMap('stratus-0a8000-svc', [], nodePortsComment('team-a')));
    await proxy.update(snapshot([nodePortService('web', 30080), nodePortService('other', 30090)]));
    expect(nft.transactions.flat().join('\n')).toMatch(/add element ip stratus-0a8002-svc node_ports \{[^}]*tcp \. 30080/);
    expect(proxy.refusedServices()).toEqual([]);
    expect(events).toHaveLength(1);
    proxy.stop();
  });

  it.each([
    { what: 'another cluster\'s table sorting first: gives it up, with the Event', other: 'stratus-0a8000-svc', cluster: 'team-a', atStart: false, givesUp: true },
    { what: 'another cluster\'s table sorting later: keeps it (the other agent gives it up)', other: 'stratus-0a8009-svc', cluster: 'team-a', atStart: false, givesUp: false },
    { what: 'a table of its own cluster, there from the start: keeps it (no conflict)', other: 'stratus-0a8001-svc', cluster: 'team-b', atStart: true, givesUp: false },
  ])('a NodePort it holds that $other also holds, $what', async ({ other, cluster, atStart, givesUp }) => {
    const theirs = listing(nodePortsMap(other, [['tcp', 30080]], nodePortsComment(cluster)));
    let host = atStart ? theirs : listing();
    const nft = new Recorder();
    const events: string[] = [];
    const proxy = new ServiceProxy({
      view: view(snapshot([nodePortService('web', 30080)])),
      node: () => NODE,
      log: silentLogger,
      nft,
      routeLocalnet: () => Promise.resolve(),
      listNodePortMaps: async () => host,
      serviceEvent: (_svc, _type, reason) => events.push(reason),
    });
    await proxy.start();
    expect(nft.scripts[0]).toMatch(/tcp \. 30080 :/);
    // Another agent's apply raced this one's (or the table was there all along): both tables hold it now.
    host = theirs;
    await proxy.recheck();
    proxy.stop();
    const txs = nft.transactions.flat().join('\n');
    if (givesUp) {
      expect(txs).toMatch(/delete element ip stratus-0a8002-svc node_ports \{[^}]*tcp \. 30080/);
      expect(events).toEqual(['NodePortConflict']);
      expect(proxy.refusedServices()).toEqual(['default/web']);
    } else {
      expect(txs).not.toMatch(/30080/);
      expect(events).toEqual([]);
      expect(proxy.refusedServices()).toEqual([]);
    }
  });
});
