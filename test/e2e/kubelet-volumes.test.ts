import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #5, pod volumes end to end: emptyDir shared by two containers, configMap files and their
 * updates, secret file modes, downwardAPI, and a missing ConfigMap keeping the pod
 * ContainerCreating with a FailedMount event. Files are read back with `docker exec`.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const idOf = (pod: Json, container: string): string =>
  String(pod.status.containerStatuses.find((c: Json) => c.name === container).containerID).replace('docker://', '');
const running = (pod: Json) => (pod.status?.containerStatuses ?? []).length > 0 && pod.status.containerStatuses.every((c: Json) => c.state?.running);

async function waitForPod(name: string, what: string, ok: (pod: Json) => boolean): Promise<Json> {
  return eventually(async () => {
    const pod = (await api.get(`${NS}/pods/${name}`)).body;
    return pod?.status && ok(pod) ? pod : undefined;
  }, 60_000, `pod ${name}: ${what}`);
}

async function createPod(name: string, spec: Json, metadata: Json = {}): Promise<void> {
  const r = await api.post(`${NS}/pods`, { metadata: { name, ...metadata }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
  expect(r.status, r.text).toBe(201);
}

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('volumes', () => {
  it('two containers share an emptyDir', async () => {
    // Prepare
    const name = uniqueName('vol-empty');
    await createPod(name, {
      volumes: [{ name: 'shared', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }],
      containers: [
        { name: 'writer', image: IMAGE, command: ['sh', '-c', 'echo hello > /data/msg; echo mem > /mem/m; sleep 3600'], volumeMounts: [{ name: 'shared', mountPath: '/data' }, { name: 'mem', mountPath: '/mem' }] },
        { name: 'reader', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'shared', mountPath: '/in', readOnly: true }, { name: 'mem', mountPath: '/mem' }] },
      ],
    });
    const pod = await waitForPod(name, 'running', running);
    // Act
    const read = await eventually(async () => {
      try {
        return docker('exec', idOf(pod, 'reader'), 'cat', '/in/msg', '/mem/m');
      } catch {
        return undefined;
      }
    }, 20_000, 'the file written by the other container');
    const writeRefused = (() => {
      try {
        docker('exec', idOf(pod, 'reader'), 'sh', '-c', 'echo x > /in/other');
        return false;
      } catch {
        return true;
      }
    })();
    const memMount = docker('exec', idOf(pod, 'reader'), 'sh', '-c', 'grep " /mem " /proc/mounts');
    // Assess
    expect(read).toBe('hello\nmem');
    expect(writeRefused).toBe(true);
    expect(memMount).toMatch(/^tmpfs \/mem tmpfs .*size=16384k/);
  });

  it('a configMap volume holds its keys as files, with items, subPath and updates', async () => {
    // Prepare
    const cm = uniqueName('vol-cm');
    const name = uniqueName('vol-cm-pod');
    await api.post(`${NS}/configmaps`, { metadata: { name: cm }, data: { color: 'blue', size: 'L' } });
    await createPod(name, {
      volumes: [
        { name: 'cfg', configMap: { name: cm } },
        { name: 'picked', configMap: { name: cm, items: [{ key: 'size', path: 'sub/size.txt', mode: 0o600 }] } },
      ],
      containers: [
        {
          name: 'main',
          image: IMAGE,
          command: ['sleep', '3600'],
          volumeMounts: [
            { name: 'cfg', mountPath: '/etc/cfg' },
            { name: 'picked', mountPath: '/etc/picked' },
            { name: 'cfg', mountPath: '/etc/color', subPath: 'color' },
          ],
        },
      ],
    });
    const pod = await waitForPod(name, 'running', running);
    const id = idOf(pod, 'main');
    // Act
    const files = docker('exec', id, 'sh', '-c', 'cat /etc/cfg/color; echo; cat /etc/cfg/size; echo; ls /etc/cfg; cat /etc/picked/sub/size.txt; echo; stat -Lc %a /etc/picked/sub/size.txt; cat /etc/color');
    await api.patch(`${NS}/configmaps/${cm}`, { data: { color: 'red', size: 'L' } });
    const updated = await eventually(async () => {
      const v = docker('exec', id, 'cat', '/etc/cfg/color');
      return v === 'red' ? v : undefined;
      // Kubernetes itself promises only "eventually" (kubelet sync period + cache TTL, about a
      // minute); here it is the agent's next resync, which takes longer while the suite loads it.
    }, 120_000, 'the ConfigMap update to reach the file');
    // Assess
    expect(files).toBe('blue\nL\ncolor\nsize\nL\n600\nblue');
    expect(updated).toBe('red');
    // A subPath mount is a copy in time, as in Kubernetes.
    expect(docker('exec', id, 'cat', '/etc/color')).toBe('blue');
  }, 240_000);

  it('a secret volume file has the mode asked for, and a downwardAPI volume the pod labels', async () => {
    // Prepare
    const secret = uniqueName('vol-secret');
    const name = uniqueName('vol-secret-pod');
    await api.post(`${NS}/secrets`, { metadata: { name: secret }, stringData: { password: 's3cret' } });
    await createPod(
      name,
      {
        volumes: [
          { name: 'sec', secret: { secretName: secret, defaultMode: 0o400 } },
          { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
        ],
        containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'sec', mountPath: '/etc/sec' }, { name: 'info', mountPath: '/etc/info' }] }],
      },
      { labels: { app: 'vol', tier: 'db' } },
    );
    const pod = await waitForPod(name, 'running', running);
    // Act
    const out = docker('exec', idOf(pod, 'main'), 'sh', '-c', 'stat -Lc %a /etc/sec/password; cat /etc/sec/password; echo; cat /etc/info/labels; echo; cat /etc/info/name');
    // Assess
    expect(out).toBe(`400\ns3cret\napp="vol"\ntier="db"\n${name}`);
  });

  it('a missing ConfigMap keeps the pod ContainerCreating with a FailedMount event, until it exists', async () => {
    // Prepare
    const cm = uniqueName('vol-missing');
    const name = uniqueName('vol-missing-pod');
    await createPod(name, {
      volumes: [{ name: 'cfg', configMap: { name: cm } }],
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg' }] }],
    });
    // Act
    const waiting = await waitForPod(name, 'ContainerCreating', (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating');
    const event = await eventually(async () => {
      const list = (await api.get(`${NS}/events`)).body;
      return (list.items ?? []).find((e: Json) => e.involvedObject?.name === name && e.reason === 'FailedMount');
    }, 30_000, 'the FailedMount event');
    await api.post(`${NS}/configmaps`, { metadata: { name: cm }, data: { k: 'v' } });
    const started = await waitForPod(name, 'running once the ConfigMap exists', running);
    // Assess
    expect(waiting.status.phase).toBe('Pending');
    expect(event.type).toBe('Warning');
    expect(event.message).toBe(`MountVolume.SetUp failed for volume "cfg" : configmap "${cm}" not found`);
    expect(docker('exec', idOf(started, 'main'), 'cat', '/etc/cfg/k')).toBe('v');
  });

  it("subPathExpr expands the container's environment ($(POD_NAME) from the downward API); a variable with no value keeps the container in CreateContainerConfigError with the kubelet's words", async () => {
    // Prepare
    const name = uniqueName('vol-expr');
    const env = [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }];
    await createPod(name, {
      volumes: [{ name: 'logs', emptyDir: {} }],
      containers: [
        {
          name: 'main',
          image: IMAGE,
          env,
          command: ['sh', '-c', 'echo mine > /mine/f; sleep 3600'],
          volumeMounts: [
            { name: 'logs', mountPath: '/all' },
            { name: 'logs', mountPath: '/mine', subPathExpr: 'pods/$(POD_NAME)' },
          ],
        },
      ],
    });
    const broken = uniqueName('vol-expr-missing');
    await createPod(broken, {
      volumes: [{ name: 'logs', emptyDir: {} }],
      containers: [{ name: 'main', image: IMAGE, env, command: ['sleep', '3600'], volumeMounts: [{ name: 'logs', mountPath: '/mine', subPathExpr: '$(NODE)/$(POD_NAME)' }] }],
    });
    // Act
    const pod = await waitForPod(name, 'running', running);
    const waiting = await waitForPod(broken, 'CreateContainerConfigError', (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    // Assess: the file written through the expanded subPath is in the volume under the pod's name
    const read = await eventually(async () => {
      try {
        return docker('exec', idOf(pod, 'main'), 'cat', `/all/pods/${name}/f`);
      } catch {
        return undefined;
      }
    }, 20_000, 'the file under the expanded subPath');
    expect(read).toBe('mine');
    expect(waiting.status.containerStatuses[0].state.waiting.message).toBe('missing value for NODE');
    await api.delete(`${NS}/pods/${name}`);
    await api.delete(`${NS}/pods/${broken}`);
  });
});
