/**
 * A watch of Events (a best-effort kind: shared/store/best-effort.ts, functions/api/watch.ts
 * bestEffortWatchEvents) over the real store on DynamoDB Local, whose polls are driven by hand:
 * the watch reads only when the test pulls it, so "the watch polled late" is a fixed interleaving,
 * not a race under load.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseWatchQuery, watchEvents, type WatchClock, type WatchEvent } from '../../functions/api/watch';
import { loadConfig } from '../../shared/config';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';

const events = resourceByName('events');
let store: ObjectStore;

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  const config = loadConfig();
  store = new ObjectStore(createDocumentClient(config), config);
});

const tenant = () => `t${randomBytes(4).toString('hex')}`;
const event = (name: string, pod: string): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: 'default' },
    involvedObject: { kind: 'Pod', name: pod, namespace: 'default' },
    reason: 'Testing',
    message: 'm',
    type: 'Normal',
    count: 1,
  }) as KubeObject;

/** Time moves only when the watch sleeps: a 1 s watch polls a couple of times, then ends. */
function fakeClock(): WatchClock {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

/** Every event of a 1 s watch of the tenant's default namespace from `rv`, run only now. */
async function watchNow(t: string, rv: number, query = ''): Promise<string[]> {
  const plan = parseWatchQuery(events, new URLSearchParams(`watch=true&resourceVersion=${rv}&timeoutSeconds=1&${query}`));
  const out: WatchEvent[] = [];
  for await (const e of watchEvents({ source: store, tenant: t, rt: events, namespace: 'default' }, plan, new AbortController().signal, fakeClock())) out.push(e);
  return out.map((e) => (e.type === 'ERROR' ? `ERROR ${e.object.message}` : `${e.type} ${(e.object.metadata as { name?: string }).name}`));
}

describe('a watch of Events that reads after the updates', () => {
  it.each([
    ['all Events', ''],
    ['a field selector on involvedObject.name', 'fieldSelector=involvedObject.name%3Dmine-pod'],
  ])('from the list version sees the create, the update and the delete (%s)', async (_what, query) => {
    // Prepare: a list (the watch's start), then an Event created, updated, deleted before the watch reads at all
    const t = tenant();
    const { resourceVersion } = await store.list(t, events, { namespace: 'default' });
    const created = await store.create(t, events, event('mine', 'mine-pod'));
    await store.create(t, events, event('other', 'other-pod'));
    const updated = await store.update(t, events, { ...created, count: 2 } as KubeObject, created.metadata.resourceVersion!);
    await store.remove(t, events, 'default', 'mine', updated.metadata.resourceVersion);
    // Act
    const seen = await watchNow(t, resourceVersion, query);
    // Assess: as Kubernetes sends them, none coalesced into the last state
    const mine = ['ADDED mine', 'MODIFIED mine', 'DELETED mine'];
    expect(seen).toEqual(query ? mine : ['ADDED mine', 'ADDED other', 'MODIFIED mine', 'DELETED mine']);
  });

  it('a superseded state is history only: not listed, not got, and a write from its version is a Conflict', async () => {
    // Prepare
    const t = tenant();
    const created = await store.create(t, events, event('a', 'p'));
    const updated = await store.update(t, events, { ...created, count: 2 } as KubeObject, created.metadata.resourceVersion!);
    // Act + Assess
    expect((await store.list(t, events)).items).toEqual([updated]);
    expect(await store.get(t, events, 'default', 'a')).toEqual(updated);
    await expect(store.update(t, events, { ...created, count: 3 } as KubeObject, created.metadata.resourceVersion!)).rejects.toMatchObject({ reason: 'Conflict' });
    await expect(store.remove(t, events, 'default', 'a', created.metadata.resourceVersion)).rejects.toMatchObject({ reason: 'Conflict' });
    expect(await store.get(t, events, 'default', 'a')).toEqual(updated);
  });
});
