import { randomBytes } from 'node:crypto';
import { describe, expect, it, inject, beforeAll } from 'vitest';
import { loadConfig } from '../../shared/config';
import { StatusError } from '../../shared/errors';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { approximateBytes } from '../../shared/store/codec';
import { ALLOC_ONLY_ATTRIBUTE } from '../../shared/store/attributes';
import { createDocumentClient } from '../../shared/store/dynamo';
import { SUPERSEDED_READABLE_S } from '../../shared/store/best-effort';
import { partitionKey } from '../../shared/store/keys';
import { NodeCapacityChanged, ObjectStore, type ChangeEvent } from '../../shared/store/store';

/*
 * The store against DynamoDB Local: conditional writes, the gap-free change log under
 * concurrent writers, and binding that can never overcommit a node.
 */
const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
let store: ObjectStore;
let doc: DynamoDBDocumentClient;
let config: Config;
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
  config = loadConfig();
  doc = createDocumentClient(config);
  store = new ObjectStore(doc, config);
});

/** A clock that runs with the system's, `offset` ms apart, plus whatever a test moved it on by. */
function movableClock(offset = 0) {
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
}

/** The change-log entry keyed `version` (a consistent read), if any. */
async function logEntryAt(t: string, version: number) {
  return (await doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: partitionKey(t, pods), sk: String(version).padStart(20, '0') }, ConsistentRead: true }))).Item;
}

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

  it('lists without reading the sequence or its log when asked for no version (versioned: false)', async () => {
    // Prepare: a store whose client counts reads of the changes table (sequence item and log)
    const t = tenant();
    for (const n of ['a', 'b', 'c']) await store.create(t, pods, pod(n));
    let sequenceReads = 0;
    const counting = {
      send: (command: { input?: { TableName?: string } }) => {
        if (command.input?.TableName === config.changesTable) sequenceReads++;
        return doc.send(command as GetCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const counted = new ObjectStore(counting, config);

    // Act
    const versioned = await counted.list(t, pods, { namespace: 'default' });
    const readsForVersioned = sequenceReads;
    const plain = await counted.list(t, pods, { namespace: 'default', versioned: false });

    // Assess: the same items; only the versioned list read the changes table (for its version)
    expect(versioned.resourceVersion).toBe(3);
    expect(readsForVersioned).toBeGreaterThan(0);
    expect(sequenceReads).toBe(readsForVersioned);
    expect(plain.resourceVersion).toBe(0);
    expect(plain.items).toEqual(versioned.items);
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

  it('writers in 4 processes, many of whose writes fail, leave a log of exactly the writes that landed, in order', async () => {
    // Prepare: 12 writers over 4 store instances race to create 20 names (most creates lose) and
    // update them from versions that may be stale (many updates lose).
    const t = tenant();
    const start = await store.currentVersion(t, pods);
    const stores = Array.from({ length: 4 }, () => new ObjectStore(createDocumentClient(config), config));
    const landed: KubeObject[] = [];
    // Act
    await Promise.all(
      Array.from({ length: 12 }, async (_, w) => {
        const s = stores[w % stores.length]!;
        for (let i = 0; i < 20; i++) {
          const name = `p${(i + w) % 20}`;
          const created = await s.create(t, pods, pod(name)).catch(() => undefined);
          if (created) landed.push(created);
          const current = created ?? (await s.get(t, pods, 'default', name));
          if (!current) continue;
          const updated = await s
            .update(t, pods, { ...current, metadata: { ...current.metadata, labels: { w: String(w) } } }, current.metadata.resourceVersion!)
            .catch(() => undefined);
          if (updated) landed.push(updated);
        }
      }),
    );
    // Assess: the log holds exactly the writes that landed, each once, versions increasing
    const events: ChangeEvent[] = [];
    for (let after = start; ; ) {
      const page = await store.changesSince(t, pods, after, 50);
      if (page.length === 0) break;
      events.push(...page);
      after = page.at(-1)!.resourceVersion;
    }
    expect(events.map((e) => e.resourceVersion)).toEqual(landed.map((o) => Number(o.metadata.resourceVersion)).sort((a, b) => a - b));
    expect(events.every((e, i) => i === 0 || e.resourceVersion > events[i - 1]!.resourceVersion)).toBe(true);
    expect(events.filter((e) => e.type === 'ADDED')).toHaveLength(20);
    // ...and the objects are the last change of each in the log, at the list's version
    const list = await store.list(t, pods);
    expect(list.resourceVersion).toBe(events.at(-1)!.resourceVersion);
    for (const obj of list.items) expect(obj).toEqual(events.filter((e) => e.object.metadata.name === obj.metadata.name).at(-1)!.object);
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
    // Readers see every change at once (a failed write's versions are voided, not waited for),
    // in increasing versions (a failed write's versions are skipped).
    const events = await store.changesSince(t, pods, 0);
    expect(events).toHaveLength(2 + 5 + 1);
    expect(events.every((e, i) => i === 0 || e.resourceVersion > events[i - 1]!.resourceVersion)).toBe(true);
    expect(await store.currentVersion(t, pods)).toBeGreaterThanOrEqual(events.at(-1)!.resourceVersion);
  });

  it('a writer that dies between reserving its version and committing leaves a gap: readers wait at it, then void it within 2 s', async () => {
    // Prepare: readers whose clock can be moved on; a, then a version reserved by a "writer" that
    // never commits, then b.
    // (5 s behind, so that the gap is young for it however slow this machine is)
    const clock = movableClock(-5_000);
    const reader = new ObjectStore(doc, config, { clock });
    const t = tenant();
    const a = await store.create(t, pods, pod('a'));
    await doc.send(new UpdateCommand({ TableName: config.changesTable, Key: { pk: partitionKey(t, pods), sk: '~seq' }, UpdateExpression: 'SET v = v + :one', ExpressionAttributeValues: { ':one': 1 } }));
    const b = await store.create(t, pods, pod('b'));
    const dead = Number(a.metadata.resourceVersion) + 1;
    // Act + Assess: while the gap is young, b is not delivered and lists do not claim it
    expect((await reader.changesSince(t, pods, 0)).map((e) => e.object.metadata.name)).toEqual(['a']);
    expect(await reader.currentVersion(t, pods)).toBe(Number(a.metadata.resourceVersion));
    expect(await logEntryAt(t, dead)).toBeUndefined();
    // ...2 s after b was written, the reader voids the dead writer's version and delivers b
    clock.advance(7_000);
    expect((await reader.changesSince(t, pods, Number(a.metadata.resourceVersion))).map((e) => [e.object.metadata.name, e.resourceVersion])).toEqual([['b', Number(b.metadata.resourceVersion)]]);
    expect(await logEntryAt(t, dead)).toMatchObject({ void: true });
    expect(Number(b.metadata.resourceVersion)).toBe(dead + 1);
    // Every reader now passes it at once, with no clock moved: the void is in the log.
    expect((await store.changesSince(t, pods, 0)).map((e) => e.object.metadata.name)).toEqual(['a', 'b']);
    expect(await new ObjectStore(doc, config).currentVersion(t, pods)).toBe(Number(b.metadata.resourceVersion));
  });

  it('a writer paused past the void commits under a new version: every watcher sees its change once, in order', async () => {
    // Prepare: a writer store whose first commit pauses between its reservation and its
    // transaction until released; a reader whose clock can be moved on; watchers from 0 polling.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let reserved!: (first: number) => void;
    const reservedFirst = new Promise<number>((r) => (reserved = r));
    let paused = 0;
    const slow = new ObjectStore(createDocumentClient(config), config, {
      beforeCommit: async (_seq, first) => {
        if (paused++ > 0) return;
        reserved(first);
        await released;
      },
    });
    const clock = movableClock(-5_000);
    const reader = new ObjectStore(createDocumentClient(config), config, { clock });
    const t = tenant();
    await store.create(t, pods, pod('a'));
    const watched: ChangeEvent[][] = [[], []];
    const poll = async (i: number, s: ObjectStore) => {
      const w = watched[i]!;
      w.push(...(await s.changesSince(t, pods, w.at(-1)?.resourceVersion ?? 0)));
    };
    // Act: the slow writer reserves and pauses; b lands after it; the reader voids the slow
    // writer's version; then the slow writer goes on.
    const late = slow.create(t, pods, pod('late'));
    const lateFirst = await reservedFirst;
    const b = await store.create(t, pods, pod('b'));
    await poll(0, reader);
    await poll(1, store);
    clock.advance(7_000); // 2 s after b
    await poll(0, reader);
    expect(await logEntryAt(t, lateFirst)).toMatchObject({ void: true });
    release();
    const written = await late;
    await poll(0, reader);
    await poll(1, store);
    // Assess: the late write got a version after b; both watchers saw a, b, late once, in order
    expect(Number(written.metadata.resourceVersion)).toBeGreaterThan(Number(b.metadata.resourceVersion));
    expect(paused).toBe(2);
    for (const w of watched) {
      expect(w.map((e) => e.object.metadata.name)).toEqual(['a', 'b', 'late']);
      expect(w.at(-1)!.resourceVersion).toBe(Number(written.metadata.resourceVersion));
    }
    expect((await store.get(t, pods, 'default', 'late'))!.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    expect(await reader.currentVersion(t, pods)).toBe(Number(written.metadata.resourceVersion));
  });

  it('history deleted by the log TTL is 410 Expired for a watch, while lists still move on', async () => {
    // Prepare: a, b, c; the log entries of a and b expire (deleted by hand here); readers 31 s on
    const t = tenant();
    for (const n of ['a', 'b', 'c']) await store.create(t, pods, pod(n));
    for (const v of [1, 2]) await doc.send(new DeleteCommand({ TableName: config.changesTable, Key: { pk: partitionKey(t, pods), sk: String(v).padStart(20, '0') } }));
    const later = movableClock();
    const quick = new ObjectStore(doc, config, { clock: later });
    // Act + Assess: while c is young the gap before it may be a write in flight: nothing yet
    expect(await quick.changesSince(t, pods, 0)).toEqual([]);
    later.advance(31_000);
    await expect(quick.changesSince(t, pods, 0)).rejects.toMatchObject({ code: 410 });
    await expect(quick.changesSince(t, pods, 1)).rejects.toMatchObject({ code: 410 });
    expect((await quick.changesSince(t, pods, 2)).map((e) => e.object.metadata.name)).toEqual(['c']);
    expect((await new ObjectStore(doc, config, { clock: later }).list(t, pods)).resourceVersion).toBe(3);
    // History that may have expired is never voided
    expect(await logEntryAt(t, 1)).toBeUndefined();
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

  it('a batch bind writes ONE log entry for its pods; readers see one change per version, from any version', async () => {
    // Prepare: 3 pods on 2 nodes
    const t = tenant();
    await store.create(t, nodes, node('n1', '2'));
    await store.create(t, nodes, node('n2', '2'));
    const created = [];
    for (const name of ['a', 'b', 'c']) created.push(await store.create(t, pods, pod(name)));
    const [s1, s2] = await store.listNodeSnapshots(t, nodes);
    const before = await store.currentVersion(t, pods);
    const to = (n: string) => (x: KubeObject) => ({ ...x, spec: { ...(x.spec as object), nodeName: n } });
    // Act
    const bound = await store.bindPods(t, pods, nodes, [
      { pod: created[0]!, target: s1!, transform: to('n1') },
      { pod: created[1]!, target: s2!, transform: to('n2') },
      { pod: created[2]!, target: s1!, transform: to('n1') },
    ]);
    // Assess: versions before+1..before+3, one log item keyed by the first
    expect(bound.map((p) => Number(p.metadata.resourceVersion))).toEqual([before + 1, before + 2, before + 3]);
    const entries = await doc.send(new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to', ExpressionAttributeValues: { ':pk': partitionKey(t, pods), ':from': String(before + 1).padStart(20, '0'), ':to': '9'.repeat(20) }, ConsistentRead: true }));
    expect(entries.Items!.map((i) => [i.sk, i.n])).toEqual([[String(before + 1).padStart(20, '0'), 3]]);
    for (const from of [before, before + 1, before + 2]) {
      const events = await store.changesSince(t, pods, from);
      expect(events.map((e) => [e.type, e.resourceVersion, e.object.metadata.name, (e.object.spec as { nodeName?: string }).nodeName])).toEqual(
        [['MODIFIED', before + 1, 'a', 'n1'], ['MODIFIED', before + 2, 'b', 'n2'], ['MODIFIED', before + 3, 'c', 'n1']].slice(from - before),
      );
    }
    expect(await store.changesSince(t, pods, before + 3)).toEqual([]);
    // The next write follows on
    const next = await store.create(t, pods, pod('d'));
    expect((await store.changesSince(t, pods, before + 2)).map((e) => e.resourceVersion)).toEqual([before + 3, Number(next.metadata.resourceVersion)]);
    expect(next.metadata.resourceVersion).toBe(String(before + 4));
  });

  it('an update or removal at the version this instance just read reads it once; a version another writer has moved on from is still Conflict', async () => {
    // Prepare: a store whose client counts its GetItems, and another writer
    const counted = createDocumentClient(config);
    let gets = 0;
    counted.middlewareStack.add((next, context) => (args) => {
      if (context.commandName === 'GetCommand' || context.commandName === 'GetItemCommand') gets++;
      return next(args);
    }, { step: 'initialize' });
    const a = new ObjectStore(counted, config);
    const t = tenant();
    const configmaps = resourceByName('configmaps');
    await a.create(t, configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { v: '1' } });
    // Act: read then write, as the api does
    gets = 0;
    const read = (await a.get(t, configmaps, 'default', 'c'))!;
    const written = await a.update(t, configmaps, { ...read, data: { v: '2' } }, read.metadata.resourceVersion!);
    // Assess
    expect(gets).toBe(1);
    // Another writer moves it on; this instance still holds the old version.
    const again = (await a.get(t, configmaps, 'default', 'c'))!;
    await store.update(t, configmaps, { ...again, data: { v: '3' } }, again.metadata.resourceVersion!);
    expect(await reason(a.update(t, configmaps, { ...again, data: { v: 'stale' } }, again.metadata.resourceVersion!))).toBe('Conflict');
    expect(await reason(a.remove(t, configmaps, 'default', 'c', again.metadata.resourceVersion!))).toBe('Conflict');
    expect((await store.get(t, configmaps, 'default', 'c'))!.data).toEqual({ v: '3' });
    expect(written.data).toEqual({ v: '2' });
    // A removal at the version just read: one read too.
    const current = (await a.get(t, configmaps, 'default', 'c'))!;
    gets = 0;
    await a.remove(t, configmaps, 'default', 'c', current.metadata.resourceVersion!);
    expect(gets).toBe(0);
    expect(await store.get(t, configmaps, 'default', 'c')).toBeUndefined();
    counted.destroy();
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

const events = resourceByName('events');
const event = (name: string, reason = 'Started', namespace = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name, namespace },
  involvedObject: { kind: 'Pod', name: 'p', namespace },
  reason,
  message: 'm',
  type: 'Normal',
} as KubeObject);

describe('events: best effort, one plain write each', () => {
  it('are stored without a sequence or a log entry of their own, and read back by list, get and changesSince', async () => {
    // Prepare
    const t = tenant();
    // Act
    const a = await store.create(t, events, event('a'));
    const b = await store.create(t, events, event('b', 'Pulled', 'other'));
    // Assess: no sequence item for events; one item per event in the events partition.
    const seq = await doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: `${t}#events`, sk: '~seq' }, ConsistentRead: true }));
    expect(seq.Item).toBeUndefined();
    const items = await doc.send(new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `${t}#events` }, ConsistentRead: true }));
    expect(items.Items).toHaveLength(2);
    // The item is the Event (well under 1 KB: 1 WRU) with its expiry.
    for (const i of items.Items!) {
      expect(approximateBytes(i)).toBeLessThan(1024);
      expect(Number(i.ttl)).toBeGreaterThan(Date.now() / 1000 + config.changeLogTtlSeconds - 60);
    }
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
    expect(a.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    const list = await store.list(t, events);
    expect(list.items.map((e) => `${e.metadata.namespace}/${e.metadata.name}`)).toEqual(['default/a', 'other/b']);
    expect(list.resourceVersion).toBeGreaterThanOrEqual(Number(b.metadata.resourceVersion));
    expect((await store.list(t, events, { namespace: 'other' })).items.map((e) => e.metadata.name)).toEqual(['b']);
    expect((await store.get(t, events, 'default', 'a'))?.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    expect(await store.get(t, events, 'default', 'b')).toBeUndefined();
    expect((await store.changesSince(t, events, 0)).map((c) => `${c.type} ${c.object.metadata.name}`)).toEqual(['ADDED a', 'ADDED b']);
  });

  it('many at once (createEvents): in batches of 25, each stored as a create stores it, all listed and watched', async () => {
    // Prepare
    const t = tenant();
    const batch = Array.from({ length: 60 }, (_, i) => event(`e${String(i).padStart(2, '0')}`, 'Scheduled'));
    // Act
    const stored = await store.createEvents(t, batch);
    // Assess
    expect(new Set(stored.map((e) => e.metadata.uid)).size).toBe(60);
    expect(new Set(stored.map((e) => e.metadata.resourceVersion)).size).toBe(60);
    const list = await store.list(t, events);
    expect(list.items.map((e) => e.metadata.name)).toEqual(batch.map((e) => e.metadata.name));
    expect(list.items).toEqual(stored);
    expect((await store.changesSince(t, events, 0)).map((c) => c.type)).toEqual(Array(60).fill('ADDED'));
  });

  it('update and delete by version; watchers see MODIFIED and DELETED; a stale version is Conflict, a gone name NotFound', async () => {
    // Prepare
    const t = tenant();
    const a = await store.create(t, events, event('a'));
    const since = Number(a.metadata.resourceVersion);
    // Act
    const a2 = await store.update(t, events, { ...a, count: 2 } as KubeObject, a.metadata.resourceVersion!);
    // Assess
    expect(await reason(store.update(t, events, { ...a, count: 3 } as KubeObject, a.metadata.resourceVersion!))).toBe('Conflict');
    expect((await store.list(t, events)).items).toEqual([a2]);
    // The update superseded the entry: still in the log for late watchers, for a minute only, never the current state.
    expect((await store.changesSince(t, events, 0)).map((c) => [c.type, c.resourceVersion])).toEqual([
      ['ADDED', since],
      ['MODIFIED', Number(a2.metadata.resourceVersion)],
    ]);
    const old = (await doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: `${t}#events`, sk: `${String(since).padStart(20, '0')}#default/a` }, ConsistentRead: true }))).Item!;
    expect(old.sup).toBe(Number(a2.metadata.resourceVersion));
    expect(Number(old.ttl)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + SUPERSEDED_READABLE_S);
    const removed = await store.remove(t, events, 'default', 'a', a2.metadata.resourceVersion);
    expect((await store.list(t, events)).items).toEqual([]);
    expect(await reason(store.remove(t, events, 'default', 'a'))).toBe('NotFound');
    expect(await reason(store.update(t, events, { ...a2, count: 3 } as KubeObject, a2.metadata.resourceVersion!))).toBe('NotFound');
    // A tombstone tells watchers; it expires like every entry.
    const changes = await store.changesSince(t, events, since);
    expect(changes.map((c) => [c.type, c.resourceVersion])).toEqual([
      ['MODIFIED', Number(a2.metadata.resourceVersion)],
      ['DELETED', Number(removed.metadata.resourceVersion)],
    ]);
    expect(changes[1]!.object.metadata.name).toBe('a');
    // Nothing else moved: the pods' sequence of this tenant was never touched.
    expect(await store.currentVersion(t, pods)).toBe(0);
  });
});

