import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { removeNodeContainers, startNodeAgent } from '../helpers/agent';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * kubectl cordon / drain / uncordon against a second, real node agent of the default tenant
 * (so the run's shared node is never cordoned): drain evicts through pods/{name}/eviction and
 * stops at a PodDisruptionBudget (429), an unschedulable pod says why in Kubernetes' words,
 * and uncordon lets it run.
 */
const IMAGE = 'stratus-test/busybox:1.36';
/**
 * The second node is tainted so that other test files' pods (running at the same time in the same
 * tenant) never land on it: its agent stops at the end of this file, and their pods would wait there.
 */
const TAINT = { key: 'stratus.test/drain', value: 'true', effect: 'NoSchedule' };
let api: Api;
let agent: ChildProcess | undefined;
let nodeName: string;
let kubeconfig: string;

function kubectl(...args: string[]): { code: number; out: string } {
  process.stderr.write(`[drain.test] kubectl ${args.join(' ')}\n`);
  try {
    return { code: 0, out: execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/**
 * The API through a fresh connection after kubectl has kept us idle: the server closes idle
 * keep-alive sockets, and reusing one just closed fails with EPIPE / socket hang up.
 */
async function fresh<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (attempt >= 2 || !/EPIPE|socket hang up|ECONNRESET/.test(String(e))) throw e;
    }
  }
}

const podOn = (name: string, app: string, node: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app } },
  spec: {
    nodeSelector: { 'kubernetes.io/hostname': node },
    tolerations: [{ key: TAINT.key, operator: 'Exists', effect: TAINT.effect }],
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'sleep 3600'] }],
  },
});

beforeAll(async () => {
  api = Api.forTenant('default');
  kubeconfig = inject('stack').kubeconfigPath;
  nodeName = `drain-${process.pid}`;
  agent = startNodeAgent(nodeName, { taint: TAINT });
  await eventually(async () => ((await api.get(`/api/v1/nodes/${nodeName}`)).status === 200 ? true : undefined), 60_000, 'second node registered');
});

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  await api.delete(`/api/v1/nodes/${nodeName}`);
  removeNodeContainers(nodeName);
});

describe('cordon, drain, uncordon', () => {
  it('drain evicts, respects a PodDisruptionBudget, and uncordon lets waiting pods run', async () => {
    // Prepare: two pods on the node, a budget that keeps one of them.
    const app = uniqueName('drain');
    const names = [uniqueName('web'), uniqueName('web')];
    for (const n of names) expect((await api.post('/api/v1/namespaces/default/pods', podOn(n, app, nodeName))).status).toBe(201);
    for (const n of names) {
      await eventually(async () => {
        const p = (await api.get(`/api/v1/namespaces/default/pods/${n}`)).body;
        return p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      }, 60_000, `${n} ready`);
    }
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: app }, spec: { minAvailable: 1, selector: { matchLabels: { app } } } };
    expect((await api.post('/apis/policy/v1/namespaces/default/poddisruptionbudgets', pdb)).status).toBe(201);

    // Act: cordon
    expect(kubectl('cordon', nodeName).code).toBe(0);
    const waiting = uniqueName('waiting');
    await api.post('/api/v1/namespaces/default/pods', podOn(waiting, `${app}-w`, nodeName));
    // Assess: the node takes no new pods, and the pod says why.
    expect((await api.get(`/api/v1/nodes/${nodeName}`)).body.spec.unschedulable).toBe(true);
    const message = await eventually(async () => {
      const c = (await api.get(`/api/v1/namespaces/default/pods/${waiting}`)).body.status?.conditions?.find((x: { type: string }) => x.type === 'PodScheduled');
      return c?.reason === 'Unschedulable' ? (c.message as string) : undefined;
    }, 30_000, 'unschedulable condition');
    expect(message).toMatch(/^0\/\d+ nodes are available: .*1 node\(s\) were unschedulable/);
    const events = await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${waiting}`);
    expect(events.body.items.map((e: { reason: string }) => e.reason)).toContain('FailedScheduling');

    // Act: drain, with the budget in the way
    const blocked = kubectl('drain', nodeName, '--pod-selector', `app=${app}`, '--force', '--timeout=8s');
    // Assess: one pod goes, the other is protected by the budget (429 from the eviction).
    expect(blocked.code).not.toBe(0);
    expect(blocked.out).toContain("Cannot evict pod as it would violate the pod's disruption budget");
    const left: string[] = [];
    for (const n of names) {
      const r = await fresh(() => api.get(`/api/v1/namespaces/default/pods/${n}`));
      if (r.status === 200 && !r.body.metadata.deletionTimestamp) left.push(n);
    }
    expect(left).toHaveLength(1); // drain evicted one; the budget kept the other
    const direct = await fresh(() => api.post(`/api/v1/namespaces/default/pods/${left[0]}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: left[0] } }));
    expect(direct.status).toBe(429);
    expect(direct.body.details.causes[0]).toMatchObject({ reason: 'DisruptionBudget' });

    // Act: without the budget, drain finishes.
    await fresh(() => api.delete(`/apis/policy/v1/namespaces/default/poddisruptionbudgets/${app}`));
    const drained = kubectl('drain', nodeName, '--pod-selector', `app=${app}`, '--force', '--timeout=60s');
    // Assess
    expect(drained.code, drained.out).toBe(0);
    for (const n of names) expect((await fresh(() => api.get(`/api/v1/namespaces/default/pods/${n}`))).status).toBe(404);

    // Act: uncordon
    expect(kubectl('uncordon', nodeName).code).toBe(0);
    await fresh(() => api.get(`/api/v1/nodes/${nodeName}`));
    // Assess: the waiting pod is retried when the node changes, and runs there.
    const running = await eventually(async () => {
      const p = (await api.get(`/api/v1/namespaces/default/pods/${waiting}`)).body;
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000, 'waiting pod running');
    expect(running.spec.nodeName).toBe(nodeName);
    await api.delete(`/api/v1/namespaces/default/pods/${waiting}`);
  }, 240_000);
});
