import { describe, expect, it } from 'vitest';
import { BalancedAllocation } from '../../../functions/scheduler/plugins/balanced-allocation';
import { LeastAllocated } from '../../../functions/scheduler/plugins/least-allocated';
import { at, cluster, node, pod } from './fixtures';

describe('LeastAllocated', () => {
  it.each([
    ['idle node beats busy node', 'idle', 'busy'],
  ])('%s', (_n, better, worse) => {
    // Prepare
    const c = cluster([node('idle'), node('busy')], [pod('o', {}, { nodeName: 'busy', requests: { cpu: '1500m', memory: '3Gi' } })]);
    const p = pod('p', {}, { requests: { cpu: '100m' } });
    // Act
    const [a, b] = [better, worse].map((n) => LeastAllocated.score(p, at(c, n), c, new Map()));
    // Assess
    expect(a).toBeGreaterThan(b!);
  });
});

describe('BalancedAllocation', () => {
  it.each([
    // node: 2 cpu, 4Gi; pod asks 1 cpu and 2Gi → both 50% → perfectly balanced.
    ['equal fractions', { cpu: '1', memory: '2Gi' }, 100],
    // 1 cpu (50%) and no memory (0%) → std 0.25 → 75.
    ['cpu only', { cpu: '1' }, 75],
  ])('%s', (_n, requests, want) => {
    // Prepare
    const c = cluster([node('n')]);
    // Act
    const s = BalancedAllocation.score(pod('p', {}, { requests }), at(c, 'n'), c, new Map());
    // Assess
    expect(s).toBe(want);
  });
});
