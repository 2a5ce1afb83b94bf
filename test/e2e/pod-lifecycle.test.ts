import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #2 end to end: a pod created over HTTPS goes api → DynamoDB → stream → scheduler →
 * SQS → node agent → a real Docker container, and its status comes back through the API.
 */
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;

const podBody = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { test: 'pod-lifecycle' } },
  spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', `echo hello from ${name}; sleep 3600`] }], ...spec },
});

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

const containersOf = (uid: string) => docker('ps', '-aq', '--filter', `label=io.stratus.pod.uid=${uid}`).split('\n').filter(Boolean);

async function waitForPhase(name: string, phase: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
    return r.body?.status?.phase === phase ? r.body : undefined;
  }, timeoutMs, `pod ${name} ${phase}`);
}

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('a pod, end to end', () => {
  it('runs in a real container whose output docker logs shows, with status written back', async () => {
    // Prepare
    const name = uniqueName('hello');
    // Act
    const created = await api.post('/api/v1/namespaces/default/pods', podBody(name));
    // Assess
    expect(created.status).toBe(201);
    expect(created.body.status.phase).toBe('Pending');
    const running = await waitForPhase(name, 'Running');
    const stack = inject('stack');
    expect(running.spec.nodeName).toBe(stack.nodeName);
    const types = Object.fromEntries(running.status.conditions.map((c: { type: string; status: string }) => [c.type, c.status]));
    expect(types).toMatchObject({ PodScheduled: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True' });
    const cs = running.status.containerStatuses[0];
    expect(cs).toMatchObject({ name: 'main', ready: true, restartCount: 0, image: IMAGE });
    expect(cs.state.running.startedAt).toBeTruthy();
    expect(cs.containerID).toMatch(/^docker:\/\//);
    expect(running.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.status.hostIP).toBeTruthy();
    expect(running.status.startTime).toBeTruthy();
    const id = cs.containerID.replace('docker://', '');
    await eventually(async () => (docker('logs', id).includes(`hello from ${name}`) ? true : undefined), 10_000, 'container output');
    expect(docker('inspect', '-f', '{{index .Config.Labels "io.stratus.pod.name"}}', id)).toBe(name);
    // The scheduler recorded where it went.
    await eventually(async () => {
      const events = await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`);
      return events.body.items.some((e: { reason: string }) => e.reason === 'Scheduled') ? true : undefined;
    }, 20_000, 'Scheduled event');
  });

  it('deleting a pod stops and removes its containers, then the pod', async () => {
    // Prepare
    const name = uniqueName('bye');
    await api.post('/api/v1/namespaces/default/pods', podBody(name));
    const running = await waitForPhase(name, 'Running');
    expect(containersOf(running.metadata.uid).length).toBeGreaterThan(0);
    // Act
    const deleted = await api.delete(`/api/v1/namespaces/default/pods/${name}`);
    // Assess: graceful deletion first marks the pod, then the agent finishes it.
    expect(deleted.status).toBe(200);
    expect(deleted.body.metadata.deletionTimestamp).toBeTruthy();
    await eventually(async () => ((await api.get(`/api/v1/namespaces/default/pods/${name}`)).status === 404 ? true : undefined), 60_000, 'pod gone');
    await eventually(async () => (containersOf(running.metadata.uid).length === 0 ? true : undefined), 20_000, 'containers removed');
  });

  it('two containers of a pod share its network: one reaches the other on localhost', async () => {
    const name = uniqueName('duo');
    await api.post('/api/v1/namespaces/default/pods', {
      ...podBody(name),
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          { name: 'server', image: IMAGE, command: ['sh', '-c', 'mkdir -p /www && echo pong > /www/index.html && httpd -f -p 8080 -h /www'] },
          { name: 'client', image: IMAGE, command: ['sh', '-c', 'while ! wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; sleep 3600'] },
        ],
      },
    });
    const running = await waitForPhase(name, 'Running');
    const client = running.status.containerStatuses.find((c: { name: string }) => c.name === 'client');
    const id = client.containerID.replace('docker://', '');
    await eventually(async () => (docker('logs', id).includes('pong') ? true : undefined), 20_000, 'client reached server');
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });

  it('a pod that fits no node stays Pending with the reason', async () => {
    // Prepare
    const name = uniqueName('huge');
    const body = podBody(name);
    (body.spec.containers as { resources?: unknown }[])[0]!.resources = { requests: { cpu: '1000', memory: '1Mi' } };
    // Act
    expect((await api.post('/api/v1/namespaces/default/pods', body)).status).toBe(201);
    // Assess
    const pod = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
      return r.body.status?.conditions?.find((c: { type: string }) => c.type === 'PodScheduled') ? r.body : undefined;
    }, 30_000, 'PodScheduled condition');
    expect(pod.status.phase).toBe('Pending');
    expect(pod.spec.nodeName).toBeUndefined();
    const cond = pod.status.conditions.find((c: { type: string }) => c.type === 'PodScheduled');
    expect(cond).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(cond.message).toMatch(/^0\/\d+ nodes are available: .*1 Insufficient cpu/);
    // Events are recorded in the background, as client-go's recorder does.
    await eventually(async () => {
      const events = await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name},reason=FailedScheduling`);
      return events.body.items.length > 0 ? true : undefined;
    }, 20_000, 'FailedScheduling event');
    expect((await api.delete(`/api/v1/namespaces/default/pods/${name}`)).status).toBe(200);
    expect((await api.get(`/api/v1/namespaces/default/pods/${name}`)).status).toBe(404);
  });

  it('a missing image gives ErrImagePull or ImagePullBackOff, never a crash', async () => {
    const name = uniqueName('noimage');
    const body = podBody(name);
    (body.spec.containers as { image: string }[])[0]!.image = 'stratus-test/does-not-exist:1';
    await api.post('/api/v1/namespaces/default/pods', body);
    const waiting = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
      const reason = r.body.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return reason === 'ErrImagePull' || reason === 'ImagePullBackOff' ? r.body : undefined;
    }, 60_000, 'image pull failure');
    expect(waiting.status.phase).toBe('Pending');
    expect(waiting.status.containerStatuses[0].state.waiting.message).toBeTruthy();
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });
});

