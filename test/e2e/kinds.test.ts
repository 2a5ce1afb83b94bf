import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';
import { sleeperTemplateYaml } from '../helpers/pods';

/*
 * Issue #14 B end to end through the real kubectl: ReplicationController (get columns, scale,
 * describe, adoption, garbage collection) and PodTemplate (plain CRUD).
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = 'default';
let api: Api;

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string; ownerReferences?: { uid: string; kind: string; apiVersion: string; controller?: boolean }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

const isReady = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

async function podsOf(app: string): Promise<Pod[]> {
  const r = await api.get(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`);
  expect(r.status).toBe(200);
  return (r.body.items as Pod[]).filter((p) => !p.metadata.deletionTimestamp);
}

async function waitPods(app: string, n: number, ready: boolean, timeoutMs = 120_000): Promise<Pod[]> {
  return eventually(async () => {
    const live = await podsOf(app);
    return live.length === n && (!ready || live.every(isReady)) ? live : undefined;
  }, timeoutMs, `${n}${ready ? ' ready' : ''} pods of ${app}`);
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(['-n', NS, ...args], { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const rcYaml = (name: string, replicas: number) => `apiVersion: v1
kind: ReplicationController
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  template:${sleeperTemplateYaml(name, IMAGE)}
`;

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('ReplicationController', { timeout: 300_000 }, () => {
  it('runs its replicas; get rc columns (and wide); scale rc; describe; orphan and re-adopt; deletion collects its pods', async () => {
    // Prepare / Act
    const name = uniqueName('rc');
    await ok(['apply', '-f', '-'], rcYaml(name, 2));
    // Assess: pods owned by the RC, selector and labels defaulted from the template
    const pods = await waitPods(name, 2, true);
    const rc = (await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).body;
    expect(rc.spec.selector).toEqual({ app: name });
    expect(rc.metadata.labels).toEqual({ app: name });
    for (const p of pods) expect(p.metadata.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'ReplicationController', uid: rc.metadata.uid, controller: true })]);
    await eventually(async () => ((await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).body.status?.readyReplicas === 2 ? true : undefined), 60_000, 'rc status');
    const table = await ok(['get', 'rc', name]);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$/);
    expect(table.split('\n')[1]).toMatch(new RegExp(`^${name}\\s+2\\s+2\\s+2\\s+\\S+$`));
    const wide = await ok(['get', 'rc', name, '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/);
    expect(wide.split('\n')[1]).toMatch(new RegExp(`\\smain\\s+${IMAGE.replace(/[./]/g, '\\$&')}\\s+app=${name}$`));

    // Act: kubectl scale rc
    expect(await ok(['scale', 'rc', name, '--replicas=1'])).toContain(`replicationcontroller/${name} scaled`);
    // Assess
    await waitPods(name, 1, true);
    const scale = (await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}/scale`)).body;
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 1 }, status: { selector: `app=${name}` } });

    // Act: describe (once the controller has counted the remaining pod in status)
    await eventually(async () => ((await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).body.status?.replicas === 1 ? true : undefined), 60_000, 'rc status.replicas 1');
    const described = await ok(['describe', 'rc', name]);
    // Assess
    expect(described).toMatch(new RegExp(`Name:\\s+${name}`));
    expect(described).toMatch(new RegExp(`Selector:\\s+app=${name}`));
    expect(described).toMatch(/Replicas:\s+1 current \/ 1 desired/);
    expect(described).toMatch(/SuccessfulCreate/);

    // Act: delete orphaning the pod, then create the RC again
    await ok(['delete', 'rc', name, '--cascade=orphan']);
    const orphan = await eventually(async () => {
      const [p] = await podsOf(name);
      return p && !p.metadata.ownerReferences?.length ? p : undefined;
    }, 60_000, 'orphaned pod');
    await ok(['apply', '-f', '-'], rcYaml(name, 1));
    // Assess: the orphan is adopted, no new pod
    const adopted = await eventually(async () => {
      const rc2 = (await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).body;
      const [p] = await podsOf(name);
      return p?.metadata.ownerReferences?.[0]?.uid === rc2.metadata.uid ? p : undefined;
    }, 60_000, 'adopted pod');
    expect(adopted.metadata.uid).toBe(orphan.metadata.uid);
    expect(await podsOf(name)).toHaveLength(1);

    // Act: delete (kubectl's default, background propagation)
    await ok(['delete', 'rc', name]);
    // Assess: the garbage collector removes its pod
    await eventually(async () => ((await podsOf(name)).length === 0 ? true : undefined), 60_000, 'pods collected');
  });

  it('a DELETE without options orphans its pods (core/v1 RC\'s default policy, for back compatibility)', async () => {
    // Prepare
    const name = uniqueName('rcorphan');
    await ok(['apply', '-f', '-'], rcYaml(name, 1));
    const [p] = await waitPods(name, 1, false);
    // Act
    expect((await api.delete(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).status).toBe(200);
    // Assess: the RC goes, its pod stays without the reference
    await eventually(async () => ((await api.get(`/api/v1/namespaces/${NS}/replicationcontrollers/${name}`)).status === 404 ? true : undefined), 60_000, 'rc gone');
    const left = await eventually(async () => {
      const [q] = await podsOf(name);
      return q && !q.metadata.ownerReferences?.length ? q : undefined;
    }, 60_000, 'orphaned pod');
    expect(left.metadata.uid).toBe(p!.metadata.uid);
    await api.delete(`/api/v1/namespaces/${NS}/pods/${left.metadata.name}?gracePeriodSeconds=0`);
  });
});

describe('PodTemplate', { timeout: 120_000 }, () => {
  it('create, get, list, patch and delete', async () => {
    // Prepare
    const name = uniqueName('tmpl');
    const yaml = `apiVersion: v1
kind: PodTemplate
metadata:
  name: ${name}
template:
  metadata:
    labels: {app: ${name}}
  spec:
    containers:
    - name: main
      image: ${IMAGE}
`;
    // Act
    expect(await ok(['create', '-f', '-'], yaml)).toContain(`podtemplate/${name} created`);
    // Assess
    const table = await ok(['get', 'podtemplates', name]);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+CONTAINERS\s+IMAGES\s+POD LABELS$/);
    expect(table.split('\n')[1]).toMatch(new RegExp(`^${name}\\s+main\\s+\\S+\\s+app=${name}$`));
    const got = JSON.parse(await ok(['get', 'podtemplate', name, '-o', 'json']));
    expect(got.template.spec.containers[0]).toMatchObject({ image: IMAGE, imagePullPolicy: 'IfNotPresent' });
    await ok(['patch', 'podtemplate', name, '--type=merge', '-p', '{"metadata":{"labels":{"tier":"x"}}}']);
    expect(await ok(['get', 'podtemplates', '-l', 'tier=x', '-o', 'name'])).toContain(`podtemplate/${name}`);
    const bad = await kubectl(['-n', NS, 'create', '-f', '-'], { input: yaml.replace(`name: ${name}`, `name: ${name}-bad`).replace(/containers:[\s\S]*$/, 'containers: []\n') });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('template.spec.containers: Required value');
    expect(await ok(['delete', 'podtemplate', name])).toContain(`podtemplate "${name}" deleted`);
    expect((await api.get(`/api/v1/namespaces/${NS}/podtemplates/${name}`)).status).toBe(404);
  });
});
