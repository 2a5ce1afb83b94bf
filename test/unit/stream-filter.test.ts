/**
 * Lambda event filtering as the local runtime honours it (infra/stream-filter.ts), checked against
 * the rules Lambda documents (invocation-eventfiltering, with-ddb-filtering), and the wiring
 * table's patterns checked against what the consumers' code reacts to.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { keysFor } from '../../functions/controllers/dispatch';
import type { ObjectChange } from '../../shared/store/changes';
import { isStored, resourceTypes as allTypes, type KubeObject, type ResourceType } from '../../shared/resources';

/** Only stored kinds ever reach the stream (metrics.k8s.io has its own read-only storage). */
const resourceTypes = allTypes.filter(isStored);
import { streamAttributes, type ObjectStore } from '../../shared/store/store';
import { assertSupported, recordMatches, type FilterPattern } from '../../infra/stream-filter';
import { volumeChangeMayUnblock } from '../../functions/scheduler/plugins/volume-binding';
import { controllerFilters, schedulerFilters, wiring } from '../../infra/wiring';
import { ALLOC_ONLY_ATTRIBUTE } from '../../shared/store/attributes';
import { partitionKey } from '../../shared/store/keys';
import { controllerDeclarations } from '../../shared/controllers';

/** A record in the event source mapping's JSON form (what filter patterns are matched against). */
function record(eventName: 'INSERT' | 'MODIFY' | 'REMOVE', images: { old?: Record<string, unknown>; new?: Record<string, unknown> }, keys = { pk: 't#pods', sk: 'ns/a' }): DynamoDBRecord {
  return {
    eventName,
    eventSource: 'aws:dynamodb',
    dynamodb: {
      Keys: marshall(keys) as never,
      ...(images.new ? { NewImage: marshall(images.new, { removeUndefinedValues: true }) as never } : {}),
      ...(images.old ? { OldImage: marshall(images.old, { removeUndefinedValues: true }) as never } : {}),
      SequenceNumber: '1',
    },
  };
}