describe('tenancy', () => {
  it("a second tenant cannot see or touch the first tenant's pods", async () => {
    // Prepare: a new tenant with its own token.
    const config = loadConfig();
    const tenant = uniqueName('tenant').replace(/[^a-z0-9-]/g, '');
    const token = await createToken(createDocumentClient(config), config, { tenant, user: 'alice', groups: ['system:masters'] });
    const other = Api.forTenant(tenant, token);
    const name = uniqueName('private');
    expect((await api.post('/api/v1/namespaces/default/pods', podBody(name))).status).toBe(201);
    // Act + Assess
    expect((await other.get(`/api/v1/namespaces/default/pods/${name}`)).status).toBe(404);
    expect((await other.get('/api/v1/pods')).body.items).toEqual([]);
    expect((await other.delete(`/api/v1/namespaces/default/pods/${name}`)).status).toBe(404);
    // Its token does not open the first tenant's cluster, even by naming it in the path.
    const sneaky = new Api(`${inject('stack').apiUrl}/clusters/default`, token, inject('stack').caCert);
    const denied = await sneaky.get(`/api/v1/namespaces/default/pods/${name}`);
    expect(denied.status).toBe(401);
    expect(denied.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await api.get(`/api/v1/namespaces/default/pods/${name}`)).status).toBe(200);
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });
});

