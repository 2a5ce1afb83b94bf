import type { KubeObject } from '../../../shared/resources';
import { resourceByName } from '../../../shared/resources';

/** Test objects as the store would hold them: defaulted, with uid, version and creation time. */
let seq = 0;
export const NOW = new Date('2026-01-01T12:00:00Z');
export const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

export function stored(resource: string, obj: KubeObject, created = ago(600)): KubeObject {
  const o = resourceByName(resource).applyDefaults(structuredClone(obj));
  return { ...o, metadata: { namespace: 'default', uid: `uid-${++seq}`, resourceVersion: String(seq), generation: 1, creationTimestamp: created, ...o.metadata } };
}

export const template = (labels: Record<string, string>, image = 'busybox:1') => ({
  metadata: { labels },
  spec: { containers: [{ name: 'main', image }] },
});

export function pod(name: string, labels: Record<string, string>, opts: { owner?: KubeObject; ownerKind?: string; phase?: string; ready?: boolean; readySince?: string; node?: string; created?: string; deleting?: boolean; restarts?: number; annotations?: Record<string, string> } = {}): KubeObject {
  const phase = opts.phase ?? (opts.ready ? 'Running' : 'Pending');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `pod-${name}`,
      resourceVersion: '1',
      labels,
      creationTimestamp: opts.created ?? ago(300),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.deleting ? { deletionTimestamp: ago(1) } : {}),
      ...(opts.owner
        ? { ownerReferences: [{ apiVersion: opts.ownerKind === 'Job' ? 'batch/v1' : opts.ownerKind === 'ReplicationController' ? 'v1' : 'apps/v1', kind: opts.ownerKind ?? 'ReplicaSet', name: opts.owner.metadata.name!, uid: opts.owner.metadata.uid!, controller: true, blockOwnerDeletion: true }] }
        : {}),
    },
    spec: { containers: [{ name: 'main', image: 'busybox:1' }], ...(opts.node ?? (opts.ready ? 'node-1' : undefined) ? { nodeName: opts.node ?? 'node-1' } : {}) },
    status: {
      phase,
      conditions: opts.ready !== undefined ? [{ type: 'Ready', status: opts.ready ? 'True' : 'False', lastTransitionTime: opts.readySince ?? ago(120) }] : [],
      containerStatuses: [{ name: 'main', restartCount: opts.restarts ?? 0 }],
    },
  };
}