describe('recordMatches (Lambda filter rule semantics)', () => {
  const insert = record('INSERT', { new: { pk: 't#pods', sk: 'ns/a', res: 'pods', n: 5, flag: true } });

  it('no patterns: every record is delivered', () => {
    expect(recordMatches(insert, undefined)).toBe(true);
    expect(recordMatches(insert, [])).toBe(true);
  });

  it('equals on a string, on eventName, and OR within a rule list', () => {
    expect(recordMatches(insert, [{ eventName: ['INSERT'] }])).toBe(true);
    expect(recordMatches(insert, [{ eventName: ['MODIFY', 'REMOVE'] }])).toBe(false);
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { res: { S: ['nodes', 'pods'] } } } }])).toBe(true);
    // Case-sensitive, whole value.
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { res: { S: ['Pods', 'pod'] } } } }])).toBe(false);
  });

  it('fields within a pattern are ANDed; patterns are ORed', () => {
    const both: FilterPattern = { eventName: ['INSERT'], dynamodb: { NewImage: { res: { S: ['nodes'] } } } };
    expect(recordMatches(insert, [both])).toBe(false);
    expect(recordMatches(insert, [both, { eventName: ['INSERT'] }])).toBe(true);
  });

  it('prefix matches the start of a string value only', () => {
    expect(recordMatches(insert, [{ dynamodb: { Keys: { pk: { S: [{ prefix: 't#' }] } } } }])).toBe(true);
    expect(recordMatches(insert, [{ dynamodb: { Keys: { pk: { S: [{ prefix: '#pods' }] } } } }])).toBe(false);
    // A number (N arrives as a string in DynamoDB JSON, but under N, not S) is not an S value.
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { n: { S: [{ prefix: '5' }] } } } }])).toBe(false);
  });

  it('BOOL values match boolean rules', () => {
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { flag: { BOOL: [true] } } } }])).toBe(true);
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { flag: { BOOL: [false] } } } }])).toBe(false);
    // The string "true" is not the boolean true.
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { flag: { BOOL: ['true'] } } } }])).toBe(false);
  });

  it('exists: true needs the leaf; exists: false matches an absent field (also under an absent parent)', () => {
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { res: { S: [{ exists: true }] } } } }])).toBe(true);
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { gc: { BOOL: [{ exists: true }] } } } }])).toBe(false);
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { gc: { BOOL: [{ exists: false }] } } } }])).toBe(true);
    // An INSERT has no OldImage at all.
    expect(recordMatches(insert, [{ dynamodb: { OldImage: { res: { S: [{ exists: false }] } } } }])).toBe(true);
    // Exists works on leaf nodes only: `res` itself is an object ({S: ...}), not a leaf.
    expect(recordMatches(insert, [{ dynamodb: { NewImage: { res: [{ exists: true }] } } }])).toBe(false);
  });

  it('a field absent from the record matches no value rule', () => {
    const remove = record('REMOVE', { old: { pk: 't#pods', sk: 'ns/a', res: 'pods' } });
    expect(recordMatches(remove, [{ dynamodb: { NewImage: { res: { S: ['pods'] } } } }])).toBe(false);
    expect(recordMatches(remove, [{ dynamodb: { OldImage: { res: { S: ['pods'] } } } }])).toBe(true);
  });

  it('rejects rules the local runtime does not implement, and more than five patterns', () => {
    expect(() => assertSupported([{ a: [{ 'anything-but': ['x'] }] as never }])).toThrow(/unsupported filter rule/);
    expect(() => assertSupported([{ a: [{ suffix: 'x' }] as never }])).toThrow(/unsupported filter rule/);
    expect(() => assertSupported([{ $or: [] as never }])).toThrow(/unsupported operator/);
    expect(() => assertSupported([{ a: [] }])).toThrow(/empty rule list/);
    expect(() => assertSupported(Array.from({ length: 6 }, () => ({ a: ['x'] })))).toThrow(/at most 5/);
    for (const w of wiring) if (w.trigger.type === 'stream') expect(() => assertSupported(w.trigger.type === 'stream' ? (w.trigger.filters ?? []) : [])).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// The wiring's patterns against the consumers' code.

/** Every kind a declared controller owns (shared/controllers.ts), and one no controller does. */
const OWNER_KINDS: readonly (readonly [string, string])[] = [
  ...controllerDeclarations.flatMap((d) => (d.owns ? [[d.owns.apiVersion, d.owns.kind] as const] : [])),
  ['v1', 'Node'],
];

/** Object shapes that exercise every branch of keysFor: owners, finalizers, claims, claimRefs, phases. */
function variants(rt: ResourceType): KubeObject[] {
  const namespace = rt.namespaced ? 'ns' : undefined;
  const base = (extra: Partial<KubeObject> & { metadata?: Partial<KubeObject['metadata']> } = {}): KubeObject => ({
    apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
    kind: rt.kind,
    ...extra,
    metadata: { name: 'a', uid: 'u1', labels: { app: 'x' }, ...(namespace ? { namespace } : {}), ...extra.metadata },
  });
  const out: KubeObject[] = [base()];
  for (const [apiVersion, kind] of OWNER_KINDS)
    for (const controller of [true, false])
      out.push(base({ metadata: { ownerReferences: [{ apiVersion, kind, name: 'o', uid: 'o1', controller, blockOwnerDeletion: controller }] } }));
  for (const f of ['foregroundDeletion', 'orphan', 'example.com/x'])
    out.push(base({ metadata: { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [f] } }));
  out.push(base({ spec: { nodeName: 'n1', volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'c' } }] } }));
  out.push(base({ spec: { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'c' } }] }, status: { phase: 'Succeeded' } }));
  out.push(base({ spec: { claimRef: { namespace: 'ns', name: 'c' }, volumeName: 'pv' }, status: { phase: 'Bound' } }));
  out.push(base({ spec: {}, status: { phase: 'Available' } }));
  out.push(base({ spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }] } }));
  return out;
}

/** A store whose every list finds one object that matches any selector. */
const anyStore = {
  list: async () => ({ items: [{ apiVersion: 'v1', kind: 'X', metadata: { name: 'm', namespace: 'ns' }, spec: { selector: {} } }], resourceVersion: 1 }),
  get: async () => undefined,
} as unknown as ObjectStore;

/** The object item as the store writes it: `o` plus the attributes stream filters read. */
const image = (rt: ResourceType, o: KubeObject) => ({ pk: partitionKey('t', rt), sk: `${o.metadata.namespace ?? ''}/${o.metadata.name}`, o: JSON.stringify(o), ...streamAttributes(rt, o) });

