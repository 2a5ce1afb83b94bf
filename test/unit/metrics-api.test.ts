import { describe, expect, it } from 'vitest';
import { byteQuantity, FAN_OUT, goDuration, nanoQuantity, nodeMetricsOf, podMetricsOf, summariesOf } from '../../shared/metrics/resource-metrics';
import { kubeletAddress, type NodeSummary } from '../../shared/metrics/kubelet-stats';
import type { KubeObject } from '../../shared/resources';
import { verbsOf } from '../../functions/api/discovery';
import { findResource } from '../../shared/resources';

describe('metrics quantities (metrics-server: NewScaledQuantity(nanocores, Nano), NewQuantity(bytes, BinarySI))', () => {
  it.each([
    [0, '0'],
    [1_000_000_000, '1'],
    [2_500_000_000, '2500m'],
    [500_000_000, '500m'],
    [1_234_000, '1234u'],
    [1_234_567, '1234567n'],
  ])('cpu %s nanocores → %s', (n, q) => expect(nanoQuantity(n)).toBe(q));
  it.each([
    [0, '0'],
    [1024, '1Ki'],
    [1_048_576, '1Mi'],
    [1_536_000, '1500Ki'],
    [3 * 1024 ** 3, '3Gi'],
    [1000, '1000'],
  ])('memory %s bytes → %s', (b, q) => expect(byteQuantity(b)).toBe(q));
  it.each([
    [0, '0s'],
    [0.5, '500ms'],
    [1.0024, '1.002s'],
    [15, '15s'],
    [60, '1m0s'],
    [90.5, '1m30.5s'],
  ])('window %s s → %s', (s, d) => expect(goDuration(s)).toBe(d));
});

const cpu = (n: number, w = 15) => ({ time: '2026-12-05T18:00:00Z', usageNanoCores: n, windowSeconds: w });
const mem = (b: number) => ({ time: '2026-12-05T18:00:00Z', workingSetBytes: b });
const summary: NodeSummary = {
  node: { nodeName: 'n1', cpu: cpu(750_000_000), memory: mem(64 << 20) },
  pods: [{ podRef: { name: 'p', namespace: 'default', uid: 'u1' }, containers: [{ name: 'app', cpu: cpu(250_000_000), memory: mem(1 << 20) }], cpu: cpu(250_000_000), memory: mem(1 << 20) }],
};
const node: KubeObject = { metadata: { name: 'n1', labels: { zone: 'a' } }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } } };

describe('NodeMetrics and PodMetrics', () => {
  it('NodeMetrics carries the node labels, timestamp, window and usage', () => {
    expect(nodeMetricsOf(node, summary)).toMatchObject({
      kind: 'NodeMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name: 'n1', labels: { zone: 'a' } },
      timestamp: '2026-12-05T18:00:00Z',
      window: '15s',
      usage: { cpu: '750m', memory: '64Mi' },
    });
  });
  it('PodMetrics lists its containers', () => {
    const pod: KubeObject = { metadata: { name: 'p', namespace: 'default', uid: 'u1' } };
    expect(podMetricsOf(pod, summary.pods[0]!)).toMatchObject({ kind: 'PodMetrics', metadata: { name: 'p', namespace: 'default' }, containers: [{ name: 'app', usage: { cpu: '250m', memory: '1Mi' } }] });
  });
  it.each([
    ['IPv4', node, '10.0.0.5:10250'],
    ['IPv6', { ...node, status: { addresses: [{ type: 'InternalIP', address: 'fd00::1' }], daemonEndpoints: { kubeletEndpoint: { Port: 1 } } } }, '[fd00::1]:1'],
    ['no port', { ...node, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] } }, undefined],
    ['no address', { metadata: { name: 'x' } }, undefined],
  ])('kubelet address: %s', (_, n, want) => expect(kubeletAddress(n as KubeObject)).toBe(want));

  it('asks every node, at most FAN_OUT at once, and leaves out nodes that do not answer', async () => {
    let inflight = 0;
    let peak = 0;
    const nodes = Array.from({ length: 50 }, (_, i): KubeObject => ({ metadata: { name: `n${i}` } }));
    const got = await summariesOf(nodes, async (n) => {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 2));
      inflight--;
      return n.metadata.name === 'n7' ? undefined : { ...summary, node: { ...summary.node, nodeName: n.metadata.name! } };
    });
    expect(got.size).toBe(49);
    expect(got.has('n7')).toBe(false);
    expect(peak).toBe(FAN_OUT);
  });

  it('metrics kinds are served read-only: discovery lists get and list only', () => {
    for (const r of ['nodes', 'pods']) {
      const rt = findResource('metrics.k8s.io', 'v1beta1', r)!;
      expect(rt.rest).toBeDefined();
      expect(verbsOf(rt)).toEqual(['get', 'list']);
    }
  });
});
