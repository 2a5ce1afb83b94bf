import { describe, expect, it } from 'vitest';
import { probeOf, resolvePort, ThresholdCounter } from '../../node-agent/prober';
import { applyProbeResults, computePodStatus, initProgress } from '../../node-agent/status';
import type { Container, Pod } from '../../node-agent/types';

describe('ThresholdCounter', () => {
  it('publishes only after failureThreshold failures or successThreshold successes in a row', () => {
    // Prepare
    const c = new ThresholdCounter('failure', 2, 3);
    // Act
    const seen = (['success', 'failure', 'success', 'success', 'failure', 'failure', 'failure'] as const).map((r) => [c.observe(r), c.published]);
    // Assess
    expect(seen).toEqual([
      [false, 'failure'],
      [false, 'failure'],
      [false, 'failure'],
      [true, 'success'],
      [false, 'success'],
      [false, 'success'],
      [true, 'failure'],
    ]);
  });
});

describe('probeOf', () => {
  const c = (probe: unknown): Container => ({ name: 'c', readinessProbe: probe as Container['readinessProbe'], ports: [{ name: 'http', containerPort: 8080 }] });

  it('parses a probe and resolves named ports', () => {
    // Act
    const p = probeOf(c({ httpGet: { port: 'http', path: '/x' }, periodSeconds: 2 }), 'readiness');
    // Assess
    expect(typeof p).toBe('object');
    expect(resolvePort('http', c({}))).toBe(8080);
    expect(resolvePort('nope', c({}))).toBeUndefined();
  });

  it.each([[{}], [{ exec: { command: ['x'] }, tcpSocket: { port: 1 } }], [{ httpGet: { port: 80 }, periodSeconds: 0 }]])('calls %j invalid', (probe) => {
    // Act
    const p = probeOf(c(probe), 'readiness');
    // Assess
    expect(p).toMatch(/^invalid readinessProbe: /);
  });
});

const running = (name: string, id: string) => ({
  name,
  attempt: 0,
  id,
  image: 'img',
  imageID: 'sha256:1',
  state: { status: 'running', running: true, exitCode: 0, startedAt: '2024-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z', oomKilled: false, error: '' },
});
const exited = (name: string, id: string, exitCode: number) => ({
  ...running(name, id),
  state: { status: 'exited', running: false, exitCode, startedAt: '2024-01-01T00:00:00Z', finishedAt: '2024-01-01T00:00:05Z', oomKilled: false, error: '' },
});
const now = new Date('2024-01-01T00:01:00Z');

describe('status with probes and init containers', () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'default', uid: 'u' },
    spec: {
      initContainers: [{ name: 'init' }, { name: 'side', restartPolicy: 'Always' }],
      containers: [{ name: 'app', readinessProbe: { exec: { command: ['true'] } } }],
    },
  };

  it('is Pending with Initialized False while an init container runs; the app waits PodInitializing', () => {
    // Act
    const s = computePodStatus(pod, { sandbox: { id: 's', running: true, ips: ['10.0.0.2'] }, containers: [running('init', 'i1')], waiting: new Map() }, { hostIP: 'h', now });
    // Assess
    expect(s.phase).toBe('Pending');
    expect(s.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', message: 'containers with incomplete status: [init side]' });
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(initProgress(pod, s.initContainerStatuses ?? [])).toEqual({ done: false, failed: false, pending: ['init', 'side'] });
  });

  it('is Ready only when the readiness probe says so, once init is done', () => {
    // Prepare
    const observed = { sandbox: { id: 's', running: true, ip: '10.0.0.2' }, containers: [exited('init', 'i1', 0), running('side', 's1'), running('app', 'a1')], waiting: new Map() };
    const s = computePodStatus(pod, observed, { hostIP: 'h', now });
    // Act
    const unready = applyProbeResults(pod, s, () => ({ started: true, ready: false }), now);
    const ready = applyProbeResults(pod, s, () => ({ started: true, ready: true }), now);
    // Assess
    expect(s.phase).toBe('Running');
    expect(unready.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
    expect(ready.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(ready.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
  });

  it('fails the pod when an init container fails under restartPolicy Never', () => {
    // Prepare
    const never: Pod = { ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } };
    // Act
    const s = computePodStatus(never, { sandbox: { id: 's', running: false }, containers: [exited('init', 'i1', 2)], waiting: new Map() }, { hostIP: 'h', now });
    // Assess
    expect(s.phase).toBe('Failed');
  });
});