describe('the wiring table\'s stream filters', () => {
  it('the controllers get every record for which dispatch.ts keysFor has work (every kind, every change)', async () => {
    let checked = 0;
    for (const rt of resourceTypes) {
      const shapes = variants(rt);
      const changes: ObjectChange[] = [];
      for (const o of shapes) {
        changes.push({ tenant: 't', group: rt.group, resource: rt.resource, eventName: 'INSERT', newObject: o, sequenceNumber: '1' });
        changes.push({ tenant: 't', group: rt.group, resource: rt.resource, eventName: 'REMOVE', oldObject: o, sequenceNumber: '1' });
        for (const other of shapes) changes.push({ tenant: 't', group: rt.group, resource: rt.resource, eventName: 'MODIFY', oldObject: other, newObject: o, sequenceNumber: '1' });
      }
      for (const c of changes) {
        const keys = await keysFor(c, anyStore);
        if (keys.length === 0) continue;
        checked++;
        const r = record(c.eventName, { old: c.oldObject && image(rt, c.oldObject), new: c.newObject && image(rt, c.newObject) });
        expect(recordMatches(r, controllerFilters), `${rt.resource} ${c.eventName} → ${keys.map((k) => k.controller).join(',')}`).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('the controllers do not get node Lease renewals, nor items that are not objects', () => {
    const leases = resourceTypes.find((r) => r.resource === 'leases')!;
    const lease = (renewTime: string): KubeObject => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'n1', namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u' }] },
      spec: { holderIdentity: 'n1', renewTime },
    });
    const renewal = record('MODIFY', { old: image(leases, lease('2026-01-01T00:00:00.000000Z')), new: image(leases, lease('2026-01-01T00:00:10.000000Z')) });
    expect(recordMatches(renewal, controllerFilters)).toBe(false);
    expect(recordMatches(renewal, schedulerFilters)).toBe(false);
    const marker = record('INSERT', { new: { pk: '~node-tenants', sk: 't', at: 1 } }, { pk: '~node-tenants', sk: 't' });
    expect(recordMatches(marker, controllerFilters)).toBe(false);
    expect(recordMatches(marker, schedulerFilters)).toBe(false);
  });

  it('neither consumer gets a write of a node\'s allocation sums alone; the next write of the node object reaches both', () => {
    const nodes = resourceTypes.find((r) => r.resource === 'nodes')!;
    const node = variants(nodes)[0]!;
    const item = { ...image(nodes, node), allocCpu: 0, allocMem: 0, allocPods: 0 };
    // A bind (or a release) adds to the sums and marks the item, as store.ts bindPod/bindPods/releaseItem do.
    const bound = { ...item, allocCpu: 500, allocMem: 2 ** 20, allocPods: 1, [ALLOC_ONLY_ATTRIBUTE]: true };
    const bind = record('MODIFY', { old: item, new: bound }, { pk: 't#nodes', sk: '/a' });
    expect(recordMatches(bind, schedulerFilters)).toBe(false);
    expect(recordMatches(bind, controllerFilters)).toBe(false);
    const again = record('MODIFY', { old: bound, new: { ...bound, allocPods: 2 } }, { pk: 't#nodes', sk: '/a' });
    expect(recordMatches(again, schedulerFilters)).toBe(false);
    expect(recordMatches(again, controllerFilters)).toBe(false);
    // A status update of the node (store.update removes the mark) is an object change again.
    const cordoned: KubeObject = { ...node, spec: { unschedulable: true } };
    const update = record('MODIFY', { old: bound, new: { ...image(nodes, cordoned), allocCpu: 500, allocMem: 2 ** 20, allocPods: 1 } }, { pk: 't#nodes', sk: '/a' });
    expect(recordMatches(update, schedulerFilters)).toBe(true);
    expect(recordMatches(update, controllerFilters)).toBe(true);
    // A node's removal reaches both whatever its last write was.
    const removal = record('REMOVE', { old: bound }, { pk: 't#nodes', sk: '/a' });
    expect(recordMatches(removal, schedulerFilters)).toBe(true);
    expect(recordMatches(removal, controllerFilters)).toBe(true);
  });

  it('the scheduler gets every change volume-binding.ts volumeChangeMayUnblock reacts to', () => {
    let checked = 0;
    for (const rt of resourceTypes)
      for (const o of variants(rt))
        for (const c of [
          { eventName: 'INSERT' as const, newObject: o },
          { eventName: 'MODIFY' as const, oldObject: variants(rt)[0], newObject: o },
          { eventName: 'MODIFY' as const, oldObject: o, newObject: variants(rt)[0] },
          { eventName: 'REMOVE' as const, oldObject: o },
        ]) {
          const change: ObjectChange = { tenant: 't', group: rt.group, resource: rt.resource, sequenceNumber: '1', ...c };
          if (!volumeChangeMayUnblock(change)) continue;
          checked++;
          const r = record(c.eventName, { old: change.oldObject && image(rt, change.oldObject), new: change.newObject && image(rt, change.newObject) });
          expect(recordMatches(r, schedulerFilters), `${rt.resource} ${c.eventName}`).toBe(true);
        }
    expect(checked).toBeGreaterThan(0);
  });

  it('the scheduler gets every pod and node change, including removals, new or changed claims, volumes and classes, and nothing else', () => {
    for (const rt of resourceTypes) {
      const o = variants(rt)[0]!;
      const wanted = rt.resource === 'pods' || rt.resource === 'nodes';
      // VolumeBinding: claims, volumes and classes that come or change may let a pending pod fit (not their removal).
      const volumes = ['persistentvolumeclaims', 'persistentvolumes', 'storageclasses'].includes(rt.resource);
      expect(recordMatches(record('INSERT', { new: image(rt, o) }), schedulerFilters), rt.resource).toBe(wanted || volumes);
      expect(recordMatches(record('MODIFY', { old: image(rt, o), new: image(rt, o) }), schedulerFilters), rt.resource).toBe(wanted || volumes);
      expect(recordMatches(record('REMOVE', { old: image(rt, o) }), schedulerFilters), rt.resource).toBe(wanted);
    }
  });
});