describe('stored size', () => {
  it('a running pod and its log entry each stay under 1 KB (one write unit step): `o` is compressed', async () => {
    // Prepare: a pod as it looks running, with the status the node agent reports.
    const t = tenant();
    const created = await store.create(t, pods, { ...pod('web-5d8f7c9b4d-x7k2p'), metadata: { name: 'web-5d8f7c9b4d-x7k2p', namespace: 'default', labels: { app: 'web', 'pod-template-hash': '5d8f7c9b4d' } } });
    const running = await store.update(
      t,
      pods,
      {
        ...created,
        spec: { ...(created.spec as object), nodeName: 'ip-10-0-1-23.ec2.internal' },
        status: {
          phase: 'Running',
          qosClass: 'Burstable',
          hostIP: '10.0.1.23',
          podIP: '172.17.0.5',
          podIPs: [{ ip: '172.17.0.5' }],
          startTime: '2026-11-23T22:25:01Z',
          conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-23T22:25:02Z' })),
          containerStatuses: [{ name: 'c', image: 'i:1', imageID: `docker-pullable://i@sha256:${'a'.repeat(64)}`, containerID: `docker://${'b'.repeat(64)}`, ready: true, started: true, restartCount: 0, state: { running: { startedAt: '2026-11-23T22:25:02Z' } } }],
        },
      },
      created.metadata.resourceVersion!,
    );
    // Assess
    const item = (await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { pk: partitionKey(t, pods), sk: 'default/web-5d8f7c9b4d-x7k2p' }, ConsistentRead: true }))).Item!;
    expect(item.o).toBeInstanceOf(Uint8Array);
    expect(approximateBytes(item)).toBeLessThan(1024);
    const entry = (await doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: partitionKey(t, pods), sk: running.metadata.resourceVersion!.padStart(20, '0') }, ConsistentRead: true }))).Item!;
    expect(approximateBytes(entry)).toBeLessThan(1024);
    expect((await store.get(t, pods, 'default', 'web-5d8f7c9b4d-x7k2p'))).toEqual(running);
  });
});

