import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../../helpers/api';
import { hostPathDir, privilegedNamespace } from '../../helpers/pods';

/*
 * A pod that tries to make the node mount the host's files through a subPath (the kubelet's
 * CVE-2017-1002101 and CVE-2021-25741): a symlink inside the volume pointing at / (refused once
 * seen, with CreateContainerConfigError and the kubelet's message), and a container that keeps
 * swapping a subPath between a real dir and a symlink to / while the node mounts it into other
 * containers. The node opens the path without following symlinks and bind-mounts what it opened
 * (node-agent/subpath.ts), so a reader gets the dir or nothing, never the host's root.
 */
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;
let ns: string;
type Json = any;

const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const idOf = (status: Json): string => String(status.containerID).replace('docker://', '');

async function createPod(name: string, spec: Json): Promise<void> {
  const r = await api.post(`/api/v1/namespaces/${ns}/pods`, { metadata: { name }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
  expect(r.status, r.text).toBe(201);
}

const getPod = async (name: string): Promise<Json> => (await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).body;

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('subpath');
  expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('a subPath that is a symlink out of its volume', () => {
  it.each([
    ['a symlink to /', 'ln -s / /v/link', 'link'],
    ['a path through a symlink to /etc', 'ln -s /etc /v/etc', 'etc/passwd'],
    ['a symlink to a symlink to /', 'ln -s / /v/root && ln -s root /v/link', 'link'],
  ])('%s: the container waits with CreateContainerConfigError and the kubelet\'s message, an event says why', async (_what, make, subPath) => {
    // Prepare: an init container plants the link in the pod's emptyDir.
    const name = uniqueName('sp-static');
    await createPod(name, {
      volumes: [{ name: 'v', emptyDir: {} }],
      initContainers: [{ name: 'plant', image: IMAGE, command: ['sh', '-c', make], volumeMounts: [{ name: 'v', mountPath: '/v' }] }],
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'v', mountPath: '/host', subPath }] }],
    });
    // Act
    const pod = await eventually(async () => {
      const p = await getPod(name);
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    }, 90_000, `pod ${name}: CreateContainerConfigError`);
    // Assess
    const message = 'failed to prepare subPath for volumeMount "v" of container "main"';
    expect(pod.status.containerStatuses[0].state.waiting.message).toBe(message);
    expect(pod.status.phase).toBe('Pending');
    const events = (await api.get(`/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${name}`)).body.items as Json[];
    expect(events.some((e) => e.reason === 'Failed' && e.type === 'Warning' && e.message === `Error: ${message}`), JSON.stringify(events.map((e) => e.message))).toBe(true);
  }, 120_000);
});

describe('a subPath swapped between a dir and a symlink to / while it is mounted', () => {
  const READERS = 10;

  it('no reader container ever sees the host\'s root: each gets the real dir (or is refused and retried)', async () => {
    // Prepare: the swapper runs first (containers start in order) and never stops swapping
    // /v/x between a dir holding `marker` and a symlink to /; it counts its rounds. The dir is
    // renamed away and back, never deleted (a deleted dir cannot be bind-mounted at all, which
    // would stop the readers for a reason that is not the one under test). Should the node have
    // made an empty x in a gap, it is moved aside first.
    const name = uniqueName('sp-race');
    const swap = [
      'mkdir -p /v/x && echo in > /v/x/marker',
      'i=0',
      'while true; do',
      '  mv /v/x /v/d; ln -s / /v/x; sleep 0.01',
      '  rm /v/x; if [ -e /v/x ] || [ -L /v/x ]; then mv /v/x /v/made-$i; fi; mv /v/d /v/x; sleep 0.01',
      '  i=$((i+1)); echo $i > /v/rounds',
      'done',
    ].join('\n');
    const readers = Array.from({ length: READERS }, (_, i) => ({
      name: `reader-${i}`,
      image: IMAGE,
      command: ['sleep', '3600'],
      volumeMounts: [{ name: 'v', mountPath: '/m', subPath: 'x' }],
    }));
    // Act
    await createPod(name, {
      volumes: [{ name: 'v', emptyDir: {} }],
      containers: [{ name: 'swapper', image: IMAGE, command: ['sh', '-c', swap], volumeMounts: [{ name: 'v', mountPath: '/v' }] }, ...readers],
    });
    // Every reader is either running or was refused at least once; then give the refused ones
    // the agent's retries until at least half run (each retry is another try at the race).
    const pod = await eventually(async () => {
      const p = await getPod(name);
      const statuses = (p.status?.containerStatuses ?? []) as Json[];
      const running = statuses.filter((s) => s.name.startsWith('reader-') && s.state?.running);
      return running.length >= READERS / 2 ? p : undefined;
    }, 180_000, `pod ${name}: half of the readers running`);
    // Assess
    const statuses = (pod.status.containerStatuses as Json[]).filter((s) => s.name.startsWith('reader-'));
    const swapper = (pod.status.containerStatuses as Json[]).find((s) => s.name === 'swapper');
    const rounds = Number(docker('exec', idOf(swapper), 'cat', '/v/rounds'));
    expect(rounds, 'the swapper swapped while the readers were made').toBeGreaterThan(READERS);
    for (const s of statuses) {
      if (s.state?.running) {
        // The dir as it was opened (its marker; empty only if the node made x in a gap); never /.
        const seen = docker('exec', idOf(s), 'ls', '-A', '/m');
        expect(['marker', ''], `${s.name} sees ${JSON.stringify(seen)}`).toContain(seen);
      } else {
        expect(s.state?.waiting?.reason, JSON.stringify(s.state)).toMatch(/^(CreateContainerConfigError|ContainerCreating)$/);
        if (s.state.waiting.reason === 'CreateContainerConfigError') {
          expect(s.state.waiting.message).toMatch(/^failed to (prepare subPath|create subPath directory) for volumeMount "v" of container "reader-\d+"$/);
        }
      }
    }
  }, 240_000);
});

