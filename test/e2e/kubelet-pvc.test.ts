import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl as runKubectl } from '../helpers/kubectl';
import { hostPathDir } from '../helpers/pods';

/*
 * Issue #5, PersistentVolumes end to end through the real kubectl: the default StorageClass and
 * WaitForFirstConsumer, the scheduler's node choice, the local provisioner (a Docker named volume),
 * data that outlives its pod, pvc-protection, reclaim (Delete and Retain), a static volume bound by
 * the controller, StatefulSet volumeClaimTemplates, and the failure cases (missing claim, invalid
 * claim, immutable spec).
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

const kubectl = (args: string[], stdin?: string) => runKubectl(args, { input: stdin });

async function apply(manifest: object): Promise<void> {
  const r = await kubectl(['create', '-f', '-'], JSON.stringify(manifest));
  expect(r.code, r.stderr).toBe(0);
}

const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const dockerVolumeExists = (name: string) => {
  try {
    docker('volume', 'inspect', name);
    return true;
  } catch {
    return false;
  }
};

const claim = (name: string, spec: Json = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});

const podWithClaim = (name: string, claimName: string, script: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    terminationGracePeriodSeconds: 1,
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
    containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', script], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  },
});

const running = (pod: Json) => (pod?.status?.containerStatuses ?? []).length > 0 && pod.status.containerStatuses.every((c: Json) => c.state?.running);

async function waitFor<T = Json>(path: string, what: string, ok: (o: Json) => boolean, timeoutMs = 90_000): Promise<T> {
  return eventually(async () => {
    const r = await api.get(path);
    return r.status === 200 && ok(r.body) ? (r.body as T) : undefined;
  }, timeoutMs, what);
}

async function waitGone(path: string, what: string, timeoutMs = 90_000): Promise<void> {
  await eventually(async () => ((await api.get(path)).status === 404 ? true : undefined), timeoutMs, what);
}

/** kubectl get's table as rows of cells (split on runs of 2+ spaces, as kubectl pads columns). */
function table(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
}

const made: { volumes: string[]; dirs: string[] } = { volumes: [], dirs: [] };

beforeAll(() => {
  api = Api.forTenant('default');
});

afterAll(() => {
  for (const v of made.volumes) {
    try {
      docker('volume', 'rm', '-f', v);
    } catch {
      // in use by a container the teardown removes later, or gone
    }
  }
  for (const d of made.dirs) rmSync(d, { recursive: true, force: true });
});

