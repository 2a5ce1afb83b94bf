import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeNodeContainers, startNodeAgent } from '../helpers/agent';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Pod GC of orphaned pods (functions/controllers/podgc.ts), as Kubernetes' PodGC does it: a node
 * whose kubelet died is deleted with `kubectl delete node` → its pods are force-deleted, and
 * their ReplicaSet makes replacements. A second, real node agent of the default tenant plays the
 * node; it is tainted so that other test files' pods never land on it.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const TAINT = { key: 'stratus.test/podgc', value: 'true', effect: 'NoSchedule' };
let api: Api;
let agent: ChildProcess | undefined;
let nodeName: string;
type Json = any;

beforeAll(async () => {
  api = Api.forTenant('default');
  nodeName = `podgc-${process.pid}`;
  agent = startNodeAgent(nodeName, { taint: TAINT });
  await eventually(async () => ((await api.get(`/api/v1/nodes/${nodeName}`)).status === 200 ? true : undefined), 60_000, 'second node registered');
});

afterAll(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  await api.delete(`/api/v1/nodes/${nodeName}`);
  removeNodeContainers(nodeName);
});

describe('pod garbage collection', () => {
  it("a deleted node's pods are force-deleted and their ReplicaSet replaces them", async () => {
    // Prepare: two replicas that must not share a node → one on each node; a bare pod pinned to the second node
    const app = uniqueName('podgc');
    const tolerations = [{ key: TAINT.key, operator: 'Exists', effect: TAINT.effect }];
    const rs = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: app },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app } },
        template: {
          metadata: { labels: { app } },
          spec: {
            tolerations,
            terminationGracePeriodSeconds: 1,
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' }] } },
            containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }],
          },
        },
      },
    };
    expect((await api.post('/apis/apps/v1/namespaces/default/replicasets', rs)).status).toBe(201);
    const bare = uniqueName('bare');
    const pinned = { metadata: { name: bare }, spec: { nodeSelector: { 'kubernetes.io/hostname': nodeName }, tolerations, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] } };
    expect((await api.post(`${NS}/pods`, pinned)).status).toBe(201);
    const runningThere = await eventually(async () => {
      const pods: Json[] = (await api.get(`${NS}/pods?labelSelector=app%3D${app}`)).body.items;
      const bareNow = (await api.get(`${NS}/pods/${bare}`)).body;
      const there = pods.find((p) => p.spec.nodeName === nodeName && p.status?.phase === 'Running');
      return there && bareNow.status?.phase === 'Running' ? there : undefined;
    }, 90_000, 'a replica and the bare pod running on the second node');

    // Act: the node's kubelet dies, then the admin deletes the node
    agent!.kill('SIGKILL');
    const deleted = await kubectl(['delete', 'node', nodeName]);

    // Assess: both pods on it are gone; the ReplicaSet made a replacement (Pending: only one node is left for anti-affinity)
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually(async () => {
      const a = await api.get(`${NS}/pods/${runningThere.metadata.name}`);
      const b = await api.get(`${NS}/pods/${bare}`);
      return a.status === 404 && b.status === 404 ? true : undefined;
    }, 60_000, "the dead node's pods removed");
    const replaced = await eventually(async () => {
      const pods: Json[] = (await api.get(`${NS}/pods?labelSelector=app%3D${app}`)).body.items;
      return pods.length === 2 && !pods.some((p) => p.metadata.name === runningThere.metadata.name) ? pods : undefined;
    }, 60_000, 'a replacement replica');
    expect(replaced.every((p) => p.spec.nodeName !== nodeName)).toBe(true);
    const events: Json[] = (await api.get(`${NS}/events?fieldSelector=involvedObject.name%3D${bare}`)).body.items;
    expect(events.map((e) => e.reason)).toContain('DeletionByPodGC');
    await api.delete(`/apis/apps/v1/namespaces/default/replicasets/${app}`);
  }, 300_000);
});
