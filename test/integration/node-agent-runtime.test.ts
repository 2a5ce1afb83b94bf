/**
 * DockerRuntime against the real Docker daemon, with locally built images (no registry).
 * Each run uses its own node name, so cleanup by label touches only what this file made.
 */
import Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime, LABELS } from '../../node-agent/docker-runtime';
import { agentLogger } from '../../node-agent/log';
import type { EventType } from '../../node-agent/runtime';
import type { Pod, PodKey, PodStatus } from '../../node-agent/types';
import { ensureTestImages, TEST_IMAGES } from '../helpers/images';
import { DockerBridgeNetwork, destroyDockerBridge } from '../../node-agent/network/docker-bridge';
import type { PodNetwork } from '../../node-agent/network/pod-network';

const docker = new Docker();
const NODE = `itest-${randomUUID().slice(0, 8)}`;
const TENANT = 'itest';

interface RecordedEvent {
  readonly pod: string;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

function newRuntime(events: RecordedEvent[] = [], network?: PodNetwork): DockerRuntime {
  return new DockerRuntime({
    ...(network ? { network } : {}),
    docker,
    nodeName: NODE,
    tenant: TENANT,
    hostIP: '10.0.0.1',
    pauseImage: TEST_IMAGES.pause,
    recorder: { event: (pod: PodKey, type, reason, message) => events.push({ pod: pod.name, type, reason, message }) },
    ...(process.env.NA_DEBUG ? { log: agentLogger({ node: NODE, tenant: TENANT }) } : {}),
  });
}

function makePod(name: string, containers: Pod['spec']['containers'], restartPolicy: 'Always' | 'OnFailure' | 'Never' = 'Always'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: randomUUID() },
    spec: { nodeName: NODE, restartPolicy, terminationGracePeriodSeconds: 1, containers },
  };
}

