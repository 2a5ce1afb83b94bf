import { describe, expect, it } from 'vitest';
import { NodeName } from '../../../functions/scheduler/plugins/node-name';
import { at, cluster, node, pod } from './fixtures';

describe('NodeName', () => {
  it.each([
    ['no nodeName', undefined, true],
    ['this node', 'a', true],
    ['another node', 'b', false],
  ])('%s', (_n, nodeName, want) => {
    // Prepare
    const c = cluster([node('a')]);
    const p = pod('p', nodeName ? { nodeName } : {});
    // Act
    const r = NodeName.filter(p, at(c, 'a'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (!want) expect(r.reasons).toEqual(["node(s) didn't match the requested node name"]);
  });
});
