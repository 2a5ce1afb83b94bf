import { describe, expect, it } from 'vitest';
import { creates, deletes, updates, type Action } from '../../../functions/controllers/actions';
import { templateHash } from '../../../functions/controllers/common';
import { HASH_LABEL, REVISION, REVISION_HISTORY, reconcileDeployment } from '../../../functions/controllers/deployment';
import type { KubeObject } from '../../../shared/resources';
import { NOW, ago, pod, stored, template } from './fixtures';

function deployment(image: string, spec: Record<string, unknown> = {}, status?: Record<string, unknown>) {
  return stored('deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }, image), ...spec },
    ...(status ? { status } : {}),
  });
}

/** A ReplicaSet as the controller would have made it for `d`'s template. */
function replicaSetFor(d: KubeObject, image: string, replicas: number, available: number, revision: number, created = ago(600)): KubeObject {
  const tmpl = (stored('deployments', { ...d, spec: { ...(d.spec as object), template: template({ app: 'web' }, image) } }).spec as { template: KubeObject }).template;
  const hash = templateHash(tmpl);
  return stored(
    'replicasets',
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `web-${hash}`,
        labels: { app: 'web', [HASH_LABEL]: hash },
        annotations: { [REVISION]: String(revision) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: { replicas, selector: { matchLabels: { app: 'web', [HASH_LABEL]: hash } }, template: { ...tmpl, metadata: { labels: { app: 'web', [HASH_LABEL]: hash } } } },
      status: { replicas, readyReplicas: available, availableReplicas: available, observedGeneration: 1 },
    },
    created,
  );
}

const rsUpdates = (a: Action[]) => updates(a, 'replicasets').map((u) => [u.object.metadata.name, (u.object.spec as { replicas: number }).replicas]);
const dStatus = (a: Action[]) => updates(a, 'deployments')[0]?.object;

