/**
 * Pod status as a pure function of what the runtime observed (docker inspect, reduced to the
 * fields below) and the previous status. No I/O, no clock: `now` is passed in, so the same
 * inputs always give the same status and the agent can skip a PATCH when nothing changed.
 *
 * Phase follows the kubelet's getPhase (pkg/kubelet/kubelet_pods.go), without init containers.
 */
import type {
  Container,
  ContainerState,
  ContainerStatus,
  Pod,
  PodCondition,
  PodPhase,
  PodStatus,
} from './types';
import { tryParseQuantity } from './quantity';

/** One Docker container's state, as docker inspect reports it (State.*). */
export interface ObservedContainerState {
  /** created | running | paused | restarting | removing | exited | dead */
  readonly status: string;
  readonly running: boolean;
  readonly exitCode: number;
  /** RFC 3339 with nanoseconds; Docker's zero time "0001-01-01T00:00:00Z" means never. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly oomKilled: boolean;
  /** Set when Docker could not start the process (e.g. executable not found). */
  readonly error: string;
}

/** One attempt of one app container: the kubelet creates a new container on each restart. */
export interface ObservedContainer {
  /** The Kubernetes container name (spec.containers[].name). */
  readonly name: string;
  /** 0 for the first run, +1 per restart: this is the restartCount. */
  readonly attempt: number;
  readonly id: string;
  /** The image as written in the pod spec. */
  readonly image: string;
  /** The resolved image id, "sha256:...". */
  readonly imageID: string;
  readonly state: ObservedContainerState;
}

/** The infra ("pause") container holding the pod's network namespace. */
export interface ObservedSandbox {
  readonly id: string;
  readonly running: boolean;
  /** The pod's IPs, at most one per family; the first is status.podIP (network/pod-network.ts). */
  readonly ips?: readonly string[];
}

/** Why a container is not running, known only to the runtime (image pull failed, back-off). */
export interface ContainerWaiting {
  readonly reason: string;
  readonly message: string;
}

export interface ObservedPod {
  readonly sandbox?: ObservedSandbox;
  /** Every attempt still present, any order. */
  readonly containers: readonly ObservedContainer[];
  /** Waiting reasons by container name; ignored for a container whose latest attempt runs. */
  readonly waiting: ReadonlyMap<string, ContainerWaiting>;
  /** Why the node refuses to run the pod at all (status.reason and message, as the kubelet's canRunPod). */
  readonly blocked?: { readonly reason: string; readonly message: string };
}

export interface StatusContext {
  readonly hostIP: string;
  readonly now: Date;
}

const DOCKER_ZERO_TIME = '0001-01-01T00:00:00Z';

