import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { templateHash } from '../../../functions/controllers/common';
import { reconcileDaemonSet, REVISION_LABEL } from '../../../functions/controllers/daemonset';
import { reconcileHistory, revisionData } from '../../../functions/controllers/history';
import { reconcileStatefulSet } from '../../../functions/controllers/statefulset';
import type { KubeObject } from '../../../shared/resources';
import { NOW, pod, stored, template } from './fixtures';

const ds = stored('daemonsets', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', annotations: { 'kubernetes.io/change-cause': 'v2' } }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template({ app: 'agent' }) } });
const tmpl = (ds.spec as { template: { metadata?: { labels?: Record<string, string> } } }).template;
const hash = templateHash(tmpl);

/** A stored revision of `owner` (or an orphan with owner undefined). */
function revision(name: string, rev: number, owner: KubeObject | undefined, labels: Record<string, string> = { app: 'agent' }): KubeObject {
  return stored('controllerrevisions', {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: { name, labels, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true }] } : {}) },
    data: {},
    revision: rev,
  });
}

const input = (revisions: KubeObject[], opts: { limit?: number; inUse?: string[] } = {}) => ({
  owner: ds,
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  selector: { matchLabels: { app: 'agent' } },
  template: tmpl,
  name: `agent-${hash}`,
  hash,
  revisions,
  inUse: new Set([`agent-${hash}`, ...(opts.inUse ?? [])]),
  limit: opts.limit ?? 10,
});