describe('a subPath of a hostPath', () => {
  it('is mounted from the private target, and deleting the pod unmounts it without touching the host dir\'s files', async () => {
    // Prepare: a host dir the node allows, with a subdir the pod mounts by subPath.
    const nsPath = await privilegedNamespace(api, 'subpath-host');
    const dir = hostPathDir('subpath-');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data/keep'), 'host data');
    const name = uniqueName('sp-host');
    const created = await api.post(`${nsPath}/pods`, {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'h', hostPath: { path: dir, type: 'Directory' } }],
        containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'h', mountPath: '/d', subPath: 'data' }] }],
      },
    });
    expect(created.status, created.text).toBe(201);
    const pod = await eventually(async () => {
      const p = (await api.get(`${nsPath}/pods/${name}`)).body;
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, 90_000, `pod ${name} running`);
    const uid = pod.metadata.uid as string;
    const mine = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/pods/${uid}/volume-subpaths/`));
    // Act
    const seen = docker('exec', idOf(pod.status.containerStatuses[0]), 'cat', '/d/keep');
    const mountedWhileRunning = mine().length;
    expect((await api.delete(`${nsPath}/pods/${name}?gracePeriodSeconds=0`)).status).toBe(200);
    await eventually(async () => ((await api.get(`${nsPath}/pods/${name}`)).status === 404 && mine().length === 0 ? true : undefined), 90_000, 'the pod gone and its subPath mount with it');
    // Assess
    expect(seen).toBe('host data');
    expect(mountedWhileRunning).toBe(1);
    // The pod's dir was removed with rm -rf: had the mount stayed, that would have emptied data/.
    expect(readFileSync(join(dir, 'data/keep'), 'utf8')).toBe('host data');
    expect(existsSync(join(dir, 'data'))).toBe(true);
  }, 180_000);
});

describe('a subPath of a PersistentVolumeClaim (a Docker volume)', () => {
  it('is made in the volume and mounted through the walk; a symlink planted in the volume does not lead out', async () => {
    // Prepare: a claim of the default class, provisioned on first use as a Docker volume.
    const claim = uniqueName('sp-pvc');
    const created = await api.post(`/api/v1/namespaces/${ns}/persistentvolumeclaims`, {
      metadata: { name: claim },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    expect(created.status, created.text).toBe(201);
    const name = uniqueName('sp-pvc-pod');
    await createPod(name, {
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      initContainers: [{ name: 'plant', image: IMAGE, command: ['sh', '-c', 'ln -sfn / /all/escape'], volumeMounts: [{ name: 'data', mountPath: '/all' }] }],
      containers: [
        { name: 'main', image: IMAGE, command: ['sh', '-c', 'echo kept > /d/file; sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'made/here' }] },
        { name: 'escaper', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'data', mountPath: '/host', subPath: 'escape' }] },
      ],
    });
    let volume: string | undefined;
    try {
      // Act
      const pod = await eventually(async () => {
        const p = await getPod(name);
        const byName = new Map(((p.status?.containerStatuses ?? []) as Json[]).map((s) => [s.name, s]));
        return byName.get('main')?.state?.running && byName.get('escaper')?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
      }, 120_000, `pod ${name}: main running, escaper refused`);
      const pv = (await api.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claim}`)).body.spec.volumeName as string;
      volume = `stratus-pv-${pv}`;
      const mountpoint = JSON.parse(docker('volume', 'inspect', volume))[0].Mountpoint as string;
      const file = await eventually(async () => (existsSync(join(mountpoint, 'made/here/file')) ? readFileSync(join(mountpoint, 'made/here/file'), 'utf8') : undefined), 30_000, 'the file in the volume');
      // Assess
      expect(file).toBe('kept\n');
      const escaper = (pod.status.containerStatuses as Json[]).find((s) => s.name === 'escaper');
      expect(escaper.state.waiting.message).toBe('failed to prepare subPath for volumeMount "data" of container "escaper"');
    } finally {
      await api.delete(`/api/v1/namespaces/${ns}/pods/${name}?gracePeriodSeconds=0`);
      await eventually(async () => ((await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).status === 404 ? true : undefined), 90_000, 'the pod gone');
      await api.delete(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claim}`);
      // The pod's containers go after its object: the volume is free (or removed by the agent) then.
      const v = volume;
      if (v) {
        await eventually(async () => {
          try {
            docker('volume', 'rm', '-f', v);
            return true;
          } catch (e) {
            return String((e as { stderr?: unknown }).stderr ?? e).includes('in use') ? undefined : true;
          }
        }, 60_000, `Docker volume ${v} removed`);
      }
    }
  }, 240_000);
});
