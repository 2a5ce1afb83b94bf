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