describe('reconcileHistory', () => {
  const cases: { name: string; revisions: () => KubeObject[]; limit?: number; inUse?: string[]; revision: number; created: number[]; bumped: [string, number][]; deleted: string[]; adopted: string[] }[] = [
    { name: 'a first template: revision 1', revisions: () => [], revision: 1, created: [1], bumped: [], deleted: [], adopted: [] },
    { name: 'a new template after two: revision 3', revisions: () => [revision('agent-a', 1, ds), revision('agent-b', 2, ds)], revision: 3, created: [3], bumped: [], deleted: [], adopted: [] },
    { name: 'the current template already recorded as newest: nothing', revisions: () => [revision('agent-a', 1, ds), revision(`agent-${hash}`, 2, ds)], revision: 2, created: [], bumped: [], deleted: [], adopted: [] },
    { name: 'an undo to an older template: its revision moves to the newest', revisions: () => [revision(`agent-${hash}`, 1, ds), revision('agent-b', 2, ds)], revision: 3, created: [], bumped: [[`agent-${hash}`, 3]], deleted: [], adopted: [] },
    { name: 'beyond revisionHistoryLimit: the oldest unused go', revisions: () => [revision('agent-a', 1, ds), revision('agent-b', 2, ds), revision('agent-c', 3, ds)], limit: 1, revision: 4, created: [4], bumped: [], deleted: ['agent-a', 'agent-b'], adopted: [] },
    { name: 'a revision live pods still use is kept', revisions: () => [revision('agent-a', 1, ds), revision('agent-b', 2, ds)], limit: 0, inUse: ['agent-a'], revision: 3, created: [3], bumped: [], deleted: ['agent-b'], adopted: [] },
    { name: 'an orphan revision that matches the selector is adopted', revisions: () => [revision('agent-a', 1, undefined)], revision: 2, created: [2], bumped: [], deleted: [], adopted: ['agent-a'] },
    { name: 'another owner\'s revision is not ours', revisions: () => [revision('agent-a', 7, { metadata: { name: 'other', uid: 'other-uid' } })], revision: 1, created: [1], bumped: [], deleted: [], adopted: [] },
  ];
  for (const c of cases)
    it(c.name, () => {
      // Act
      const h = reconcileHistory(input(c.revisions(), c));
      // Assess
      expect(h.revision).toBe(c.revision);
      expect(creates(h.actions, 'controllerrevisions').map((a) => a.object.revision)).toEqual(c.created);
      const ups = updates(h.actions, 'controllerrevisions');
      expect(ups.filter((u) => u.object.metadata.name === `agent-${hash}`).map((u) => [u.object.metadata.name, u.object.revision])).toEqual(c.bumped);
      expect(ups.filter((u) => u.object.metadata.name !== `agent-${hash}`).map((u) => u.object.metadata.name)).toEqual(c.adopted);
      expect(deletes(h.actions, 'controllerrevisions').map((d) => d.name)).toEqual(c.deleted);
    });

  it('writes a revision as Kubernetes does: name, labels, annotations, owner, and the patch that restores the template', () => {
    // Act
    const [create] = creates(reconcileHistory(input([])).actions, 'controllerrevisions');
    // Assess
    expect(create!.object).toEqual({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name: `agent-${hash}`,
        namespace: 'default',
        labels: { app: 'agent', 'controller-revision-hash': hash },
        annotations: { 'kubernetes.io/change-cause': 'v2' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      data: { spec: { template: { ...tmpl, $patch: 'replace' } } },
      revision: 1,
    });
    expect(JSON.stringify(revisionData({ spec: { containers: [] }, metadata: {} }))).toBe('{"spec":{"template":{"$patch":"replace","metadata":{},"spec":{"containers":[]}}}}');
  });

  it('writes nothing but claims while the owner is being deleted', () => {
    // Prepare
    const deleting = { ...ds, metadata: { ...ds.metadata, deletionTimestamp: NOW.toISOString() } };
    // Act
    const h = reconcileHistory({ ...input([revision('agent-a', 1, ds)], { limit: 0 }), owner: deleting });
    // Assess
    expect(h.actions).toEqual([]);
  });
});

describe('DaemonSet and StatefulSet controllers write their history', () => {
  it('the DaemonSet records its template before creating pods, and cleans up by its pods\' hash labels', () => {
    // Prepare
    const limited = { ...ds, spec: { ...(ds.spec as object), revisionHistoryLimit: 0 } };
    const pods = [pod('agent-x', { app: 'agent', [REVISION_LABEL]: 'old1' }, { owner: ds, ownerKind: 'DaemonSet', ready: true, node: 'a' })];
    const revisions = [revision('agent-old1', 1, ds), revision('agent-old2', 2, ds)];
    // Act
    const actions = reconcileDaemonSet({ ds: limited, nodes: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }], pods, revisions, now: NOW });
    // Assess
    const firstPodCreate = actions.findIndex((a) => a.type === 'create' && a.resource === 'pods');
    const revisionCreate = actions.findIndex((a) => a.type === 'create' && a.resource === 'controllerrevisions');
    expect(revisionCreate).toBeGreaterThanOrEqual(0);
    expect(revisionCreate).toBeLessThan(firstPodCreate);
    expect(deletes(actions, 'controllerrevisions').map((d) => d.name)).toEqual(['agent-old2']); // old1 is agent-x's
  });

  it('the StatefulSet names its revision as its updateRevision, and keeps currentRevision\'s', () => {
    // Prepare
    const sts = stored('statefulsets', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web' }, spec: { replicas: 1, revisionHistoryLimit: 0, selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }) } });
    const withStatus = { ...sts, status: { replicas: 1, currentRevision: 'web-old' } };
    const owned = (name: string, rev: number) => ({ ...revision(name, rev, sts, { app: 'web' }), metadata: { ...revision(name, rev, sts, { app: 'web' }).metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: sts.metadata.uid!, controller: true }] } });
    // Act
    const actions = reconcileStatefulSet({ sts: withStatus, pods: [], revisions: [owned('web-old', 1), owned('web-older', 2)], now: NOW });
    // Assess
    const [create] = creates(actions, 'controllerrevisions');
    const status = updates(actions, 'statefulsets')[0]!.object.status as { updateRevision: string };
    expect(create!.object.metadata.name).toBe(status.updateRevision);
    expect(create!.object.revision).toBe(3);
    expect(deletes(actions, 'controllerrevisions').map((d) => d.name)).toEqual(['web-older']);
  });
});
