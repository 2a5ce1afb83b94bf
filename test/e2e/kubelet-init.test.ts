import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { removeNodeContainers, startNodeAgent } from '../helpers/agent';
import { Api, eventually, uniqueName } from '../helpers/api';
import { privilegedNamespace, waitForPod as waitForPodIn } from '../helpers/pods';

/*
 * Issue #5, init containers, sidecars, hostname and hostNetwork, end to end over HTTPS against
 * real containers. The test releases a waiting init container with `docker exec`, so nothing
 * depends on timing.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

async function createPod(name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await api.post(`${NS}/pods`, { metadata: { name }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
  expect(r.status, r.text).toBe(201);
}

const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);

const cond = (pod: Json, type: string): Json => pod.status.conditions?.find((c: Json) => c.type === type);
const idOf = (s: Json): string => String(s.containerID).replace('docker://', '');

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('init containers', () => {
  it('run one at a time, in order, before the app container; the pod reports Init progress until then', async () => {
    // Prepare: the first init container waits until the test lets it go
    const name = uniqueName('init');
    await createPod(name, {
      initContainers: [
        { name: 'init-a', image: IMAGE, command: ['sh', '-c', 'while [ ! -f /tmp/go ]; do sleep 0.2; done'] },
        { name: 'init-b', image: IMAGE, command: ['sh', '-c', 'echo b'] },
      ],
      containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
    });
    const waiting = await waitForPod(name, 'init-a running', (p) => p.status.initContainerStatuses?.[0]?.state?.running !== undefined);
    expect(waiting.status.phase).toBe('Pending');
    expect(cond(waiting, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init-a init-b]' });
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False' });
    expect(waiting.status.initContainerStatuses[1].state.waiting.reason).toBe('PodInitializing');
    expect(waiting.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');

    // Act
    docker('exec', idOf(waiting.status.initContainerStatuses[0]), 'touch', '/tmp/go');
    // Assess
    const running = await waitForPod(name, 'Running and Ready', (p) => p.status.phase === 'Running' && cond(p, 'Ready')?.status === 'True');
    expect(cond(running, 'Initialized').status).toBe('True');
    const [a, b] = running.status.initContainerStatuses;
    expect(a).toMatchObject({ name: 'init-a', ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(b).toMatchObject({ name: 'init-b', ready: true, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    // In order: b started after a finished, the app after b finished (second precision).
    expect(Date.parse(b.state.terminated.startedAt)).toBeGreaterThanOrEqual(Date.parse(a.state.terminated.finishedAt));
    expect(Date.parse(running.status.containerStatuses[0].state.running.startedAt)).toBeGreaterThanOrEqual(Date.parse(b.state.terminated.finishedAt));
  });

  it('a failing init container with restartPolicy Never fails the pod and the app container never starts', async () => {
    // Prepare
    const name = uniqueName('init-fail');
    // Act
    await createPod(name, {
      restartPolicy: 'Never',
      initContainers: [{ name: 'init', image: IMAGE, command: ['sh', '-c', 'exit 7'] }],
      containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
    });
    // Assess
    const pod = await waitForPod(name, 'Failed', (p) => p.status.phase === 'Failed');
    expect(pod.status.initContainerStatuses[0].state.terminated).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect(pod.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');
    expect(docker('ps', '-aq', '--filter', `label=io.stratus.pod.uid=${pod.metadata.uid}`, '--filter', 'label=io.stratus.container.name=app')).toBe('');
  });

  it('a failing init container under restartPolicy Always is restarted with back-off, holding the pod in Pending', async () => {
    // Prepare
    const name = uniqueName('init-crash');
    // Act
    await createPod(name, {
      initContainers: [{ name: 'init', image: IMAGE, command: ['sh', '-c', 'exit 1'] }],
      containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
    });
    // Assess
    const pod = await waitForPod(name, 'init CrashLoopBackOff', (p) => p.status.initContainerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    expect(pod.status.phase).toBe('Pending');
    expect(pod.status.initContainerStatuses[0].restartCount).toBeGreaterThanOrEqual(1);
    expect(pod.status.initContainerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(pod.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');
  });

  it('a native sidecar (init container with restartPolicy Always) starts first and keeps running beside the app', async () => {
    // Prepare
    const name = uniqueName('sidecar');
    // Act
    await createPod(name, {
      initContainers: [{ name: 'proxy', image: IMAGE, restartPolicy: 'Always', command: ['sleep', '3600'] }],
      containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
    });
    // Assess
    const pod = await waitForPod(name, 'Running and Ready', (p) => p.status.phase === 'Running' && cond(p, 'Ready')?.status === 'True');
    expect(cond(pod, 'Initialized').status).toBe('True');
    expect(pod.status.initContainerStatuses[0]).toMatchObject({ name: 'proxy', ready: true, started: true });
    expect(pod.status.initContainerStatuses[0].state.running).toBeDefined();
    expect(Date.parse(pod.status.containerStatuses[0].state.running.startedAt)).toBeGreaterThanOrEqual(Date.parse(pod.status.initContainerStatuses[0].state.running.startedAt));
  });
});

describe('pod networking basics', () => {
  it('the hostname is the pod name', async () => {
    // Prepare
    const name = uniqueName('hn');
    // Act
    await createPod(name, { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] });
    // Assess
    const pod = await waitForPod(name, 'running', (p) => p.status.containerStatuses?.[0]?.state?.running !== undefined);
    expect(docker('exec', idOf(pod.status.containerStatuses[0]), 'hostname')).toBe(name);
  });

  it('a hostNetwork pod gets the node IP as its pod IP and sees the host network', async () => {
    // Prepare: host networking needs a namespace labelled privileged (the default one enforces
    // baseline) and a node started with --allow-privileged (the run's node refuses it).
    const hostNs = await privilegedNamespace(api, 'init-host-network');
    const nodeName = `hostnet-${process.pid}`;
    const agent = startNodeAgent(nodeName, { taint: { key: 'stratus.test/privileged', value: 'true', effect: 'NoSchedule' }, args: ['--allow-privileged'] });
    try {
      await eventually(async () => ((await api.get(`/api/v1/nodes/${nodeName}`)).status === 200 ? true : undefined), 60_000, 'the privileged node registered');
      const name = uniqueName('hostnet');
      // Act
      const r = await api.post(`${hostNs}/pods`, {
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: 1,
          hostNetwork: true,
          nodeName,
          tolerations: [{ key: 'stratus.test/privileged', operator: 'Exists' }],
          containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }],
        },
      });
      expect(r.status, r.text).toBe(201);
      // Assess
      const pod = await waitForPodIn(api, hostNs, name, 'running', (p) => p.status.containerStatuses?.[0]?.state?.running !== undefined && !!p.status.podIP);
      expect(pod.status.podIP).toBe(pod.status.hostIP);
      const sandbox = docker('ps', '-q', '--filter', `label=io.stratus.pod.uid=${pod.metadata.uid}`, '--filter', 'label=io.stratus.container.name=POD');
      expect(docker('inspect', '-f', '{{.HostConfig.NetworkMode}}', sandbox)).toBe('host');
      await api.delete(`${hostNs}/pods/${name}?gracePeriodSeconds=0`);
    } finally {
      const exited = new Promise((done) => agent.once('exit', done));
      agent.kill('SIGTERM');
      await exited;
      await api.delete(`/api/v1/nodes/${nodeName}`);
      removeNodeContainers(nodeName);
    }
  }, 120_000);
});
