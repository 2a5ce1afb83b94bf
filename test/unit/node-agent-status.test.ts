import { describe, expect, it } from 'vitest';
import {
  computePodStatus,
  nextAttempt,
  qosClassOf,
  statusChanged,
  type ContainerWaiting,
  type ObservedContainer,
  type ObservedContainerState,
  type ObservedPod,
} from '../../node-agent/status';
import type { Container, ContainerState, ContainerStatus, Pod } from '../../node-agent/types';
import { nodeStatusChanged } from '../../node-agent/node-status';

const NOW = new Date('2025-01-02T03:04:05.678Z');
const CTX = { hostIP: '10.0.0.1', now: NOW };

function pod(containers: Container[], restartPolicy: 'Always' | 'OnFailure' | 'Never' = 'Always', status?: Pod['status']): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: { nodeName: 'n1', restartPolicy, containers },
    ...(status ? { status } : {}),
  };
}

const running: ObservedContainerState = {
  status: 'running',
  running: true,
  exitCode: 0,
  startedAt: '2025-01-02T03:00:00.123456789Z',
  finishedAt: '0001-01-01T00:00:00Z',
  oomKilled: false,
  error: '',
};
const exited = (exitCode: number, oomKilled = false): ObservedContainerState => ({
  status: 'exited',
  running: false,
  exitCode,
  startedAt: '2025-01-02T03:00:00.5Z',
  finishedAt: '2025-01-02T03:01:00.5Z',
  oomKilled,
  error: '',
});

function container(name: string, state: ObservedContainerState, attempt = 0): ObservedContainer {
  return { name, attempt, id: `${name}-${attempt}`, image: 'busybox:1.36', imageID: 'sha256:abc', state };
}

function observed(containers: ObservedContainer[], waiting: Record<string, ContainerWaiting> = {}): ObservedPod {
  return { sandbox: { id: 'sb', running: true, ips: ['172.17.0.5'] }, containers, waiting: new Map(Object.entries(waiting)) };
}

const c = (name: string, resources?: Container['resources']): Container => ({ name, image: 'busybox:1.36', ...(resources ? { resources } : {}) });

