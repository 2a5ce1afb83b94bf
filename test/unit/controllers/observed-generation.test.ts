import { describe, expect, it } from 'vitest';
import { updates, type Action } from '../../../functions/controllers/actions';
import { reconcileDaemonSet } from '../../../functions/controllers/daemonset';
import { reconcileDeployment } from '../../../functions/controllers/deployment';
import { reconcileJob } from '../../../functions/controllers/job';
import { reconcileReplicaSet } from '../../../functions/controllers/replicaset';
import { reconcileReplicationController } from '../../../functions/controllers/replicationcontroller';
import { reconcileStatefulSet } from '../../../functions/controllers/statefulset';
import type { KubeObject } from '../../../shared/resources';
import { NOW, stored, template } from './fixtures';

/*
 * Every workload controller writes status.observedGeneration in the very write that carries the
 * status it describes: one update of the object as read (conditional on its resourceVersion, so
 * a spec change in between makes it a Conflict and a fresh reconcile), never a status computed
 * for one generation stamped with another. `kubectl rollout status` trusts exactly that.
 */

/** A stored object at generation 7 whose status was observed at generation 6. */
function at7(resource: string, obj: KubeObject): KubeObject {
  const o = stored(resource, obj);
  return { ...o, metadata: { ...o.metadata, generation: 7, resourceVersion: '42' }, status: { observedGeneration: 6 } };
}
const sel = { matchLabels: { app: 'w' } };
const tmpl = template({ app: 'w' }, 'busybox:2');

const cases: { kind: string; resource: string; object: () => KubeObject; reconcile: (o: KubeObject) => Action[]; observedGeneration: boolean; describes: (status: Record<string, unknown>) => void }[] = [
  {
    kind: 'Deployment',
    resource: 'deployments',
    object: () => at7('deployments', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'w' }, spec: { replicas: 2, selector: sel, template: tmpl } }),
    reconcile: (o) => reconcileDeployment({ deployment: o, replicaSets: [], pods: [], now: NOW }),
    observedGeneration: true,
    describes: (s) => expect(s).toMatchObject({ updatedReplicas: 0, replicas: 0 }),
  },
  {
    kind: 'ReplicaSet',
    resource: 'replicasets',
    object: () => at7('replicasets', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'w' }, spec: { replicas: 2, selector: sel, template: tmpl } }),
    reconcile: (o) => reconcileReplicaSet({ rs: o, pods: [], now: NOW }),
    observedGeneration: true,
    describes: (s) => expect(s).toMatchObject({ replicas: 0, readyReplicas: 0 }),
  },
  {
    kind: 'ReplicationController',
    resource: 'replicationcontrollers',
    object: () => at7('replicationcontrollers', { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'w' }, spec: { replicas: 2, selector: { app: 'w' }, template: tmpl } }),
    reconcile: (o) => reconcileReplicationController({ rs: o, pods: [], now: NOW }),
    observedGeneration: true,
    describes: (s) => expect(s).toMatchObject({ replicas: 0, readyReplicas: 0 }),
  },
  {
    kind: 'DaemonSet',
    resource: 'daemonsets',
    object: () => at7('daemonsets', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'w' }, spec: { selector: sel, template: tmpl } }),
    reconcile: (o) => reconcileDaemonSet({ ds: o, nodes: [{ metadata: { name: 'n1' } }], pods: [], now: NOW }),
    observedGeneration: true,
    describes: (s) => expect(s).toMatchObject({ desiredNumberScheduled: 1, updatedNumberScheduled: 0 }),
  },
  {
    kind: 'StatefulSet',
    resource: 'statefulsets',
    object: () => at7('statefulsets', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'w' }, spec: { replicas: 2, selector: sel, template: tmpl } }),
    reconcile: (o) => reconcileStatefulSet({ sts: o, pods: [], now: NOW }),
    observedGeneration: true,
    describes: (s) => expect(s).toMatchObject({ replicas: 0, updatedReplicas: 0, updateRevision: expect.stringMatching(/^w-/) }),
  },
  {
    // batch/v1 JobStatus has no observedGeneration in Kubernetes: the same single write, without it.
    kind: 'Job',
    resource: 'jobs',
    object: () => at7('jobs', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'w' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1' }] } } } }),
    reconcile: (o) => reconcileJob({ job: { ...o, status: {} }, pods: [], now: NOW }),
    observedGeneration: false,
    describes: (s) => expect(s).toMatchObject({ active: 1 }),
  },
];

describe('status.observedGeneration is written with the status it describes', () => {
  for (const c of cases)
    it(c.kind, () => {
      // Prepare
      const obj = c.object();
      // Act
      const writes = updates(c.reconcile(obj), c.resource);
      // Assess: one write, of the object as read, carrying status and its generation together
      expect(writes).toHaveLength(1);
      const written = writes[0]!.object;
      expect(written.metadata.resourceVersion).toBe('42');
      expect(written.metadata.generation).toBe(7);
      expect(written.spec).toEqual(obj.spec);
      const status = written.status as Record<string, unknown>;
      if (c.observedGeneration) expect(status.observedGeneration).toBe(7);
      else expect(status.observedGeneration).toBeUndefined();
      c.describes(status);
    });
});