describe('reconcileDeployment', () => {
  it('a new Deployment gets a ReplicaSet named by its template hash, at full size, revision 1', () => {
    // Prepare
    const d = deployment('busybox:1');
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [], pods: [], now: NOW });
    // Assess
    const [rs] = creates(actions, 'replicasets');
    const hash = rs!.object.metadata.labels![HASH_LABEL]!;
    expect(rs!.object.metadata.name).toBe(`web-${hash}`);
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect((rs!.object.spec as { replicas: number }).replicas).toBe(3);
    expect(rs!.object.metadata.annotations?.[REVISION]).toBe('1');
    expect((rs!.object.spec as { selector: { matchLabels: object } }).selector.matchLabels).toEqual({ app: 'web', [HASH_LABEL]: hash });
    const next = dStatus(actions)!;
    expect(next.metadata.annotations?.[REVISION]).toBe('1');
    expect((next.status as { conditions: { type: string; reason: string }[] }).conditions.find((c) => c.type === 'Progressing')?.reason).toBe('NewReplicaSetCreated');
  });

  it('RollingUpdate with maxUnavailable 0: surge one new pod, scale old down only as new ones become available', () => {
    // Prepare
    const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    const d = deployment('busybox:2', { strategy });
    const old = replicaSetFor(d, 'busybox:1', 3, 3, 1);
    // Act: step 1, the template changed
    const step1 = reconcileDeployment({ deployment: d, replicaSets: [old], pods: [], now: NOW });
    // Assess: a new ReplicaSet of 1, old untouched
    const created = creates(step1, 'replicasets')[0]!.object;
    expect((created.spec as { replicas: number }).replicas).toBe(1);
    expect(created.metadata.annotations?.[REVISION]).toBe('2');
    expect(rsUpdates(step1)).toEqual([]);
    // Act: step 2, the new pod is not available yet
    const fresh = replicaSetFor(d, 'busybox:2', 1, 0, 2, ago(10));
    const step2 = reconcileDeployment({ deployment: d, replicaSets: [old, fresh], pods: [], now: NOW });
    // Assess: nothing may go down (3 available must remain), nothing more may come up (max 4)
    expect(rsUpdates(step2).filter(([, r]) => r !== undefined && r !== 3 && r !== 1)).toEqual([]);
    // Act: step 3, the new pod is available
    const ready = replicaSetFor(d, 'busybox:2', 1, 1, 2, ago(10));
    const step3 = reconcileDeployment({ deployment: d, replicaSets: [old, ready], pods: [], now: NOW });
    // Assess: one old pod goes
    expect(rsUpdates(step3)).toContainEqual([old.metadata.name, 2]);
    expect(updates(step3, 'replicasets').every((u) => (u.object.spec as { replicas: number }).replicas >= 1)).toBe(true);
  });

  it('scaling a settled Deployment scales its one ReplicaSet, with a ScalingReplicaSet event', () => {
    // Prepare
    const d = deployment('busybox:1', { replicas: 5 });
    const rs = replicaSetFor(d, 'busybox:1', 3, 3, 1);
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [rs], pods: [], now: NOW });
    // Assess
    expect(rsUpdates(actions)).toEqual([[rs.metadata.name, 5]]);
    const events = actions.filter((a) => a.type === 'event').map((a) => (a.type === 'event' ? a.note.message : ''));
    expect(events).toContain(`Scaled up replica set ${rs.metadata.name} from 3 to 5`);
  });

  it('undo: the template of an old ReplicaSet makes it the new one again, with the next revision', () => {
    // Prepare: revision 1 (busybox:1, scaled down) and 2 (busybox:2, current); the template goes back to 1
    const d = deployment('busybox:1');
    const r1 = replicaSetFor(d, 'busybox:1', 0, 0, 1, ago(900));
    const r2 = replicaSetFor(d, 'busybox:2', 3, 3, 2, ago(300));
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [r1, r2], pods: [], now: NOW });
    // Assess
    expect(creates(actions, 'replicasets')).toHaveLength(0);
    const u1 = updates(actions, 'replicasets').find((u) => u.object.metadata.name === r1.metadata.name)!;
    expect(u1.object.metadata.annotations?.[REVISION]).toBe('3');
    expect(u1.object.metadata.annotations?.[REVISION_HISTORY]).toBe('1');
    expect((u1.object.spec as { replicas: number }).replicas).toBeGreaterThan(0);
    expect(dStatus(actions)!.metadata.annotations?.[REVISION]).toBe('3');
  });

  it('undo through kubectl: the old template re-encoded by Go (creationTimestamp: null, resources: {}) still re-adopts the old ReplicaSet', () => {
    // Prepare: the template as kubectl rollout undo's JSON patch writes it back
    const goEncoded = { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1', resources: {}, env: [] }] } };
    const d = stored('deployments', { ...deployment('busybox:1'), spec: { ...(deployment('busybox:1').spec as object), template: goEncoded } });
    const r1 = replicaSetFor(d, 'busybox:1', 0, 0, 1, ago(900));
    const r2 = replicaSetFor(d, 'busybox:2', 3, 3, 2, ago(300));
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [r1, r2], pods: [], now: NOW });
    // Assess
    expect(creates(actions, 'replicasets')).toHaveLength(0);
    expect(updates(actions, 'replicasets').find((u) => u.object.metadata.name === r1.metadata.name)!.object.metadata.annotations?.[REVISION]).toBe('3');
  });

  it('Recreate: old ReplicaSets go to zero first, and nothing new starts while old pods run', () => {
    // Prepare
    const d = deployment('busybox:2', { strategy: { type: 'Recreate' } });
    const old = replicaSetFor(d, 'busybox:1', 3, 3, 1);
    // Act
    const step1 = reconcileDeployment({ deployment: d, replicaSets: [old], pods: [], now: NOW });
    // Assess
    expect(rsUpdates(step1)).toEqual([[old.metadata.name, 0]]);
    expect(creates(step1, 'replicasets')).toHaveLength(0);
    // Act: scaled to 0 but a pod is still terminating
    const scaled = { ...old, spec: { ...(old.spec as object), replicas: 0 } };
    const step2 = reconcileDeployment({ deployment: d, replicaSets: [scaled], pods: [pod('old-1', { app: 'web' }, { owner: old, ready: true, deleting: true })], now: NOW });
    expect(creates(step2, 'replicasets')).toHaveLength(0);
    // Act: old pods gone
    const step3 = reconcileDeployment({ deployment: d, replicaSets: [scaled], pods: [], now: NOW });
    expect((creates(step3, 'replicasets')[0]!.object.spec as { replicas: number }).replicas).toBe(3);
  });

  it('reports ProgressDeadlineExceeded when no progress was made within progressDeadlineSeconds', () => {
    // Prepare
    const cond = { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'x', lastUpdateTime: ago(700), lastTransitionTime: ago(700) };
    const d = deployment('busybox:2', { progressDeadlineSeconds: 600 }, { replicas: 4, updatedReplicas: 1, availableReplicas: 3, readyReplicas: 3, conditions: [cond] });
    const old = replicaSetFor(d, 'busybox:1', 3, 3, 1);
    const stuck = replicaSetFor(d, 'busybox:2', 1, 0, 2, ago(700));
    (stuck.status as { replicas: number }).replicas = 1;
    (stuck.status as { readyReplicas: number }).readyReplicas = 0;
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [old, stuck], pods: [], now: NOW });
    // Assess
    const conds = (dStatus(actions)!.status as { conditions: { type: string; status: string; reason: string; message: string }[] }).conditions;
    expect(conds.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${stuck.metadata.name}" has timed out progressing.` });
  });

  it('a complete rollout reports NewReplicaSetAvailable and Available, and prunes history beyond revisionHistoryLimit', () => {
    // Prepare
    const d = deployment('busybox:3', { revisionHistoryLimit: 1 });
    const r1 = replicaSetFor(d, 'busybox:1', 0, 0, 1, ago(900));
    const r2 = replicaSetFor(d, 'busybox:2', 0, 0, 2, ago(600));
    const r3 = replicaSetFor(d, 'busybox:3', 3, 3, 3, ago(300));
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [r1, r2, r3], pods: [], now: NOW });
    // Assess
    expect(deletes(actions, 'replicasets').map((x) => x.name)).toEqual([r1.metadata.name]);
    const status = dStatus(actions)!.status as { replicas: number; updatedReplicas: number; availableReplicas: number; conditions: { type: string; status: string; reason: string }[] };
    expect(status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(status.conditions.find((c) => c.type === 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(status.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  });

  it('paused: no new ReplicaSet for a changed template, Progressing Unknown DeploymentPaused', () => {
    // Prepare
    const d = deployment('busybox:2', { paused: true });
    const old = replicaSetFor(d, 'busybox:1', 3, 3, 1);
    // Act
    const actions = reconcileDeployment({ deployment: d, replicaSets: [old], pods: [], now: NOW });
    // Assess
    expect(creates(actions, 'replicasets')).toHaveLength(0);
    const conds = (dStatus(actions)!.status as { conditions: { type: string; status: string; reason: string }[] }).conditions;
    expect(conds.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
  });
});