describe('computePodStatus', () => {
  it('reports a running container as Running, ready, with the sandbox IP', () => {
    // Prepare
    const p = pod([c('main')]);

    // Act
    const s = computePodStatus(p, observed([container('main', running)]), CTX);

    // Assess
    expect(s.phase).toBe('Running');
    expect(s.podIP).toBe('172.17.0.5');
    expect(s.podIPs).toEqual([{ ip: '172.17.0.5' }]);
    expect(s.hostIP).toBe('10.0.0.1');
    expect(s.startTime).toBe('2025-01-02T03:04:05Z');
    expect(s.containerStatuses?.[0]).toEqual({
      name: 'main',
      state: { running: { startedAt: '2025-01-02T03:00:00Z' } },
      lastState: {},
      ready: true,
      started: true,
      restartCount: 0,
      image: 'busybox:1.36',
      imageID: 'docker://sha256:abc',
      containerID: 'docker://main-0',
    });
    expect(s.conditions?.map((x) => [x.type, x.status])).toEqual([
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
      ['PodScheduled', 'True'],
    ]);
  });

  it.each([
    { name: 'ErrImagePull', reason: 'ErrImagePull' },
    { name: 'ImagePullBackOff', reason: 'ImagePullBackOff' },
    { name: 'ErrImageNeverPull', reason: 'ErrImageNeverPull' },
  ])('reports a container not created yet as waiting $name, pod Pending', ({ reason }) => {
    // Prepare
    const p = pod([c('main')]);
    const waiting = { main: { reason, message: 'Failed to pull image "busybox:1.36": no such host' } };

    // Act
    const s = computePodStatus(p, observed([], waiting), CTX);

    // Assess
    expect(s.phase).toBe('Pending');
    expect(s.containerStatuses?.[0].state).toEqual({ waiting: waiting.main });
    expect(s.containerStatuses?.[0].ready).toBe(false);
    const ready = s.conditions?.find((x) => x.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [main]' });
  });

  it('reports ContainerCreating when nothing is known yet', () => {
    const s = computePodStatus(pod([c('main')]), observed([]), CTX);
    expect(s.containerStatuses?.[0].state).toEqual({ waiting: { reason: 'ContainerCreating' } });
    expect(s.phase).toBe('Pending');
  });

  it.each([
    { exitCode: 0, oom: false, reason: 'Completed' },
    { exitCode: 2, oom: false, reason: 'Error' },
    { exitCode: 137, oom: true, reason: 'OOMKilled' },
  ])('reports an exited container as terminated $reason (exit $exitCode)', ({ exitCode, oom, reason }) => {
    // Act
    const s = computePodStatus(pod([c('main')], 'Never'), observed([container('main', exited(exitCode, oom))]), CTX);

    // Assess
    expect(s.containerStatuses?.[0].state).toEqual({
      terminated: {
        exitCode,
        reason,
        startedAt: '2025-01-02T03:00:00Z',
        finishedAt: '2025-01-02T03:01:00Z',
        containerID: 'docker://main-0',
      },
    });
  });

  it('reports a container Docker could not start as terminated StartError', () => {
    const state: ObservedContainerState = { ...exited(127), status: 'created', startedAt: '0001-01-01T00:00:00Z', error: 'exec: "nope": not found' };
    const s = computePodStatus(pod([c('main')], 'Never'), observed([container('main', state)]), CTX);
    expect(s.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 127, reason: 'StartError', message: 'exec: "nope": not found' });
    expect(s.phase).toBe('Failed');
  });

  it.each([
    { policy: 'Never', codes: [0, 0], phase: 'Succeeded' },
    { policy: 'Never', codes: [0, 1], phase: 'Failed' },
    { policy: 'OnFailure', codes: [0, 0], phase: 'Succeeded' },
    { policy: 'OnFailure', codes: [0, 1], phase: 'Running' },
    { policy: 'Always', codes: [0, 0], phase: 'Running' },
  ] as const)('gives phase $phase for restartPolicy $policy and exit codes $codes', ({ policy, codes, phase }) => {
    // Prepare
    const p = pod([c('a'), c('b')], policy);
    const o = observed([container('a', exited(codes[0])), container('b', exited(codes[1]))]);

    // Act
    const s = computePodStatus(p, o, CTX);

    // Assess
    expect(s.phase).toBe(phase);
  });

  it('shows CrashLoopBackOff with the last run as lastState and the restart count', () => {
    // Prepare
    const o = observed([container('main', exited(1), 0), container('main', exited(1), 1)], {
      main: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=main pod=p_default(uid-1)' },
    });

    // Act
    const s = computePodStatus(pod([c('main')]), o, CTX);

    // Assess
    const cs = s.containerStatuses?.[0];
    expect(s.phase).toBe('Running');
    expect(cs?.restartCount).toBe(1);
    expect(cs?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(cs?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', containerID: 'docker://main-1' });
  });

  it('keeps a terminal phase and the last pod IP once the sandbox is stopped', () => {
    const prev = { phase: 'Succeeded' as const, podIP: '172.17.0.9', startTime: '2025-01-01T00:00:00Z' };
    const o: ObservedPod = { sandbox: { id: 'sb', running: false }, containers: [container('main', exited(0))], waiting: new Map() };
    const s = computePodStatus(pod([c('main')], 'Always', prev), o, CTX);
    expect(s.phase).toBe('Succeeded');
    expect(s.podIP).toBe('172.17.0.9');
    expect(s.startTime).toBe('2025-01-01T00:00:00Z');
  });

  it('keeps lastTransitionTime of unchanged conditions, so a recompute is not a change', () => {
    // Prepare
    const p = pod([c('main')]);
    const first = computePodStatus(p, observed([container('main', running)]), CTX);

    // Act
    const later = computePodStatus({ ...p, status: first }, observed([container('main', running)]), { ...CTX, now: new Date('2025-01-02T04:00:00Z') });

    // Assess
    expect(later).toEqual(first);
    expect(statusChanged(first, later)).toBe(false);
    expect(statusChanged(undefined, later)).toBe(true);
  });
});

describe('a container removed behind the agent\'s back (docker rm -f)', () => {
  const unknown: ContainerState = {
    terminated: {
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was deleted.  The container used to be Running',
    },
  };
  const reportedRunning = (restartCount: number, id: string, lastState: ContainerState = {}): ContainerStatus => ({
    name: 'main',
    state: { running: { startedAt: '2025-01-02T03:00:00Z' } },
    lastState,
    ready: true,
    restartCount,
    image: 'busybox:1.36',
    imageID: 'docker://sha256:abc',
    containerID: `docker://${id}`,
  });

  it.each([
    {
      what: 'running run gone, nothing new yet: waiting, a restart counted, lastState ContainerStatusUnknown',
      reported: reportedRunning(0, 'main-0'),
      present: [] as ObservedContainer[],
      want: { restartCount: 1, state: { waiting: { reason: 'ContainerCreating' } }, lastState: unknown },
    },
    {
      what: 'its replacement runs: restartCount is its attempt, lastState the vanished run',
      reported: reportedRunning(0, 'main-0'),
      present: [container('main', running, 1)],
      want: { restartCount: 1, state: { running: { startedAt: '2025-01-02T03:00:00Z' } }, lastState: unknown },
    },
    {
      what: 'once reported, the replacement keeps that lastState',
      reported: reportedRunning(1, 'main-1', unknown),
      present: [container('main', running, 1)],
      want: { restartCount: 1, lastState: unknown },
    },
    {
      what: 'an older exited attempt kept is not the run before the replacement',
      reported: reportedRunning(3, 'main-3'),
      present: [container('main', exited(1), 2), container('main', running, 4)],
      want: { restartCount: 4, lastState: unknown },
    },
    {
      what: 'the reported run still present: no vanish',
      reported: reportedRunning(0, 'main-0'),
      present: [container('main', running, 0)],
      want: { restartCount: 0, lastState: {} },
    },
    {
      what: 'a waiting status already counting the vanished run keeps its count',
      reported: { name: 'main', state: { waiting: { reason: 'ContainerCreating' } }, lastState: unknown, ready: false, restartCount: 1, image: 'busybox:1.36', imageID: '' } as ContainerStatus,
      present: [],
      want: { restartCount: 1, lastState: unknown },
    },
  ])('$what', ({ reported, present, want }) => {
    // Prepare
    const p = pod([c('main')], 'Always', { phase: 'Running', containerStatuses: [reported] });
    // Act
    const s = computePodStatus(p, observed(present), CTX);
    // Assess
    expect(s.containerStatuses?.[0]).toMatchObject(want);
    expect(s.phase).toBe('Running');
  });

  it('counts no restart for a pod being deleted', () => {
    const p = pod([c('main')], 'Always', { phase: 'Running', containerStatuses: [reportedRunning(2, 'main-2')] });
    const s = computePodStatus({ ...p, metadata: { ...p.metadata, deletionTimestamp: '2025-01-02T03:04:00Z' } }, observed([]), CTX);
    expect(s.containerStatuses?.[0]).toMatchObject({ restartCount: 2, lastState: unknown });
  });

  it.each([
    { what: 'first run', reported: undefined as ContainerStatus | undefined, present: [], want: 0 },
    { what: 'after the latest attempt present', reported: reportedRunning(0, 'main-0'), present: [{ id: 'main-0', attempt: 0 }], want: 1 },
    { what: 'the reported running run vanished', reported: reportedRunning(0, 'main-0'), present: [], want: 1 },
    { what: 'vanished, an older attempt kept', reported: reportedRunning(3, 'main-3'), present: [{ id: 'main-2', attempt: 2 }], want: 4 },
    { what: 'never below the reported count', reported: { name: 'main', restartCount: 5, lastState: unknown, ready: false, image: '', imageID: '' }, present: [], want: 5 },
  ])('nextAttempt: $what → $want', ({ reported, present, want }) => {
    expect(nextAttempt(reported, present)).toBe(want);
  });
});

describe('qosClassOf', () => {
  it.each([
    { name: 'no requests or limits', containers: [c('a')], qos: 'BestEffort' },
    { name: 'requests only', containers: [c('a', { requests: { cpu: '100m' } })], qos: 'Burstable' },
    { name: 'limits equal requests for cpu and memory', containers: [c('a', { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '0.5', memory: '64Mi' } })], qos: 'Guaranteed' },
    { name: 'limits only (requests default to limits)', containers: [c('a', { limits: { cpu: '1', memory: '1Gi' } })], qos: 'Guaranteed' },
    { name: 'memory limit only', containers: [c('a', { limits: { memory: '1Gi' } })], qos: 'Burstable' },
    { name: 'one guaranteed, one best effort', containers: [c('a', { limits: { cpu: '1', memory: '1Gi' } }), c('b')], qos: 'Burstable' },
  ])('is $qos with $name', ({ containers, qos }) => {
    expect(qosClassOf(pod(containers))).toBe(qos);
  });
});

describe('nodeStatusChanged', () => {
  const status = (ready: string, heartbeat: string) => ({
    capacity: { cpu: '2', pods: '110' },
    conditions: [{ type: 'Ready', status: ready, reason: 'KubeletReady', lastHeartbeatTime: heartbeat, lastTransitionTime: '2026-11-24T00:00:00Z' }],
  });

  it('ignores heartbeat times and key order, and fields the agent does not build', () => {
    const stored = { ...status('True', '2026-11-24T01:00:00Z'), nodeInfo: { x: 1 } };
    expect(nodeStatusChanged(status('True', '2026-11-24T01:05:00Z'), stored)).toBe(false);
    expect(nodeStatusChanged({ conditions: status('True', 'b').conditions, capacity: { pods: '110', cpu: '2' } }, stored)).toBe(false);
  });

  it('sees a condition or capacity that changed, and a status never stored', () => {
    const stored = status('True', 'a');
    expect(nodeStatusChanged(status('Unknown', 'a'), stored)).toBe(true);
    expect(nodeStatusChanged({ ...status('True', 'a'), capacity: { cpu: '4', pods: '110' } }, stored)).toBe(true);
    expect(nodeStatusChanged(status('True', 'a'), undefined)).toBe(true);
  });
});
