import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnAgent } from '../../infra/local/agent-process';
import { Api, eventually, uniqueName } from '../helpers/api';
import { waitForPod as waitForPodIn } from '../helpers/pods';

/*
 * Issue #5, crash safety: a second node agent of our own (its own node name, tainted so no other
 * test's pod lands on it) is killed with SIGKILL while it runs pods; while it is down one pod is
 * deleted and another created; started again, it adopts its containers by their labels (same
 * container ids, no duplicates), finishes the deletion, starts the new pod and reports status.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const TAINT = { key: 'stratus.test/crash', value: 'true', effect: 'NoSchedule' };
const NODE = `crash-${process.pid}`;
let api: Api;
let agent: ChildProcess | undefined;
type Json = any;

const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8' }).trim();
/** Docker containers of one pod on our node: name → ids (sandbox "POD" included). */
function containersOf(uid: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const lines = docker('ps', '-a', '--no-trunc', '--filter', `label=io.stratus.node=${NODE}`, '--filter', `label=io.stratus.pod.uid=${uid}`, '--format', '{{.ID}} {{.Label "io.stratus.container.name"}}');
  for (const line of lines.split('\n').filter(Boolean)) {
    const [id, name] = line.split(' ') as [string, string];
    (out[name] ??= []).push(id);
  }
  return out;
}

/** Starts the agent as test/global-setup.ts does, with its own name, taint and root dir. */
function startAgent(): ChildProcess {
  const stack = inject('stack');
  // Joins at the first start; the restart after kill -9 reuses the identity kept under crash-root.
  return spawnAgent({
    server: `${stack.apiUrl}/clusters/${stack.tenant}`,
    name: NODE,
    caFile: join(stack.stateDir, 'ca.crt'),
    joinToken: stack.joinToken,
    env: stack.env,
    rootDir: join(stack.stateDir, 'crash-root'),
    resyncSeconds: 2,
    args: ['--register-with-taints', `${TAINT.key}=${TAINT.value}:${TAINT.effect}`],
    logFile: join(stack.stateDir, `agent-${NODE}.log`),
  });
}

async function podOnNode(name: string): Promise<Json> {
  const r = await api.post(`${NS}/pods`, {
    metadata: { name },
    spec: {
      nodeName: NODE,
      tolerations: [{ key: TAINT.key, operator: 'Exists', effect: TAINT.effect }],
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }],
    },
  });
  expect(r.status, r.text).toBe(201);
  return r.body;
}

const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);
const running = (pod: Json) => pod.status.phase === 'Running' && pod.status.containerStatuses?.[0]?.state?.running;

beforeAll(async () => {
  api = Api.forTenant('default');
  agent = startAgent();
  await eventually(async () => {
    const node = (await api.get(`/api/v1/nodes/${NODE}`)).body;
    return node?.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True') ? node : undefined;
  }, 60_000, `node ${NODE} Ready`);
});

afterAll(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  const ids = docker('ps', '-aq', '--no-trunc', '--filter', `label=io.stratus.node=${NODE}`).split('\n').filter(Boolean);
  if (ids.length) docker('rm', '-f', '-v', ...ids);
  await api.delete(`/api/v1/nodes/${NODE}`);
});

describe('node agent crash', () => {
  it('adopts its containers after kill -9 and catches up with what changed meanwhile', async () => {
    // Prepare
    const kept = uniqueName('crash-kept');
    const doomed = uniqueName('crash-doomed');
    const later = uniqueName('crash-later');
    await podOnNode(kept);
    await podOnNode(doomed);
    const keptPod = await waitForPod(kept, 'running', running);
    const doomedPod = await waitForPod(doomed, 'running', running);
    const keptBefore = containersOf(keptPod.metadata.uid);
    const node = (await api.get(`/api/v1/nodes/${NODE}`)).body;

    // Act
    agent!.kill('SIGKILL');
    await new Promise((r) => agent!.once('exit', r));
    await api.delete(`${NS}/pods/${doomed}`);
    const laterPod = await podOnNode(later);
    agent = startAgent();
    await waitForPod(later, 'running after the restart', running);
    await eventually(async () => ((await api.get(`${NS}/pods/${doomed}`)).status === 404 ? true : undefined), 60_000, 'the deleted pod to be gone');
    const keptAfter = await waitForPod(kept, 'still running', running);

    // Assess
    expect(node.spec.taints).toEqual([TAINT]);
    // Node status from real readings: the kubelet port, pressure conditions, images.
    expect(node.status.daemonEndpoints.kubeletEndpoint.Port).toBeGreaterThan(0);
    expect(node.status.conditions.map((c: Json) => c.type).sort()).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    expect(node.status.images.some((i: Json) => i.names.includes(IMAGE))).toBe(true);
    // Adopted: the very same sandbox and container, one of each, and no restart.
    expect(containersOf(keptPod.metadata.uid)).toEqual(keptBefore);
    expect(keptBefore.POD).toHaveLength(1);
    expect(keptBefore.main).toHaveLength(1);
    expect(keptAfter.status.containerStatuses[0]).toMatchObject({ restartCount: 0, containerID: `docker://${keptBefore.main![0]}`, ready: true });
    // The pod deleted while the agent was down: its containers are gone too.
    expect(containersOf(doomedPod.metadata.uid)).toEqual({});
    // The pod created meanwhile: started once.
    const laterContainers = containersOf(laterPod.metadata.uid);
    expect(laterContainers.POD).toHaveLength(1);
    expect(laterContainers.main).toHaveLength(1);
  });

  it('restarts a container removed behind its back (docker rm -f), counting the restart as the kubelet does', async () => {
    // Prepare
    const name = uniqueName('crash-removed');
    await podOnNode(name);
    const before = await waitForPod(name, 'running', running);
    const { main: [removedId] = [], POD: sandbox } = containersOf(before.metadata.uid);
    if (!removedId) throw new Error('no container to remove');

    // Act
    docker('rm', '-f', removedId);
    const after = await waitForPod(name, 'running again in a new container', (pod) => running(pod) && pod.status.containerStatuses[0].containerID !== `docker://${removedId}`);

    // Assess
    const cs = after.status.containerStatuses[0];
    expect(cs.restartCount).toBe(1);
    expect(cs.lastState).toEqual({
      terminated: {
        exitCode: 137,
        reason: 'ContainerStatusUnknown',
        message: 'The container could not be located when the pod was deleted.  The container used to be Running',
      },
    });
    const now = containersOf(before.metadata.uid);
    expect(now.main).toEqual([cs.containerID.replace('docker://', '')]);
    expect(now.POD).toEqual(sandbox); // the sandbox is kept: only the container restarts
    expect(after.status.phase).toBe('Running');
  });
});
