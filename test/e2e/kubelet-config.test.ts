import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { waitForPod as waitForPodIn } from '../helpers/pods';

/*
 * Issue #5, ConfigMaps, Secrets and container environments, end to end over HTTPS: the kinds
 * with Kubernetes' validation, and real containers whose environment the agent builds from
 * them (read back with `docker exec env`).
 */
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;
type Json = any;

const NS = '/api/v1/namespaces/default';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);

const envOf = (pod: Json): Record<string, string> => {
  const id = String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
  const lines = docker('exec', id, 'env').split('\n');
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
};

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('ConfigMap', () => {
  it('is created, read back and updated; immutable ones refuse changes to data', async () => {
    // Prepare
    const name = uniqueName('cm');
    // Act
    const created = await api.post(`${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { color: 'blue' }, immutable: true });
    const changed = await api.patch(`${NS}/configmaps/${name}`, { data: { color: 'red' } });
    const relabelled = await api.patch(`${NS}/configmaps/${name}`, { metadata: { labels: { a: 'b' } } });
    // Assess
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', data: { color: 'blue' }, immutable: true });
    expect(changed.status).toBe(422);
    expect(changed.body).toMatchObject({ kind: 'Status', reason: 'Invalid' });
    expect(changed.body.message).toContain('data: Forbidden: field is immutable when `immutable` is set');
    expect(relabelled.status).toBe(200);
    expect((await api.get(`${NS}/configmaps/${name}`)).body.data).toEqual({ color: 'blue' });
  });

  it('rejects invalid keys with 422 in Kubernetes words', async () => {
    // Act
    const r = await api.post(`${NS}/configmaps`, { metadata: { name: uniqueName('cm-bad') }, data: { 'not valid!': 'x' } });
    // Assess
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('Invalid value: "not valid!": a valid config key must consist of alphanumeric characters');
  });
});

describe('Secret', () => {
  it('merges stringData into data as base64 and defaults type to Opaque', async () => {
    // Prepare
    const name = uniqueName('secret');
    // Act
    const created = await api.post(`${NS}/secrets`, { metadata: { name }, data: { a: b64('one') }, stringData: { b: 'two', a: 'wins' } });
    // Assess
    expect(created.status, created.text).toBe(201);
    expect(created.body.type).toBe('Opaque');
    expect(created.body.data).toEqual({ a: b64('wins'), b: b64('two') });
    expect(created.body.stringData).toBeUndefined();
    expect((await api.get(`${NS}/secrets/${name}`)).body.data).toEqual({ a: b64('wins'), b: b64('two') });
  });

  it('refuses data that is not base64 (400), missing keys of its type and a changed type (422)', async () => {
    // Act
    const badBase64 = await api.post(`${NS}/secrets`, { metadata: { name: uniqueName('s-b64') }, data: { k: 'not base64!' } });
    const tls = await api.post(`${NS}/secrets`, { metadata: { name: uniqueName('s-tls') }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('c') } });
    const name = uniqueName('s-type');
    await api.post(`${NS}/secrets`, { metadata: { name }, stringData: { k: 'v' } });
    const retyped = await api.patch(`${NS}/secrets/${name}`, { type: 'kubernetes.io/basic-auth' });
    // Assess
    expect(badBase64.status).toBe(400);
    expect(badBase64.body.message).toContain('illegal base64 data at input byte 3');
    expect(tls.status).toBe(422);
    expect(tls.body.message).toContain('data[tls.key]: Required value');
    expect(retyped.status).toBe(422);
    expect(retyped.body.message).toContain('type: Invalid value: "kubernetes.io/basic-auth": field is immutable');
  });

  it('a node may neither get a Secret no pod of it uses nor list Secrets (node authorizer)', async () => {
    // Prepare
    const name = uniqueName('s-node');
    await api.post(`${NS}/secrets`, { metadata: { name }, stringData: { k: 'v' } });
    const node = Api.forTenant('default', inject('stack').nodeToken);
    // Act
    const got = await node.get(`${NS}/secrets/${name}`);
    const listed = await node.get(`${NS}/secrets`);
    // Assess (test/e2e/node-authorizer.test.ts: the Secret its pod uses it may get)
    expect(got.status).toBe(403);
    expect(listed.status).toBe(403);
    expect(listed.body.reason).toBe('Forbidden');
  });
});

describe('container environment', () => {
  it('resolves fieldRef, resourceFieldRef, ConfigMap and Secret references, envFrom and $(VAR) expansion', async () => {
    // Prepare
    const cm = uniqueName('env-cm');
    const secret = uniqueName('env-secret');
    const name = uniqueName('env-pod');
    await api.post(`${NS}/configmaps`, { metadata: { name: cm }, data: { color: 'blue', size: 'L', '1st': 'not a variable name' } });
    await api.post(`${NS}/secrets`, { metadata: { name: secret }, stringData: { password: 's3cret' } });
    // Act
    const r = await api.post(`${NS}/pods`, {
      metadata: { name, labels: { app: 'envtest' }, annotations: { note: 'hi' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'main',
            image: IMAGE,
            // $0 of the script is the expanded argument; the shell never re-reads it.
            command: ['sh', '-c', 'echo "$0" > /tmp/args; sleep 3600', 'hi $(POD_NAME) in $(COLOR), $$(COLOR)'],
            resources: { limits: { memory: '64Mi', cpu: '250m' } },
            envFrom: [{ configMapRef: { name: cm }, prefix: 'CM_' }, { configMapRef: { name: cm } }, { configMapRef: { name: 'no-such-cm', optional: true } }],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'NOTE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['note']" } } },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
              { name: 'COLOR', valueFrom: { configMapKeyRef: { name: cm, key: 'color' } } },
              { name: 'MAYBE', valueFrom: { configMapKeyRef: { name: cm, key: 'absent', optional: true } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } },
              { name: 'GREETING', value: 'hello $(POD_NAME) in $(COLOR), $(UNDEFINED) and $$(COLOR)' },
            ],
          },
        ],
      },
    });
    expect(r.status, r.text).toBe(201);
    // Assess
    const pod = await waitForPod(name, 'running', (p) => p.status.containerStatuses?.[0]?.state?.running !== undefined);
    const env = envOf(pod);
    expect(env).toMatchObject({
      POD_NAME: name,
      POD_NAMESPACE: 'default',
      POD_UID: pod.metadata.uid,
      APP: 'envtest',
      NOTE: 'hi',
      NODE: inject('stack').nodeName,
      POD_IP: pod.status.podIP,
      HOST_IP: pod.status.hostIP,
      MEM_MI: '64',
      CPU_M: '250',
      COLOR: 'blue',
      PASSWORD: 's3cret',
      CM_color: 'blue',
      CM_size: 'L',
      CM_1st: 'not a variable name',
      size: 'L',
      GREETING: `hello ${name} in blue, $(UNDEFINED) and $(COLOR)`,
    });
    expect(env.MAYBE).toBeUndefined();
    // "1st" is not a variable name without a prefix: skipped, with an event.
    expect(env['1st']).toBeUndefined();
    const events = (await api.get(`${NS}/events?fieldSelector=involvedObject.name=${name}`)).body.items;
    expect(events.map((e: Json) => e.reason)).toContain('InvalidEnvironmentVariableNames');
    const id = String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
    await eventually(async () => (docker('exec', id, 'cat', '/tmp/args') === `hi ${name} in blue, $(COLOR)` ? true : undefined), 10_000, 'expanded command');
  });

  it('a missing ConfigMap key is CreateContainerConfigError until the key exists, then the container starts', async () => {
    // Prepare
    const cm = uniqueName('late-cm');
    const name = uniqueName('late-pod');
    await api.post(`${NS}/configmaps`, { metadata: { name: cm }, data: { other: 'x' } });
    await api.post(`${NS}/pods`, {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], env: [{ name: 'WANTED', valueFrom: { configMapKeyRef: { name: cm, key: 'wanted' } } }] }],
      },
    });
    // Assess: waiting, with Kubernetes' message
    const waiting = await waitForPod(name, 'CreateContainerConfigError', (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(waiting.status.containerStatuses[0].state.waiting.message).toBe(`couldn't find key wanted in ConfigMap default/${cm}`);
    expect(waiting.status.phase).toBe('Pending');
    const events = (await api.get(`${NS}/events?fieldSelector=involvedObject.name=${name}`)).body.items;
    expect(events.map((e: Json) => e.message)).toContain(`Error: couldn't find key wanted in ConfigMap default/${cm}`);
    // Act
    await api.patch(`${NS}/configmaps/${cm}`, { data: { wanted: 'here' } });
    // Assess
    const running = await waitForPod(name, 'running', (p) => p.status.containerStatuses?.[0]?.state?.running !== undefined);
    expect(envOf(running).WANTED).toBe('here');
  });

  it('a missing Secret is CreateContainerConfigError with Kubernetes\' message', async () => {
    // Prepare
    const name = uniqueName('nosecret-pod');
    const secret = uniqueName('absent');
    // Act
    await api.post(`${NS}/pods`, {
      metadata: { name },
      spec: { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], envFrom: [{ secretRef: { name: secret } }] }] },
    });
    // Assess
    const pod = await waitForPod(name, 'CreateContainerConfigError', (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(pod.status.containerStatuses[0].state.waiting.message).toBe(`secret "${secret}" not found`);
  });
});