describe('bad requests get a Kubernetes Status and change nothing', () => {
  const path = '/api/v1/namespaces/default/pods';

  async function expectNoPod(name: string) {
    expect((await api.get(`${path}/${name}`)).status).toBe(404);
  }

  it.each([
    ['malformed JSON', '{"apiVersion": "v1", "kind": "Pod", ', 400, 'BadRequest', {}],
    ['malformed YAML', 'kind: Pod\n  bad: : indent\n-', 400, 'BadRequest', { 'content-type': 'application/yaml' }],
    ['an unknown field', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unknown-field' }, spec: { containers: [{ name: 'c', image: IMAGE }], bogus: true } }), 400, 'BadRequest', {}],
    ['an invalid name', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Not_Valid' }, spec: { containers: [{ name: 'c', image: IMAGE }] } }), 422, 'Invalid', {}],
    ['no containers', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'no-containers' }, spec: {} }), 422, 'Invalid', {}],
    ['an unsupported media type', 'x', 415, 'UnsupportedMediaType', { 'content-type': 'application/x-protobuf' }],
  ])('%s', async (_what, body, code, reason, headers) => {
    // Act
    const r = await api.send('POST', path, body, headers as Record<string, string>);
    // Assess
    expect(r.status).toBe(code);
    expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code });
  });

  it('names the bad field in 422 causes', async () => {
    const r = await api.post(path, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'no-image' }, spec: { containers: [{ name: 'c' }] } });
    expect(r.status).toBe(422);
    expect(r.body.message).toBe('Pod "no-image" is invalid: spec.containers[0].image: Required value');
    expect(r.body.details.causes).toEqual([{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }]);
    await expectNoPod('no-image');
    await expectNoPod('unknown-field');
    await expectNoPod('no-containers');
  });

  it('rejects an oversized body with 413', async () => {
    const big = { ...podBody('too-big'), metadata: { name: 'too-big', annotations: { x: 'y'.repeat(4 * 1024 * 1024) } } };
    const r = await api.post(path, big);
    expect(r.status).toBe(413);
    expect(r.body.kind).toBe('Status');
    await expectNoPod('too-big');
  });

  it('401 without a valid token, 404 for unknown paths and objects, 409 on conflicts', async () => {
    const anonymous = new Api(api.base, undefined, api.ca);
    expect((await anonymous.get(path)).status).toBe(401);
    expect((await new Api(api.base, 'st_not-a-token', api.ca).get(path)).status).toBe(401);
    expect((await api.get('/api/v1/namespaces/default/widgets')).status).toBe(404);
    const missing = await api.get(`${path}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('pods "nope" not found');
    expect((await api.post('/api/v1/namespaces/no-such-ns/pods', podBody('x'))).body).toMatchObject({ code: 404, message: 'namespaces "no-such-ns" not found' });

    const name = uniqueName('conflict');
    const created = await api.post(path, { ...podBody(name), spec: { ...podBody(name).spec, schedulerName: 'nobody' } });
    expect(created.status).toBe(201);
    expect((await api.post(path, podBody(name))).body).toMatchObject({ code: 409, reason: 'AlreadyExists' });
    const stale = { ...created.body, metadata: { ...created.body.metadata, labels: { a: 'b' } } };
    expect((await api.put(`${path}/${name}`, stale)).status).toBe(200);
    const again = await api.put(`${path}/${name}`, { ...stale, metadata: { ...stale.metadata, labels: { a: 'c' } } });
    expect(again.body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await api.get(`${path}/${name}`)).body.metadata.labels).toEqual({ a: 'b' });
    await api.delete(`${path}/${name}`);
  });

  it('patches with merge, JSON and strategic merge patch', async () => {
    const name = uniqueName('patch');
    await api.post(path, { ...podBody(name), spec: { ...podBody(name).spec, schedulerName: 'nobody' } });
    const merge = await api.patch(`${path}/${name}`, { metadata: { labels: { merged: 'yes' } } });
    expect(merge.body.metadata.labels).toMatchObject({ test: 'pod-lifecycle', merged: 'yes' });
    const jp = await api.patch(`${path}/${name}`, [{ op: 'add', path: '/metadata/annotations', value: { a: '1' } }], 'application/json-patch+json');
    expect(jp.body.metadata.annotations).toEqual({ a: '1' });
    const smp = await api.patch(`${path}/${name}`, { spec: { containers: [{ name: 'main', image: 'stratus-test/busybox:other' }] } }, 'application/strategic-merge-patch+json');
    expect(smp.status).toBe(200);
    expect(smp.body.spec.containers).toHaveLength(1);
    expect(smp.body.spec.containers[0]).toMatchObject({ name: 'main', image: 'stratus-test/busybox:other', command: ['sh', '-c', expect.any(String)] });
    const bad = await api.patch(`${path}/${name}`, { spec: { restartPolicy: 'Never' } });
    expect(bad.status).toBe(422);
    await api.delete(`${path}/${name}`);
  });
});
