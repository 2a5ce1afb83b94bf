import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #4 end to end: workload controllers (functions/controllers) over the real stack —
 * Deployments, ReplicaSets, Jobs, CronJobs and the garbage collector — with pods running in
 * Docker through the scheduler and the node agent. kubectl where it speaks to us already,
 * the HTTPS API otherwise.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const OTHER_IMAGE = 'stratus/pause:1';
const NS = 'default';
let api: Api;

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string; ownerReferences?: { uid: string; kind: string }[] };
  spec: { containers: { image: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

function kubectl(...args: string[]): string {
  const stack = inject('stack');
  return execFileSync('kubectl', ['--kubeconfig', stack.kubeconfigPath, '-n', NS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

const isReady = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

async function podsOf(app: string): Promise<Pod[]> {
  const r = await api.get(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`);
  expect(r.status).toBe(200);
  return r.body.items as Pod[];
}

async function waitReady(app: string, n: number, image?: string, timeoutMs = 120_000): Promise<Pod[]> {
  return eventually(async () => {
    const pods = await podsOf(app);
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    const ready = live.filter(isReady).filter((p) => !image || p.spec.containers[0]!.image === image);
    return ready.length === n && live.length === n ? ready : undefined;
  }, timeoutMs, `${n} ready pods of ${app}${image ? ` with ${image}` : ''}`);
}

function deploymentBody(name: string, replicas: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'sleep 3600'] }] },
      },
      ...extra,
    },
  };
}

async function waitRolledOut(name: string, timeoutMs = 120_000) {
  return eventually(async () => {
    const d = (await api.get(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`)).body;
    const s = d.status ?? {};
    const done = s.observedGeneration >= d.metadata.generation && s.updatedReplicas === d.spec.replicas && s.replicas === d.spec.replicas && s.availableReplicas === d.spec.replicas;
    return done ? d : undefined;
  }, timeoutMs, `deployment ${name} rolled out`);
}

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('Deployments', { timeout: 300_000 }, () => {
  it('a Deployment runs its replicas in Docker; scale up and down; a deleted pod is replaced', async () => {
    // Prepare
    const name = uniqueName('web');
    // Act
    const created = await api.post(`/apis/apps/v1/namespaces/${NS}/deployments`, deploymentBody(name, 3));
    // Assess
    expect(created.status).toBe(201);
    expect(created.body.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    const pods = await waitReady(name, 3);
    for (const p of pods) {
      const ids = execFileSync('docker', ['ps', '-q', '--filter', `label=io.stratus.pod.uid=${p.metadata.uid}`], { encoding: 'utf8' }).trim();
      expect(ids, `container of ${p.metadata.name}`).not.toBe('');
    }
    const d = await waitRolledOut(name);
    expect(d.status.conditions.find((c: { type: string }) => c.type === 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');

    // Act: scale up through the scale subresource (what kubectl scale uses)
    const scaled = await api.patch(`/apis/apps/v1/namespaces/${NS}/deployments/${name}/scale`, { spec: { replicas: 5 } });
    // Assess
    expect(scaled.status).toBe(200);
    expect(scaled.body).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 5 } });
    await waitReady(name, 5);

    // Act: scale down
    const put = await api.put(`/apis/apps/v1/namespaces/${NS}/deployments/${name}/scale`, { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name }, spec: { replicas: 2 } });
    expect(put.status).toBe(200);
    const two = await waitReady(name, 2);

    // Act: delete one pod
    const victim = two[0]!.metadata.name;
    expect((await api.delete(`/api/v1/namespaces/${NS}/pods/${victim}`)).status).toBe(200);
    // Assess: replaced by another
    const after = await eventually(async () => {
      const ready = (await podsOf(name)).filter(isReady);
      return ready.length === 2 && !ready.some((p) => p.metadata.name === victim) ? ready : undefined;
    }, 120_000, 'replacement pod');
    expect(after).toHaveLength(2);
    // The Deployment's status follows its pods a moment later (written by the controllers).
    const scale = await eventually(async () => {
      const r = await api.get(`/apis/apps/v1/namespaces/${NS}/deployments/${name}/scale`);
      return r.body?.status?.replicas === 2 ? r : undefined;
    }, 30_000, 'scale status');
    expect(scale.body).toMatchObject({ spec: { replicas: 2 }, status: { replicas: 2, selector: `app=${name}` } });
    await api.delete(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
  });

  it('set image rolls out with maxUnavailable 0 keeping N ready pods throughout; rollout undo restores the previous image', async () => {
    // Prepare
    const name = uniqueName('roll');
    const n = 3;
    await api.post(`/apis/apps/v1/namespaces/${NS}/deployments`, deploymentBody(name, n, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await waitReady(name, n);
    await waitRolledOut(name);
    // Act: set image (the strategic merge patch kubectl set image sends)
    const patched = await api.patch(
      `/apis/apps/v1/namespaces/${NS}/deployments/${name}`,
      { spec: { template: { spec: { containers: [{ name: 'main', image: OTHER_IMAGE }] } } } },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status).toBe(200);
    // Assess: sample readiness all through the rollout
    let minReady = Number.MAX_SAFE_INTEGER;
    let samples = 0;
    await eventually(async () => {
      const pods = await podsOf(name);
      const ready = pods.filter(isReady).length;
      minReady = Math.min(minReady, ready);
      samples++;
      const done = pods.filter((p) => !p.metadata.deletionTimestamp).every((p) => p.spec.containers[0]!.image === OTHER_IMAGE) && pods.filter(isReady).length === n;
      return done ? true : undefined;
    }, 180_000, 'rollout to the new image');
    expect(samples).toBeGreaterThan(1);
    expect(minReady).toBeGreaterThanOrEqual(n);
    const d = await waitRolledOut(name);
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
    const rsList = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${name}`)).body.items;
    expect(rsList).toHaveLength(2);
    expect(rsList.map((rs: { spec: { replicas: number } }) => rs.spec.replicas).sort()).toEqual([0, n]);

    // Act: rollout undo (the JSON patch kubectl rollout undo sends: the previous ReplicaSet's template)
    const previous = rsList.find((rs: { metadata: { annotations: Record<string, string> } }) => rs.metadata.annotations['deployment.kubernetes.io/revision'] === '1');
    const tmpl = structuredClone(previous.spec.template);
    delete tmpl.metadata.labels['pod-template-hash'];
    const undo = await api.patch(
      `/apis/apps/v1/namespaces/${NS}/deployments/${name}`,
      [
        { op: 'replace', path: '/spec/template', value: tmpl },
        { op: 'replace', path: '/metadata/annotations', value: { 'deployment.kubernetes.io/revision': '2' } },
      ],
      'application/json-patch+json',
    );
    expect(undo.status).toBe(200);
    // Assess
    await waitReady(name, n, IMAGE);
    const back = await waitRolledOut(name);
    expect(back.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    const old = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets/${previous.metadata.name}`)).body;
    expect(old.metadata.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' });
    await api.delete(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
  });

  it('deleting a Deployment removes its ReplicaSets and pods; orphan deletion keeps them', async () => {
    // Prepare
    const gone = uniqueName('gone');
    const kept = uniqueName('kept');
    await api.post(`/apis/apps/v1/namespaces/${NS}/deployments`, deploymentBody(gone, 2));
    await api.post(`/apis/apps/v1/namespaces/${NS}/deployments`, deploymentBody(kept, 2));
    await waitReady(gone, 2);
    await waitReady(kept, 2);
    // Act
    expect((await api.delete(`/apis/apps/v1/namespaces/${NS}/deployments/${gone}`)).status).toBe(200);
    expect(kubectl('delete', 'deployment', kept, '--cascade=orphan', '--wait=false')).toContain(`deployment.apps "${kept}" deleted`);
    // Assess
    await eventually(async () => {
      const rs = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${gone}`)).body.items;
      const pods = await podsOf(gone);
      return rs.length === 0 && pods.length === 0 ? true : undefined;
    }, 120_000, 'ReplicaSets and pods of the deleted Deployment gone');
    await eventually(async () => ((await api.get(`/apis/apps/v1/namespaces/${NS}/deployments/${kept}`)).status === 404 ? true : undefined), 60_000, 'orphaning Deployment gone');
    const rs = (await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${kept}`)).body.items;
    expect(rs).toHaveLength(1);
    expect(rs[0].metadata.ownerReferences).toBeUndefined();
    const pods = await podsOf(kept);
    expect(pods.filter(isReady)).toHaveLength(2);
    // Clean up: the ReplicaSet (background) takes its pods along.
    await api.delete(`/apis/apps/v1/namespaces/${NS}/replicasets/${rs[0].metadata.name}`);
    await eventually(async () => ((await podsOf(kept)).length === 0 ? true : undefined), 120_000, 'orphaned pods collected with their ReplicaSet');
  });

  it('rejects a selector that does not match the template labels with Kubernetes\' 422', async () => {
    // Prepare
    const body = deploymentBody(uniqueName('bad'), 1);
    body.spec.selector = { matchLabels: { app: 'other' } };
    // Act
    const r = await api.post(`/apis/apps/v1/namespaces/${NS}/deployments`, body);
    // Assess
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Invalid' });
    expect(r.body.message).toContain('spec.template.metadata.labels: Invalid value: map[string]string{"app":');
    expect(r.body.message).toContain('`selector` does not match template `labels`');
    const neg = await api.patch(`/apis/apps/v1/namespaces/${NS}/deployments/nope/scale`, { spec: { replicas: -1 } });
    expect(neg.status).toBe(404);
  });
});

describe('Jobs and CronJobs', { timeout: 300_000 }, () => {
  it('a Job runs to Complete', async () => {
    // Prepare
    const name = uniqueName('job');
    // Act
    const r = await api.post(`/apis/batch/v1/namespaces/${NS}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name },
      spec: { completions: 2, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo done'] }] } } },
    });
    expect(r.status).toBe(201);
    // Assess
    const job = await eventually(async () => {
      const j = (await api.get(`/apis/batch/v1/namespaces/${NS}/jobs/${name}`)).body;
      return j.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    }, 120_000, 'job Complete');
    expect(job.status).toMatchObject({ succeeded: 2, active: 0 });
    expect(job.status.completionTime).toBeTruthy();
    await api.delete(`/apis/batch/v1/namespaces/${NS}/jobs/${name}?propagationPolicy=Background`);
  });

  it('a CronJob with an every-minute schedule creates Jobs', async () => {
    // Prepare
    const name = uniqueName('cron').slice(0, 40);
    // Act
    const r = await api.post(`/apis/batch/v1/namespaces/${NS}/cronjobs`, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name },
      spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo tick'] }] } } } } },
    });
    expect(r.status).toBe(201);
    expect(r.body.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    // Assess
    const jobs = await eventually(async () => {
      const all = (await api.get(`/apis/batch/v1/namespaces/${NS}/jobs`)).body.items as { metadata: { name: string; ownerReferences?: { uid: string }[] } }[];
      const mine = all.filter((j) => j.metadata.ownerReferences?.some((o) => o.uid === r.body.metadata.uid));
      return mine.length > 0 ? mine : undefined;
    }, 100_000, 'a Job from the CronJob');
    expect(jobs[0]!.metadata.name).toMatch(new RegExp(`^${name}-\\d+$`));
    const cj = await eventually(async () => {
      const c = (await api.get(`/apis/batch/v1/namespaces/${NS}/cronjobs/${name}`)).body;
      return c.status?.lastScheduleTime ? c : undefined;
    }, 30_000, 'lastScheduleTime');
    expect(cj.status.lastScheduleTime).toMatch(/:00Z$/);
    await api.delete(`/apis/batch/v1/namespaces/${NS}/cronjobs/${name}`);
  });
});
