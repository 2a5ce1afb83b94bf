import { describe, expect, it } from 'vitest';
import { NodeAffinity, NodeAffinityScore } from '../../../functions/scheduler/plugins/node-affinity';
import { at, cluster, node, pod } from './fixtures';

const required = (...terms: object[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });

describe('NodeAffinity filter', () => {
  const n = node('n1', { labels: { disk: 'ssd', zone: 'a', cores: '8' } });
  it.each([
    ['no constraints', {}, true],
    ['nodeSelector matches', { nodeSelector: { disk: 'ssd' } }, true],
    ['nodeSelector does not match', { nodeSelector: { disk: 'hdd' } }, false],
    ['In', required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }), true],
    ['NotIn', required({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), false],
    ['Exists', required({ matchExpressions: [{ key: 'disk', operator: 'Exists' }] }), true],
    ['DoesNotExist', required({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }), true],
    ['Gt', required({ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['4'] }] }), true],
    ['Lt', required({ matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['4'] }] }), false],
    ['terms are ORed', required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] }, { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }), true],
    ['matchFields on metadata.name', required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }), true],
    ['nodeSelector AND affinity', { nodeSelector: { disk: 'hdd' }, ...required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }) }, false],
  ])('%s', (_n, spec, want) => {
    // Prepare
    const c = cluster([n]);
    // Act
    const r = NodeAffinity.filter(pod('p', spec), at(c, 'n1'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (!want) expect(r.reasons).toEqual(["node(s) didn't match Pod's node affinity/selector"]);
  });
});

describe('NodeAffinity score', () => {
  it('adds the weights of matching preferred terms', () => {
    // Prepare
    const c = cluster([node('a', { labels: { zone: 'a', disk: 'ssd' } }), node('b', { labels: { zone: 'b' } })]);
    const p = pod('p', {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
            { weight: 5, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } },
          ],
        },
      },
    });
    // Act
    const raw = ['a', 'b'].map((n) => NodeAffinityScore.score(p, at(c, n), c, new Map()));
    // Assess
    expect(raw).toEqual([15, 0]);
    expect(NodeAffinityScore.normalize!(raw, p)).toEqual([100, 0]);
  });
});
