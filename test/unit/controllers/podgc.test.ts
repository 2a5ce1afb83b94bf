import { describe, expect, it } from 'vitest';
import { keysFor, keyString, parseKey } from '../../../functions/controllers/dispatch';
import { podGcKey } from '../../../functions/controllers/podgc';
import type { KubeObject } from '../../../shared/resources';
import type { ObjectStore } from '../../../shared/store/store';

/** keysFor lists DaemonSets on node changes; nothing else is read for these. */
const store = { list: async () => ({ items: [], resourceVersion: 1 }) } as unknown as ObjectStore;
const node: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', uid: 'u1' } };

describe('pod GC dispatch', () => {
  it('a removed node asks for its pods to be collected; a changed one does not', async () => {
    // Act
    const removed = await keysFor({ tenant: 't', group: '', resource: 'nodes', eventName: 'REMOVE', oldObject: node, sequenceNumber: '1' }, store);
    const modified = await keysFor({ tenant: 't', group: '', resource: 'nodes', eventName: 'MODIFY', oldObject: node, newObject: { ...node, spec: { unschedulable: true } }, sequenceNumber: '2' }, store);
    // Assess
    expect(removed).toContainEqual({ controller: 'podgc', namespace: '', name: 'n1' });
    expect(modified.some((k) => k.controller === 'podgc')).toBe(false);
  });

  it("the recheck timer's key parses back to the recheck pass of the same node", () => {
    // Act
    const key = parseKey(podGcKey('n1', true));
    // Assess
    expect(key).toEqual({ controller: 'podgc', resource: 'recheck', namespace: '', name: 'n1' });
    expect(keyString(key!)).toBe(podGcKey('n1', true));
    expect(podGcKey('n1', false)).toBe(keyString({ controller: 'podgc', namespace: '', name: 'n1' }));
  });
});