/** Kubernetes' metav1.Time has second precision; Docker's has nanoseconds. */
export function toKubeTime(t: string | Date): string {
  const d = typeof t === 'string' ? new Date(t) : t;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const isSet = (t: string): boolean => t !== '' && !t.startsWith('0001-01-01') && t !== DOCKER_ZERO_TIME;

function terminatedState(c: ObservedContainer): ContainerState {
  const s = c.state;
  // A process Docker could not start stays "created" with an error: the kubelet calls it StartError.
  const startFailed = s.status === 'created' && (s.error !== '' || s.exitCode !== 0);
  const reason = startFailed ? 'StartError' : s.oomKilled ? 'OOMKilled' : s.exitCode === 0 ? 'Completed' : 'Error';
  return {
    terminated: {
      exitCode: s.exitCode,
      reason,
      ...(s.error ? { message: s.error } : {}),
      ...(isSet(s.startedAt) ? { startedAt: toKubeTime(s.startedAt) } : {}),
      ...(isSet(s.finishedAt) ? { finishedAt: toKubeTime(s.finishedAt) } : {}),
      containerID: `docker://${c.id}`,
    },
  };
}

/** True once the container ran and stopped, or failed to start: it will not run again by itself. */
export function hasExited(c: ObservedContainer): boolean {
  const s = c.state;
  if (s.running) return false;
  if (s.status === 'exited' || s.status === 'dead') return true;
  return s.status === 'created' && (s.error !== '' || s.exitCode !== 0);
}

/**
 * The latest attempt and the run just before it (attempt - 1), for state and lastState; `all`,
 * every attempt present. An older attempt is not the run before when one in between vanished.
 */
function attemptsOf(observed: ObservedPod, name: string): { latest?: ObservedContainer; previous?: ObservedContainer; all: ObservedContainer[] } {
  const mine = observed.containers.filter((c) => c.name === name).sort((a, b) => b.attempt - a.attempt);
  const latest = mine[0];
  const previous = latest && mine[1]?.attempt === latest.attempt - 1 ? mine[1] : undefined;
  return { latest, previous, all: mine };
}

/**
 * lastState of a container that was running and then could not be found any more (removed
 * behind the agent's back, `docker rm -f`): the kubelet's words (kubelet_pods.go,
 * convertToAPIContainerStatuses) for a container it last saw running and no longer finds.
 */
export const VANISHED_CONTAINER_STATE: ContainerState = {
  terminated: {
    exitCode: 137,
    reason: 'ContainerStatusUnknown',
    message: 'The container could not be located when the pod was deleted.  The container used to be Running',
  },
};

/**
 * Whether the run the last reported status (`prev`) shows running is gone from the runtime: no
 * attempt present has its container id. The kubelet counts such a run as a restart.
 */
export function runVanished(prev: ContainerStatus | undefined, present: readonly Pick<ObservedContainer, 'id'>[]): boolean {
  if (!prev?.state?.running || !prev.containerID) return false;
  return !present.some((c) => `docker://${c.id}` === prev.containerID);
}

/**
 * The attempt number of a container's next run: one past the latest attempt present, and never
 * below the restart count already reported (plus one for a run that vanished), so restartCount
 * never goes back when containers disappear behind the agent's back.
 */
export function nextAttempt(prev: ContainerStatus | undefined, present: readonly Pick<ObservedContainer, 'id' | 'attempt'>[]): number {
  const latest = present.reduce((max, c) => Math.max(max, c.attempt), -1);
  const reported = (prev?.restartCount ?? 0) + (runVanished(prev, present) ? 1 : 0);
  return Math.max(latest + 1, reported);
}

/** The status last reported for a container, by name. */
export function reportedStatus(pod: Pod, name: string, init = false): ContainerStatus | undefined {
  return ((init ? pod.status?.initContainerStatuses : pod.status?.containerStatuses) ?? []).find((s) => s.name === name);
}

function waitingState(w: ContainerWaiting | undefined, initializing = false): ContainerState {
  if (w) return { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } };
  return { waiting: { reason: initializing ? 'PodInitializing' : 'ContainerCreating' } };
}

/** An init container with restartPolicy Always: a sidecar that runs beside the app containers. */
export const isSidecar = (c: Container): boolean => c.restartPolicy === 'Always';

/**
 * One container's status. `prev` is the status last reported for it: when its containers are
 * gone it still says what ran (restartCount, lastState), as the kubelet keeps them from the old
 * status; a run it showed running that vanished is a restart with VANISHED_CONTAINER_STATE.
 */
function containerStatus(spec: Container, observed: ObservedPod, initializing = false, prev?: ContainerStatus, deleting = false): ContainerStatus {
  const { latest, previous, all } = attemptsOf(observed, spec.name);
  const waiting = observed.waiting.get(spec.name);
  const image = spec.image ?? '';
  const vanished = runVanished(prev, all);
  const reported = prev?.restartCount ?? 0;
  if (!latest || (vanished && latest.attempt <= reported)) {
    // Nothing newer than the run last reported: a terminated run stays as reported; one that
    // vanished while running counts as a restart (unless the pod is being deleted).
    if (!vanished && prev?.state?.terminated) return prev;
    return {
      name: spec.name,
      state: waitingState(waiting, initializing),
      lastState: vanished ? VANISHED_CONTAINER_STATE : (prev?.lastState ?? {}),
      ready: false,
      restartCount: vanished && !deleting ? reported + 1 : reported,
      image,
      imageID: '',
      started: false,
    };
  }
  /** The state of the run before `latest`: kept as a container, or known from the last status. */
  const before = (): ContainerState => {
    if (previous) return hasExited(previous) ? terminatedState(previous) : {};
    if (vanished) return VANISHED_CONTAINER_STATE; // latest replaced the run that vanished
    if (prev && reported === latest.attempt && prev.lastState?.terminated) return prev.lastState;
    return {};
  };
  const base = {
    name: spec.name,
    restartCount: latest.attempt,
    image: latest.image || image,
    imageID: latest.imageID ? `docker://${latest.imageID}` : '',
    containerID: `docker://${latest.id}`,
  };
  if (latest.state.running) {
    return {
      ...base,
      state: { running: { startedAt: toKubeTime(latest.state.startedAt) } },
      lastState: before(),
      ready: true,
      started: true,
    };
  }
  if (hasExited(latest)) {
    // Waiting to be restarted (CrashLoopBackOff, ImagePullBackOff...): the exited run is lastState.
    if (waiting) return { ...base, state: waitingState(waiting), lastState: terminatedState(latest), ready: false, started: false };
    return {
      ...base,
      state: terminatedState(latest),
      lastState: before(),
      ready: false,
      started: false,
    };
  }
  // Created but not started yet (or paused/restarting): still on its way.
  return {
    ...base,
    state: waitingState(waiting),
    lastState: before(),
    ready: false,
    started: false,
  };
}

