import { describe, expect, it } from 'vitest';
import { resourceTypes, type KubeObject } from '../../shared/resources';

const byKind = (group: string, version: string, kind: string) => {
  const rt = resourceTypes.find((t) => t.group === group && t.version === version && t.kind === kind);
  if (!rt) throw new Error(`no kind ${group}/${version} ${kind}`);
  return rt;
};

describe('a created object starts from its kind zero status, whatever the client sent', () => {
  it.each([
    ['apps', 'v1', 'Deployment', {}],
    ['apps', 'v1', 'ReplicaSet', { replicas: 0 }],
    ['apps', 'v1', 'DaemonSet', { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 }],
    ['apps', 'v1', 'StatefulSet', { replicas: 0, availableReplicas: 0 }],
    ['batch', 'v1', 'Job', {}],
    ['batch', 'v1', 'CronJob', {}],
    ['autoscaling', 'v2', 'HorizontalPodAutoscaler', { desiredReplicas: 0 }],
    ['autoscaling', 'v1', 'HorizontalPodAutoscaler', { desiredReplicas: 0 }],
    ['policy', 'v1', 'PodDisruptionBudget', { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }],
    ['', 'v1', 'ReplicationController', { replicas: 0 }],
  ])('%s/%s %s', (group, version, kind, zero) => {
    // Prepare
    const rt = byKind(group, version, kind);
    const sent = { apiVersion: version, kind, metadata: { name: 'x' }, spec: {}, status: { replicas: 7, readyReplicas: 7, conditions: [{ type: 'Bogus' }] } } as KubeObject;
    // Act
    const first = rt.prepareForCreate!(sent);
    const second = rt.prepareForCreate!(sent);
    // Assess
    expect(first.status).toEqual(zero);
    expect(first.status).not.toBe(second.status); // a fresh object each time, never a shared one
  });
});
