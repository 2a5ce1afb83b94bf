import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #5, probes and restarts, end to end: pods created over HTTPS run in real containers on
 * the test agent; the test flips probe outcomes from outside with `docker exec` (so nothing
 * depends on timing) and reads what the agent reports through the API.
 */
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;

type Json = any;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

async function createPod(name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await api.post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { terminationGracePeriodSeconds: 1, ...spec },
  });
  expect(r.status, r.text).toBe(201);
}

const getPod = async (name: string): Promise<Json> => (await api.get(`/api/v1/namespaces/default/pods/${name}`)).body;

async function waitForPod(name: string, what: string, ok: (pod: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
  return eventually(async () => {
    const pod = await getPod(name);
    return pod?.status && ok(pod) ? pod : undefined;
  }, timeoutMs, `pod ${name}: ${what}`);
}

const condition = (pod: Json, type: string): string | undefined => pod.status.conditions?.find((c: Json) => c.type === type)?.status;
const main = (pod: Json): Json => pod.status.containerStatuses?.[0];
const containerId = (pod: Json): string => String(main(pod).containerID).replace('docker://', '');

async function eventsOf(name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const r = await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`);
  return r.body.items;
}

async function waitForEvent(name: string, reason: string, messagePart: string): Promise<{ reason: string; message: string; type: string }> {
  return eventually(async () => (await eventsOf(name)).find((e) => e.reason === reason && e.message.includes(messagePart)), 60_000, `event ${reason} "${messagePart}" on ${name}`);
}

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('readiness probes', () => {
  it('an exec readiness probe drives Ready and ContainersReady both ways', async () => {
    // Prepare
    const name = uniqueName('ready-exec');
    await createPod(name, {
      containers: [
        {
          name: 'main',
          image: IMAGE,
          command: ['sleep', '3600'],
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const notReady = await waitForPod(name, 'running, not ready', (p) => p.status.phase === 'Running' && main(p)?.state?.running !== undefined);
    expect(main(notReady).ready).toBe(false);
    expect(condition(notReady, 'Ready')).toBe('False');
    expect(notReady.status.conditions.find((c: Json) => c.type === 'ContainersReady')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [main]' });

    // Act: the probe starts to succeed
    docker('exec', containerId(notReady), 'touch', '/tmp/ready');
    // Assess
    const ready = await waitForPod(name, 'ready', (p) => condition(p, 'Ready') === 'True');
    expect(condition(ready, 'ContainersReady')).toBe('True');
    expect(main(ready)).toMatchObject({ ready: true, started: true, restartCount: 0 });

    // Act: and fails again
    docker('exec', containerId(ready), 'rm', '/tmp/ready');
    // Assess: not ready, but a readiness failure never restarts the container
    const again = await waitForPod(name, 'not ready again', (p) => condition(p, 'Ready') === 'False');
    expect(main(again).restartCount).toBe(0);
    expect(main(again).state.running).toBeDefined();
    await waitForEvent(name, 'Unhealthy', 'Readiness probe failed: cat: can\'t open \'/tmp/ready\'');
  });

  it('an httpGet readiness probe on a path that answers 404 keeps the pod unready with the status code in an event', async () => {
    // Prepare
    const name = uniqueName('ready-http');
    // Act
    await createPod(name, {
      containers: [
        {
          name: 'web',
          image: IMAGE,
          command: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www'],
          ports: [{ name: 'http', containerPort: 8080 }],
          // httpd may not listen yet at the first probe: tolerate that, never restart for it.
          livenessProbe: { httpGet: { path: '/index.html', port: 'http' }, periodSeconds: 1, failureThreshold: 30 },
          readinessProbe: { httpGet: { path: '/missing', port: 8080 }, periodSeconds: 1 },
        },
      ],
    });
    // Assess
    await waitForEvent(name, 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 404');
    const pod = await getPod(name);
    expect(pod.status.phase).toBe('Running');
    expect(condition(pod, 'Ready')).toBe('False');
    // The liveness probe on the named port succeeds: never killed, never restarted.
    expect(main(pod).restartCount).toBe(0);
    expect((await eventsOf(name)).some((e) => e.reason === 'Killing')).toBe(false);
  });
});

describe('liveness and startup probes', () => {
  it('a failing tcpSocket liveness probe restarts the container with Unhealthy and Killing events', async () => {
    // Prepare
    const name = uniqueName('live-tcp');
    // Act: nothing listens on 8080
    await createPod(name, {
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 2 } }],
    });
    // Assess
    const unhealthy = await waitForEvent(name, 'Unhealthy', 'Liveness probe failed: dial tcp');
    expect(unhealthy.type).toBe('Warning');
    expect(unhealthy.message).toMatch(/Liveness probe failed: dial tcp [\d.]+:8080: connect: connection refused/);
    await waitForEvent(name, 'Killing', 'Container main failed liveness probe, will be restarted');
    const restarted = await waitForPod(name, 'restarted', (p) => (main(p)?.restartCount ?? 0) >= 1);
    expect(main(restarted).lastState.terminated).toMatchObject({ exitCode: expect.any(Number), reason: expect.stringMatching(/Error|Completed/) });
  });

  it('liveness waits for the startup probe, and the container becomes started and ready when it succeeds', async () => {
    // Prepare: the liveness probe would fail at once; the startup probe holds it back
    const name = uniqueName('startup');
    await createPod(name, {
      containers: [
        {
          name: 'main',
          image: IMAGE,
          command: ['sleep', '3600'],
          startupProbe: { exec: { command: ['test', '-f', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 600 },
          livenessProbe: { exec: { command: ['test', '-f', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const starting = await waitForPod(name, 'running, not started', (p) => main(p)?.state?.running !== undefined);
    expect(main(starting)).toMatchObject({ started: false, ready: false, restartCount: 0 });
    docker('exec', containerId(starting), 'touch', '/tmp/alive');

    // Act
    docker('exec', containerId(starting), 'touch', '/tmp/started');
    // Assess
    const started = await waitForPod(name, 'started and ready', (p) => main(p)?.started === true && condition(p, 'Ready') === 'True');
    expect(main(started)).toMatchObject({ ready: true, restartCount: 0 });
    // No liveness failure was ever recorded: liveness only ran after startup.
    expect((await eventsOf(name)).filter((e) => e.message.startsWith('Liveness probe failed'))).toEqual([]);
  });

  it('a probe whose command does not exist fails (not ready), and the pod keeps running', async () => {
    // Prepare
    const name = uniqueName('bad-probe');
    // Act
    await createPod(name, {
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], readinessProbe: { exec: { command: ['/no/such/binary'] }, periodSeconds: 1 } }],
    });
    // Assess
    await waitForEvent(name, 'Unhealthy', 'Readiness probe failed:');
    const pod = await getPod(name);
    expect(pod.status.phase).toBe('Running');
    expect(condition(pod, 'Ready')).toBe('False');
  });
});

describe('restarts', () => {
  it('a container that keeps failing goes into CrashLoopBackOff with restartCount and lastState', async () => {
    // Prepare
    const name = uniqueName('crashloop');
    // Act
    await createPod(name, { containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo dying; exit 3'] }] });
    // Assess
    const pod = await waitForPod(name, 'CrashLoopBackOff', (p) => main(p)?.state?.waiting?.reason === 'CrashLoopBackOff');
    expect(main(pod).restartCount).toBeGreaterThanOrEqual(1);
    expect(main(pod).state.waiting.message).toMatch(/^back-off \d+s restarting failed container=main pod=/);
    expect(main(pod).lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(pod.status.phase).toBe('Running');
    expect(condition(pod, 'Ready')).toBe('False');
    await waitForEvent(name, 'BackOff', 'Back-off restarting failed container');
  });

  it('restartPolicy OnFailure: a container that exits 0 completes the pod (Succeeded, Completed)', async () => {
    // Prepare
    const name = uniqueName('onfailure');
    // Act
    await createPod(name, { restartPolicy: 'OnFailure', containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'exit 0'] }] });
    // Assess
    const pod = await waitForPod(name, 'Succeeded', (p) => p.status.phase === 'Succeeded');
    expect(main(pod).state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(main(pod).restartCount).toBe(0);
  });

  it('a container over its memory limit is OOMKilled, and with restartPolicy Never the pod Failed', async () => {
    // Prepare
    const name = uniqueName('oom');
    // Act: dd allocates a 64 MiB buffer under a 16 MiB limit
    await createPod(name, {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          image: IMAGE,
          command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
          resources: { requests: { memory: '8Mi' }, limits: { memory: '16Mi', cpu: '500m' } },
        },
      ],
    });
    // Assess
    const pod = await waitForPod(name, 'Failed', (p) => p.status.phase === 'Failed');
    expect(main(pod).state.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(pod.status.qosClass).toBe('Burstable');
    const inspect = JSON.parse(docker('inspect', containerId(pod)))[0];
    expect(inspect.HostConfig.Memory).toBe(16 * 1024 * 1024);
    expect(inspect.HostConfig.NanoCpus).toBe(500_000_000);
    // The cpu request defaults to the limit: 0.5 core = 512 shares.
    expect(inspect.HostConfig.CpuShares).toBe(512);
  });

  it('an image that cannot be pulled leaves the container waiting with ErrImagePull or ImagePullBackOff', async () => {
    // Prepare
    const name = uniqueName('noimage');
    // Act: a registry that refuses connections fails fast
    await createPod(name, { containers: [{ name: 'main', image: '127.0.0.1:1/stratus/missing:1' }] });
    // Assess
    const pod = await waitForPod(name, 'pull failure', (p) => ['ErrImagePull', 'ImagePullBackOff'].includes(main(p)?.state?.waiting?.reason));
    expect(pod.status.phase).toBe('Pending');
    await waitForEvent(name, 'Failed', 'Failed to pull image "127.0.0.1:1/stratus/missing:1"');
  });
});
