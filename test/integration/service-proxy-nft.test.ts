import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../node-agent/log';
import { buildSnapshot } from '../../node-agent/network/api-cluster-view';
import type { ClusterSnapshot, ClusterView } from '../../node-agent/network/cluster-view';
import { destroyServiceTable, NftInteractive, ServiceProxy } from '../../node-agent/network/service-proxy';
import { proxyTableName } from '../../node-agent/network/service-rules';

/*
 * ServiceProxy against the kernel's nftables (no containers): the table it writes is accepted by
 * nft, a change goes through the long-running nft -i as a diff, a table removed by hand is
 * rebuilt, and a bad transaction reports nft's error without stopping the process.
 */
const BRIDGE = `stratus-t${process.pid.toString(16).slice(-5)}`;
const TABLE = proxyTableName(BRIDGE);

class PushView implements ClusterView {
  private s: ClusterSnapshot = buildSnapshot({ services: { items: [] }, endpointSlices: { items: [] }, pods: { items: [] } });
  private readonly ls = new Set<(s: ClusterSnapshot) => void>();
  current = () => this.s;
  subscribe(l: (s: ClusterSnapshot) => void) {
    this.ls.add(l);
    return () => this.ls.delete(l);
  }
  push(s: ClusterSnapshot) {
    this.s = s;
    for (const l of this.ls) l(s);
  }
}

const svc = (name: string, ip: string, spec: Record<string, unknown> = {}) => ({ metadata: { namespace: 'default', name }, spec: { clusterIP: ip, ports: [{ port: 80, protocol: 'TCP' }], ...spec } });
const slice = (name: string, ips: string[]) => ({
  metadata: { namespace: 'default', name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
  addressType: 'IPv4',
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports: [{ port: 8080, protocol: 'TCP' }],
});
const snap = (services: unknown[], slices: unknown[]) => buildSnapshot({ services: { items: services }, endpointSlices: { items: slices }, pods: { items: [] } });
const listTable = () => execFileSync('nft', ['list', 'table', 'ip', TABLE], { encoding: 'utf8' });

afterAll(() => destroyServiceTable(TABLE));

describe('ServiceProxy on nftables', () => {
  const view = new PushView();
  const proxy = new ServiceProxy({ view, log: silentLogger, node: () => ({ nodeName: 'n1', bridge: BRIDGE, nodeIPs: ['192.0.2.200'] }), routeLocalnet: () => Promise.resolve() });
  afterAll(() => proxy.stop());

  it('writes the table on the first snapshot, then applies changes as diffs', async () => {
    await proxy.start();
    expect(proxy.lastApply?.full).toBe(true);
    const s1 = snap([svc('web', '10.96.0.10', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] }), svc('sticky', '10.96.0.11', { sessionAffinity: 'ClientIP' })], [slice('web', ['10.1.0.2', '10.1.0.3']), slice('sticky', ['10.1.0.4', '10.1.0.5'])]);
    view.push(s1);
    await proxy.update(s1);
    expect(proxy.lastApply?.full).toBe(false);
    let t = listTable();
    expect(t).toContain('10.96.0.10 . tcp . 80 : goto pick-tcp-2');
    expect(t).toContain('tcp . 30080 : goto npick-tcp-2');
    expect(t).toContain('10.96.0.10 . 80 . 1 : 10.1.0.3 . 8080');
    expect(t).toContain('10.96.0.11 . tcp . 80 : goto svc-');
    expect(t).toContain('numgen random mod 2 vmap');
    expect(t).toContain('dnat to 10.1.0.5:8080');
    expect(t).toMatch(/update @aff-\w+ \{ ip saddr \}/);

    const s2 = snap([svc('web', '10.96.0.10', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] })], [slice('web', ['10.1.0.2'])]);
    await proxy.update(s2);
    expect(proxy.lastApply?.full).toBe(false);
    t = listTable();
    expect(t).not.toContain('10.1.0.3');
    expect(t).not.toContain('10.96.0.11');
    expect(t).not.toContain('aff-');
  });

  it('rebuilds a table removed by hand on the next change', async () => {
    execFileSync('nft', ['delete', 'table', 'ip', TABLE]);
    const s3 = snap([svc('web', '10.96.0.10')], [slice('web', ['10.1.0.7'])]);
    await proxy.update(s3); // the diff fails: the next apply is whole
    const s4 = snap([svc('web', '10.96.0.10')], [slice('web', ['10.1.0.8'])]);
    await proxy.update(s4);
    expect(proxy.lastApply?.full).toBe(true);
    expect(listTable()).toContain('10.96.0.10 . 80 . 0 : 10.1.0.8 . 8080');
  });

  it('LoadBalancer addresses and externalTrafficPolicy Local: elements of external_ips and the endpoint maps, nft accepts them', async () => {
    const lb = (name: string, ip: string, lbIp: string, nodePort: number, spec: Record<string, unknown>) => ({
      ...svc(name, ip, { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP', nodePort }], ...spec }),
      status: { loadBalancer: { ingress: [{ ip: lbIp, ipMode: 'VIP' }] } },
    });
    const onNodes = (name: string) => ({
      ...slice(name, []),
      endpoints: [
        { addresses: ['10.1.0.2'], nodeName: 'n1', conditions: { ready: true } },
        { addresses: ['10.1.0.3'], nodeName: 'n2', conditions: { ready: true } },
      ],
    });
    const s5 = snap(
      [lb('web', '10.96.0.10', '127.240.0.9', 30090, {}), lb('local', '10.96.0.12', '127.240.0.10', 30091, { externalTrafficPolicy: 'Local' }), lb('sticky', '10.96.0.11', '127.240.0.11', 30092, { externalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP' })],
      [onNodes('web'), onNodes('local'), onNodes('sticky')],
    );
    await proxy.update(s5);
    expect(proxy.lastApply?.full).toBe(false);
    const t = listTable();
    expect(t).toContain('127.240.0.9 . tcp . 80 : goto xpick-tcp-2');
    expect(t).toContain('127.240.0.10 . tcp . 80 : goto lpick-tcp-1');
    expect(t).toContain('tcp . 30091 : goto lnpick-tcp-1');
    expect(t).toContain('127.240.0.10 . 80 . 0 : 10.1.0.2 . 8080');
    expect(t).not.toContain('127.240.0.10 . 80 . 1');
    expect(t).toMatch(/127\.240\.0\.11 \. tcp \. 80 : goto xl-\w+/);
    expect(t).toContain('meta mark & 0x00008000 == 0x00008000 snat to 192.0.2.200');
  });
});

describe('NftInteractive', () => {
  it('reports a failed transaction and goes on with the next', async () => {
    const nft = new NftInteractive();
    try {
      await expect(nft.transaction([`add element ip ${TABLE} no_such_map { 1.2.3.4 }`])).rejects.toThrow(/nft: Error/);
      await nft.transaction([`add element ip ${TABLE} no_endpoints { 10.96.9.9 . tcp . 80 }`]);
      expect(listTable()).toContain('10.96.9.9 . tcp . 80');
    } finally {
      nft.close();
    }
  });
});
