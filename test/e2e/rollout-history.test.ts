import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';
import { sleeperTemplateYaml } from '../helpers/pods';

/*
 * Issue #14: ControllerRevisions written by the DaemonSet and StatefulSet controllers, read and
 * written back by the real `kubectl rollout history` and `kubectl rollout undo`; and `rollout
 * undo` of a Deployment re-adopting the ReplicaSet of the old template. `kubectl rollout status`
 * waits between steps (it trusts status.observedGeneration).
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = 'default';
let api: Api;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(['-n', NS, ...args], { input, timeoutMs: 180_000 });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const podTemplate = (app: string) => sleeperTemplateYaml(app, IMAGE, 4, 'env: [{name: V, value: "1"}]');

const yamlOf = (kind: string, name: string, extra = '') => `apiVersion: apps/v1
kind: ${kind}
metadata:
  name: ${name}
spec:${extra}
  selector:
    matchLabels: {app: ${name}}
  template:${podTemplate(name)}
`;

/** The REVISION column of `kubectl rollout history`. */
const revisionsIn = (out: string) =>
  out
    .split('\n')
    .filter((l) => /^\d+\s/.test(l))
    .map((l) => Number(l.split(/\s+/)[0]));

interface Env {
  name: string;
  value: string;
}
async function envOfPods(app: string): Promise<string[]> {
  const r = await api.get(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`);
  return (r.body.items as { metadata: { deletionTimestamp?: string }; spec: { containers: { env?: Env[] }[] } }[])
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => p.spec.containers[0]!.env?.find((e) => e.name === 'V')?.value ?? '');
}

async function waitEnv(app: string, value: string, n = 1) {
  await eventually(async () => {
    const values = await envOfPods(app);
    return values.length === n && values.every((v) => v === value) ? true : undefined;
  }, 120_000, `pods of ${app} with V=${value}`);
}

beforeAll(() => {
  api = Api.forTenant('default');
});

for (const { kind, short, extra } of [
  { kind: 'DaemonSet', short: 'ds', extra: '' },
  { kind: 'StatefulSet', short: 'sts', extra: '\n  replicas: 1\n  serviceName: x' },
]) {
  describe(`${kind} history`, { timeout: 420_000 }, () => {
    it(`rollout history lists ControllerRevisions; history --revision shows one; undo and undo --to-revision restore templates`, async () => {
      // Prepare: revision 1, then revision 2 (kubectl set env)
      const name = uniqueName(short);
      const ref = `${short}/${name}`;
      await ok(['apply', '-f', '-'], yamlOf(kind, name, extra));
      await ok(['rollout', 'status', ref, '--timeout=150s']);
      await ok(['set', 'env', ref, 'V=2']);
      await ok(['rollout', 'status', ref, '--timeout=150s']);
      await waitEnv(name, '2');

      // Act / Assess: the revisions kubectl finds by the selector and controller reference
      const owner = (await api.get(`/apis/apps/v1/namespaces/${NS}/${kind.toLowerCase()}s/${name}`)).body;
      const crs = (await api.get(`/apis/apps/v1/namespaces/${NS}/controllerrevisions?labelSelector=app%3D${name}`)).body.items as { metadata: { name: string; labels: Record<string, string>; ownerReferences: { uid: string; kind: string }[] }; revision: number; data: { spec: { template: Record<string, unknown> } } }[];
      expect(crs.map((c) => c.revision).sort()).toEqual([1, 2]);
      for (const cr of crs) {
        expect(cr.metadata.name).toBe(`${name}-${cr.metadata.labels['controller-revision-hash']}`);
        expect(cr.metadata.ownerReferences).toEqual([expect.objectContaining({ kind, uid: owner.metadata.uid })]);
        expect(cr.data.spec.template.$patch).toBe('replace');
      }
      if (kind === 'StatefulSet') expect(owner.status.currentRevision).toBe(owner.status.updateRevision);
      const history = await ok(['rollout', 'history', ref]);
      expect(history.split('\n')[1]).toMatch(/^REVISION\s+CHANGE-CAUSE$/);
      expect(revisionsIn(history)).toEqual([1, 2]);
      const one = await ok(['rollout', 'history', ref, '--revision=1']);
      expect(one).toMatch(/revision #1/);
      expect(one).toMatch(/V:\s+1/);
      const table = await ok(['get', 'controllerrevisions', '-l', `app=${name}`]);
      expect(table.split('\n')[0]).toMatch(/^NAME\s+CONTROLLER\s+REVISION\s+AGE$/);
      expect(table).toContain(`${kind.toLowerCase()}.apps/${name}`);

      // Act: undo to the previous revision
      expect(await ok(['rollout', 'undo', ref])).toContain('rolled back');
      await ok(['rollout', 'status', ref, '--timeout=150s']);
      // Assess: pods back on V=1; revision 1's object is now revision 3
      await waitEnv(name, '1');
      expect(revisionsIn(await ok(['rollout', 'history', ref]))).toEqual([2, 3]);

      // Act: undo to a given revision
      await ok(['rollout', 'undo', ref, '--to-revision=2']);
      await ok(['rollout', 'status', ref, '--timeout=150s']);
      // Assess
      await waitEnv(name, '2');
      expect(revisionsIn(await ok(['rollout', 'history', ref]))).toEqual([3, 4]);
      const missing = await kubectl(['-n', NS, 'rollout', 'undo', ref, '--to-revision=9']);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('unable to find specified revision 9 in history');

      // Act: delete the owner
      await ok(['delete', ref]);
      // Assess: the garbage collector takes its revisions
      await eventually(async () => {
        const left = (await api.get(`/apis/apps/v1/namespaces/${NS}/controllerrevisions?labelSelector=app%3D${name}`)).body.items as unknown[];
        return left.length === 0 ? true : undefined;
      }, 60_000, 'revisions collected');
    });
  });
}

describe('Deployment rollout undo', { timeout: 300_000 }, () => {
  it('re-adopts the ReplicaSet of the old template (its revision moves to the newest) instead of making a new one', async () => {
    // Prepare
    const name = uniqueName('undo');
    await ok(['apply', '-f', '-'], yamlOf('Deployment', name, '\n  replicas: 1'));
    await ok(['rollout', 'status', `deploy/${name}`, '--timeout=150s']);
    await ok(['set', 'env', `deploy/${name}`, 'V=2']);
    await ok(['rollout', 'status', `deploy/${name}`, '--timeout=150s']);
    const before = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${name}`)).body.items as { metadata: { name: string; annotations: Record<string, string> } }[];
    expect(before).toHaveLength(2);
    const first = before.find((rs) => rs.metadata.annotations['deployment.kubernetes.io/revision'] === '1')!;
    // Act
    expect(await ok(['rollout', 'undo', `deploy/${name}`])).toContain('rolled back');
    await ok(['rollout', 'status', `deploy/${name}`, '--timeout=150s']);
    // Assess
    await waitEnv(name, '1');
    const after = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${name}`)).body.items as { metadata: { name: string; annotations: Record<string, string> } }[];
    expect(after.map((rs) => rs.metadata.name).sort()).toEqual(before.map((rs) => rs.metadata.name).sort());
    const readopted = after.find((rs) => rs.metadata.name === first.metadata.name)!;
    expect(readopted.metadata.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' });
    expect(revisionsIn(await ok(['rollout', 'history', `deploy/${name}`]))).toEqual([2, 3]);
    await ok(['delete', `deploy/${name}`]);
  });
});
