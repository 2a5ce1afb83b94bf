import { describe, expect, it } from 'vitest';
import { schedulePod } from '../../../functions/scheduler/framework';
import { defaultFilters, defaultScores } from '../../../functions/scheduler/plugins';
import { NodeResourcesFit } from '../../../functions/scheduler/plugins/node-resources-fit';
import { TaintToleration } from '../../../functions/scheduler/plugins/taint-toleration';
import { NodeUnschedulable } from '../../../functions/scheduler/plugins/node-unschedulable';
import { NodeSelector } from '../../../functions/scheduler/plugins/node-selector';
import { LeastAllocated } from '../../../functions/scheduler/plugins/least-allocated';
import type { KubeObject } from '../../../shared/resources';
import type { NodeSnapshot } from '../../../shared/store/store';

function node(name: string, opts: { cpu?: number; mem?: number; pods?: number; used?: Partial<NodeSnapshot['allocated']>; ready?: boolean; unschedulable?: boolean; taints?: object[]; labels?: Record<string, string> } = {}): NodeSnapshot {
  return {
    node: {
      metadata: { name, labels: opts.labels ?? {} },
      spec: { unschedulable: opts.unschedulable, taints: opts.taints },
      status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
    },
    capacity: { cpu: opts.cpu ?? 2000, memory: opts.mem ?? 4 * 2 ** 30, pods: opts.pods ?? 110 },
    allocated: { cpu: 0, memory: 0, pods: 0, ...opts.used },
  };
}

function pod(cpu?: string, memory?: string, spec: object = {}): KubeObject {
  const requests: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) requests.memory = memory;
  return { metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'i', resources: { requests } }], ...spec } };
}

describe('NodeResourcesFit', () => {
  it.each([
    ['fits', pod('500m', '1Gi'), node('n'), true, []],
    ['too much cpu', pod('3', undefined), node('n'), false, ['Insufficient cpu']],
    ['too much memory', pod(undefined, '8Gi'), node('n'), false, ['Insufficient memory']],
    ['already full of pods', pod(), node('n', { pods: 2, used: { pods: 2 } }), false, ['Too many pods']],
    ['cpu used by others', pod('1'), node('n', { used: { cpu: 1500 } }), false, ['Insufficient cpu']],
  ])('%s', (_name, p, n, want, reasons) => {
    const r = NodeResourcesFit.filter(p, n);
    expect(r.fits).toBe(want);
    expect(r.reasons ?? []).toEqual(reasons);
  });
});

describe('TaintToleration', () => {
  const tainted = node('n', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] });
  it.each([
    ['no toleration', [], false],
    ['Equal toleration', [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }], true],
    ['Exists toleration', [{ key: 'gpu', operator: 'Exists' }], true],
    ['wrong value', [{ key: 'gpu', operator: 'Equal', value: 'no' }], false],
    ['wildcard', [{ operator: 'Exists' }], true],
  ])('%s', (_n, tolerations, want) => {
    expect(TaintToleration.filter(pod(undefined, undefined, { tolerations }), tainted).fits).toBe(want);
  });
});

describe('other filters', () => {
  it('NodeUnschedulable keeps pods off cordoned nodes', () => {
    expect(NodeUnschedulable.filter(pod(), node('n', { unschedulable: true })).fits).toBe(false);
    expect(NodeUnschedulable.filter(pod(), node('n')).fits).toBe(true);
  });
  it('NodeSelector matches labels', () => {
    expect(NodeSelector.filter(pod(undefined, undefined, { nodeSelector: { disk: 'ssd' } }), node('n', { labels: { disk: 'ssd' } })).fits).toBe(true);
    expect(NodeSelector.filter(pod(undefined, undefined, { nodeSelector: { disk: 'ssd' } }), node('n')).fits).toBe(false);
  });
});

describe('LeastAllocated', () => {
  it('prefers the emptier node', () => {
    const busy = node('busy', { used: { cpu: 1500, memory: 3 * 2 ** 30, pods: 50 } });
    const idle = node('idle');
    expect(LeastAllocated.score(pod('100m'), idle)).toBeGreaterThan(LeastAllocated.score(pod('100m'), busy));
  });
});

describe('schedulePod', () => {
  it('binds to the best feasible node', () => {
    const d = schedulePod(pod('1'), [node('small', { cpu: 500 }), node('big', { cpu: 4000 })], defaultFilters, defaultScores);
    expect(d.kind).toBe('bind');
    if (d.kind === 'bind') expect(d.node.node.metadata.name).toBe('big');
  });

  it("explains an unschedulable pod in Kubernetes' words", () => {
    // Prepare
    const nodes = [node('a', { cpu: 500 }), node('b', { unschedulable: true }), node('c', { unschedulable: true }), node('d', { ready: false })];
    // Act
    const d = schedulePod(pod('1'), nodes, defaultFilters, defaultScores);
    // Assess
    expect(d).toEqual({
      kind: 'unschedulable',
      message: '0/4 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready, 2 node(s) were unschedulable.',
    });
  });

  it('says so when there are no nodes', () => {
    expect(schedulePod(pod(), [], defaultFilters, defaultScores)).toEqual({ kind: 'unschedulable', message: '0/0 nodes are available.' });
  });
});
