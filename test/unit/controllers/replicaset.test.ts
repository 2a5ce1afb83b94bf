import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { reconcileReplicaSet } from '../../../functions/controllers/replicaset';
import { NOW, ago, pod, stored, template } from './fixtures';

const rsOf = (replicas: number, extra: Record<string, unknown> = {}) =>
  stored('replicasets', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-abc' }, spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }), ...extra } });

describe('reconcileReplicaSet', () => {
  it('creates the missing pods from the template, owned by the ReplicaSet', () => {
    // Prepare
    const rs = rsOf(3);
    // Act
    const actions = reconcileReplicaSet({ rs, pods: [pod('web-abc-1', { app: 'web' }, { owner: rs, ready: true })], now: NOW });
    // Assess
    const c = creates(actions);
    expect(c).toHaveLength(2);
    expect(c[0]!.generateName).toBe('web-abc-');
    expect(c[0]!.object.metadata.labels).toEqual({ app: 'web' });
    expect(c[0]!.object.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(c[0]!.event?.reason).toBe('SuccessfulCreate');
  });

  it('deletes the least valuable pods first: unscheduled, pending, not ready, newest', () => {
    // Prepare
    const rs = rsOf(2);
    const pods = [
      pod('old-ready', { app: 'web' }, { owner: rs, ready: true, created: ago(1000) }),
      pod('new-ready', { app: 'web' }, { owner: rs, ready: true, created: ago(10), readySince: ago(5) }),
      pod('not-ready', { app: 'web' }, { owner: rs, ready: false, phase: 'Running', node: 'node-1' }),
      pod('unscheduled', { app: 'web' }, { owner: rs }),
    ];
    // Act
    const actions = reconcileReplicaSet({ rs, pods, now: NOW });
    // Assess
    expect(deletes(actions).map((d) => d.name)).toEqual(['unscheduled', 'not-ready']);
    expect(creates(actions)).toHaveLength(0);
  });

  it('does nothing but status when the count is right, and counts ready and available pods', () => {
    // Prepare
    const rs = rsOf(2, { minReadySeconds: 60 });
    const pods = [pod('a', { app: 'web' }, { owner: rs, ready: true, readySince: ago(120) }), pod('b', { app: 'web' }, { owner: rs, ready: true, readySince: ago(10) })];
    // Act
    const actions = reconcileReplicaSet({ rs, pods, now: NOW });
    // Assess
    expect(creates(actions)).toHaveLength(0);
    expect(deletes(actions)).toHaveLength(0);
    const status = updates(actions, 'replicasets')[0]!.object.status;
    expect(status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 1, fullyLabeledReplicas: 2, observedGeneration: 1 });
    // b becomes available 50 s from now: look again then.
    expect(actions.find((a) => a.type === 'requeueAt')).toEqual({ type: 'requeueAt', at: new Date(NOW.getTime() + 50_000) });
  });

  it('adopts matching orphans and releases pods that stopped matching', () => {
    // Prepare
    const rs = rsOf(2);
    const pods = [pod('orphan', { app: 'web' }, { ready: true }), pod('relabelled', { app: 'other' }, { owner: rs, ready: true }), pod('mine', { app: 'web' }, { owner: rs, ready: true })];
    // Act
    const actions = reconcileReplicaSet({ rs, pods, now: NOW });
    // Assess
    const podUpdates = updates(actions, 'pods');
    expect(podUpdates.map((u) => u.object.metadata.name)).toEqual(['orphan', 'relabelled']);
    expect(podUpdates[0]!.object.metadata.ownerReferences?.[0]?.uid).toBe(rs.metadata.uid);
    expect(podUpdates[1]!.object.metadata.ownerReferences).toBeUndefined();
    expect(creates(actions)).toHaveLength(0); // orphan + mine = 2
  });

  it('never counts terminating or finished pods, and never touches other owners\' pods', () => {
    // Prepare
    const rs = rsOf(1);
    const other = rsOf(1);
    const pods = [pod('going', { app: 'web' }, { owner: rs, ready: true, deleting: true }), pod('done', { app: 'web' }, { owner: rs, phase: 'Failed' }), pod('theirs', { app: 'web' }, { owner: other, ready: true })];
    // Act
    const actions = reconcileReplicaSet({ rs, pods, now: NOW });
    // Assess
    expect(creates(actions)).toHaveLength(1);
    expect(updates(actions, 'pods')).toHaveLength(0);
  });

  it('creates nothing while the ReplicaSet is being deleted', () => {
    // Prepare
    const rs = rsOf(3);
    rs.metadata.deletionTimestamp = ago(1);
    // Act
    const actions = reconcileReplicaSet({ rs, pods: [], now: NOW });
    // Assess
    expect(creates(actions)).toHaveLength(0);
  });

  it('creates at most the burst limit in one reconcile', () => {
    // Prepare
    const rs = rsOf(800);
    // Act
    const actions = reconcileReplicaSet({ rs, pods: [], now: NOW });
    // Assess
    expect(creates(actions)).toHaveLength(500);
  });
});
