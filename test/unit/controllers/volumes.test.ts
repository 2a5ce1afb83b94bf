import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { reconcileStatefulSet } from '../../../functions/controllers/statefulset';
import { reconcileClaim, reconcileVolume } from '../../../functions/controllers/volumes';
import { findMatchingVolume, volumeFitsClaim } from '../../../functions/controllers/volumes-match';
import { defaultStorageClass, STORAGE, storageTypes } from '../../../shared/kinds/storage';
import type { KubeObject } from '../../../shared/resources';
import { NOW, ago, pod, stored, template } from './fixtures';

/** Unit tests of the persistent volume controller: the matcher, binding, provisioning, reclaim, protection. */

const claimObj = (name: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}) =>
  stored('persistentvolumeclaims', {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, finalizers: [STORAGE.pvcProtectionFinalizer], ...meta },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'standard', ...spec },
    status: { phase: 'Pending' },
  });

const volumeObj = (name: string, storage: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}) => {
  const v = stored('persistentvolumes', {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, ...meta },
    spec: { capacity: { storage }, accessModes: ['ReadWriteOnce'], storageClassName: 'standard', hostPath: { path: '/tmp/x' }, ...spec },
    status: { phase: 'Available' },
  });
  delete v.metadata.namespace;
  return v;
};

const node = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
const onNode = (n: string) => ({ nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [n] }] }] } } });
const standard = stored('storageclasses', defaultStorageClass());
const immediate = stored('storageclasses', { ...defaultStorageClass(), metadata: { name: 'fast' }, volumeBindingMode: 'Immediate', reclaimPolicy: 'Retain' });
const observed = (claim: KubeObject | undefined, more: Partial<Parameters<typeof reconcileClaim>[0]> = {}) =>
  ({ claim, volumes: [], classes: [standard, immediate], pods: [], nodes: new Map([['n1', node('n1')], ['n2', node('n2')]]), now: NOW, ...more }) as Parameters<typeof reconcileClaim>[0];

describe('volume matching', () => {
  const claim = claimObj('c', { selector: { matchLabels: { tier: 'db' } } });
  it.each([
    ['fits', volumeObj('v', '1Gi', {}, { labels: { tier: 'db' } }), true],
    ['too small', volumeObj('v', '512Mi', {}, { labels: { tier: 'db' } }), false],
    ['other class', volumeObj('v', '1Gi', { storageClassName: 'other' }, { labels: { tier: 'db' } }), false],
    ['missing access mode', volumeObj('v', '1Gi', { accessModes: ['ReadOnlyMany'] }, { labels: { tier: 'db' } }), false],
    ['selector does not match', volumeObj('v', '1Gi', {}, { labels: { tier: 'web' } }), false],
    ['other volume mode', volumeObj('v', '1Gi', { volumeMode: 'Block' }, { labels: { tier: 'db' } }), false],
  ])('%s', (_n, volume, want) => {
    expect(volumeFitsClaim(volume, claim)).toBe(want);
  });

  it('picks the smallest Available volume that fits, skips bound and Released ones, honours node affinity', () => {
    // Prepare
    const c = claimObj('c');
    const volumes = [
      volumeObj('big', '10Gi'),
      volumeObj('taken', '1Gi', { claimRef: { namespace: 'default', name: 'other', uid: 'u' } }),
      { ...volumeObj('released', '1Gi'), status: { phase: 'Released' } },
      volumeObj('small', '2Gi', onNode('n2')),
      volumeObj('tiny', '512Mi'),
    ];
    // Act + Assess
    expect(findMatchingVolume(c, volumes)?.metadata.name).toBe('small');
    expect(findMatchingVolume(c, volumes, node('n1'))?.metadata.name).toBe('big');
    expect(findMatchingVolume(c, [...volumes, volumeObj('mine', '20Gi', { claimRef: { namespace: 'default', name: 'c' } })])?.metadata.name).toBe('mine');
  });
});

