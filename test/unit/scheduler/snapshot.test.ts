import { describe, expect, it } from 'vitest';
import { SchedulerCache } from '../../../functions/scheduler/cache';
import { MutableSnapshot } from '../../../functions/scheduler/snapshot';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import type { ChangeEvent, ObjectStore } from '../../../shared/store/store';
import { at, cluster, node, pod } from './fixtures';

const versioned = (o: KubeObject, rv: number): KubeObject => ({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } });
const bound = (p: KubeObject, nodeName: string, rv: number): KubeObject => versioned({ ...p, spec: { ...(p.spec as object), nodeName } }, rv);

describe('MutableSnapshot: incremental updates', () => {
  it.each([
    ['a pod bound to the node', (s: MutableSnapshot, p: KubeObject) => s.setPod(bound(p, 'a', 2)), 1000, 1],
    ['then updated (status only): counted once', (s: MutableSnapshot, p: KubeObject) => (s.setPod(bound(p, 'a', 2)), s.setPod({ ...bound(p, 'a', 3), status: { phase: 'Running' } })), 1000, 1],
    ['then Succeeded: released', (s: MutableSnapshot, p: KubeObject) => (s.setPod(bound(p, 'a', 2)), s.setPod({ ...bound(p, 'a', 3), status: { phase: 'Succeeded' } })), 0, 0],
    ['then deleted: released', (s: MutableSnapshot, p: KubeObject) => (s.setPod(bound(p, 'a', 2)), s.deletePod(p)), 0, 0],
    ['an unbound pod: counts nowhere', (s: MutableSnapshot, p: KubeObject) => s.setPod(versioned(p, 2)), 0, 0],
  ])('%s', (_name, act, cpu, podsCount) => {
    // Prepare
    const s = cluster([node('a')]);
    const p = pod('p', {}, { requests: { cpu: '1' } });
    // Act
    act(s, p);
    // Assess
    expect(at(s, 'a').allocated).toMatchObject({ cpu, pods: podsCount });
    expect(s.podsOn('a')).toHaveLength(podsCount);
  });

  it('counts pods on a node that registers after them, and forgets the node when it goes', () => {
    // Prepare
    const s = cluster([], [pod('early', {}, { nodeName: 'late', requests: { cpu: '500m' } })]);
    // Act
    s.setNode(node('late'));
    const counted = at(s, 'late').allocated.cpu;
    s.removeNode('late');
    // Assess
    expect(counted).toBe(500);
    expect(s.node('late')).toBeUndefined();
    expect(s.nodes).toHaveLength(0);
  });

  it('keeps nodes sorted by name as they come and go', () => {
    const s = cluster([node('c'), node('a')]);
    s.setNode(node('b'));
    expect(s.nodes.map((n) => n.node.metadata.name)).toEqual(['a', 'b', 'c']);
  });

  it('indexes the bound pods with required anti-affinity', () => {
    // Prepare
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } }] } };
    const s = cluster([node('a')], [pod('plain', {}, { nodeName: 'a' }), pod('anti', { affinity: anti }, { nodeName: 'a' })]);
    // Act
    const indexed = [...s.podsWithRequiredAntiAffinity()].map((e) => e.pod.metadata.name);
    s.deletePod(pod('anti'));
    // Assess
    expect(indexed).toEqual(['anti']);
    expect([...s.podsWithRequiredAntiAffinity()]).toHaveLength(0);
  });
});

