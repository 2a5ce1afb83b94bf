import { describe, expect, it } from 'vitest';
import { TenantCaches } from '../../../functions/scheduler/cache';
import { BackgroundQueue, EVENT_BATCH, EventQueue, Scheduler } from '../../../functions/scheduler/scheduler';
import type { NodeQueues, PodSyncMessage } from '../../../shared/queue';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import { BatchBindFailed, type ObjectStore, type PodBinding } from '../../../shared/store/store';
import { node, pod } from './fixtures';

/*
 * The scheduler's batch loop against a stand-in store (pure unit: the real store's conditions
 * are tested in test/integration/scheduler-concurrency.test.ts): decisions pipelined with bind
 * transactions, and the assume cache's forget on a lost race.
 */

const nodes = resourceByName('nodes');
const pods = resourceByName('pods');

interface FakeOpts {
  /** Makes the n-th bind transaction (0-based) lose its race. */
  readonly failBind?: number;
  /** Milliseconds each bind transaction takes. */
  readonly bindMs?: number;
}

function fakeStore(initialNodes: KubeObject[], initialPods: KubeObject[], opts: FakeOpts = {}) {
  let rv = 100;
  const objects = new Map<string, KubeObject>();
  for (const p of initialPods) objects.set(p.metadata.name!, { ...p, metadata: { ...p.metadata, resourceVersion: String(++rv) } });
  const stats = { transactions: 0, inFlight: 0, maxInFlight: 0, podsPerTransaction: [] as number[] };
  const store = {
    list: async (_t: string, rt: { resource: string }) => ({ items: rt.resource === 'nodes' ? initialNodes.map((n) => ({ ...n, metadata: { ...n.metadata, resourceVersion: '1' } })) : [...objects.values()], resourceVersion: rv }),
    changesSince: async () => [],
    create: async (_t: string, _rt: unknown, o: KubeObject) => o, // events
    createEvents: async (_t: string, events: KubeObject[]) => events,
    update: async (_t: string, _rt: unknown, o: KubeObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } }),
    bindPod: async (t: string, p: unknown, n: unknown, podToBind: KubeObject, target: PodBinding['target'], transform: PodBinding['transform']) =>
      (await bindPods(t, p, n, [{ pod: podToBind, target, transform }]))[0],
    bindPods: (t: string, p: unknown, n: unknown, chunk: readonly PodBinding[]) => bindPods(t, p, n, chunk),
  } as unknown as ObjectStore;
  async function bindPods(_t: string, _p: unknown, _n: unknown, chunk: readonly PodBinding[]): Promise<KubeObject[]> {
      const n = stats.transactions++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      stats.podsPerTransaction.push(chunk.length);
      await new Promise((r) => setTimeout(r, opts.bindMs ?? 1));
      stats.inFlight--;
      if (n === opts.failBind) throw new BatchBindFailed([0], []);
      return chunk.map((b) => {
        const bound = b.transform(b.pod);
        const stored = { ...bound, metadata: { ...bound.metadata, resourceVersion: String(++rv) } };
        objects.set(stored.metadata.name!, stored);
        return stored;
      });
  }
  return { store, stats, objects };
}

const queues = { send: async () => true, sendAll: async () => true, sentRecently: () => false } as unknown as NodeQueues;
const manyNodes = (n: number) => Array.from({ length: n }, (_, i) => node(`n${i}`, { cpu: '4', pods: '110' }));
const manyPods = (n: number) => Array.from({ length: n }, (_, i) => pod(`p${i}`, {}, { requests: { cpu: '100m' } }));

