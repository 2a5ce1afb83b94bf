import { describe, expect, it } from 'vitest';
import { schedulePod } from '../../../functions/scheduler/framework';
import { defaultFilters, defaultScores } from '../../../functions/scheduler/plugins';
import { attachVolumeView, REASONS, VolumeBinding, volumeChangeMayUnblock, volumeView } from '../../../functions/scheduler/plugins/volume-binding';
import type { KubeObject } from '../../../shared/resources';
import { at, cluster, node, pod } from './fixtures';

/** VolumeBinding: claims, their volumes' node affinity, WaitForFirstConsumer and provisioning. */

const claim = (name: string, o: { volumeName?: string; className?: string; deleting?: boolean } = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: o.className ?? 'standard', ...(o.volumeName ? { volumeName: o.volumeName } : {}) },
});
const volume = (name: string, nodeName?: string, className = 'standard', claimRef?: object): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: {
    capacity: { storage: '1Gi' },
    accessModes: ['ReadWriteOnce'],
    storageClassName: className,
    ...(claimRef ? { claimRef } : {}),
    ...(nodeName ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] }] } } } : {}),
  },
  status: { phase: claimRef ? 'Bound' : 'Available' },
});
const sc = (name: string, mode: string, provisioner = 'stratus.io/local-volume'): KubeObject => ({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner, volumeBindingMode: mode });
const classes = [sc('standard', 'WaitForFirstConsumer'), sc('fast', 'Immediate'), sc('remote', 'WaitForFirstConsumer', 'example.com/nas')];
const usingClaims = (...names: string[]) => pod('p', { volumes: names.map((n, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: n } })) });

describe('VolumeBinding filter', () => {
  it.each([
    ['no claims', [], [], true, undefined],
    ['missing claim', ['nope'], [], false, REASONS.notFound('nope')],
    ['claim being deleted', ['c'], [claim('c', { deleting: true })], false, REASONS.deleting('c')],
    ['bound, volume on this node', ['c'], [claim('c', { volumeName: 'pv-a' })], true, undefined],
    ['bound, volume on another node', ['c'], [claim('c', { volumeName: 'pv-b' })], false, REASONS.affinityConflict],
    ['bound, volume anywhere', ['c'], [claim('c', { volumeName: 'pv-any' })], true, undefined],
    ['bound to a volume that is gone', ['c'], [claim('c', { volumeName: 'pv-gone' })], false, REASONS.missingVolume],
    ['unbound Immediate', ['c'], [claim('c', { className: 'fast' })], false, REASONS.unboundImmediate],
    ['unbound without class', ['c'], [claim('c', { className: '' })], false, REASONS.unboundImmediate],
    ['unbound WaitForFirstConsumer, provisionable', ['c'], [claim('c')], true, undefined],
    ['unbound WaitForFirstConsumer, other provisioner, no volume here', ['r'], [claim('r', { className: 'remote' })], false, REASONS.noVolume, [volume('pv-r', 'b', 'remote')]],
    ['unbound WaitForFirstConsumer, other provisioner, matching volume here', ['r'], [claim('r', { className: 'remote' })], true, undefined, [volume('pv-r', 'a', 'remote')]],
  ])('%s', (_n, names, claims, want, reason, extraVolumes: KubeObject[] = []) => {
    // Prepare
    const c = cluster([node('a'), node('b')]);
    const ref = { namespace: 'default', name: 'c', uid: 'uid-c' };
    attachVolumeView(c, volumeView(claims, [volume('pv-a', 'a', 'standard', ref), volume('pv-b', 'b', 'standard', ref), volume('pv-any', undefined, 'standard', ref), ...extraVolumes], classes));
    // Act
    const r = VolumeBinding.filter(usingClaims(...names), at(c, 'a'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (reason) expect(r.reasons).toEqual([reason]);
  });

  it('the scheduler picks the node of a bound volume, and reports a missing claim in its message', () => {
    // Prepare
    const c = cluster([node('a'), node('b')]);
    attachVolumeView(c, volumeView([claim('c', { volumeName: 'pv-b' })], [volume('pv-b', 'b', 'standard', { namespace: 'default', name: 'c', uid: 'uid-c' })], classes));
    const missing = cluster([node('a')]);
    attachVolumeView(missing, volumeView([], [], classes));
    // Act
    const placed = schedulePod(usingClaims('c'), c, defaultFilters, defaultScores);
    const refused = schedulePod(usingClaims('nope'), missing, defaultFilters, defaultScores);
    // Assess
    expect(placed.kind === 'bind' && placed.node.node.metadata.name).toBe('b');
    expect(refused.kind === 'unschedulable' && refused.message).toBe('0/1 nodes are available: 1 persistentvolumeclaim "nope" not found.');
  });
});

describe('volumeChangeMayUnblock', () => {
  it.each([
    ['a claim created', { resource: 'persistentvolumeclaims', eventName: 'INSERT', newObject: claim('c') }, true],
    ['a claim bound', { resource: 'persistentvolumeclaims', eventName: 'MODIFY', oldObject: claim('c'), newObject: claim('c', { volumeName: 'v' }) }, true],
    ['a claim annotated', { resource: 'persistentvolumeclaims', eventName: 'MODIFY', oldObject: claim('c'), newObject: claim('c') }, false],
    ['a volume created', { resource: 'persistentvolumes', eventName: 'INSERT', newObject: volume('v') }, true],
    ['a pod changed', { resource: 'pods', eventName: 'MODIFY', newObject: pod('p') }, false],
  ])('%s', (_n, change, want) => {
    expect(volumeChangeMayUnblock({ tenant: 't', sequenceNumber: '1', ...change } as Parameters<typeof volumeChangeMayUnblock>[0])).toBe(want);
  });
});
