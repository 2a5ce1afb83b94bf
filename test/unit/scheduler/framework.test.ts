import { describe, expect, it } from 'vitest';
import { feasibleNodesToFind, schedulePod, type FilterPlugin, type ScorePlugin } from '../../../functions/scheduler/framework';
import { defaultFilters, defaultScores } from '../../../functions/scheduler/plugins';
import { InterPodAffinity } from '../../../functions/scheduler/plugins/inter-pod-affinity';
import { findPreemption } from '../../../functions/scheduler/preemption';
import { chunkBindings, queueOrder } from '../../../functions/scheduler/scheduler';
import type { KubeObject } from '../../../shared/resources';
import { bindBatchItems, MAX_TRANSACT_ITEMS, type PodBinding } from '../../../shared/store/store';
import { at, cluster, node, pod } from './fixtures';

describe('schedulePod', () => {
  it('binds to the best feasible node', () => {
    // Prepare
    const c = cluster([node('small', { cpu: '500m' }), node('big', { cpu: '4' })]);
    // Act
    const d = schedulePod(pod('p', {}, { requests: { cpu: '1' } }), c, defaultFilters, defaultScores);
    // Assess
    expect(d.kind).toBe('bind');
    if (d.kind === 'bind') expect(d.node.node.metadata.name).toBe('big');
  });

  it("explains an unschedulable pod in Kubernetes' words", () => {
    // Prepare
    const taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
    const c = cluster([node('a', { cpu: '500m' }), node('b', { ready: false, taints: [taint] }), node('c', { ready: false, taints: [taint] })]);
    // Act
    const d = schedulePod(pod('p', {}, { requests: { cpu: '1' } }), c, defaultFilters, defaultScores);
    // Assess
    expect(d.kind).toBe('unschedulable');
    if (d.kind === 'unschedulable') expect(d.message).toBe('0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.');
  });

  it('says so when there are no nodes', () => {
    const d = schedulePod(pod('p'), cluster([]), defaultFilters, defaultScores);
    expect(d.kind === 'unschedulable' && d.message).toBe('0/0 nodes are available.');
  });

  it('spreads a batch: assumed placements count for the next decision', () => {
    // Prepare
    const c = cluster([node('a', { cpu: '1' }), node('b', { cpu: '1' })]);
    // Act
    const placed = ['p1', 'p2'].map((name) => {
      const p = pod(name, {}, { requests: { cpu: '1' } });
      const d = schedulePod(p, c, defaultFilters, defaultScores);
      if (d.kind !== 'bind') throw new Error('unschedulable');
      c.assume(p, d.node.node.metadata.name!);
      return d.node.node.metadata.name;
    });
    // Assess
    expect(new Set(placed)).toEqual(new Set(['a', 'b']));
    expect(schedulePod(pod('p3', {}, { requests: { cpu: '1' } }), c, defaultFilters, defaultScores).kind).toBe('unschedulable');
  });

  it.each([
    [10, 10],
    [100, 100],
    [1000, 420],
    [5000, 500],
  ])('with %i nodes looks for %i feasible ones (percentageOfNodesToScore)', (nodes, want) => {
    expect(feasibleNodesToFind(nodes)).toBe(want);
  });
});

describe('PreFilter / PreScore skip', () => {
  it('leaves plugins that skip a pod out of the per-node loops', () => {
    // Prepare: plugins that would throw if asked about any node.
    const boom = () => {
      throw new Error('called although skipped');
    };
    const filter: FilterPlugin = { name: 'Skipped', skips: () => true, filter: boom };
    const score: ScorePlugin = { name: 'Skipped', weight: 1, skips: () => true, score: boom };
    // Act
    const d = schedulePod(pod('p'), cluster([node('a'), node('b')]), [...defaultFilters, filter], [...defaultScores, score]);
    // Assess
    expect(d.kind).toBe('bind');
  });

  it('runs InterPodAffinity for a plain pod only when a bound pod has required anti-affinity', () => {
    // Prepare
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } }] } };
    const plain = pod('p', {}, { labels: { app: 'web' } });
    const without = cluster([node('a'), node('b')], [pod('x', {}, { nodeName: 'a' })]);
    const withAnti = cluster([node('a'), node('b')], [pod('x', { affinity: anti }, { nodeName: 'a' })]);
    // Act
    const skips = [InterPodAffinity.skips!(plain, without), InterPodAffinity.skips!(plain, withAnti)];
    const d = schedulePod(plain, withAnti, defaultFilters, defaultScores);
    // Assess: the existing pod's anti-affinity still keeps the plain pod off node a.
    expect(skips).toEqual([true, false]);
    expect(d.kind === 'bind' && d.node.node.metadata.name).toBe('b');
  });
});