describe('Scheduler batches', () => {
  it('keeps several bind transactions in flight while it decides, and binds every pod once', async () => {
    // Prepare: 600 pods over 100 nodes; each transaction takes long enough (1 s) that, even on a
    // loaded machine, the decisions made meanwhile fill the pool (at 200 ms it once went 49 > 49).
    const { store, stats, objects } = fakeStore(manyNodes(100), manyPods(600), { bindMs: 1000 });
    const scheduler = new Scheduler(store, queues, 't', new TenantCaches(store, nodes, pods).of('t'));
    // Act
    const r = await scheduler.retryPending();
    await scheduler.flush();
    // Assess
    expect(r).toEqual({ bound: 600, unschedulable: 0, preempting: 0, lostRaces: 0 });
    expect([...objects.values()].every((p) => (p.spec as { nodeName?: string }).nodeName)).toBe(true);
    expect(stats.maxInFlight).toBeGreaterThan(1);
    expect(stats.podsPerTransaction.every((n) => n <= 97)).toBe(true);
    // Pods decided while transactions were out waited in the pool and went together, by node.
    expect(Math.max(...stats.podsPerTransaction)).toBeGreaterThan(49);
    expect(scheduler.timings.podsInTransactions).toBe(600);
  });

  it('sends each bound pod to its node in the placement message, as bound (with its resourceVersion)', async () => {
    // Prepare
    const { store, objects } = fakeStore(manyNodes(3), manyPods(5));
    const sent: { node: string; message: PodSyncMessage }[] = [];
    const calls: string[] = [];
    const recording = {
      sendAll: async (node: string, messages: PodSyncMessage[]) => {
        calls.push(node);
        for (const message of messages) sent.push({ node, message });
        return true;
      },
      sentRecently: () => false,
    } as unknown as NodeQueues;
    const scheduler = new Scheduler(store, recording, 't', new TenantCaches(store, nodes, pods).of('t'));
    // Act
    await scheduler.retryPending();
    await scheduler.flush();
    // Assess: one message per pod, to the node it is bound to, carrying the stored pod.
    expect(sent).toHaveLength(5);
    for (const { node: to, message } of sent) {
      const stored = objects.get(message.name)!;
      expect(message).toMatchObject({ kind: 'sync', tenant: 't', namespace: stored.metadata.namespace, name: stored.metadata.name, uid: stored.metadata.uid });
      expect(message.pod).toEqual(stored);
      expect(to).toBe((stored.spec as { nodeName: string }).nodeName);
      expect(message.pod!.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    }
    // The pods of one node go together: one sendAll per node (NodeQueues batches them).
    expect(calls.sort()).toEqual([...new Set(sent.map((s) => s.node))].sort());
  });

  it('un-assumes the pods of a transaction that lost its race, and binds them in the next round', async () => {
    // Prepare: one node with room for exactly 40 pods of 100m; the first transaction fails.
    const { store, stats } = fakeStore([node('only', { cpu: '4' })], manyPods(40), { failBind: 0 });
    const cache = new TenantCaches(store, nodes, pods).of('t');
    const scheduler = new Scheduler(store, queues, 't', cache);
    // Act
    const r = await scheduler.retryPending();
    // Assess: had the lost pods stayed assumed, the node would look full and some would not fit.
    expect(r).toMatchObject({ bound: 40, unschedulable: 0, lostRaces: 1 });
    expect(stats.transactions).toBeGreaterThan(1);
    expect(cache.snapshot.assumedCount).toBe(0);
    expect(cache.snapshot.node('only')!.allocated).toMatchObject({ cpu: 4000, pods: 40 });
  });
});

describe('BackgroundQueue', () => {
  it('runs jobs with bounded concurrency and reports the first failure on flush', async () => {
    // Prepare
    const q = new BackgroundQueue(2);
    let running = 0;
    let most = 0;
    const job = (fail = false) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (fail) throw new Error('send failed');
    };
    // Act
    for (let i = 0; i < 6; i++) q.push(job(i === 3));
    const flushed = await q.flush().then(() => 'ok', (e: Error) => e.message);
    // Assess
    expect(most).toBe(2);
    expect(flushed).toBe('send failed');
    await expect(q.flush()).resolves.toBeUndefined(); // reported once
  });
});

describe('EventQueue', () => {
  const about = (i: number): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, namespace: 'default' } });
  const scheduled = { type: 'Normal' as const, reason: 'Scheduled', message: 'm', component: 'default-scheduler' };

  it('writes events in batches of 25 as they fill, and the rest at flush', async () => {
    // Prepare
    const batches: number[] = [];
    const q = new EventQueue(async (b) => void batches.push(b.length));
    // Act
    for (let i = 0; i < 60; i++) q.record(about(i), scheduled);
    await new Promise((r) => setTimeout(r, 0));
    const beforeFlush = [...batches];
    await q.flush();
    // Assess
    expect(beforeFlush).toEqual([EVENT_BATCH, EVENT_BATCH]);
    expect(batches).toEqual([25, 25, 10]);
  });

  it('drops events beyond its limit rather than waiting, and a failed write never fails the flush', async () => {
    // Prepare: writes that never finish until released, and fail
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const written: number[] = [];
    const q = new EventQueue(async (b) => {
      await gate;
      written.push(b.length);
      throw new Error('throttled');
    }, 100, 1);
    // Act
    for (let i = 0; i < 200; i++) q.record(about(i), scheduled);
    release();
    await q.flush();
    // Assess: one batch in flight, up to 100 waiting, the rest dropped
    expect(q.dropped).toBe(200 - 25 - 100);
    expect(written.reduce((a, b) => a + b, 0)).toBe(125);
  });
});