describe('stream filter attributes on object items', () => {
  const raw = async (t: string, name: string) =>
    (await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { pk: partitionKey(t, pods), sk: `default/${name}` }, ConsistentRead: true }))).Item!;

  it('every object item says its resource; `gc` follows controller owner references and pending deletions', async () => {
    const t = tenant();
    const plain = await store.create(t, pods, pod('a'));
    expect(await raw(t, 'a')).toMatchObject({ res: 'pods' });
    expect((await raw(t, 'a')).gc).toBeUndefined();
    // A controller reference sets it; releasing the pod clears it.
    const owned = await store.update(
      t,
      pods,
      { ...plain, metadata: { ...plain.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }] } },
      plain.metadata.resourceVersion!,
    );
    expect((await raw(t, 'a')).gc).toBe(true);
    const released = await store.update(t, pods, { ...owned, metadata: { ...owned.metadata, ownerReferences: [] } }, owned.metadata.resourceVersion!);
    expect((await raw(t, 'a')).gc).toBeUndefined();
    // A deletion waiting on finalizers sets it.
    await store.update(t, pods, { ...released, metadata: { ...released.metadata, finalizers: ['x/y'], deletionTimestamp: '2026-01-01T00:00:00Z' } }, released.metadata.resourceVersion!);
    expect((await raw(t, 'a')).gc).toBe(true);
  });

  it('a node item is marked while its last write changed only its allocation sums (binds, releases), and unmarked by a write of the node', async () => {
    const t = tenant();
    const rawNode = async () =>
      (await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { pk: partitionKey(t, nodes), sk: '/n1' }, ConsistentRead: true }))).Item!;
    const n1 = await store.create(t, nodes, node('n1', '1'));
    expect((await rawNode())[ALLOC_ONLY_ATTRIBUTE]).toBeUndefined();
    const toN1 = (x: KubeObject) => ({ ...x, spec: { ...(x.spec as object), nodeName: 'n1' } });
    const a = await store.create(t, pods, pod('a'));
    const [snap] = await store.listNodeSnapshots(t, nodes);
    const boundA = await store.bindPod(t, pods, nodes, a, snap!, toN1);
    expect(await rawNode()).toMatchObject({ [ALLOC_ONLY_ATTRIBUTE]: true, allocPods: 1, rv: Number(n1.metadata.resourceVersion) });
    // A write of the node object (a cordon) clears the mark and keeps the sums.
    const cordoned = await store.update(t, nodes, { ...n1, spec: { unschedulable: true } }, n1.metadata.resourceVersion!);
    expect((await rawNode())[ALLOC_ONLY_ATTRIBUTE]).toBeUndefined();
    expect(await rawNode()).toMatchObject({ allocPods: 1 });
    // Batch binds and releases mark it again.
    const b = await store.create(t, pods, pod('b'));
    const [snap2] = await store.listNodeSnapshots(t, nodes);
    await store.bindPods(t, pods, nodes, [{ pod: b, target: snap2!, transform: toN1 }]);
    expect(await rawNode()).toMatchObject({ [ALLOC_ONLY_ATTRIBUTE]: true, allocPods: 2 });
    await store.update(t, nodes, { ...cordoned, spec: {} }, cordoned.metadata.resourceVersion!);
    expect((await rawNode())[ALLOC_ONLY_ATTRIBUTE]).toBeUndefined();
    await store.remove(t, pods, 'default', 'a', boundA.metadata.resourceVersion);
    expect(await rawNode()).toMatchObject({ [ALLOC_ONLY_ATTRIBUTE]: true, allocPods: 1 });
  });
});

