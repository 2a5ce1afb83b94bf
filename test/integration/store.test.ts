import { randomBytes } from 'node:crypto';
import { describe, expect, it, inject, beforeAll } from 'vitest';
import { loadConfig } from '../../shared/config';
import { StatusError } from '../../shared/errors';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { NodeCapacityChanged, ObjectStore } from '../../shared/store/store';

/*
 * The store against DynamoDB Local: conditional writes, the gap-free change log under
 * concurrent writers, and binding that can never overcommit a node.
 */
const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
let store: ObjectStore;
const tenant = () => `t${randomBytes(4).toString('hex')}`;

const pod = (name: string, cpu = '100m'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  // Not for the running scheduler: these tests bind by hand.
  spec: { schedulerName: 'store-test', containers: [{ name: 'c', image: 'i:1', resources: { requests: { cpu } } }] },
});
const node = (name: string, cpu = '1', pods = '110'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  status: { allocatable: { cpu, memory: '1Gi', pods }, conditions: [{ type: 'Ready', status: 'True' }] },
});

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  const config = loadConfig();
  store = new ObjectStore(createDocumentClient(config), config);
});

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof StatusError ? e.reason : String(e);
  }
}

describe('object store', () => {
  it('creates once: a second create of the name is AlreadyExists', async () => {
    const t = tenant();
    const created = await store.create(t, pods, pod('a'));
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.resourceVersion).toBe('1');
    expect(await reason(store.create(t, pods, pod('a')))).toBe('AlreadyExists');
  });

  it('never lets a stale resourceVersion win', async () => {
    // Prepare
    const t = tenant();
    const v1 = await store.create(t, pods, pod('a'));
    const v2 = await store.update(t, pods, { ...v1, metadata: { ...v1.metadata, labels: { x: '1' } } }, v1.metadata.resourceVersion!);
    // Act
    const stale = await reason(store.update(t, pods, { ...v1, metadata: { ...v1.metadata, labels: { x: '2' } } }, v1.metadata.resourceVersion!));
    // Assess
    expect(stale).toBe('Conflict');
    expect((await store.get(t, pods, 'default', 'a'))?.metadata.labels).toEqual({ x: '1' });
    expect(Number(v2.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
  });

  it('keeps tenants apart', async () => {
    const a = tenant();
    const b = tenant();
    await store.create(a, pods, pod('shared-name'));
    expect(await store.get(b, pods, 'default', 'shared-name')).toBeUndefined();
    expect((await store.list(b, pods)).items).toHaveLength(0);
    await store.create(b, pods, pod('shared-name'));
    expect((await store.list(a, pods)).items).toHaveLength(1);
  });

  it('logs every change of concurrent writers in order, with no gaps and none twice', async () => {
    // Prepare: 16 writers, 100 creates and 100 updates racing on one resource type, spread over
    // 4 store instances: each instance group-commits its own writers, and the instances race
    // each other through the sequence's compare-and-set, as separate Lambda instances do.
    const t = tenant();
    const start = await store.currentVersion(t, pods);
    const config = loadConfig();
    const stores = Array.from({ length: 4 }, () => new ObjectStore(createDocumentClient(config), config));
    // Act
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        const s = stores[w % stores.length]!;
        for (let i = w; i < 100; i += 16) {
          const created = await s.create(t, pods, pod(`p${i}`));
          await s.update(t, pods, { ...created, metadata: { ...created.metadata, labels: { n: String(i) } } }, created.metadata.resourceVersion!);
        }
      }),
    );
    // Assess
    const events = [];
    let after = start;
    for (;;) {
      const page = await store.changesSince(t, pods, after, 50);
      if (page.length === 0) break;
      events.push(...page);
      after = page[page.length - 1]!.resourceVersion;
    }
    expect(events).toHaveLength(200);
    expect(events.map((e) => e.resourceVersion)).toEqual(Array.from({ length: 200 }, (_, i) => start + i + 1));
    for (let i = 0; i < 100; i++) {
      const mine = events.filter((e) => e.object.metadata.name === `p${i}`);
      expect(mine.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED']);
    }
    // The log and the objects agree: each object's version is its last log entry.
    const list = await store.list(t, pods);
    expect(list.resourceVersion).toBe(start + 200);
    for (const obj of list.items) {
      const last = events.filter((e) => e.object.metadata.name === obj.metadata.name).pop()!;
      expect(obj.metadata.resourceVersion).toBe(String(last.resourceVersion));
    }
  });

  it('in a group commit, a write whose condition fails gets its own error and the others land', async () => {
    // Prepare: one object to update with a stale version, and racing creates of one name.
    const t = tenant();
    const v1 = await store.create(t, pods, pod('target'));
    await store.update(t, pods, { ...v1, metadata: { ...v1.metadata, labels: { x: '1' } } }, v1.metadata.resourceVersion!);
    // Act: all issued at once through one store, so they are committed in groups.
    const results = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => reason(store.create(t, pods, pod(`ok${i}`)))),
      reason(store.update(t, pods, { ...v1, metadata: { ...v1.metadata, labels: { x: 'stale' } } }, v1.metadata.resourceVersion!)),
      ...Array.from({ length: 4 }, () => reason(store.create(t, pods, pod('same')))),
    ]);
    // Assess
    expect(results.slice(0, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(results[5]).toBe('Conflict');
    expect(results.slice(6).sort()).toEqual(['AlreadyExists', 'AlreadyExists', 'AlreadyExists', 'ok']);
    const events = await store.changesSince(t, pods, 0);
    expect(events.map((e) => e.resourceVersion)).toEqual(events.map((_, i) => i + 1));
    expect(events).toHaveLength(2 + 5 + 1);
  });

  it('answers 410 Expired for history that is gone', async () => {
    const t = tenant();
    await store.create(t, pods, pod('a'));
    await store.create(t, pods, pod('b'));
    // Entry 1 exists; asking from before the first entry of a fresh log is fine, but a gap is not:
    // simulate expiry by asking from a version whose successor was never logged in this tenant.
    expect((await store.changesSince(t, pods, 0)).length).toBe(2);
    await expect(store.changesSince(t, pods, -5)).rejects.toMatchObject({ code: 410 });
  });

  it('binds concurrently without overcommitting a node or binding a pod twice', async () => {
    // Prepare: one node with room for exactly 3 pods of 300m; 10 pods; 10 racing binders.
    const t = tenant();
    await store.create(t, nodes, node('n1', '1'));
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create(t, pods, pod(`p${i}`, '300m'))));
    const [snapshot] = await store.listNodeSnapshots(t, nodes);
    // Act: every binder decides on the same (stale) snapshot.
    const results = await Promise.all(
      created.map(async (p) => {
        try {
          await store.bindPod(t, pods, nodes, p, snapshot!, (x) => ({ ...x, spec: { ...(x.spec as object), nodeName: 'n1' } }));
          return 'bound';
        } catch (e) {
          return e instanceof NodeCapacityChanged ? 'full' : String(e);
        }
      }),
    );
    // Assess: a binder whose snapshot went stale loses; re-deciding on fresh snapshots fills the node exactly.
    expect(results.filter((r) => r === 'bound').length).toBeGreaterThanOrEqual(1);
    expect(results.every((r) => r === 'bound' || r === 'full')).toBe(true);
    for (;;) {
      const [fresh] = await store.listNodeSnapshots(t, nodes);
      const waiting = (await store.list(t, pods)).items.filter((p) => !(p.spec as { nodeName?: string }).nodeName);
      if (fresh!.allocated.cpu + 300 > fresh!.capacity.cpu || waiting.length === 0) break;
      await Promise.all(
        waiting.map((p) =>
          store.bindPod(t, pods, nodes, p, fresh!, (x) => ({ ...x, spec: { ...(x.spec as object), nodeName: 'n1' } })).catch(() => undefined),
        ),
      );
    }
    const [final] = await store.listNodeSnapshots(t, nodes);
    const bound = (await store.list(t, pods)).items.filter((p) => (p.spec as { nodeName?: string }).nodeName === 'n1');
    expect(bound).toHaveLength(3);
    expect(final!.allocated).toEqual({ cpu: 900, memory: 0, pods: 3 });
    // A bound pod cannot be bound again.
    await expect(store.bindPod(t, pods, nodes, bound[0]!, final!, (x) => x)).rejects.toBeDefined();
  });

  it('releases a pod allocation when the pod is removed or finishes', async () => {
    const t = tenant();
    await store.create(t, nodes, node('n1', '1'));
    const [snap] = await store.listNodeSnapshots(t, nodes);
    const a = await store.create(t, pods, pod('a', '200m'));
    const b = await store.create(t, pods, pod('b', '300m'));
    const boundA = await store.bindPod(t, pods, nodes, a, snap!, (x) => ({ ...x, spec: { ...(x.spec as object), nodeName: 'n1' } }));
    const [snap2] = await store.listNodeSnapshots(t, nodes);
    const boundB = await store.bindPod(t, pods, nodes, b, snap2!, (x) => ({ ...x, spec: { ...(x.spec as object), nodeName: 'n1' } }));
    expect((await store.listNodeSnapshots(t, nodes))[0]!.allocated.cpu).toBe(500);
    // Act
    await store.remove(t, pods, 'default', 'a', boundA.metadata.resourceVersion);
    await store.update(t, pods, { ...boundB, status: { phase: 'Succeeded' } }, boundB.metadata.resourceVersion!);
    // Assess
    expect((await store.listNodeSnapshots(t, nodes))[0]!.allocated).toEqual({ cpu: 0, memory: 0, pods: 0 });
  });
});