async function podContainers(uid: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${uid}`] } });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Syncs until the status satisfies `ok`, as the agent's resync loop would. */
async function syncUntil(rt: DockerRuntime, pod: Pod, what: string, ok: (s: PodStatus) => boolean): Promise<PodStatus> {
  return waitFor(what, async () => {
    await rt.syncPod(pod);
    const s = await rt.getPodStatus(pod);
    return s && ok(s) ? s : undefined;
  });
}

beforeAll(() => {
  ensureTestImages();
}, 120_000);

afterAll(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${NODE}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  // The default pod network's network and nft table of this file's cluster.
  await destroyDockerBridge(docker, TENANT);
});

describe('DockerRuntime', () => {
  it('runs a two-container pod whose containers reach each other on localhost', async () => {
    // Prepare
    const rt = newRuntime();
    const pod = makePod('web', [
      {
        name: 'server',
        image: TEST_IMAGES.busybox,
        command: ['sh', '-c'],
        args: ['mkdir -p /tmp/www && echo hello-from-server > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
        ports: [{ containerPort: 8080 }],
      },
      {
        name: 'client',
        image: TEST_IMAGES.busybox,
        command: ['sh', '-c', 'until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; echo reached; exec sleep 3600'],
        env: [{ name: 'GREETING', value: 'hi' }],
      },
    ]);

    // Act
    const status = await syncUntil(rt, pod, 'pod Running and Ready', (s) =>
      s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready),
    );

    // Assess
    expect(status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(status.hostIP).toBe('10.0.0.1');
    expect(status.qosClass).toBe('BestEffort');
    expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status.containerStatuses?.map((c) => c.containerID)).toEqual([expect.stringMatching(/^docker:\/\//), expect.stringMatching(/^docker:\/\//)]);
    const client = (await podContainers(pod.metadata.uid)).find((c) => c.Labels[LABELS.containerName] === 'client');
    const logs = await waitFor('client logs', async () => {
      const buf = await docker.getContainer(client!.Id).logs({ stdout: true, stderr: true });
      const text = buf.toString();
      return text.includes('reached') ? text : undefined;
    });
    expect(logs).toContain('hello-from-server');
    expect(await podContainers(pod.metadata.uid)).toHaveLength(3); // sandbox + 2
  }, 60_000);

  it('asks for a pod whose volume cannot be set up yet to be synced again soon (before any resync)', async () => {
    // Prepare: a ConfigMap volume that does not exist (this runtime has no config source at all)
    const rt = newRuntime();
    const asked: string[] = [];
    const stop = rt.watchPodChanges((k) => asked.push(k.uid));
    const pod = makePod('mount-retry', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '60'], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }]);
    pod.spec.volumes = [{ name: 'cfg', configMap: { name: 'missing' } }];
    try {
      // Act
      await rt.syncPod(pod);
      // Assess: nothing of the pod runs (no Docker event can name it), yet the runtime asks for it
      await waitFor('the retry', async () => (asked.includes(pod.metadata.uid) ? true : undefined), 15_000);
      expect(await podContainers(pod.metadata.uid)).toHaveLength(0);
      expect((await rt.getPodStatus(pod))?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    } finally {
      await rt.killPod({ uid: pod.metadata.uid, namespace: 'default', name: 'mount-retry' }, 0);
      stop();
    }
  });

  it('wires the sandbox through its PodNetwork: set up before it starts, pod IPs from it, DNS for every container, torn down on kill', async () => {
    // Prepare: the default bridge, recording what the runtime asks of it
    const calls: string[] = [];
    const bridge = new DockerBridgeNetwork({ docker, tenant: TENANT });
    const network: PodNetwork = {
      name: 'recording',
      podCIDRs: [],
      setUp: async (p) => (calls.push(`setUp ${p.metadata.name}`), bridge.setUp(p)),
      afterSandboxStart: (p, sandbox) => bridge.afterSandboxStart(p, sandbox),
      podIPs: (sandbox) => bridge.podIPs(sandbox),
      tearDown: async (k) => (calls.push(`tearDown ${k.name}`), bridge.tearDown(k)),
    };
    const rt = newRuntime([], network);
    const pod = makePod('netpod', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    Object.assign(pod.spec, { dnsPolicy: 'None', dnsConfig: { nameservers: ['192.0.2.53'], searches: ['svc.example'], options: [{ name: 'ndots', value: '3' }] } });

    // Act
    const status = await syncUntil(rt, pod, 'pod Running', (s) => s.phase === 'Running' && !!s.podIP);
    const main = (await podContainers(pod.metadata.uid)).find((c) => c.Labels[LABELS.containerName] === 'main')!;
    const resolv = await rt.execInContainer(main.Id, ['cat', '/etc/resolv.conf'], 10_000);
    const sandbox = (await podContainers(pod.metadata.uid)).find((c) => c.Labels[LABELS.containerName] === 'POD')!;
    const ips = bridge.podIPs(await docker.getContainer(sandbox.Id).inspect());
    await rt.killPod({ uid: pod.metadata.uid, namespace: 'default', name: 'netpod' }, 1);
    await rt.killPod({ uid: pod.metadata.uid, namespace: 'default', name: 'netpod' }, 1);

    // Assess
    expect(calls).toEqual(['setUp netpod', 'tearDown netpod', 'tearDown netpod']);
    expect(status.podIP).toBe(ips[0]);
    expect(status.podIPs).toEqual(ips.map((ip) => ({ ip })));
    expect(resolv.output).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect(resolv.output).toMatch(/^search svc\.example$/m);
    expect(resolv.output).toMatch(/^options ndots:3$/m);
  }, 60_000);

  it('killPod removes the sandbox and every container, and is safe to repeat', async () => {
    // Prepare
    const rt = newRuntime();
    const pod = makePod('killme', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    await syncUntil(rt, pod, 'pod Running', (s) => s.phase === 'Running');

    // Act
    await rt.killPod({ uid: pod.metadata.uid, namespace: 'default', name: 'killme' }, 1);
    await rt.killPod({ uid: pod.metadata.uid, namespace: 'default', name: 'killme' }, 1);

    // Assess
    expect(await podContainers(pod.metadata.uid)).toHaveLength(0);
    expect(await rt.getPodStatus(pod)).toBeUndefined();
    expect((await rt.listPods()).map((p) => p.uid)).not.toContain(pod.metadata.uid);
  }, 60_000);

  it('reports ErrImagePull then ImagePullBackOff for an image that cannot be pulled, without throwing', async () => {
    // Prepare
    const events: RecordedEvent[] = [];
    const rt = newRuntime(events);
    const pod = makePod('nopull', [{ name: 'main', image: 'stratus-test/does-not-exist:1' }]);

    // Act
    await rt.syncPod(pod);
    const first = await rt.getPodStatus(pod);
    await rt.syncPod(pod);
    const second = await rt.getPodStatus(pod);

    // Assess
    expect(first?.phase).toBe('Pending');
    expect(first?.containerStatuses?.[0].state?.waiting?.reason).toBe('ErrImagePull');
    expect(first?.containerStatuses?.[0].state?.waiting?.message).toContain('stratus-test/does-not-exist:1');
    expect(second?.containerStatuses?.[0].state?.waiting?.reason).toBe('ImagePullBackOff');
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['Pulling', 'Failed', 'BackOff']));
  }, 60_000);

  it('reports ErrImageNeverPull for a missing image with imagePullPolicy Never', async () => {
    // Prepare
    const rt = newRuntime();
    const pod = makePod('neverpull', [{ name: 'main', image: 'stratus-test/does-not-exist:1', imagePullPolicy: 'Never' }]);

    // Act
    await rt.syncPod(pod);
    const status = await rt.getPodStatus(pod);

    // Assess
    expect(status?.containerStatuses?.[0].state?.waiting).toEqual({
      reason: 'ErrImageNeverPull',
      message: 'Container image "stratus-test/does-not-exist:1" is not present with pull policy of Never',
    });
  }, 60_000);

  it('adopts the containers of a previous runtime (agent restart) without creating duplicates', async () => {
    // Prepare
    const pod = makePod('adopt', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    await syncUntil(newRuntime(), pod, 'pod Running', (s) => s.phase === 'Running');
    const before = (await podContainers(pod.metadata.uid)).map((c) => c.Id).sort();

    // Act
    const restarted = newRuntime();
    const listed = await restarted.listPods();
    await restarted.syncPod(pod);
    await restarted.syncPod(pod);

    // Assess
    expect(listed).toContainEqual({ uid: pod.metadata.uid, namespace: 'default', name: 'adopt' });
    expect((await podContainers(pod.metadata.uid)).map((c) => c.Id).sort()).toEqual(before);
    expect((await restarted.getPodStatus(pod))?.phase).toBe('Running');
  }, 60_000);

  it('finishes a restartPolicy Never pod as Failed with the exit code, and stops its sandbox', async () => {
    // Prepare
    const rt = newRuntime();
    const pod = makePod('fails', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sh', '-c', 'exit 3'] }], 'Never');

    // Act
    const status = await syncUntil(rt, pod, 'pod Failed', (s) => s.phase === 'Failed');
    await rt.syncPod(pod); // the sync after the last container exited stops the sandbox

    // Assess
    expect(status.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(status.containerStatuses?.[0].restartCount).toBe(0);
    const sandbox = (await podContainers(pod.metadata.uid)).find((c) => c.Labels[LABELS.containerName] === 'POD');
    expect(sandbox?.State).not.toBe('running');
  }, 60_000);

  it('restarts a crashing restartPolicy Always container, then backs off with CrashLoopBackOff', async () => {
    // Prepare
    const events: RecordedEvent[] = [];
    const rt = newRuntime(events);
    const pod = makePod('crashy', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sh', '-c', 'exit 1'] }]);

    // Act
    const status = await syncUntil(rt, pod, 'CrashLoopBackOff', (s) => s.containerStatuses?.[0].state?.waiting?.reason === 'CrashLoopBackOff');

    // Assess
    const cs = status.containerStatuses![0];
    expect(status.phase).toBe('Running');
    // The events explain a failure here (a restart that could not be created is also backed off).
    expect(cs.restartCount, JSON.stringify(events)).toBe(1);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(cs.state?.waiting?.message).toMatch(/^back-off 10s restarting failed container=main pod=crashy_default/);
    expect(events.some((e) => e.reason === 'BackOff')).toBe(true);
    // Only the sandbox, the latest attempt and the one before it are kept.
    expect((await podContainers(pod.metadata.uid)).length).toBeLessThanOrEqual(3);
  }, 60_000);
});