describe('reconcileClaim', () => {
  it('WaitForFirstConsumer: says once that it waits, and does nothing more until a node is chosen', () => {
    // Prepare
    const c = claimObj('c');
    // Act
    const first = reconcileClaim(observed(c));
    const seen = updates(first, 'persistentvolumeclaims')[0]!.object;
    const again = reconcileClaim(observed(seen));
    // Assess
    expect(seen.metadata.annotations).toMatchObject({ [STORAGE.storageProvisionerAnnotation]: 'stratus.io/local-volume' });
    expect(updates(first, 'persistentvolumeclaims')[0]!.event).toMatchObject({ reason: 'WaitForFirstConsumer', message: 'waiting for first consumer to be created before binding' });
    expect(creates(first, 'persistentvolumes')).toHaveLength(0);
    expect(again).toEqual([]);
  });

  it('provisions a Docker-volume PV pinned to the selected node, pre-bound to the claim', () => {
    // Prepare
    const c = claimObj('c', {}, { annotations: { [STORAGE.selectedNodeAnnotation]: 'n1' } });
    // Act
    const actions = reconcileClaim(observed(c));
    // Assess
    const pv = creates(actions, 'persistentvolumes')[0]!.object as KubeObject & { spec: Record<string, unknown> };
    expect(pv.metadata.name).toBe(`pvc-${c.metadata.uid}`);
    expect(pv.spec).toMatchObject({
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'standard',
      claimRef: { namespace: 'default', name: 'c', uid: c.metadata.uid },
      csi: { driver: 'stratus.io/local-volume', volumeHandle: `stratus-pv-pvc-${c.metadata.uid}` },
      ...onNode('n1'),
    });
  });

  it('without the annotation, the node of a bound pod that uses the claim stands in', () => {
    // Prepare
    const c = claimObj('c');
    const p = { ...pod('p', {}, { node: 'n2', phase: 'Pending' }), spec: { containers: [], nodeName: 'n2', volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'c' } }] } };
    // Act
    const actions = reconcileClaim(observed(c, { pods: [p] }));
    // Assess
    expect(updates(actions, 'persistentvolumeclaims')[0]!.object.metadata.annotations?.[STORAGE.selectedNodeAnnotation]).toBe('n2');
    expect((creates(actions, 'persistentvolumes')[0]!.object.spec as object)).toMatchObject(onNode('n2'));
  });

  it('Immediate: binds an Available volume at once, the volume first, then the claim (Bound, capacity, modes)', () => {
    // Prepare
    const c = claimObj('c', { storageClassName: 'fast' });
    const v = volumeObj('v1', '5Gi', { storageClassName: 'fast', accessModes: ['ReadWriteOnce', 'ReadOnlyMany'] });
    // Act
    const actions = reconcileClaim(observed(c, { volumes: [v] }));
    // Assess
    expect(actions.map((a) => (a.type === 'update' ? a.resource : a.type))).toEqual(['persistentvolumes', 'persistentvolumeclaims']);
    const pv = updates(actions, 'persistentvolumes')[0]!.object as KubeObject & { spec: { claimRef: object }; status: object };
    const bound = updates(actions, 'persistentvolumeclaims')[0]!.object as KubeObject & { spec: { volumeName: string }; status: object };
    expect(pv.spec.claimRef).toMatchObject({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'c', uid: c.metadata.uid });
    expect(pv.status).toMatchObject({ phase: 'Bound' });
    expect(bound.spec.volumeName).toBe('v1');
    expect(bound.status).toEqual({ phase: 'Bound', accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], capacity: { storage: '5Gi' } });
    expect(bound.metadata.annotations).toMatchObject({ [STORAGE.bindCompletedAnnotation]: 'yes', [STORAGE.boundByControllerAnnotation]: 'yes' });
  });

  it('a bound claim whose state is already right needs nothing', () => {
    // Prepare
    const c = claimObj('c', { storageClassName: 'fast', volumeName: 'v1' }, { annotations: { [STORAGE.bindCompletedAnnotation]: 'yes' } });
    const v = volumeObj('v1', '1Gi', { storageClassName: 'fast', claimRef: { namespace: 'default', name: 'c', uid: c.metadata.uid } });
    const settled = { ...c, status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } };
    // Act + Assess
    expect(reconcileClaim(observed(settled, { volumes: [{ ...v, status: { phase: 'Bound' } }] }))).toEqual([]);
  });

  it('a bound claim whose volume is gone is Lost', () => {
    const c = { ...claimObj('c', { volumeName: 'gone' }), status: { phase: 'Bound' } };
    const actions = reconcileClaim(observed(c));
    expect((updates(actions, 'persistentvolumeclaims')[0]!.object.status as object)).toEqual({ phase: 'Lost' });
  });

  it('a claim with no class and no volume stays Pending (nothing to provision)', () => {
    expect(reconcileClaim(observed(claimObj('c', { storageClassName: '' })))).toEqual([]);
  });

  it('pvc-protection: a claim being deleted keeps its finalizer while a pod uses it, and loses it after', () => {
    // Prepare
    const c = claimObj('c', {}, { deletionTimestamp: ago(1) });
    const user = { ...pod('p', {}, { node: 'n1', phase: 'Running' }), spec: { containers: [], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'c' } }] } };
    const done = { ...user, status: { phase: 'Succeeded' } };
    // Act
    const held = reconcileClaim(observed(c, { pods: [user] }));
    const released = reconcileClaim(observed(c, { pods: [done] }));
    // Assess
    expect(held).toEqual([]);
    expect(updates(released, 'persistentvolumeclaims')[0]!.object.metadata.finalizers).toEqual([]);
  });
});

