import { describe, expect, it } from 'vitest';
import { TaintToleration, TaintTolerationScore } from '../../../functions/scheduler/plugins/taint-toleration';
import { at, cluster, node, pod } from './fixtures';

describe('TaintToleration filter', () => {
  const tainted = node('n', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] });
  it.each([
    ['no toleration', [], false],
    ['Equal toleration', [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }], true],
    ['Exists toleration', [{ key: 'gpu', operator: 'Exists' }], true],
    ['wrong value', [{ key: 'gpu', operator: 'Equal', value: 'no' }], false],
    ['wrong effect', [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }], false],
    ['wildcard', [{ operator: 'Exists' }], true],
  ])('%s', (_n, tolerations, want) => {
    // Prepare
    const c = cluster([tainted]);
    // Act
    const r = TaintToleration.filter(pod('p', { tolerations }), at(c, 'n'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (!want) expect(r.reasons).toEqual(['node(s) had untolerated taint {gpu: yes}']);
  });

  it('ignores PreferNoSchedule taints', () => {
    const c = cluster([node('n', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] })]);
    expect(TaintToleration.filter(pod('p'), at(c, 'n'), c, new Map()).fits).toBe(true);
  });
});

describe('TaintToleration score', () => {
  it('prefers nodes with fewer untolerated PreferNoSchedule taints', () => {
    // Prepare
    const c = cluster([node('clean'), node('soft', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] })]);
    const p = pod('p');
    // Act
    const raw = [TaintTolerationScore.score(p, at(c, 'clean'), c, new Map()), TaintTolerationScore.score(p, at(c, 'soft'), c, new Map())];
    // Assess
    expect(TaintTolerationScore.normalize!(raw, p)).toEqual([100, 0]);
  });
});