describe('the pods of one node from the byNode index', () => {
  it('lists only that node\'s pods, at a version a watch can continue from without missing a recent write', async () => {
    // Prepare
    const t = tenant();
    const onNode = (name: string, nodeName: string) => ({ ...pod(name), spec: { ...(pod(name).spec as object), nodeName } });
    const old = await store.create(t, pods, onNode('old', 'n1'));
    await store.create(t, pods, onNode('elsewhere', 'n2'));
    const recent = await store.create(t, pods, onNode('recent', 'n1'));
    // Act
    const watchable = await store.listOnNode(t, pods, 'n1', { watchable: true });
    const forAgent = await store.listOnNode(t, pods, 'n1', { watchable: false });
    // Assess
    for (const l of [watchable, forAgent]) for (const p of l.items) expect((p.spec as { nodeName: string }).nodeName).toBe('n1');
    expect(forAgent.resourceVersion).toBe(await store.currentVersion(t, pods));
    // Every write of the last moments comes again from the version: what the index may not show
    // yet, a watch from it replays.
    expect(watchable.resourceVersion).toBeLessThan(Number(recent.metadata.resourceVersion));
    expect(watchable.resourceVersion).toBeLessThan(Number(old.metadata.resourceVersion));
    const replay = await store.changesSince(t, pods, watchable.resourceVersion);
    expect(replay[0]!.resourceVersion).toBe(watchable.resourceVersion + 1);
    expect(replay.map((c) => c.object.metadata.name)).toContain('recent');
  });
});