describe('MutableSnapshot: assume cache', () => {
  it('an assumed pod counts on its node until forgotten, then as it really is', () => {
    // Prepare
    const s = cluster([node('a')]);
    const p = versioned(pod('p', {}, { requests: { cpu: '1' } }), 5);
    s.setPod(p);
    // Act
    s.assume(p, 'a');
    const assumed = { cpu: at(s, 'a').allocated.cpu, isAssumed: s.isAssumed(p) };
    s.forget(p, p);
    // Assess
    expect(assumed).toEqual({ cpu: 1000, isAssumed: true });
    expect(at(s, 'a').allocated.cpu).toBe(0);
    expect(s.isAssumed(p)).toBe(false);
    expect(s.assumedCount).toBe(0);
  });

  it('keeps the assumption when the unbound pod changes meanwhile (a status write racing the bind)', () => {
    const s = cluster([node('a')]);
    const p = versioned(pod('p', {}, { requests: { cpu: '1' } }), 5);
    s.assume(p, 'a');
    s.setPod({ ...versioned(p, 6), status: { phase: 'Pending', conditions: [] } });
    expect(at(s, 'a').allocated.cpu).toBe(1000);
    expect(s.isAssumed(p)).toBe(true);
  });

  it('is confirmed by the bound pod: counted once, and a later forget changes nothing', () => {
    // Prepare
    const s = cluster([node('a'), node('b')]);
    const p = versioned(pod('p', {}, { requests: { cpu: '1' } }), 5);
    s.assume(p, 'a');
    // Act
    s.setPod(bound(p, 'a', 6));
    s.forget(p, p);
    // Assess
    expect(s.isAssumed(p)).toBe(false);
    expect(at(s, 'a').allocated).toMatchObject({ cpu: 1000, pods: 1 });
  });

  it('follows another scheduler that bound the pod elsewhere first', () => {
    const s = cluster([node('a'), node('b')]);
    const p = versioned(pod('p', {}, { requests: { cpu: '1' } }), 5);
    s.assume(p, 'a');
    s.setPod(bound(p, 'b', 6)); // our bind will lose; the truth arrives first
    s.forget(p, bound(p, 'b', 6));
    expect([at(s, 'a').allocated.cpu, at(s, 'b').allocated.cpu]).toEqual([0, 1000]);
  });

  it('drops the assumption of a pod deleted while its bind was in flight', () => {
    const s = cluster([node('a')]);
    const p = versioned(pod('p', {}, { requests: { cpu: '1' } }), 5);
    s.assume(p, 'a');
    s.deletePod(p);
    expect(at(s, 'a').allocated.cpu).toBe(0);
    expect(s.isAssumed(p)).toBe(false);
  });

  it("preemption's what-if removes pods and puts them back exactly", () => {
    const victim = pod('v', {}, { nodeName: 'a', requests: { cpu: '1' } });
    const s = cluster([node('a')], [victim, pod('w', {}, { nodeName: 'a', requests: { cpu: '500m' } })]);
    const undo = s.removeTemporarily('a', [victim]);
    const during = at(s, 'a').allocated.cpu;
    undo();
    expect([during, at(s, 'a').allocated.cpu, s.podsOn('a').length]).toEqual([500, 1500, 2]);
  });
});

/** A store that serves a fixed list and then the change log given (a pure-unit stand-in). */
function fakeStore(listed: Record<string, KubeObject[]>, log: Record<string, ChangeEvent[]>): ObjectStore {
  return {
    list: async (_t: string, rt: { resource: string }) => ({ items: listed[rt.resource] ?? [], resourceVersion: 10 }),
    changesSince: async (_t: string, rt: { resource: string }, after: number) => (log[rt.resource] ?? []).filter((e) => e.resourceVersion > after),
  } as unknown as ObjectStore;
}

describe('SchedulerCache', () => {
  it('keeps the snapshot in step with the change log, without rebuilding it', async () => {
    // Prepare: one node with one pod listed; then the log binds a second pod and deletes the first.
    const first = bound(pod('first', {}, { requests: { cpu: '1' } }), 'a', 9);
    const second = pod('second', {}, { requests: { cpu: '2' } });
    const store = fakeStore(
      { nodes: [versioned(node('a', { cpu: '8' }), 1)], pods: [first, versioned(second, 8)] },
      {
        pods: [
          { type: 'MODIFIED', resourceVersion: 11, object: bound(second, 'a', 11) },
          { type: 'DELETED', resourceVersion: 12, object: versioned(first, 12) },
        ],
      },
    );
    const cache = new SchedulerCache(store, 't', resourceByName('nodes'), resourceByName('pods'));
    const snapshot = cache.snapshot;
    // Act
    await cache.sync();
    // Assess
    expect(cache.snapshot).toBe(snapshot);
    expect(at(snapshot, 'a').allocated).toMatchObject({ cpu: 2000, pods: 1 });
    expect(snapshot.podsOn('a').map((p) => p.metadata.name)).toEqual(['second']);
  });

  it("never goes back to an older version than the one it holds (the scheduler's own bind)", async () => {
    // Prepare
    const p = pod('p', {}, { requests: { cpu: '1' } });
    const log: Record<string, ChangeEvent[]> = { pods: [] };
    const store = fakeStore({ nodes: [versioned(node('a'), 1)], pods: [versioned(p, 8)] }, log);
    const cache = new SchedulerCache(store, 't', resourceByName('nodes'), resourceByName('pods'));
    await cache.sync();
    // Act: our bind's result first, then the log delivers an older version of the pod.
    cache.pods.put(bound(p, 'a', 12));
    log.pods!.push({ type: 'MODIFIED', resourceVersion: 11, object: { ...versioned(p, 11), status: { phase: 'Pending' } } });
    await cache.sync();
    // Assess
    expect(cache.pods.get('default', 'p')?.metadata.resourceVersion).toBe('12');
    expect(at(cache.snapshot, 'a').allocated.pods).toBe(1);
  });
});