describe('reconcileVolume', () => {
  const ref = { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'c', uid: 'claim-uid' };
  const theClaim = { ...claimObj('c'), metadata: { ...claimObj('c').metadata, uid: 'claim-uid' } };
  it.each([
    ['no claimRef: Available', volumeObj('v', '1Gi'), undefined, { phase: 'Available' }, false],
    ['its claim exists: Bound', volumeObj('v', '1Gi', { claimRef: ref }), theClaim, { phase: 'Bound' }, false],
    ['claim gone, Retain: Released', volumeObj('v', '1Gi', { claimRef: ref, persistentVolumeReclaimPolicy: 'Retain' }), undefined, { phase: 'Released' }, false],
    ['claim gone, Delete: Released and deleted', volumeObj('v', '1Gi', { claimRef: ref, persistentVolumeReclaimPolicy: 'Delete' }), undefined, { phase: 'Released' }, true],
    ['claim re-created (other uid), Delete: deleted', volumeObj('v', '1Gi', { claimRef: ref, persistentVolumeReclaimPolicy: 'Delete' }), { ...theClaim, metadata: { ...theClaim.metadata, uid: 'new' } }, { phase: 'Released' }, true],
    ['claim gone, Recycle: Failed', volumeObj('v', '1Gi', { claimRef: ref, persistentVolumeReclaimPolicy: 'Recycle' }), undefined, { phase: 'Failed', reason: 'VolumeFailedRecycle' }, false],
  ])('%s', (_n, volume, claim, status, deleted) => {
    // Act
    const actions = reconcileVolume({ volume: { ...volume, status: { phase: 'Pending' } }, claim, now: NOW });
    // Assess
    expect(updates(actions, 'persistentvolumes')[0]?.object.status).toMatchObject(status);
    expect(deletes(actions, 'persistentvolumes').map((d) => d.name)).toEqual(deleted ? ['v'] : []);
  });
});

