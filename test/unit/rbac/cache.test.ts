import { describe, expect, it } from 'vitest';
import { MAX_AGE_MS, RbacCache, STALENESS_MS } from '../../../shared/auth/rbac-cache';
import type { KubeObject } from '../../../shared/resources';
import type { ObjectStore } from '../../../shared/store/store';

/** A store with one ClusterRole list that changes when the test says, counting its reads. */
function fakeStore() {
  const state = { generation: 1, generationReads: 0, lists: 0, roles: [{ metadata: { name: 'cluster-admin' }, rules: [] }] as KubeObject[] };
  const store = {
    rbacGeneration: () => {
      state.generationReads++;
      return Promise.resolve(state.generation);
    },
    list: (_tenant: string, rt: { resource: string }) => {
      state.lists++;
      return Promise.resolve({ items: rt.resource === 'clusterroles' ? state.roles : [], resourceVersion: 0 });
    },
  } as unknown as ObjectStore;
  return { state, store };
}

describe('RbacCache', () => {
  it('trusts its copy for the staleness window, then checks the generation, and reloads only when it moved', async () => {
    // Arrange
    let now = 1_000_000;
    const { state, store } = fakeStore();
    const cache = new RbacCache(() => now);
    // Act / Assess: first use loads (one generation read, four lists)
    const first = await cache.get(store, 't');
    expect([state.generationReads, state.lists]).toEqual([1, 4]);
    // within the window: no read at all
    now += STALENESS_MS - 1;
    expect(await cache.get(store, 't')).toBe(first);
    expect([state.generationReads, state.lists]).toEqual([1, 4]);
    // after it: one generation read, no reload while unchanged
    now += 2;
    expect(await cache.get(store, 't')).toBe(first);
    expect([state.generationReads, state.lists]).toEqual([2, 4]);
    // a write bumped the generation: the next check reloads and sees it
    state.generation = 2;
    state.roles = [...state.roles, { metadata: { name: 'new' }, rules: [] }];
    now += STALENESS_MS;
    const second = await cache.get(store, 't');
    expect([state.generationReads, state.lists]).toEqual([3, 8]);
    expect(second.clusterRoles.has('new')).toBe(true);
  });

  it('reloads after MAX_AGE_MS even if the generation did not move (a writer that died before its bump)', async () => {
    // Arrange
    let now = 0;
    const { state, store } = fakeStore();
    const cache = new RbacCache(() => now);
    await cache.get(store, 't');
    state.roles = [...state.roles, { metadata: { name: 'late' }, rules: [] }];
    // Act
    now += MAX_AGE_MS;
    const data = await cache.get(store, 't');
    // Assess
    expect(data.clusterRoles.has('late')).toBe(true);
  });

  it('keeps clusters apart', async () => {
    // Arrange
    const { state, store } = fakeStore();
    const cache = new RbacCache(() => 0);
    // Act
    await cache.get(store, 'a');
    await cache.get(store, 'b');
    // Assess
    expect(state.lists).toBe(8);
  });
});
