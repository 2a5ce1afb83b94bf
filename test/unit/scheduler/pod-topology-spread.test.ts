import { describe, expect, it } from 'vitest';
import { PodTopologySpread, PodTopologySpreadScore } from '../../../functions/scheduler/plugins/pod-topology-spread';
import { at, cluster, node, pod } from './fixtures';

const nodes = [node('a1', { labels: { zone: 'a' } }), node('a2', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } }), node('nolabel')];
const spread = (maxSkew: number, whenUnsatisfiable = 'DoNotSchedule', extra: object = {}) => ({
  topologySpreadConstraints: [{ maxSkew, topologyKey: 'zone', whenUnsatisfiable, labelSelector: { matchLabels: { app: 'web' } }, ...extra }],
});
const web = (name: string, nodeName: string) => pod(name, {}, { nodeName, labels: { app: 'web' } });

describe('PodTopologySpread filter', () => {
  // Zone a holds 2 web pods, zone b holds 1.
  const existing = [web('w1', 'a1'), web('w2', 'a2'), web('w3', 'b1')];
  it.each([
    ['maxSkew 1: the emptier zone', 1, 'b1', true, undefined],
    ['maxSkew 1: the fuller zone would make skew 2', 1, 'a1', false, "node(s) didn't match pod topology spread constraints"],
    ['maxSkew 2 allows it', 2, 'a1', true, undefined],
    ['a node without the key', 1, 'nolabel', false, "node(s) didn't match pod topology spread constraints (missing required label)"],
  ])('%s', (_n, maxSkew, target, want, reason) => {
    // Prepare
    const c = cluster(nodes, existing);
    // Act
    const r = PodTopologySpread.filter(pod('p', spread(maxSkew), { labels: { app: 'web' } }), at(c, target), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (reason) expect(r.reasons).toEqual([reason]);
  });

  it('minDomains larger than the domains makes the global minimum 0', () => {
    const c = cluster(nodes, [web('w1', 'b1')]);
    const r = PodTopologySpread.filter(pod('p', spread(1, 'DoNotSchedule', { minDomains: 3 }), { labels: { app: 'web' } }), at(c, 'b1'), c, new Map());
    expect(r.fits).toBe(false);
  });

  it('ScheduleAnyway constraints never filter', () => {
    const c = cluster(nodes, existing);
    expect(PodTopologySpread.filter(pod('p', spread(1, 'ScheduleAnyway'), { labels: { app: 'web' } }), at(c, 'a1'), c, new Map()).fits).toBe(true);
  });
});

describe('PodTopologySpread score', () => {
  it('prefers the domain with fewer matching pods', () => {
    // Prepare
    const c = cluster(nodes, [web('w1', 'a1'), web('w2', 'a2'), web('w3', 'b1')]);
    const p = pod('p', spread(1, 'ScheduleAnyway'), { labels: { app: 'web' } });
    const state = new Map();
    // Act
    const raw = ['a1', 'b1'].map((n) => PodTopologySpreadScore.score(p, at(c, n), c, state));
    const normalized = PodTopologySpreadScore.normalize!(raw, p);
    // Assess
    expect(raw).toEqual([2, 1]);
    expect(normalized[1]).toBeGreaterThan(normalized[0]!);
  });
});
