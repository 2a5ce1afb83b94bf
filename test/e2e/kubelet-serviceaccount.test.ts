import { execFileSync } from 'node:child_process';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #16, the projected service account token volume end to end: ServiceAccount admission
 * adds `kube-api-access-xxxxx` (token, ca.crt from kube-root-ca.crt, namespace) at
 * /var/run/secrets/kubernetes.io/serviceaccount; the node agent asks for a token bound to the
 * pod; that token calls the API as the pod's ServiceAccount until the pod is gone;
 * automountServiceAccountToken on the pod or its ServiceAccount turns the volume off.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
let api: Api;
type Json = any;

const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const idOf = (pod: Json): string => String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
const running = (pod: Json) => (pod.status?.containerStatuses ?? []).length > 0 && pod.status.containerStatuses.every((c: Json) => c.state?.running);

async function runningPod(ns: string, name: string): Promise<Json> {
  return eventually(async () => {
    const pod = (await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).body;
    return pod?.status && running(pod) ? pod : undefined;
  }, 90_000, `pod ${name} running`);
}

const podBody = (name: string, spec: Json = {}) => ({ metadata: { name }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: IMAGE, command: ['sleep', '3600'] }], ...spec } });

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('service account token volume', { timeout: 180_000 }, () => {
  it('a pod in a new namespace sees token, ca.crt and namespace; the token is bound to it and calls the API as its ServiceAccount until it is gone', async () => {
    // Prepare: a fresh namespace (its default ServiceAccount and kube-root-ca.crt come from the controllers)
    const ns = uniqueName('satok');
    expect((await kubectl(['create', 'namespace', ns])).code).toBe(0);
    const name = 'tok';
    // Act
    const created = await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(name));
    expect(created.status, created.text).toBe(201);
    // Assess: admission's additions
    const spec = created.body.spec;
    expect(spec.serviceAccountName).toBe('default');
    const vol = spec.volumes.find((v: Json) => /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/.test(v.name));
    expect(vol?.projected.sources).toEqual([
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    expect(spec.containers[0].volumeMounts).toEqual([{ name: vol.name, readOnly: true, mountPath: DIR }]);
    // The files in the container
    const pod = await runningPod(ns, name);
    const token = docker('exec', idOf(pod), 'cat', `${DIR}/token`);
    expect(docker('exec', idOf(pod), 'cat', `${DIR}/namespace`)).toBe(ns);
    expect(docker('exec', idOf(pod), 'cat', `${DIR}/ca.crt`)).toBe(inject('stack').caCert.trim());
    const claims = decodeJwt(token);
    expect(claims.sub).toBe(`system:serviceaccount:${ns}:default`);
    expect(claims['kubernetes.io']).toMatchObject({ namespace: ns, pod: { name, uid: pod.metadata.uid }, node: { name: inject('stack').nodeName } });
    // The token calls the API (as an in-cluster client would, with ca.crt to verify the server)
    const inCluster = new Api(`${inject('stack').apiUrl}/clusters/default`, token, docker('exec', idOf(pod), 'cat', `${DIR}/ca.crt`));
    // As its ServiceAccount: authenticated, and RBAC grants it nothing in the namespace until bound.
    const denied = await inCluster.get(`/api/v1/namespaces/${ns}/pods/${name}`);
    expect(denied.status).toBe(403);
    expect(denied.body.message).toBe(`pods "${name}" is forbidden: User "system:serviceaccount:${ns}:default" cannot get resource "pods" in API group "" in the namespace "${ns}"`);
    const binding = { metadata: { name: 'default-view' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ns }] };
    expect((await api.post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, binding)).status).toBe(201);
    // An RBAC change reaches every api instance within its cache's 1 s staleness.
    await eventually(async () => ((await inCluster.get(`/api/v1/namespaces/${ns}/pods/${name}`)).status === 200 ? true : undefined), 10_000, 'pod read with view');
    // Act: the pod goes
    expect((await api.delete(`/api/v1/namespaces/${ns}/pods/${name}`)).status).toBe(200);
    // Assess
    await eventually(async () => ((await inCluster.get(`/api/v1/namespaces/${ns}/pods`)).status === 401 ? true : undefined), 60_000, 'token refused once the pod is gone');
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('automountServiceAccountToken: false on the pod or on its ServiceAccount means no volume; the pod wins; an unknown ServiceAccount is refused', async () => {
    // Prepare
    const ns = '/api/v1/namespaces/default';
    const sa = uniqueName('quiet');
    expect((await api.post(`${ns}/serviceaccounts`, { metadata: { name: sa }, automountServiceAccountToken: false })).status).toBe(201);
    // Act
    const podOff = await api.post(`${ns}/pods?dryRun=All`, podBody(uniqueName('off'), { automountServiceAccountToken: false }));
    const saOff = await api.post(`${ns}/pods?dryRun=All`, podBody(uniqueName('saoff'), { serviceAccountName: sa }));
    const podWins = await api.post(`${ns}/pods?dryRun=All`, podBody(uniqueName('wins'), { serviceAccountName: sa, automountServiceAccountToken: true }));
    const own = await api.post(
      `${ns}/pods?dryRun=All`,
      podBody(uniqueName('own'), { volumes: [{ name: 'mine', emptyDir: {} }], containers: [{ name: 'c', image: IMAGE, volumeMounts: [{ name: 'mine', mountPath: DIR }] }] }),
    );
    const unknown = await api.post(`${ns}/pods?dryRun=All`, podBody('nosa', { serviceAccountName: 'nobody' }));
    // Assess
    expect(podOff.status).toBe(201);
    expect(podOff.body.spec.volumes ?? []).toEqual([]);
    expect(saOff.body.spec.volumes ?? []).toEqual([]);
    expect(saOff.body.spec.serviceAccountName).toBe(sa);
    expect(podWins.body.spec.volumes.map((v: Json) => v.name)).toEqual([expect.stringMatching(/^kube-api-access-/)]);
    expect(own.body.spec.volumes.map((v: Json) => v.name)).toEqual(['mine']);
    expect(unknown.status).toBe(403);
    expect(unknown.body.message).toBe('pods "nosa" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found');
  });
});