describe('PersistentVolumeClaims', () => {
  it('a claim waits for its first consumer, binds to a provisioned Docker volume, keeps its data across pods, and is held while in use', async () => {
    // Prepare
    const pvc = uniqueName('data');
    const writer = uniqueName('pvc-writer');
    const reader = uniqueName('pvc-reader');
    await apply(claim(pvc));
    const pending = (await api.get(`${NS}/persistentvolumeclaims/${pvc}`)).body;
    const waiting = await eventually(async () => {
      const r = await kubectl(['get', 'events', '--field-selector', `involvedObject.name=${pvc}`, '-o', 'json']);
      const events = r.code === 0 ? (JSON.parse(r.stdout).items as Json[]) : [];
      return events.find((e) => e.reason === 'WaitForFirstConsumer');
    }, 30_000, 'the WaitForFirstConsumer event');
    const stillPending = (await api.get(`${NS}/persistentvolumeclaims/${pvc}`)).body;
    const classes = await kubectl(['get', 'storageclass']);

    // Act: a pod uses the claim
    await apply(podWithClaim(writer, pvc, 'echo hello-from-writer > /data/msg; sleep 3600'));
    await waitFor(`${NS}/pods/${writer}`, 'the writer running', running);
    const bound = await waitFor(`${NS}/persistentvolumeclaims/${pvc}`, 'the claim Bound', (o) => o.status?.phase === 'Bound');
    const pvName: string = bound.spec.volumeName;
    made.volumes.push(`stratus-pv-${pvName}`);
    const pv = await waitFor(`/api/v1/persistentvolumes/${pvName}`, 'the volume Bound', (o) => o.status?.phase === 'Bound');
    const pvcTable = table((await kubectl(['get', 'pvc', pvc])).stdout);
    const pvTable = table((await kubectl(['get', 'pv', pvName])).stdout);
    const volumeMade = dockerVolumeExists(`stratus-pv-${pvName}`);

    // Act: the pod goes, a new one reads what the first wrote
    expect((await kubectl(['delete', 'pod', writer, '--wait=true'])).code).toBe(0);
    await apply(podWithClaim(reader, pvc, 'cat /data/msg; sleep 3600'));
    await waitFor(`${NS}/pods/${reader}`, 'the reader running', running);
    const logs = await eventually(async () => {
      const r = await kubectl(['logs', reader]);
      return r.stdout.includes('hello') ? r.stdout : undefined;
    }, 30_000, 'the reader printing the file');

    // Act: delete the claim while the reader uses it
    expect((await kubectl(['delete', 'pvc', pvc, '--wait=false'])).code).toBe(0);
    const terminating = table((await kubectl(['get', 'pvc', pvc])).stdout);
    await new Promise((r) => setTimeout(r, 3000)); // give the controller a chance to (wrongly) let it go
    const heldClaim = (await api.get(`${NS}/persistentvolumeclaims/${pvc}`)).body;
    expect((await kubectl(['delete', 'pod', reader, '--wait=true'])).code).toBe(0);
    await waitGone(`${NS}/persistentvolumeclaims/${pvc}`, 'the claim removed once its pod is gone');
    await waitGone(`/api/v1/persistentvolumes/${pvName}`, 'the volume deleted (reclaim policy Delete)');
    await eventually(async () => (dockerVolumeExists(`stratus-pv-${pvName}`) ? undefined : true), 90_000, 'the Docker volume removed by the agent');

    // Assess
    expect(pending.status.phase).toBe('Pending');
    expect(pending.spec.storageClassName).toBe('standard');
    expect(pending.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    expect(waiting.message).toBe('waiting for first consumer to be created before binding');
    expect(stillPending.status.phase).toBe('Pending');
    expect(table(classes.stdout)[0]).toEqual(['NAME', 'PROVISIONER', 'RECLAIMPOLICY', 'VOLUMEBINDINGMODE', 'ALLOWVOLUMEEXPANSION', 'AGE']);
    expect(table(classes.stdout).find((r) => r[0] === 'standard (default)')?.slice(1, 5)).toEqual(['stratus.io/local-volume', 'Delete', 'WaitForFirstConsumer', 'true']);
    expect(pvName).toBe(`pvc-${pending.metadata.uid}`);
    expect(bound.metadata.annotations['volume.kubernetes.io/selected-node']).toBe(inject('stack').nodeName);
    expect(bound.status).toMatchObject({ accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } });
    expect(pv.spec).toMatchObject({
      claimRef: { kind: 'PersistentVolumeClaim', namespace: 'default', name: pvc, uid: pending.metadata.uid },
      csi: { driver: 'stratus.io/local-volume', volumeHandle: `stratus-pv-${pvName}` },
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'standard',
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [inject('stack').nodeName] }] }] } },
    });
    expect(pvcTable[0]).toEqual(['NAME', 'STATUS', 'VOLUME', 'CAPACITY', 'ACCESS MODES', 'STORAGECLASS', 'VOLUMEATTRIBUTESCLASS', 'AGE']);
    expect(pvcTable[1]!.slice(0, 7)).toEqual([pvc, 'Bound', pvName, '1Gi', 'RWO', 'standard', '<unset>']);
    expect(pvTable[0]).toEqual(['NAME', 'CAPACITY', 'ACCESS MODES', 'RECLAIM POLICY', 'STATUS', 'CLAIM', 'STORAGECLASS', 'VOLUMEATTRIBUTESCLASS', 'REASON', 'AGE']);
    // REASON is empty, so kubectl's padding merges it with AGE's gap.
    expect(pvTable[1]!.slice(0, 8)).toEqual([pvName, '1Gi', 'RWO', 'Delete', 'Bound', `default/${pvc}`, 'standard', '<unset>']);
    expect(volumeMade).toBe(true);
    expect(logs.trim()).toBe('hello-from-writer');
    expect(terminating[1]?.[1]).toBe('Terminating');
    expect(heldClaim.metadata.deletionTimestamp).toBeTruthy();
    expect(heldClaim.metadata.finalizers).toEqual(['kubernetes.io/pvc-protection']);
  }, 240_000); // several pod starts and the agent's periodic volume cleanup

  it('a static volume is bound by the controller (smallest that fits), mounted from its host path, and Retained when released', async () => {
    // Prepare
    const cls = uniqueName('manual');
    const small = uniqueName('pv-small');
    const big = uniqueName('pv-big');
    const pvc = uniqueName('static');
    const pod = uniqueName('pvc-static');
    // Under the node's --host-path-allow: a node mounts no other host directory.
    const dir = hostPathDir('pv-');
    made.dirs.push(dir);
    const volume = (name: string, storage: string) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, labels: { tier: 'test' } },
      spec: { capacity: { storage }, accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], storageClassName: cls, hostPath: { path: dir, type: 'Directory' } },
    });
    await apply(volume(big, '5Gi'));
    await apply(volume(small, '2Gi'));
    // Act
    await apply(claim(pvc, { storageClassName: cls, selector: { matchLabels: { tier: 'test' } } }));
    const bound = await waitFor(`${NS}/persistentvolumeclaims/${pvc}`, 'the claim Bound', (o) => o.status?.phase === 'Bound');
    const unused = await waitFor(`/api/v1/persistentvolumes/${big}`, 'the bigger volume Available', (o) => o.status?.phase === 'Available');
    await apply(podWithClaim(pod, pvc, 'echo static > /data/out; sleep 3600'));
    await waitFor(`${NS}/pods/${pod}`, 'the pod running', running);
    const written = await eventually(async () => {
      try {
        return readFileSync(join(dir, 'out'), 'utf8');
      } catch {
        return undefined;
      }
    }, 30_000, 'the file on the host');
    expect((await kubectl(['delete', 'pod', pod, '--wait=true'])).code).toBe(0);
    expect((await kubectl(['delete', 'pvc', pvc, '--wait=true'])).code).toBe(0);
    const released = await waitFor(`/api/v1/persistentvolumes/${small}`, 'the volume Released', (o) => o.status?.phase === 'Released', 60_000);
    const pvTable = table((await kubectl(['get', 'pv', small])).stdout);
    await kubectl(['delete', 'pv', small, big]);
    // Assess
    expect(bound.spec.volumeName).toBe(small);
    expect(bound.status.capacity).toEqual({ storage: '2Gi' });
    expect(bound.status.accessModes).toEqual(['ReadWriteOnce', 'ReadOnlyMany']);
    expect(unused.spec.claimRef).toBeUndefined();
    expect(written).toBe('static\n');
    expect(released.spec.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pvTable[1]!.slice(1, 7)).toEqual(['2Gi', 'RWO,ROX', 'Retain', 'Released', `default/${pvc}`, cls]);
  });

  it('a pod whose claim does not exist stays Pending with the scheduler saying so, and starts once the claim is made', async () => {
    // Prepare
    const pvc = uniqueName('late');
    const pod = uniqueName('pvc-missing');
    await apply(podWithClaim(pod, pvc, 'echo ok; sleep 3600'));
    // Act
    const unschedulable = await waitFor(`${NS}/pods/${pod}`, 'PodScheduled False', (o) =>
      (o.status?.conditions ?? []).some((c: Json) => c.type === 'PodScheduled' && c.status === 'False'),
    );
    const described = await kubectl(['describe', 'pod', pod]);
    await apply(claim(pvc));
    const started = await waitFor(`${NS}/pods/${pod}`, 'the pod running once its claim exists', running);
    await kubectl(['delete', 'pod', pod, '--wait=true']);
    const bound = (await api.get(`${NS}/persistentvolumeclaims/${pvc}`)).body;
    if (bound.spec?.volumeName) made.volumes.push(`stratus-pv-${bound.spec.volumeName}`);
    await kubectl(['delete', 'pvc', pvc, '--wait=false']);
    // Assess
    const cond = unschedulable.status.conditions.find((c: Json) => c.type === 'PodScheduled');
    expect(unschedulable.status.phase).toBe('Pending');
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toContain(`persistentvolumeclaim "${pvc}" not found`);
    expect(described.stdout).toMatch(/FailedScheduling/);
    expect(started.spec.nodeName).toBe(inject('stack').nodeName);
  }, 180_000);

  it('an invalid claim is refused with 422 and Kubernetes\' causes; a bound claim\'s spec is immutable but may grow', async () => {
    // Prepare
    const bad = uniqueName('bad');
    const pvc = uniqueName('fixed');
    // Act
    const refused = await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: bad }, spec: { resources: {} } }));
    const raw = await api.post(`${NS}/persistentvolumeclaims`, { metadata: { name: bad }, spec: { accessModes: ['ReadWriteSometimes'], resources: { requests: { storage: '0' } } } });
    const badVolume = await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: bad }, spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } }));
    await apply(claim(pvc));
    const changeModes = await kubectl(['patch', 'pvc', pvc, '--type', 'merge', '-p', JSON.stringify({ spec: { accessModes: ['ReadWriteMany'] } })]);
    const growUnbound = await kubectl(['patch', 'pvc', pvc, '--type', 'merge', '-p', JSON.stringify({ spec: { resources: { requests: { storage: '2Gi' } } } })]);
    await kubectl(['delete', 'pvc', pvc, '--wait=false']);
    // Assess
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`The PersistentVolumeClaim "${bad}" is invalid`);
    expect(refused.stderr).toContain('spec.accessModes: Required value: at least 1 access mode is required');
    expect(refused.stderr).toContain('spec.resources[storage]: Required value');
    expect(raw.status).toBe(422);
    expect(raw.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { kind: 'PersistentVolumeClaim', name: bad } });
    expect(raw.body.details.causes).toEqual(
      expect.arrayContaining([
        { reason: 'FieldValueNotSupported', message: 'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"', field: 'spec.accessModes' },
        { reason: 'FieldValueInvalid', message: 'Invalid value: "0": must be greater than zero', field: 'spec.resources[storage]' },
      ]),
    );
    expect(badVolume.stderr).toContain('spec: Required value: must specify a volume type');
    expect(changeModes.code).not.toBe(0);
    expect(changeModes.stderr).toContain('spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims');
    expect(growUnbound.code).not.toBe(0);
  });
});

