/**
 * The one interface through which the node agent drives containers (virtual-kubelet's
 * PodLifecycleHandler, reduced). The agent never talks to Docker directly, so another runtime
 * (containerd, Firecracker, a fake for unit tests) can stand in.
 *
 * Contract, for every implementation:
 * - Every method is idempotent and safe to repeat; the agent calls them level-triggered, again
 *   and again, from SQS messages and the periodic resync, and after its own restart.
 * - The agent never calls two methods for the same pod uid at once (it holds a per-pod mutex);
 *   calls for different pods may run concurrently.
 * - Failures that belong to the pod (image cannot be pulled, container cannot start) are not
 *   thrown: they show up in getPodStatus as a waiting reason, and syncPod retries them later
 *   with back-off. Throwing means the runtime itself failed (Docker unreachable): try again.
 * - Only containers carrying this node's and tenant's labels are ever seen or touched.
 */
import type { Readable } from 'node:stream';
import type { LogOptions } from './logs';
import type { Pod, PodKey, PodStatus } from './types';

export interface PodRuntime {
  /**
   * Creates or updates the pod's containers to match the spec: creates the sandbox and missing
   * containers, restarts exited ones as restartPolicy says (with back-off), replaces containers
   * whose spec changed. Converges; does nothing when the pod already matches.
   */
  syncPod(pod: Pod): Promise<void>;

  /**
   * Stops every container of the pod (SIGTERM, then SIGKILL after gracePeriodSeconds) and
   * removes them and the sandbox. A pod with no containers is a no-op, so it is safe to repeat.
   */
  killPod(pod: PodKey, gracePeriodSeconds: number): Promise<void>;

  /** The pod's status as observed now, or undefined when the runtime has nothing of it. */
  getPodStatus(pod: Pod): Promise<PodStatus | undefined>;

  /** Every pod the runtime holds containers for (found by labels), for adoption and orphan cleanup. */
  listPods(): Promise<PodKey[]>;
}

/** Event types and reasons are Kubernetes' own (pkg/kubelet/events). */
export type EventType = 'Normal' | 'Warning';

/**
 * Where the runtime reports what it did, as Kubernetes Events on the pod. Best effort: an
 * implementation must never throw, and a lost event must not change what the runtime does.
 */
export interface EventRecorder {
  event(pod: PodKey, type: EventType, reason: string, message: string, fieldPath?: string): void;
}

export const noopRecorder: EventRecorder = { event: () => undefined };

/**
 * Optional: a runtime that can tell when a pod's containers changed by themselves (exited,
 * OOM-killed), so the agent syncs that pod at once rather than at the next resync (the
 * kubelet's PLEG). Notifications are hints only; missing one costs at most one resync period.
 */
export interface PodChangeNotifier {
  /** Starts watching; returns a function that stops. `onPodChanged` must not throw. */
  watchPodChanges(onPodChanged: (pod: PodKey) => void): () => void;
}

/** What a command run inside a container returned. */
export interface ExecResult {
  readonly exitCode: number;
  /** stdout and stderr interleaved, cut at a few KiB (probe and hook messages quote it). */
  readonly output: string;
}

/** A command that did not finish within its timeout; it may still be running in the container. */
export class ExecTimeoutError extends Error {
  constructor(command: readonly string[], timeoutMs: number, options?: { cause?: unknown }) {
    super(`command ${JSON.stringify(command.join(' '))} timed out after ${timeoutMs / 1000}s`, options);
    this.name = 'ExecTimeoutError';
  }
}

/**
 * Optional: single-container operations the prober and lifecycle hooks need (exec probes,
 * liveness kills). Containers are named by the runtime's container id, as containerStatuses
 * report it without the "docker://" prefix.
 *
 * Contract: execInContainer resolves with the command's exit code whatever it is, rejects with
 * ExecTimeoutError after `timeoutMs`, and rejects otherwise only when the command could not be
 * run at all (container gone or stopped). stopContainer is safe to repeat and on a gone container.
 */
export interface ContainerCommander {
  execInContainer(containerID: string, command: readonly string[], timeoutMs: number): Promise<ExecResult>;
  stopContainer(containerID: string, gracePeriodSeconds: number): Promise<void>;
}

/** Which pod's container to read logs of; uid narrows it to one incarnation of the name. */
export interface ContainerRef {
  readonly namespace: string;
  readonly pod: string;
  readonly uid?: string;
  readonly container: string;
}

/** A log stream, or why there is none (status code and message in Kubernetes' words). */
export type ContainerLogResult =
  | { readonly ok: true; readonly stream: Readable }
  | { readonly ok: false; readonly code: 400 | 404; readonly message: string };

/**
 * Optional: container logs (the kubelet's /containerLogs). Contract: resolves a stream of the
 * log bytes (stdout and stderr interleaved) as the options say; with `follow` the stream stays
 * open until the container stops; destroying the stream stops reading. A container that does
 * not exist (yet) or has no previous attempt resolves `ok: false`; only a runtime failure rejects.
 */
export interface ContainerLogSource {
  containerLogs(ref: ContainerRef, options: LogOptions): Promise<ContainerLogResult>;
}