describe('preemption', () => {
  it('evicts the fewest, least important pods that make room', () => {
    // Prepare
    const low = (name: string, n: string, priority: number) => pod(name, { priority }, { nodeName: n, requests: { cpu: '1' } });
    const c = cluster([node('a'), node('b')], [low('a-low', 'a', 1), low('a-mid', 'a', 5), low('b-mid', 'b', 5), low('b-mid2', 'b', 5)]);
    const vip = pod('vip', { priority: 10 }, { requests: { cpu: '1' } });
    const d = schedulePod(vip, c, defaultFilters, defaultScores);
    if (d.kind !== 'unschedulable') throw new Error('expected unschedulable');
    // Act
    const p = findPreemption(vip, c, defaultFilters, d.reasonsByNode);
    // Assess
    expect(p?.node.node.metadata.name).toBe('a');
    expect(p?.victims.map((v) => v.metadata.name)).toEqual(['a-low']);
    expect(at(c, 'a').allocated.cpu).toBe(2000); // the what-if left the snapshot as it was
  });

  it('never preempts pods of equal or higher priority, nor with preemptionPolicy Never', () => {
    const c = cluster([node('a', { cpu: '1' })], [pod('x', { priority: 10 }, { nodeName: 'a', requests: { cpu: '1' } })]);
    const p = pod('p', { priority: 10 }, { requests: { cpu: '1' } });
    const d = schedulePod(p, c, defaultFilters, defaultScores);
    expect(d.kind === 'unschedulable' && findPreemption(p, c, defaultFilters, d.reasonsByNode)).toBeUndefined();
    const never = pod('n', { priority: 100, preemptionPolicy: 'Never' }, { requests: { cpu: '1' } });
    const d2 = schedulePod(never, c, defaultFilters, defaultScores);
    expect(d2.kind === 'unschedulable' && findPreemption(never, c, defaultFilters, d2.reasonsByNode)).toBeUndefined();
  });
});

describe('batching', () => {
  it('orders the queue by priority, then age', () => {
    const a = { ...pod('a', { priority: 1 }), metadata: { name: 'a', creationTimestamp: '2024-01-01T00:00:02Z' } };
    const b = { ...pod('b', { priority: 5 }), metadata: { name: 'b', creationTimestamp: '2024-01-01T00:00:03Z' } };
    const c = { ...pod('c', { priority: 1 }), metadata: { name: 'c', creationTimestamp: '2024-01-01T00:00:01Z' } };
    expect([a, b, c].sort(queueOrder).map((p) => p.metadata.name)).toEqual(['b', 'c', 'a']);
  });

  it('keeps every bind transaction within the item limit', () => {
    // Prepare: 100 pods over 100 distinct nodes, and 100 pods on one node.
    const c = cluster(Array.from({ length: 100 }, (_, i) => node(`n${i}`)));
    const spread: PodBinding[] = Array.from({ length: 100 }, (_, i) => ({ pod: pod(`p${i}`), target: at(c, `n${i}`), transform: (p) => p }));
    const packed: PodBinding[] = Array.from({ length: 100 }, (_, i) => ({ pod: pod(`q${i}`), target: at(c, 'n0'), transform: (p) => p }));
    // Act
    const chunks = [...chunkBindings(spread), ...chunkBindings(packed)];
    // Assess
    for (const ch of chunks) expect(bindBatchItems(ch.length, new Set(ch.map((b) => b.target.node.metadata.name)).size)).toBeLessThanOrEqual(MAX_TRANSACT_ITEMS);
    expect(chunks.reduce((n, ch) => n + ch.length, 0)).toBe(200);
  });

  it('puts more pods in a transaction when they share nodes', () => {
    const c = cluster([node('n0'), node('n1')]);
    const shared: PodBinding[] = Array.from({ length: 60 }, (_, i) => ({ pod: pod(`s${i}`), target: at(c, `n${i % 2}`), transform: (p) => p }));
    const distinct = chunkBindings(Array.from({ length: 60 }, (_, i) => ({ pod: pod(`d${i}`), target: at(cluster([node(`m${i}`)]), `m${i}`), transform: (p: KubeObject) => p })));
    expect(chunkBindings(shared).map((ch) => ch.length)).toEqual([60]); // 2 + 60 + 2 = 64 items
    expect(distinct.map((ch) => ch.length)).toEqual([49, 11]); // 2 + 49 + 49 = 100 items
  });

  it('packs the nodes with the most pods waiting first', () => {
    // Prepare: 3 pods on n0, 2 on n1, 1 on each of 60 other nodes
    const c = cluster([node('n0'), node('n1'), ...Array.from({ length: 60 }, (_, i) => node(`m${i}`))]);
    const bindings: PodBinding[] = [
      ...Array.from({ length: 60 }, (_, i) => ({ pod: pod(`x${i}`), target: at(c, `m${i}`), transform: (p: KubeObject) => p })),
      ...Array.from({ length: 3 }, (_, i) => ({ pod: pod(`a${i}`), target: at(c, 'n0'), transform: (p: KubeObject) => p })),
      ...Array.from({ length: 2 }, (_, i) => ({ pod: pod(`b${i}`), target: at(c, 'n1'), transform: (p: KubeObject) => p })),
    ];
    // Act
    const [first, second] = chunkBindings(bindings);
    // Assess: n0's and n1's pods go first; then single-pod nodes while they fit (2 + 50 pods + 47 nodes = 99 items)
    expect(first!.slice(0, 5).map((b) => b.pod.metadata.name)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    expect(bindBatchItems(first!.length, new Set(first!.map((b) => b.target.node.metadata.name)).size)).toBe(99);
    expect([first!.length, second!.length]).toEqual([50, 15]);
  });
});
