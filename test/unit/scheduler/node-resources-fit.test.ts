import { describe, expect, it } from 'vitest';
import { NodeResourcesFit } from '../../../functions/scheduler/plugins/node-resources-fit';
import { podRequests } from '../../../shared/store/store';
import { at, cluster, node, pod } from './fixtures';

describe('NodeResourcesFit', () => {
  it.each([
    ['fits', pod('p', {}, { requests: { cpu: '500m', memory: '1Gi' } }), [], true, []],
    ['too much cpu', pod('p', {}, { requests: { cpu: '3' } }), [], false, ['Insufficient cpu']],
    ['too much memory', pod('p', {}, { requests: { memory: '8Gi' } }), [], false, ['Insufficient memory']],
    ['cpu used by others', pod('p', {}, { requests: { cpu: '1' } }), [pod('o', {}, { nodeName: 'n', requests: { cpu: '1500m' } })], false, ['Insufficient cpu']],
    [
      'an init container asking more than the app containers decides',
      pod('p', { initContainers: [{ name: 'init', image: 'i', resources: { requests: { cpu: '2500m' } } }] }, { requests: { cpu: '100m' } }),
      [],
      false,
      ['Insufficient cpu'],
    ],
    ['overhead counts', pod('p', { overhead: { cpu: '600m' } }, { requests: { cpu: '1500m' } }), [], false, ['Insufficient cpu']],
  ])('%s', (_name, p, others, want, reasons) => {
    // Prepare
    const c = cluster([node('n')], others);
    // Act
    const r = NodeResourcesFit.filter(p, at(c, 'n'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    expect(r.reasons ?? []).toEqual(reasons);
  });

  it('counts pods against the pod limit', () => {
    // Prepare
    const c = cluster([node('n', { pods: '2' })], [pod('a', {}, { nodeName: 'n' }), pod('b', {}, { nodeName: 'n' })]);
    // Act
    const r = NodeResourcesFit.filter(pod('p'), at(c, 'n'), c, new Map());
    // Assess
    expect(r.reasons).toEqual(['Too many pods']);
  });

  it('sums requests as Kubernetes does: max(sum of containers, each init container) + overhead', () => {
    // Prepare
    const p = pod('p', {
      containers: [
        { name: 'a', resources: { requests: { cpu: '300m', memory: '100Mi' } } },
        { name: 'b', resources: { requests: { cpu: '200m', memory: '100Mi' } } },
      ],
      initContainers: [{ name: 'i', resources: { requests: { cpu: '400m', memory: '300Mi' } } }],
      overhead: { cpu: '50m', memory: '10Mi' },
    });
    // Act
    const r = podRequests(p);
    // Assess
    expect(r).toEqual({ cpu: 550, memory: 310 * 2 ** 20 });
  });
});