describe('StatefulSet volumeClaimTemplates', () => {
  const sts = (policy?: Record<string, string>, replicas = 2) =>
    stored('statefulsets', {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'web' },
      spec: {
        replicas,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'web' } },
        template: { ...template({ app: 'web' }), spec: { containers: [{ name: 'main', image: 'busybox:1' }], volumes: [{ name: 'data', emptyDir: {} }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data', labels: { tier: 'db' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
        ...(policy ? { persistentVolumeClaimRetentionPolicy: policy } : {}),
      },
    });

  it('creates each ordinal\'s claim before its pod and mounts it in place of the template volume', () => {
    // Prepare
    const set = sts();
    // Act
    const actions = reconcileStatefulSet({ sts: set, pods: [], claims: [], now: NOW });
    // Assess
    expect(actions.filter((a) => a.type === 'create').map((a) => a.type === 'create' && `${a.resource}/${a.object.metadata.name}`)).toEqual([
      expect.stringMatching(/^controllerrevisions\/web-/), // the set's revision first (history.ts)
      'persistentvolumeclaims/data-web-0',
      'pods/web-0',
      'persistentvolumeclaims/data-web-1',
      'pods/web-1',
    ]);
    const claim = creates(actions, 'persistentvolumeclaims')[0]!.object;
    expect(claim.metadata.labels).toEqual({ tier: 'db', app: 'web' });
    expect(claim.metadata.ownerReferences).toBeUndefined(); // Retain: the claims outlive the set
    expect((creates(actions)[0]!.object.spec as { volumes: unknown[] }).volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } }]);
  });

  it('existing claims are not made again; whenDeleted Delete makes the set their owner', () => {
    const set = sts({ whenDeleted: 'Delete', whenScaled: 'Retain' });
    const existing = claimObj('data-web-0');
    const actions = reconcileStatefulSet({ sts: set, pods: [], claims: [existing], now: NOW });
    expect(creates(actions, 'persistentvolumeclaims').map((c) => c.object.metadata.name)).toEqual(['data-web-1']);
    expect(creates(actions, 'persistentvolumeclaims')[0]!.object.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: set.metadata.uid }]);
  });

  it('whenScaled Delete removes the claims of ordinals scaled away once their pod is gone; Retain keeps them', () => {
    // Prepare
    const claims = [claimObj('data-web-0'), claimObj('data-web-1'), claimObj('data-web-2')];
    const running = (i: number, set: KubeObject) => pod(`web-${i}`, { app: 'web' }, { owner: set, ownerKind: 'StatefulSet', ready: true });
    const del = sts({ whenDeleted: 'Retain', whenScaled: 'Delete' }, 1);
    const keep = sts(undefined, 1);
    // Act
    const deleting = reconcileStatefulSet({ sts: del, pods: [running(0, del), running(2, del)], claims, now: NOW });
    const keeping = reconcileStatefulSet({ sts: keep, pods: [running(0, keep)], claims, now: NOW });
    // Assess
    expect(deletes(deleting, 'persistentvolumeclaims').map((d) => d.name)).toEqual(['data-web-1']);
    expect(deletes(keeping, 'persistentvolumeclaims')).toEqual([]);
  });
});

describe('PersistentVolumeClaim validation', () => {
  const pvcType = storageTypes.find((t) => t.resource === 'persistentvolumeclaims')!;
  it('requires access modes and a positive storage request', () => {
    const causes = pvcType.validate({ metadata: { name: 'x' }, spec: { accessModes: [], resources: { requests: { storage: '-1' } } } });
    expect(causes.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'spec.accessModes: Required value: at least 1 access mode is required',
      'spec.resources[storage]: Invalid value: "-1": must be greater than zero',
    ]);
  });
  it('binding may set volumeName; growing a bound claim is allowed, shrinking or changing modes is not', () => {
    const old: KubeObject = { ...claimObj('x'), status: { phase: 'Bound' } };
    const spec = old.spec as Record<string, unknown>;
    const withSpec = (s: Record<string, unknown>) => ({ ...old, spec: { ...spec, ...s } });
    expect(pvcType.validate(withSpec({ volumeName: 'v' }), old)).toEqual([]);
    expect(pvcType.validate(withSpec({ resources: { requests: { storage: '2Gi' } } }), old)).toEqual([]);
    expect(pvcType.validate(withSpec({ resources: { requests: { storage: '512Mi' } } }), old).map((c) => c.message)).toEqual(['Forbidden: field can not be less than previous value']);
    expect(pvcType.validate(withSpec({ accessModes: ['ReadWriteMany'] }), old).map((c) => c.field)).toEqual(['spec']);
  });
});
