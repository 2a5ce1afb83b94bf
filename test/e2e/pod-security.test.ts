/**
 * Issue #16, Pod Security admission through the real kubectl: the default cluster enforces
 * baseline; a namespace labelled privileged admits what baseline refuses; labelling a namespace
 * stricter warns about the pods already there; a workload whose template violates gets a
 * warning and its pods are refused, with an event, when the controller creates them; a cluster
 * created with --pod-security restricted enforces restricted, except in kube-system.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';
import { privilegedNamespace } from '../helpers/pods';

const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;
const namespaces: string[] = [];

beforeAll(() => {
  api = Api.forTenant('default');
});

afterAll(async () => {
  for (const ns of namespaces) await api.delete(`/api/v1/namespaces/${ns}`);
});

async function namespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName(prefix);
  const r = await api.post('/api/v1/namespaces', { metadata: { name, labels } });
  expect(r.status, r.text).toBe(201);
  namespaces.push(name);
  return name;
}

const podYaml = (name: string, spec: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
${spec}
  containers:
  - name: main
    image: ${IMAGE}
    command: [sleep, "3600"]
`;

describe('Pod Security admission', () => {
  it('refuses a hostNetwork pod in a default namespace with Kubernetes\' exact message', async () => {
    // Prepare
    const ns = await namespace('psa-default');
    const name = uniqueName('hostnet');
    // Act
    const out = await kubectl(['apply', '-n', ns, '-f', '-'], { input: podYaml(name, '  hostNetwork: true') });
    // Assess
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": pods "${name}" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
    );
    expect((await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).status).toBe(404);
  });

  it('names every violation, in order, with the 403 Status', async () => {
    const ns = await namespace('psa-status');
    const r = await api.post(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'x' },
      spec: { hostNetwork: true, containers: [{ name: 'c', image: IMAGE, securityContext: { privileged: true } }] },
    });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(r.body.message).toBe('pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), privileged (container "c" must not set securityContext.privileged=true)');
  });

  it('admits it in a namespace labelled privileged', async () => {
    // Prepare
    const ns = `psa-privileged-${process.pid}`;
    await privilegedNamespace(api, ns);
    namespaces.push(ns);
    const name = uniqueName('hostnet');
    // Act
    const out = await kubectl(['apply', '-n', ns, '-f', '-'], { input: podYaml(name, '  hostNetwork: true') });
    // Assess
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe(`pod/${name} created`);
    await api.delete(`/api/v1/namespaces/${ns}/pods/${name}?gracePeriodSeconds=0`);
  });

  it('warns, as kubectl label prints, about existing pods a stricter enforce level would refuse', async () => {
    // Prepare: two plain pods (fine at baseline) and a restricted one
    const ns = await namespace('psa-label');
    for (const name of ['plain-b', 'plain-a']) expect((await kubectl(['apply', '-n', ns, '-f', '-'], { input: podYaml(name, '') })).code).toBe(0);
    const restricted = `apiVersion: v1
kind: Pod
metadata: {name: tidy}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: main
    image: ${IMAGE}
    command: [sleep, "3600"]
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`;
    expect((await kubectl(['apply', '-n', ns, '-f', '-'], { input: restricted })).code).toBe(0);
    // Act
    const out = await kubectl(['label', 'ns', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    // Assess
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe(`namespace/${ns} labeled`);
    expect(out.stderr.trim().split('\n')).toEqual([
      `Warning: existing pods in namespace "${ns}" violate the new PodSecurity enforce level "restricted:latest"`,
      'Warning: plain-a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile',
    ]);
    // A relaxed level says nothing; a new pod now meets restricted.
    expect((await kubectl(['label', '--overwrite', 'ns', ns, 'pod-security.kubernetes.io/enforce=baseline'])).stderr).toBe('');
  });

  it('refuses a label that is no level or version with 422', async () => {
    const ns = await namespace('psa-bad');
    const out = await kubectl(['label', 'ns', ns, 'pod-security.kubernetes.io/enforce=strict']);
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(
      `The Namespace "${ns}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
    );
  });

  it('warns about a Deployment whose template violates, and its ReplicaSet\'s pods are refused with an event', async () => {
    // Prepare
    const ns = await namespace('psa-deploy');
    const name = uniqueName('web');
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      hostNetwork: true
      containers:
      - name: main
        image: ${IMAGE}
        command: [sleep, "3600"]
`;
    // Act
    const out = await kubectl(['apply', '-n', ns, '-f', '-'], { input: deployment });
    // Assess
    expect(out.code).toBe(0);
    expect(out.stderr.trim()).toBe('Warning: would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)');
    expect(out.stdout.trim()).toBe(`deployment.apps/${name} created`);
    const event = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/${ns}/events`);
      return (r.body.items ?? []).find((e: { reason: string; involvedObject: { kind: string } }) => e.reason === 'FailedCreate' && e.involvedObject.kind === 'ReplicaSet');
    }, 60_000, 'the ReplicaSet FailedCreate event');
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(new RegExp(`^Error creating: pods "${name}-[a-z0-9]+-[a-z0-9]+" is forbidden: violates PodSecurity "baseline:latest": host namespaces \\(hostNetwork=true\\)$`));
    expect((await api.get(`/api/v1/namespaces/${ns}/pods`)).body.items).toEqual([]);
    const described = await kubectl(['describe', 'rs', '-n', ns, '-l', `app=${name}`]);
    expect(described.stdout).toMatch(/FailedCreate .*violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\)/);
  });

  it('a cluster created with --pod-security restricted enforces restricted, and kube-system is privileged', async () => {
    // Prepare
    const stack = inject('stack');
    const operator = new Api(stack.apiUrl, readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim(), stack.caCert);
    const cluster = uniqueName('psa').replace(/[^a-z0-9-]/g, '').slice(0, 40);
    const created = await operator.send('POST', '/stratus/v1/clusters', { metadata: { name: cluster }, spec: { podSecurity: 'restricted' } });
    expect(created.status, created.text).toBe(201);
    const tenant = new Api(`${stack.apiUrl}/clusters/${cluster}`, created.body.credentials.token, stack.caCert);
    try {
      // Act
      const plain = await tenant.post('/api/v1/namespaces/default/pods', { metadata: { name: 'plain' }, spec: { containers: [{ name: 'c', image: IMAGE }] } });
      const system = await tenant.post('/api/v1/namespaces/kube-system/pods', { metadata: { name: 'hostnet' }, spec: { hostNetwork: true, containers: [{ name: 'c', image: IMAGE }] } });
      // Assess
      expect(plain.status).toBe(403);
      expect(plain.body.message).toMatch(/^pods "plain" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
      expect(system.status, system.text).toBe(201);
    } finally {
      await operator.send('DELETE', `/stratus/v1/clusters/${cluster}`);
    }
  }, 120_000);
});
