import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #3 leftovers, end to end: the pods/binding subresource (what a custom scheduler calls),
 * `kubectl wait --for=condition=Ready`, and `kubectl delete --cascade=foreground|background`.
 */
const run = promisify(execFile);
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;

function kubectl(...args: string[]) {
  return run('kubectl', args, { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath }, timeout: 120_000 });
}

beforeAll(() => {
  api = Api.forTenant('default');
});

const podFor = (name: string, schedulerName: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { schedulerName, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] },
});

describe('pods/binding', () => {
  it('binds a pod a custom scheduler placed, once; the agent then runs it', async () => {
    // Prepare: a pod the default scheduler leaves alone.
    const name = uniqueName('bound');
    const node = inject('stack').nodeName;
    expect((await api.post('/api/v1/namespaces/default/pods', podFor(name, 'my-scheduler'))).status).toBe(201);
    // Act
    const bound = await api.post(`/api/v1/namespaces/default/pods/${name}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    });
    // Assess
    expect(bound.status).toBe(201);
    expect(bound.body).toMatchObject({ kind: 'Status', status: 'Success' });
    const pod = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
      return r.body.status?.phase === 'Running' ? r.body : undefined;
    }, 60_000, 'bound pod Running');
    expect(pod.spec.nodeName).toBe(node);
    expect(pod.status.conditions.find((c: { type: string }) => c.type === 'PodScheduled')).toMatchObject({ status: 'True' });
    const again = await api.post(`/api/v1/namespaces/default/pods/${name}/binding`, { target: { kind: 'Node', name: node } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });

  it('rejects a missing node with 404 and a malformed binding with 400, changing nothing', async () => {
    const name = uniqueName('unbound');
    await api.post('/api/v1/namespaces/default/pods', podFor(name, 'my-scheduler'));
    expect((await api.post(`/api/v1/namespaces/default/pods/${name}/binding`, { target: { kind: 'Node', name: 'no-such-node' } })).status).toBe(404);
    expect((await api.post(`/api/v1/namespaces/default/pods/${name}/binding`, { target: {} })).status).toBe(400);
    expect((await api.get(`/api/v1/namespaces/default/pods/${name}`)).body.spec.nodeName).toBeUndefined();
    await api.delete(`/api/v1/namespaces/default/pods/${name}`);
  });
});

describe('kubectl wait and cascading deletes', () => {
  it('kubectl wait --for=condition=Ready returns once the pod is Ready', async () => {
    const name = uniqueName('waitfor');
    await api.post('/api/v1/namespaces/default/pods', podFor(name, 'default-scheduler'));
    const { stdout } = await kubectl('wait', '--for=condition=Ready', `pod/${name}`, '--timeout=90s');
    expect(stdout).toContain(`pod/${name} condition met`);
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });

  it.each(['foreground', 'background'])('kubectl delete deployment --cascade=%s removes its ReplicaSets and pods', async (cascade) => {
    // Prepare
    const name = uniqueName(`casc-${cascade}`).slice(0, 50);
    await kubectl('create', 'deployment', name, `--image=${IMAGE}`, '--replicas=2', '--', 'sleep', '3600');
    const podsOf = async () =>
      (await api.get(`/api/v1/namespaces/default/pods?labelSelector=app=${name}`)).body.items as { metadata: { name: string } }[];
    await eventually(async () => ((await podsOf()).length === 2 ? true : undefined), 90_000, 'two pods');
    // Act
    await kubectl('delete', 'deployment', name, `--cascade=${cascade}`, '--wait=true', '--timeout=90s');
    // Assess
    await eventually(async () => {
      const rs = (await api.get(`/apis/apps/v1/namespaces/default/replicasets?labelSelector=app=${name}`)).body.items;
      return rs.length === 0 && (await podsOf()).length === 0 ? true : undefined;
    }, 90_000, 'dependents gone');
    expect((await api.get(`/apis/apps/v1/namespaces/default/deployments/${name}`)).status).toBe(404);
  });
});