/** The kubelet's getPhase, for pods without init containers. */
export function podPhase(pod: Pod, statuses: readonly ContainerStatus[]): PodPhase {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    }
  }
  const restartPolicy = pod.spec.restartPolicy ?? 'Always';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running'; // OnFailure: the failed ones will be restarted
  }
  return 'Pending';
}

/** QoS class from requests and limits (pkg/apis/core/v1/helper/qos). */
export function qosClassOf(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  let any = false;
  let guaranteed = true;
  for (const c of pod.spec.containers) {
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    for (const r of ['cpu', 'memory']) {
      const limit = tryParseQuantity(limits[r]);
      // An unset request defaults to the limit.
      const request = tryParseQuantity(requests[r]) ?? limit;
      if (limit !== undefined || request !== undefined) any = true;
      if (limit === undefined || request === undefined || request !== limit) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** Keeps lastTransitionTime when status did not change, so unchanged conditions never churn. */
function condition(
  prev: readonly PodCondition[] | undefined,
  type: string,
  status: 'True' | 'False',
  now: Date,
  reason?: string,
  message?: string,
): PodCondition {
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : toKubeTime(now),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

const OWN_CONDITIONS = new Set(['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']);

/** The whole status the agent owns; fields it does not own (nominatedNodeName...) are left alone. */
export function computePodStatus(pod: Pod, observed: ObservedPod, ctx: StatusContext): PodStatus {
  const prev = pod.status;
  const inits = pod.spec.initContainers ?? [];
  const deleting = pod.metadata.deletionTimestamp !== undefined;
  const initContainerStatuses = inits.map((c) => {
    const s = containerStatus(c, observed, true, reportedStatus(pod, c.name, true), deleting);
    // A completed init container counts as ready, as the kubelet reports it.
    if (!isSidecar(c) && s.state?.terminated?.exitCode === 0) return { ...s, ready: true };
    return s;
  });
  const init = initProgress(pod, initContainerStatuses);
  const containerStatuses = pod.spec.containers.map((c) => containerStatus(c, observed, !init.done, reportedStatus(pod, c.name), deleting));
  let phase: PodPhase = init.failed ? 'Failed' : init.done ? podPhase(pod, containerStatuses) : 'Pending';
  // A terminal phase never goes back (Kubernetes forbids Succeeded/Failed -> anything).
  if (prev?.phase === 'Succeeded' || prev?.phase === 'Failed') phase = prev.phase;

  const conditions = podConditions(prev?.conditions, phase, [...initContainerStatuses.filter((_, i) => isSidecar(inits[i]!)), ...containerStatuses], ctx.now, init.pending);

  // Once the sandbox is stopped (terminal pod) its IP is gone; Kubernetes keeps reporting the last one.
  const ips = observed.sandbox?.running && observed.sandbox.ips?.length ? observed.sandbox.ips : undefined;
  const podIP = ips ? ips[0] : prev?.podIP;
  const podIPs = ips ? ips.map((ip) => ({ ip })) : prev?.podIPs?.length ? prev.podIPs : podIP ? [{ ip: podIP }] : undefined;
  return {
    phase,
    conditions,
    hostIP: ctx.hostIP,
    hostIPs: [{ ip: ctx.hostIP }],
    ...(podIP ? { podIP, podIPs } : {}),
    startTime: prev?.startTime ?? toKubeTime(ctx.now),
    ...(inits.length > 0 ? { initContainerStatuses } : {}),
    containerStatuses,
    qosClass: qosClassOf(pod),
    ...(observed.blocked && phase !== 'Succeeded' && phase !== 'Failed' ? { reason: observed.blocked.reason, message: observed.blocked.message } : {}),
  };
}

/**
 * How far the init containers got: `pending` names those not yet completed (sidecars: not yet
 * started); `failed` when one failed for good (restartPolicy Never).
 */
export function initProgress(pod: Pod, statuses: readonly ContainerStatus[]): { done: boolean; failed: boolean; pending: string[] } {
  const inits = pod.spec.initContainers ?? [];
  const pending: string[] = [];
  let failed = false;
  inits.forEach((c, i) => {
    const s = statuses[i];
    if (isSidecar(c)) {
      if (!s?.state?.running && !s?.restartCount) pending.push(c.name); // a sidecar that ran once stays "started"
      return;
    }
    const t = s?.state?.terminated;
    if (t && t.exitCode === 0) return;
    pending.push(c.name);
    const lastFailure = t ?? s?.lastState?.terminated;
    if (lastFailure && lastFailure.exitCode !== 0 && (pod.spec.restartPolicy ?? 'Always') === 'Never') failed = true;
  });
  return { done: pending.length === 0, failed, pending };
}

/**
 * The conditions the agent owns, from container statuses: Ready and ContainersReady need every
 * container ready; conditions the agent does not own are kept as they were.
 */
export function podConditions(
  prevConditions: readonly PodCondition[] | undefined,
  phase: PodPhase,
  containerStatuses: readonly ContainerStatus[],
  now: Date,
  initPending: readonly string[] = [],
): PodCondition[] {
  const notReady = containerStatuses.filter((s) => !s.ready).map((s) => s.name);
  const allReady = notReady.length === 0;
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const readyReason = allReady ? undefined : completed ? 'PodCompleted' : 'ContainersNotReady';
  const readyMessage = allReady || readyReason === 'PodCompleted' ? undefined : `containers with unready status: [${notReady.join(' ')}]`;
  const initialized = initPending.length === 0;
  // Ready needs the init containers done too; ContainersReady is about the containers alone.
  const podReady = allReady && initialized;
  const podReadyReason = podReady ? undefined : allReady ? (completed ? 'PodCompleted' : 'ContainersNotInitialized') : readyReason;
  const podReadyMessage = podReady || podReadyReason === 'PodCompleted' ? undefined : allReady ? `containers with incomplete status: [${initPending.join(' ')}]` : readyMessage;
  return [
    ...(prevConditions ?? []).filter((c) => !OWN_CONDITIONS.has(c.type)),
    initialized
      ? condition(prevConditions, 'Initialized', 'True', now)
      : condition(prevConditions, 'Initialized', 'False', now, 'ContainersNotInitialized', `containers with incomplete status: [${initPending.join(' ')}]`),
    condition(prevConditions, 'Ready', podReady ? 'True' : 'False', now, podReadyReason, podReadyMessage),
    condition(prevConditions, 'ContainersReady', allReady ? 'True' : 'False', now, readyReason, readyMessage),
    condition(prevConditions, 'PodScheduled', 'True', now),
  ];
}

/** Looks up what the prober knows of a running container. */
export type ProbeStateLookup = (containerName: string, containerID: string) => { readonly started: boolean; readonly ready: boolean };

/**
 * Merges probe results into a computed status: a running container is `started` once its startup
 * probe succeeded and `ready` once its readiness probe did; a pod being deleted is never ready.
 * Ready and ContainersReady follow. Pure.
 */
export function applyProbeResults(pod: Pod, status: PodStatus, lookup: ProbeStateLookup, now: Date): PodStatus {
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  const containerStatuses = (status.containerStatuses ?? []).map((cs) => {
    if (!cs.state?.running || !cs.containerID) return cs;
    const p = lookup(cs.name, cs.containerID);
    return { ...cs, started: p.started, ready: p.ready && !terminating };
  });
  const inits = pod.spec.initContainers ?? [];
  const initStatuses = status.initContainerStatuses ?? [];
  const sidecars = initStatuses.filter((_, i) => inits[i] && isSidecar(inits[i]));
  const conditions = podConditions(pod.status?.conditions, status.phase ?? 'Pending', [...sidecars, ...containerStatuses], now, initProgress(pod, initStatuses).pending);
  return { ...status, containerStatuses, conditions };
}

/** Stable JSON (sorted keys), so key order from the server never counts as a change. */
function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Whether `next` differs from what the server has, comparing only the fields the agent sets
 * (lastProbeTime: null may come back absent, so it is ignored).
 */
export function statusChanged(prev: PodStatus | undefined, next: PodStatus): boolean {
  const strip = (s: PodStatus | undefined): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(next)) {
      const v = s?.[k as keyof PodStatus];
      out[k] = k === 'conditions' && Array.isArray(v) ? (v as Record<string, unknown>[]).map(({ lastProbeTime: _, ...c }) => c) : v;
    }
    return out;
  };
  return stableStringify(strip(prev)) !== stableStringify(strip(next));
}
