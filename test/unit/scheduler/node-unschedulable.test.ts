import { describe, expect, it } from 'vitest';
import { NodeUnschedulable } from '../../../functions/scheduler/plugins/node-unschedulable';
import { NodeReady } from '../../../functions/scheduler/plugins/node-ready';
import { at, cluster, node, pod } from './fixtures';

describe('NodeUnschedulable', () => {
  it.each([
    ['schedulable node', false, [], true],
    ['cordoned node', true, [], false],
    ['cordoned, tolerated', true, [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }], true],
    ['cordoned, tolerate-everything', true, [{ operator: 'Exists' }], true],
  ])('%s', (_n, unschedulable, tolerations, want) => {
    // Prepare
    const c = cluster([node('n', { unschedulable })]);
    // Act
    const r = NodeUnschedulable.filter(pod('p', { tolerations }), at(c, 'n'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
  });
});

describe('NodeReady', () => {
  it.each([
    ['ready', true, undefined, true],
    ['not ready, not yet tainted', false, undefined, false],
    ['not ready and tainted: TaintToleration decides', false, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }], true],
  ])('%s', (_n, ready, taints, want) => {
    // Prepare
    const c = cluster([node('n', { ready, taints })]);
    // Act
    const r = NodeReady.filter(pod('p'), at(c, 'n'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
  });
});
