import { describe, expect, it } from 'vitest';
import { jsonMergePatch, strategicMergePatch } from '../../shared/patch/merge';

describe('JSON merge patch (RFC 7386)', () => {
  it('merges maps, deletes with null, replaces lists', () => {
    // Prepare
    const target = { a: 1, b: { c: 2, d: 3 }, l: [1, 2] };
    // Act
    const out = jsonMergePatch(target, { b: { c: null, e: 4 }, l: [3] });
    // Assess
    expect(out).toEqual({ a: 1, b: { d: 3, e: 4 }, l: [3] });
    expect(target.b.c).toBe(2); // input untouched
  });
});

describe('strategic merge patch', () => {
  const pod = {
    spec: {
      containers: [
        { name: 'a', image: 'img:1', env: [{ name: 'X', value: '1' }] },
        { name: 'b', image: 'img:2' },
      ],
    },
    metadata: { finalizers: ['f1'] },
  };

  it('merges containers by name and env by name', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'a', image: 'img:9', env: [{ name: 'Y', value: '2' }] }] } }) as typeof pod;
    expect(out.spec.containers).toEqual([
      { name: 'a', image: 'img:9', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] },
      { name: 'b', image: 'img:2' },
    ]);
  });

  it('deletes a list element with $patch: delete', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'b', $patch: 'delete' }] } }) as typeof pod;
    expect(out.spec.containers.map((c) => c.name)).toEqual(['a']);
  });

  it('merges finalizers as a set and removes with $deleteFromPrimitiveList', () => {
    const added = strategicMergePatch(pod, { metadata: { finalizers: ['f2', 'f1'] } }) as typeof pod;
    expect(added.metadata.finalizers).toEqual(['f1', 'f2']);
    const removed = strategicMergePatch(added, { metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] } }) as typeof pod;
    expect(removed.metadata.finalizers).toEqual(['f2']);
  });

  it('replaces lists without a merge key', () => {
    const out = strategicMergePatch({ spec: { containers: [{ name: 'a', args: ['1', '2'] }] } }, { spec: { containers: [{ name: 'a', args: ['3'] }] } });
    expect(out).toEqual({ spec: { containers: [{ name: 'a', args: ['3'] }] } });
  });
});

describe('strategic merge patch: what kubectl apply sends', () => {
  const current = {
    metadata: { labels: { app: 'web', tier: 'front' }, annotations: { a: '1' } },
    spec: {
      containers: [{ name: 'main', image: 'img:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }],
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
    },
  };

  it('changes a value and keeps the order kubectl names in $setElementOrder', () => {
    // Prepare: kubectl 1.32 client-side apply, env B changed
    const patch = {
      spec: {
        '$setElementOrder/containers': [{ name: 'main' }],
        containers: [{ '$setElementOrder/env': [{ name: 'B' }, { name: 'A' }], env: [{ name: 'B', value: '3' }], name: 'main' }],
      },
    };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.containers[0]!.env).toEqual([{ name: 'B', value: '3' }, { name: 'A', value: '1' }]);
    expect(JSON.stringify(out)).not.toContain('$setElementOrder');
  });

  it('removes a field that left the last-applied configuration (null)', () => {
    // Prepare
    const patch = { metadata: { labels: { tier: null } } };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.metadata.labels).toEqual({ app: 'web' });
  });

  it('removes a list element kubectl deletes with $patch: delete, keeping the rest in order', () => {
    // Prepare
    const patch = {
      spec: {
        containers: [{ '$setElementOrder/env': [{ name: 'B' }], env: [{ name: 'A', $patch: 'delete' }], name: 'main' }],
      },
    };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.containers[0]!.env).toEqual([{ name: 'B', value: '2' }]);
  });

  it('clears the keys $retainKeys does not list', () => {
    // Prepare: a strategy switched to Recreate drops rollingUpdate
    const patch = { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('orders primitive lists by $setElementOrder too', () => {
    // Prepare
    const target = { metadata: { finalizers: ['a', 'b'] } };
    // Act
    const out = strategicMergePatch(target, { metadata: { '$setElementOrder/finalizers': ['c', 'a'], finalizers: ['c'] } });
    // Assess
    expect(out).toEqual({ metadata: { finalizers: ['c', 'a', 'b'] } });
  });

  it('leaves the input untouched', () => {
    // Prepare
    const before = JSON.stringify(current);
    // Act
    strategicMergePatch(current, { metadata: { labels: { tier: null } }, spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } });
    // Assess
    expect(JSON.stringify(current)).toBe(before);
  });
});