describe('StatefulSet volumeClaimTemplates', () => {
  it('each pod gets its own claim, made before it and Bound, kept when the StatefulSet is deleted', async () => {
    // Prepare
    const name = uniqueName('web');
    await apply({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name },
      spec: {
        replicas: 2,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'hostname > /data/who; sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } }],
      },
    });
    const claims = [0, 1].map((i) => `data-${name}-${i}`);
    // Act
    const bound = await Promise.all(claims.map((c) => waitFor(`${NS}/persistentvolumeclaims/${c}`, `${c} Bound`, (o) => o.status?.phase === 'Bound')));
    for (const b of bound) made.volumes.push(`stratus-pv-${b.spec.volumeName}`);
    const pods = await Promise.all([0, 1].map((i) => waitFor(`${NS}/pods/${name}-${i}`, `${name}-${i} running`, running)));
    const listed = table((await kubectl(['get', 'pvc', '-l', `app=${name}`])).stdout);
    expect((await kubectl(['delete', 'statefulset', name, '--wait=true'])).code).toBe(0);
    await Promise.all([0, 1].map((i) => waitGone(`${NS}/pods/${name}-${i}`, `${name}-${i} gone`)));
    const kept = await Promise.all(claims.map(async (c) => (await api.get(`${NS}/persistentvolumeclaims/${c}`)).status));
    await kubectl(['delete', 'pvc', ...claims, '--wait=false']);
    // Assess
    expect(bound.map((b) => b.spec.storageClassName)).toEqual(['standard', 'standard']);
    expect(bound.map((b) => b.metadata.labels)).toEqual([{ app: name }, { app: name }]);
    expect(pods.map((p) => p.spec.volumes.find((v: Json) => v.name === 'data'))).toEqual(claims.map((c) => ({ name: 'data', persistentVolumeClaim: { claimName: c } })));
    expect(listed.slice(1).map((r) => [r[0], r[1], r[3]])).toEqual(claims.map((c) => [c, 'Bound', '64Mi']));
    expect(kept).toEqual([200, 200]);
  }, 180_000);
});
