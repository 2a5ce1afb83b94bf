import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { reconcileReplicationController } from '../../../functions/controllers/replicationcontroller';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import { NOW, pod, stored, template } from './fixtures';

const rcOf = (replicas: number, extra: Record<string, unknown> = {}) =>
  stored('replicationcontrollers', { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'legacy' }, spec: { replicas, selector: { app: 'legacy' }, template: template({ app: 'legacy' }), ...extra } });
const mine = (name: string, rc: KubeObject, ready = true) => pod(name, { app: 'legacy' }, { owner: rc, ownerKind: 'ReplicationController', ready });

describe('reconcileReplicationController (the ReplicaSet reconcile through the map-selector adapter)', () => {
  const cases: { name: string; replicas: number; pods: (rc: KubeObject) => KubeObject[]; creates: number; deletes: string[]; adopts: string[]; releases: string[] }[] = [
    { name: 'creates the missing pods', replicas: 3, pods: (rc) => [mine('a', rc)], creates: 2, deletes: [], adopts: [], releases: [] },
    { name: 'deletes the surplus, least valuable first', replicas: 1, pods: (rc) => [mine('ready', rc), mine('not-ready', rc, false)], creates: 0, deletes: ['not-ready'], adopts: [], releases: [] },
    { name: 'adopts an orphan that matches the label map', replicas: 2, pods: (rc) => [mine('a', rc), pod('orphan', { app: 'legacy', extra: 'x' }, { ready: true })], creates: 0, deletes: [], adopts: ['orphan'], releases: [] },
    { name: 'ignores an orphan that does not match', replicas: 1, pods: () => [pod('stranger', { app: 'other' }, { ready: true })], creates: 1, deletes: [], adopts: [], releases: [] },
    { name: 'releases its pod that stopped matching', replicas: 1, pods: (rc) => [mine('a', rc), pod('relabelled', { app: 'gone' }, { owner: rc, ownerKind: 'ReplicationController', ready: true })], creates: 0, deletes: [], adopts: [], releases: ['relabelled'] },
  ];
  for (const c of cases)
    it(c.name, () => {
      // Prepare
      const rc = rcOf(c.replicas);
      // Act
      const actions = reconcileReplicationController({ rs: rc, pods: c.pods(rc), now: NOW });
      // Assess
      expect(creates(actions)).toHaveLength(c.creates);
      expect(deletes(actions).map((d) => d.name)).toEqual(c.deletes);
      const podUpdates = updates(actions, 'pods');
      expect(podUpdates.filter((u) => u.object.metadata.ownerReferences?.some((r) => r.uid === rc.metadata.uid)).map((u) => u.object.metadata.name)).toEqual(c.adopts);
      expect(podUpdates.filter((u) => !u.object.metadata.ownerReferences?.length).map((u) => u.object.metadata.name)).toEqual(c.releases);
    });

  it('stamps pods owned by the ReplicationController (v1) with its events', () => {
    // Prepare
    const rc = rcOf(1);
    // Act
    const [create] = creates(reconcileReplicationController({ rs: rc, pods: [], now: NOW }));
    // Assess
    expect(create!.generateName).toBe('legacy-');
    expect(create!.object.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'ReplicationController', name: 'legacy', uid: rc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(create!.event).toMatchObject({ reason: 'SuccessfulCreate', message: 'Created pod: $NAME' });
  });

  it('writes status to the ReplicationController, keeping its map selector, observedGeneration in the same write', () => {
    // Prepare
    const base = rcOf(2);
    const rc: KubeObject = { ...base, metadata: { ...base.metadata, generation: 4 } };
    // Act
    const actions = reconcileReplicationController({ rs: rc, pods: [mine('a', rc), mine('b', rc, false)], now: NOW });
    // Assess
    expect(updates(actions, 'replicasets')).toHaveLength(0);
    const [write] = updates(actions, 'replicationcontrollers');
    expect(write!.object.spec).toEqual(rc.spec);
    expect(write!.object.status).toEqual({ replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 1, availableReplicas: 1, observedGeneration: 4 });
  });
});

describe('ReplicationController, PodTemplate and ControllerRevision kinds', () => {
  const rc = resourceByName('replicationcontrollers');
  it('defaults the selector and labels from the template, and one replica', () => {
    // Act
    const o = rc.applyDefaults({ metadata: { name: 'x' }, spec: { template: template({ app: 'x' }) } });
    // Assess
    expect(o.metadata.labels).toEqual({ app: 'x' });
    expect(o.spec).toMatchObject({ replicas: 1, selector: { app: 'x' } });
  });

  const invalid: { name: string; spec: Record<string, unknown>; fields: string[] }[] = [
    { name: 'no selector and no template', spec: { replicas: 1 }, fields: ['spec.selector', 'spec.template'] },
    { name: 'a selector that does not match the template', spec: { selector: { app: 'a' }, template: template({ app: 'b' }) }, fields: ['spec.template.metadata.labels'] },
    { name: 'negative replicas', spec: { replicas: -1, selector: { app: 'a' }, template: template({ app: 'a' }) }, fields: ['spec.replicas'] },
    { name: 'activeDeadlineSeconds', spec: { selector: { app: 'a' }, template: { ...template({ app: 'a' }), spec: { ...template({}).spec, activeDeadlineSeconds: 5 } } }, fields: ['spec.template.spec.activeDeadlineSeconds'] },
  ];
  for (const c of invalid)
    it(`rejects ${c.name}`, () => {
      // Act
      const causes = rc.validate(rc.applyDefaults({ metadata: { name: 'x' }, spec: c.spec }));
      // Assess
      expect(causes.map((x) => x.field)).toEqual(c.fields);
    });

  it('accepts a changed selector (unlike apps/v1 kinds)', () => {
    // Prepare
    const old = rc.applyDefaults({ metadata: { name: 'x' }, spec: { selector: { app: 'a' }, template: template({ app: 'a', v: '1' }) } });
    const next = rc.applyDefaults({ metadata: { name: 'x' }, spec: { selector: { app: 'a', v: '1' }, template: template({ app: 'a', v: '1' }) } });
    // Act / Assess
    expect(rc.validate(next, old)).toEqual([]);
  });

  it('validates a PodTemplate\'s pod spec under template.', () => {
    // Act
    const causes = resourceByName('podtemplates').validate({ metadata: { name: 't' }, template: { spec: { containers: [] } } });
    // Assess
    expect(causes.map((c) => c.field)).toEqual(['template.spec.containers']);
  });

  it('keeps a ControllerRevision\'s data immutable and its revision not negative', () => {
    // Prepare
    const cr = resourceByName('controllerrevisions');
    const old = { metadata: { name: 'r' }, data: { spec: { template: { $patch: 'replace' } } }, revision: 1 };
    // Act / Assess
    expect(cr.validate({ ...old, revision: 2 }, old)).toEqual([]);
    expect(cr.validate({ ...old, data: { spec: {} } }, old).map((c) => c.field)).toEqual(['data']);
    expect(cr.validate({ ...old, revision: -1 }).map((c) => c.field)).toEqual(['revision']);
  });
});
