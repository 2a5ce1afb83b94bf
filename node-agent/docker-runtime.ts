/**
 * PodRuntime over Docker (dockerode), laid out like dockershim: a pod is an infra ("pause")
 * container that holds the network namespace on the default bridge, and one Docker container per
 * app container joining it (NetworkMode/IpcMode `container:<infraId>`), so a pod's containers
 * reach each other on localhost and share one pod IP.
 *
 * Every container carries labels naming its pod, tenant and node; the runtime finds its pods by
 * those labels only, so a restarted agent adopts what is running and several agents (nodes) can
 * share one Docker daemon without touching each other's containers.
 *
 * A restart creates a new container (attempt n+1) like the kubelet, keeping the previous one for
 * lastState (exit code, reason); older attempts are removed.
 */
import Docker from 'dockerode';
import { createHash } from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import { sleep } from '../shared/sleep';
import { BackOff, type BackOffOptions } from './backoff';
import type { ClusterView } from './network/cluster-view';
import { ContainerConfigError, expandCommand, makeEnvironment, type ConfigSource } from './env';
import { kubernetesServiceAddress, kubernetesServiceEnv, type KubernetesServiceAddress } from './kubernetes-service-env';
import { errorMessage, silentLogger, type Logger } from './log';
import { tryParseQuantity } from './quantity';
import { PassThrough, Readable } from 'node:stream';
import { DockerLogDemuxer, dockerSince, type LogOptions } from './logs';
import {
  ExecTimeoutError,
  noopRecorder,
  type ContainerCommander,
  type ContainerLogResult,
  type ContainerLogSource,
  type ContainerRef,
  type EventRecorder,
  type ExecResult,
  type PodChangeNotifier,
  type PodRuntime,
} from './runtime';
import {
  computePodStatus,
  hasExited,
  isSidecar,
  nextAttempt,
  reportedStatus,
  type ContainerWaiting,
  type ObservedContainer,
  type ObservedPod,
  type ObservedSandbox,
} from './status';
import { podKeyOf, type Container, type Pod, type PodKey, type PodStatus } from './types';
import { containerMounts, VolumeManager, type VolumeSource } from './volumes';
import { join } from 'node:path';
import { graceAfterHook, lifecycleOf, LifecycleHandlerSchema, runHook, type LifecycleHandler } from './hooks';
import { hostPathRefusal, nodeRefusal, securityOptions, type NodeSecurityPolicy, type SecurityOptions } from './security';
import { DockerBridgeNetwork } from './network/docker-bridge';
import { sandboxHostConfig, type PodNetwork } from './network/pod-network';

/** Label keys; the io.kubernetes.* twins let tools that know dockershim's labels read ours. */
export const LABELS = {
  podUid: 'io.stratus.pod.uid',
  podName: 'io.stratus.pod.name',
  podNamespace: 'io.stratus.pod.namespace',
  tenant: 'io.stratus.tenant',
  node: 'io.stratus.node',
  containerName: 'io.stratus.container.name',
  attempt: 'io.stratus.container.attempt',
  hash: 'io.stratus.container.hash',
  image: 'io.stratus.container.image',
  ports: 'io.stratus.container.ports',
  /** The container's preStop handler (JSON), so it runs even when the pod object is gone. */
  preStop: 'io.stratus.container.preStopHandler',
  k8sPodUid: 'io.kubernetes.pod.uid',
  k8sPodName: 'io.kubernetes.pod.name',
  k8sPodNamespace: 'io.kubernetes.pod.namespace',
  k8sContainerName: 'io.kubernetes.container.name',
} as const;

/**
 * The running containers named `container` of one pod on this node and cluster, found by the
 * labels DockerRuntime puts on them (each attempt is its own container; callers pick the newest).
 */
export function listRunningPodContainers(
  docker: Docker,
  scope: { readonly nodeName: string; readonly tenant: string },
  ref: { readonly namespace: string; readonly pod: string; readonly uid?: string; readonly container: string },
): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({
    filters: {
      status: ['running'],
      label: [
        `${LABELS.node}=${scope.nodeName}`,
        `${LABELS.tenant}=${scope.tenant}`,
        `${LABELS.podNamespace}=${ref.namespace}`,
        `${LABELS.podName}=${ref.pod}`,
        `${LABELS.containerName}=${ref.container}`,
        ...(ref.uid ? [`${LABELS.podUid}=${ref.uid}`] : []),
      ],
    },
  });
}

/** Exec output kept for probe and hook messages (the kubelet keeps 10 KiB). */
const MAX_EXEC_OUTPUT = 10 * 1024;

/** postStart has no timeout in Kubernetes; a hook that hangs must not hold the pod's sync forever. */
const POST_START_TIMEOUT_MS = 120_000;

/** The Kubernetes container name dockershim gives the infra container. */
export const SANDBOX_CONTAINER_NAME = 'POD';

export interface DockerRuntimeOptions {
  readonly nodeName: string;
  readonly tenant: string;
  /** The node's InternalIP, reported as status.hostIP. */
  readonly hostIP: string;
  /** @default new Docker() (DOCKER_HOST or /var/run/docker.sock) */
  readonly docker?: Docker;
  /** @default 'stratus/pause:1' */
  readonly pauseImage?: string;
  /** @default noopRecorder */
  readonly recorder?: EventRecorder;
  /** @default silentLogger */
  readonly log?: Logger;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Crash-loop and image-pull back-off. @default 10 s doubling, capped at 5 min */
  readonly backOff?: BackOffOptions;
  /** Where env valueFrom and envFrom read ConfigMaps and Secrets. @default none: every reference is missing */
  readonly config?: ConfigSource;
  /** Node allocatable, for resourceFieldRef of unset limits. @default the host's */
  readonly nodeCpuCores?: number;
  readonly nodeMemoryBytes?: number;
  /** Where pod volumes live ({rootDir}/pods/{uid}). @default /var/lib/stratus/{nodeName} */
  readonly rootDir?: string;
  /** Whether containers may run privileged (a privileged container owns the host). @default false */
  readonly allowPrivileged?: boolean;
  /** Directories pods may mount as hostPath when not allowPrivileged (security.ts). @default none */
  readonly hostPathAllow?: readonly string[];
  /** Paths never mounted besides security.ts's DENIED_HOST_PATHS. @default the root dir */
  readonly hostPathDeny?: readonly string[];
  /** How sandboxes are wired and their pod IPs found (network/pod-network.ts). @default DockerBridgeNetwork */
  readonly network?: PodNetwork;
  /** The `kubernetes` Service every container's KUBERNETES_SERVICE_* name. @default the service range's first address, 443 */
  readonly kubernetesService?: KubernetesServiceAddress;
  /** The cluster's Services, for the Service environment variables (env.ts). @default none: no such variables */
  readonly clusterView?: ClusterView;
}

/** With no ConfigSource every ConfigMap and Secret is missing (optional references still work). */
const noConfig: ConfigSource = { configMap: async () => undefined, secret: async () => undefined };

type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** A Docker container of one of our pods, from docker inspect. */
interface PodContainer {
  readonly id: string;
  readonly name: string;
  readonly attempt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly info: Docker.ContainerInspectInfo;
}

/** Docker's HTTP status, from dockerode errors. */
function dockerStatusCode(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'statusCode' in e && typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** Docker's JSON error message when there is one ("No such image: ..."), else the error text. */
function dockerMessage(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'json' in e) {
    const j = e.json;
    if (typeof j === 'object' && j !== null && 'message' in j && typeof j.message === 'string') return j.message;
  }
  return errorMessage(e);
}

/** Whether the reference names a tag or digest; "busybox" and "host:5000/x" do not. */
function hasTagOrDigest(image: string): boolean {
  if (image.includes('@')) return true;
  const lastSlash = image.lastIndexOf('/');
  return image.slice(lastSlash + 1).includes(':');
}

/** Kubernetes' defaulting: Always for ":latest" or untagged images, else IfNotPresent. */
export function defaultPullPolicy(image: string): PullPolicy {
  if (!hasTagOrDigest(image) || image.endsWith(':latest')) return 'Always';
  return 'IfNotPresent';
}

/** Docker pulls every tag of an untagged repository; Kubernetes means ":latest". */
function pullReference(image: string): string {
  return hasTagOrDigest(image) ? image : `${image}:latest`;
}

const dockerNamePart = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]/g, '-');

/** `stratus_{tenant}_{ns}_{pod}_{container}_{uidprefix}_{attempt}`: unique, and readable in `docker ps`. */
export function dockerContainerName(tenant: string, pod: PodKey, container: string, attempt: number): string {
  return ['stratus', tenant, pod.namespace, pod.name, container, pod.uid.slice(0, 8), String(attempt)]
    .map(dockerNamePart)
    .join('_');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Hash of the container spec: a changed spec (new image) replaces the container, as in the kubelet. */
export function containerHash(c: Container): string {
  return createHash('sha256').update(stableJson(c)).digest('hex').slice(0, 16);
}

type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/**
 * The restart policy one container follows: app containers the pod's; sidecars Always; other
 * init containers OnFailure (Never when the pod says Never), as in Kubernetes.
 */
function restartPolicyOf(pod: Pod, spec: Container, init: boolean): RestartPolicy {
  const podPolicy = pod.spec.restartPolicy ?? 'Always';
  if (!init) return podPolicy;
  if (isSidecar(spec)) return 'Always';
  return podPolicy === 'Never' ? 'Never' : 'OnFailure';
}

function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

const isTerminalPhase = (pod: Pod): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** A SIGKILLed container under a memory limit is inspected again after this, if it died this recently (inspectSettled). */
const OOM_SETTLE_WINDOW_MS = 5_000;
const OOM_SETTLE_DELAY_MS = 250;
const OOM_SETTLE_TRIES = 12;
/** Volume setup retries (the kubelet's volume manager: 500 ms doubling). */
const MOUNT_RETRY_INITIAL_MS = 500;
const MOUNT_RETRY_MAX_MS = 8_000;

export class DockerRuntime implements PodRuntime, PodChangeNotifier, ContainerCommander, ContainerLogSource {
  private readonly docker: Docker;
  private readonly pauseImage: string;
  private readonly network: PodNetwork;
  private readonly recorder: EventRecorder;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly backOff: BackOff;
  /** Waiting reasons only the runtime knows (pull errors, back-off), by pod uid then container. */
  private readonly waiting = new Map<string, Map<string, ContainerWaiting>>();
  private readonly volumes: VolumeManager;
  /** The last FailedMount message per pod uid, so the event is posted once per change. */
  private readonly mountFailures = new Map<string, string>();
  /** Who hears of pods that need a sync (watchPodChanges), e.g. a volume to retry. */
  private readonly changeListeners = new Set<(pod: PodKey) => void>();
  /** Pods whose volume setup failed: the next try, sooner than the resync (the kubelet's volume manager retries in 0.5 s doubling). */
  private readonly mountRetries = new Map<string, { attempt: number; timer?: NodeJS.Timeout }>();
  /** What this node refuses to run (security.ts nodeRefusal). */
  private readonly security: NodeSecurityPolicy;
  /** Pods this node refuses, by uid: the reason, for the pod's status. */
  private readonly blocked = new Map<string, string>();

  constructor(private readonly opts: DockerRuntimeOptions) {
    this.docker = opts.docker ?? new Docker();
    this.pauseImage = opts.pauseImage ?? 'stratus/pause:1';
    this.network = opts.network ?? new DockerBridgeNetwork({ docker: this.docker, tenant: opts.tenant, ...(opts.log ? { log: opts.log } : {}) });
    this.recorder = opts.recorder ?? noopRecorder;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? (() => new Date());
    this.backOff = new BackOff(opts.backOff);
    const rootDir = opts.rootDir ?? join('/var/lib/stratus', opts.nodeName);
    this.security = { allowPrivileged: opts.allowPrivileged ?? false, hostPathAllow: opts.hostPathAllow ?? [], hostPathDeny: [rootDir, ...(opts.hostPathDeny ?? [])] };
    const security = this.security;
    this.volumes = new VolumeManager({
      hostPathRefusal: (path) => hostPathRefusal(path, security),
      rootDir: opts.rootDir ?? join('/var/lib/stratus', opts.nodeName),
      docker: this.docker,
      config: opts.config ?? noConfig,
      scopeLabels: { [LABELS.node]: opts.nodeName, [LABELS.tenant]: opts.tenant },
      podUidLabel: LABELS.podUid,
      context: { hostIP: opts.hostIP, nodeCpuCores: opts.nodeCpuCores ?? os.availableParallelism(), nodeMemoryBytes: opts.nodeMemoryBytes ?? os.totalmem() },
    });
  }

  // ---- PodRuntime ----

  async syncPod(pod: Pod): Promise<void> {
    const key = podKeyOf(pod);
    let { sandbox, apps } = await this.inspectPod(key.uid);
    const latest = (name: string) => apps.filter((c) => c.name === name).sort((a, b) => b.attempt - a.attempt)[0];

    // Containers whose spec changed are replaced (the image is the one mutable field that matters).
    for (const spec of pod.spec.containers) {
      const c = latest(spec.name);
      if (c && c.info.State.Running && c.labels[LABELS.hash] !== containerHash(spec)) {
        this.recorder.event(key, 'Normal', 'Killing', `Container ${spec.name} definition changed, will be restarted`, fieldPath(pod, spec.name));
        await this.stopContainer(c.id, gracePeriodOf(pod));
        ({ sandbox, apps } = await this.inspectPod(key.uid));
      }
    }

    // A pod that is done (terminal phase, or every container exited for good) keeps no sandbox.
    const finished = pod.spec.containers.every((spec) => {
      const c = latest(spec.name);
      return c !== undefined && hasExited(toObserved(c)) && !shouldRestart(restartPolicyOf(pod, spec, false), c.info.State.ExitCode);
    });
    // An init container that failed under restartPolicy Never fails the pod.
    const initFailed = (pod.spec.initContainers ?? []).some((spec) => {
      const c = latest(spec.name);
      return c !== undefined && hasExited(toObserved(c)) && c.info.State.ExitCode !== 0 && !shouldRestart(restartPolicyOf(pod, spec, true), c.info.State.ExitCode);
    });
    if (isTerminalPhase(pod) || finished || initFailed) {
      for (const c of apps) if (c.info.State.Running) await this.stopContainer(c.id, gracePeriodOf(pod));
      if (sandbox?.info.State.Running) await this.stopContainer(sandbox.id, 0);
      return;
    }

    // What the node refuses to run at all (unless --allow-privileged): nothing is created; the
    // containers wait, Blocked, as the kubelet leaves a pod it cannot run (canRunPod).
    const refusal = nodeRefusal(pod, this.security);
    if (refusal) {
      const fresh = this.blocked.get(key.uid) !== refusal;
      this.blocked.set(key.uid, refusal);
      for (const spec of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) this.setWaiting(key.uid, spec.name, { reason: 'Blocked', message: refusal });
      if (fresh) {
        this.log.warn('pod refused by the node', { pod: `${key.namespace}/${key.name}`, reason: refusal });
        this.recorder.event(key, 'Warning', 'Forbidden', refusal);
      }
      return;
    }

    // Volumes before anything starts (and on every sync, so ConfigMap and Secret updates reach
    // the files). One that cannot be set up keeps the pod ContainerCreating, as in Kubernetes.
    const mounted = await this.volumes.setUp(pod);
    const allSpecs = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    if (!mounted.ok) {
      const message = `MountVolume.SetUp failed for volume "${mounted.volume}" : ${mounted.message}`;
      if (this.mountFailures.get(key.uid) !== message) {
        this.mountFailures.set(key.uid, message);
        this.log.warn('volume setup failed', { pod: `${key.namespace}/${key.name}`, error: message });
        this.recorder.event(key, 'Warning', 'FailedMount', message);
      }
      this.retryMountSoon(key);
      for (const spec of allSpecs) if (!latest(spec.name)) this.setWaiting(key.uid, spec.name, { reason: 'ContainerCreating', message: '' });
      return;
    }
    this.forgetMountRetry(key.uid);
    if (this.mountFailures.delete(key.uid)) {
      for (const spec of allSpecs) if (this.waiting.get(key.uid)?.get(spec.name)?.reason === 'ContainerCreating') this.clearWaiting(key.uid, spec.name);
    }
    const volumes = mounted.volumes;

    // The sandbox: create it, or recreate it (and so every container) when it died.
    if (sandbox && !sandbox.info.State.Running) {
      this.log.warn('pod sandbox is not running, recreating it', { pod: `${key.namespace}/${key.name}`, uid: key.uid });
      this.recorder.event(key, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      for (const c of apps) if (c.info.State.Running) await this.stopContainer(c.id, gracePeriodOf(pod));
      await this.removeContainer(sandbox.id);
      sandbox = undefined;
    }
    if (!sandbox) {
      const created = await this.createSandbox(pod);
      if (!created) return;
      sandbox = created;
    }

    // Init containers one at a time, in order: each must complete (a sidecar: start) before the
    // next; app containers only once all have.
    for (const spec of pod.spec.initContainers ?? []) {
      const attempts = apps.filter((c) => c.name === spec.name);
      const c = latest(spec.name);
      if (!isSidecar(spec) && c && hasExited(toObserved(c)) && c.info.State.ExitCode === 0) continue;
      await this.syncContainer(pod, spec, sandbox, volumes, attempts, restartPolicyOf(pod, spec, true), 'spec.initContainers');
      const now = (await this.inspectPod(key.uid)).apps.filter((a) => a.name === spec.name).sort((a, b) => b.attempt - a.attempt)[0];
      // A sidecar lets the next one start once it runs; a plain init container once it completed.
      const ready = isSidecar(spec) ? !!now?.info.State.Running : !!now && hasExited(toObserved(now)) && now.info.State.ExitCode === 0;
      if (!ready) return;
    }
    for (const spec of pod.spec.containers) {
      await this.syncContainer(pod, spec, sandbox, volumes, apps.filter((c) => c.name === spec.name), restartPolicyOf(pod, spec, false));
    }
  }

  async killPod(pod: PodKey, gracePeriodSeconds: number): Promise<void> {
    this.forgetMountRetry(pod.uid);
    const { sandbox, apps } = await this.inspectPod(pod.uid);
    // Apps first, in parallel, each with the full grace period; the sandbox last (it holds the network).
    await Promise.all(
      apps.map(async (c) => {
        if (c.info.State.Running) {
          this.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`, `spec.containers{${c.name}}`);
          await this.stopContainer(c.id, gracePeriodSeconds);
        }
        await this.removeContainer(c.id);
      }),
    );
    if (sandbox) {
      await this.stopContainer(sandbox.id, gracePeriodSeconds);
      await this.removeContainer(sandbox.id);
    }
    await this.network.tearDown(pod);
    await this.volumes.tearDown(pod.uid);
    this.waiting.delete(pod.uid);
    this.blocked.delete(pod.uid);
    this.mountFailures.delete(pod.uid);
    this.backOff.resetPrefix(`${pod.uid}/`);
    if (sandbox || apps.length > 0) this.log.info('killed pod', { pod: `${pod.namespace}/${pod.name}`, uid: pod.uid });
  }

  async getPodStatus(pod: Pod): Promise<PodStatus | undefined> {
    const observed = await this.observePod(pod);
    if (!observed) return undefined;
    return computePodStatus(pod, observed, { hostIP: this.opts.hostIP, now: this.now() });
  }

  async listPods(): Promise<PodKey[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: this.scopeLabels() } });
    const byUid = new Map<string, PodKey>();
    for (const c of list) {
      const l = c.Labels ?? {};
      const uid = l[LABELS.podUid];
      if (uid && !byUid.has(uid)) {
        byUid.set(uid, { uid, namespace: l[LABELS.podNamespace] ?? 'default', name: l[LABELS.podName] ?? '' });
      }
    }
    // Pods whose containers are gone but whose volumes are not (the agent stopped in between).
    for (const k of await this.volumes.listPodDirs()) if (!byUid.has(k.uid)) byUid.set(k.uid, k);
    // Docker volumes of deleted PersistentVolumes (throttled inside).
    await this.volumes.collectPersistentVolumes().catch((e) => this.log.warn('persistent volume cleanup failed', { error: errorMessage(e) }));
    return [...byUid.values()];
  }

  /**
   * Calls `onPodChanged` when a container of one of our pods starts, dies or is OOM-killed, so
   * the agent resyncs that pod at once instead of at the next periodic resync (the kubelet's PLEG).
   * Returns a function that stops watching.
   */
  watchPodChanges(onPodChanged: (pod: PodKey) => void): () => void {
    let stopped = false;
    let current: NodeJS.ReadableStream | undefined;
    const connect = async (): Promise<void> => {
      while (!stopped) {
        try {
          const stream = await this.docker.getEvents({
            filters: { type: ['container'], event: ['start', 'die', 'oom'], label: this.scopeLabels() },
          });
          current = stream;
          await new Promise<void>((resolve) => {
            let buf = '';
            stream.on('data', (chunk: Buffer) => {
              buf += chunk.toString();
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                const key = line ? podKeyOfEvent(line) : undefined;
                if (key) onPodChanged(key);
              }
            });
            stream.on('end', resolve);
            stream.on('close', resolve);
            stream.on('error', resolve);
          });
        } catch (e) {
          if (!stopped) this.log.warn('docker events stream failed, reconnecting', { error: errorMessage(e) });
        }
        if (!stopped) await sleep(2000);
      }
    };
    void connect();
    this.changeListeners.add(onPodChanged);
    return () => {
      stopped = true;
      this.changeListeners.delete(onPodChanged);
      if (this.changeListeners.size === 0) for (const uid of [...this.mountRetries.keys()]) this.forgetMountRetry(uid);
      const s = current as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
      s?.destroy?.();
    };
  }

  /**
   * Asks for the pod to be synced again soon (0.5 s, doubling to 8 s), so a volume that becomes
   * ready (a claim Bound, a ConfigMap created) is mounted without waiting for the next resync.
   */
  private retryMountSoon(key: PodKey): void {
    if (this.changeListeners.size === 0) return;
    const entry = this.mountRetries.get(key.uid) ?? { attempt: 0 };
    if (entry.timer) return;
    entry.attempt++;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      for (const listener of this.changeListeners) listener(key);
    }, Math.min(MOUNT_RETRY_MAX_MS, MOUNT_RETRY_INITIAL_MS * 2 ** (entry.attempt - 1)));
    entry.timer.unref();
    this.mountRetries.set(key.uid, entry);
  }

  private forgetMountRetry(uid: string): void {
    const entry = this.mountRetries.get(uid);
    if (entry?.timer) clearTimeout(entry.timer);
    this.mountRetries.delete(uid);
  }

  // ---- ContainerCommander ----

  /** docker exec, output demultiplexed and cut at MAX_EXEC_OUTPUT; see ContainerCommander. */
  async execInContainer(containerID: string, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const exec = await this.docker.getContainer(containerID).exec({ Cmd: [...command], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    let size = 0;
    sink.on('data', (c: Buffer) => {
      if (size < MAX_EXEC_OUTPUT) chunks.push(c);
      size += c.length;
    });
    this.docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new ExecTimeoutError(command, timeoutMs));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    // The stream may end a moment before Docker records the exit code.
    for (let i = 0; i < 20; i++) {
      const info = await exec.inspect();
      if (!info.Running) {
        return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8').slice(0, MAX_EXEC_OUTPUT) };
      }
      await sleep(25);
    }
    throw new ExecTimeoutError(command, timeoutMs);
  }

  // ---- ContainerLogSource ----

  /** docker logs of the latest attempt (or the one before, for `previous`); see ContainerLogSource. */
  async containerLogs(ref: ContainerRef, options: LogOptions): Promise<ContainerLogResult> {
    const list = await this.docker.listContainers({
      all: true,
      filters: {
        label: [
          ...this.scopeLabels(),
          `${LABELS.podNamespace}=${ref.namespace}`,
          `${LABELS.podName}=${ref.pod}`,
          `${LABELS.containerName}=${ref.container}`,
          ...(ref.uid ? [`${LABELS.podUid}=${ref.uid}`] : []),
        ],
      },
    });
    const attempts = list.sort((a, b) => Number(b.Labels?.[LABELS.attempt] ?? 0) - Number(a.Labels?.[LABELS.attempt] ?? 0));
    const chosen = options.previous ? attempts[1] : attempts[0];
    if (!chosen) {
      // The kubelet's words (pkg/kubelet/kubelet_pods.go validateContainerLogStatus).
      const message = options.previous
        ? `previous terminated container "${ref.container}" in pod "${ref.pod}" not found`
        : `container "${ref.container}" in pod "${ref.pod}" is waiting to start: ContainerCreating`;
      return { ok: false, code: 400, message };
    }
    const since = dockerSince(options, this.now());
    const common = {
      stdout: true,
      stderr: true,
      timestamps: options.timestamps,
      // Unset means every line (Docker's default "all").
      ...(options.tailLines !== undefined ? { tail: options.tailLines } : {}),
      ...(since !== undefined ? { since } : {}),
    } as const;
    const container = this.docker.getContainer(chosen.Id);
    // A tty container's log stream is raw terminal output, without Docker's 8-byte frame headers.
    let tty = false;
    try {
      tty = (await container.inspect()).Config.Tty;
    } catch (e) {
      if (dockerStatusCode(e) !== 404) throw e;
    }
    const demux = new DockerLogDemuxer(options.limitBytes, tty);
    // A previous attempt has exited: following it is reading it.
    if (options.follow && !options.previous) {
      const source = await container.logs({ ...common, follow: true });
      const stream = source as Readable; // dockerode types it as NodeJS.ReadableStream
      stream.on('error', (e) => demux.destroy(e));
      demux.on('close', () => stream.destroy());
      stream.pipe(demux);
    } else {
      const bytes = await container.logs({ ...common, follow: false });
      Readable.from([Buffer.from(bytes)]).pipe(demux);
    }
    return { ok: true, stream: demux };
  }

  // ---- containers ----

  private async syncContainer(
    pod: Pod,
    spec: Container,
    sandbox: PodContainer,
    volumes: ReadonlyMap<string, VolumeSource>,
    attempts: PodContainer[],
    policy: RestartPolicy,
    specField = 'spec.containers',
  ): Promise<void> {
    const key = podKeyOf(pod);
    const sorted = [...attempts].sort((a, b) => b.attempt - a.attempt);
    const latest = sorted[0];
    const fp = `${specField}{${spec.name}}`;
    if (latest) {
      const observed = toObserved(latest);
      if (latest.info.State.Running) {
        this.clearWaiting(key.uid, spec.name);
        return;
      }
      if (!hasExited(observed)) {
        // Created but never started (the agent stopped in between): start it now.
        await this.startContainer(pod, spec, latest.id);
        return;
      }
      if (!shouldRestart(policy, latest.info.State.ExitCode)) return;
      const backOffKey = `${key.uid}/${spec.name}/crash`;
      const finishedMs = Date.parse(latest.info.State.FinishedAt);
      const eventMs = Number.isFinite(finishedMs) && finishedMs > 0 ? finishedMs : this.now().getTime();
      if (this.backOff.isInBackOff(backOffKey, eventMs, this.now().getTime())) {
        const secs = Math.round(this.backOff.delayMs(backOffKey) / 1000);
        const message = `back-off ${secs}s restarting failed container=${spec.name} pod=${key.name}_${key.namespace}(${key.uid})`;
        if (this.setWaiting(key.uid, spec.name, { reason: 'CrashLoopBackOff', message })) {
          this.recorder.event(key, 'Warning', 'BackOff', 'Back-off restarting failed container', fp);
        }
        return;
      }
      this.backOff.next(backOffKey, this.now().getTime());
    }
    // One past the latest attempt present, or past the run last reported if that one vanished
    // (removed behind our back): restartCount counts it, as the kubelet's does.
    const attempt = nextAttempt(reportedStatus(pod, spec.name, specField === 'spec.initContainers'), attempts);

    if (!(await this.ensureImage(pod, spec))) return;
    const id = await this.createContainer(pod, spec, sandbox, volumes, attempt);
    if (!id) return;
    await this.startContainer(pod, spec, id);
    // Keep the attempt before this one for lastState; older ones only take disk.
    for (const old of sorted.slice(1)) await this.removeContainer(old.id);
  }

  private async createSandbox(pod: Pod): Promise<PodContainer | undefined> {
    const key = podKeyOf(pod);
    if (!(await this.ensureImage(pod, { name: SANDBOX_CONTAINER_NAME, image: this.pauseImage, imagePullPolicy: 'IfNotPresent' }))) {
      return undefined;
    }
    const hostname = (pod.spec.hostname ?? key.name).slice(0, 63);
    let id: string;
    try {
      // hostNetwork pods run in the node's namespace; every other pod's is the pod network's.
      const net = pod.spec.hostNetwork ? undefined : await this.network.setUp(pod);
      const c = await this.docker.createContainer({
        name: dockerContainerName(this.opts.tenant, key, SANDBOX_CONTAINER_NAME, 0),
        Image: this.pauseImage,
        // Docker refuses a hostname in the host's network namespace: there the pod sees the node's.
        ...(pod.spec.hostNetwork ? {} : { Hostname: hostname }),
        Labels: this.labelsFor(key, SANDBOX_CONTAINER_NAME, 0),
        // shareable: app containers join its IPC namespace too, as in a Kubernetes pod.
        HostConfig: { ...(net ? sandboxHostConfig(net) : { NetworkMode: 'host' }), IpcMode: 'shareable', RestartPolicy: { Name: 'no' } },
        ...(net?.endpoint ? { NetworkingConfig: { EndpointsConfig: { [net.networkMode]: net.endpoint } } } : {}),
      });
      id = c.id;
      await c.start();
      if (net && this.network.afterSandboxStart) await this.network.afterSandboxStart(pod, await c.inspect());
    } catch (e) {
      const message = `Failed to create pod sandbox: ${dockerMessage(e)}`;
      this.log.error('create sandbox failed', { pod: `${key.namespace}/${key.name}`, error: message });
      this.recorder.event(key, 'Warning', 'FailedCreatePodSandBox', message);
      // A half-made sandbox is removed so the next sync starts clean.
      const left = await this.inspectPod(key.uid);
      if (left.sandbox) await this.removeContainer(left.sandbox.id);
      return undefined;
    }
    this.log.info('started pod sandbox', { pod: `${key.namespace}/${key.name}`, uid: key.uid, id: id.slice(0, 12) });
    const info = await this.docker.getContainer(id).inspect();
    return { id, name: SANDBOX_CONTAINER_NAME, attempt: 0, labels: info.Config.Labels ?? {}, info };
  }

  /** Pulls when the policy says so; false (with a waiting reason and an event) when the image is not usable. */
  private async ensureImage(pod: Pod, spec: Container): Promise<boolean> {
    const key = podKeyOf(pod);
    const image = spec.image ?? '';
    const fp = fieldPath(pod, spec.name);
    if (image === '') {
      this.setWaiting(key.uid, spec.name, { reason: 'InvalidImageName', message: 'container has no image' });
      return false;
    }
    const policy = spec.imagePullPolicy ?? defaultPullPolicy(image);
    const present = await this.imageExists(image);
    if (policy === 'Never') {
      if (present) return true;
      const message = `Container image "${image}" is not present with pull policy of Never`;
      if (this.setWaiting(key.uid, spec.name, { reason: 'ErrImageNeverPull', message })) {
        this.recorder.event(key, 'Warning', 'ErrImageNeverPull', message, fp);
      }
      return false;
    }
    if (policy === 'IfNotPresent' && present) {
      if (spec.name !== SANDBOX_CONTAINER_NAME) {
        this.recorder.event(key, 'Normal', 'Pulled', `Container image "${image}" already present on machine`, fp);
      }
      return true;
    }

    const backOffKey = `${key.uid}/${spec.name}/pull/${image}`;
    const nowMs = this.now().getTime();
    const lastFailure = this.pullFailures.get(backOffKey);
    if (lastFailure !== undefined && this.backOff.isInBackOff(backOffKey, lastFailure, nowMs)) {
      const message = `Back-off pulling image "${image}"`;
      if (this.setWaiting(key.uid, spec.name, { reason: 'ImagePullBackOff', message })) {
        this.recorder.event(key, 'Normal', 'BackOff', message, fp);
      }
      return false;
    }
    this.recorder.event(key, 'Normal', 'Pulling', `Pulling image "${image}"`, fp);
    const started = Date.now();
    try {
      await this.pull(image);
    } catch (e) {
      const message = `Failed to pull image "${image}": ${dockerMessage(e)}`;
      this.log.warn('image pull failed', { pod: `${key.namespace}/${key.name}`, image, error: dockerMessage(e) });
      this.backOff.next(backOffKey, nowMs);
      this.pullFailures.set(backOffKey, nowMs);
      this.setWaiting(key.uid, spec.name, { reason: 'ErrImagePull', message });
      this.recorder.event(key, 'Warning', 'Failed', message, fp);
      this.recorder.event(key, 'Warning', 'Failed', 'Error: ErrImagePull', fp);
      return false;
    }
    this.backOff.reset(backOffKey);
    this.pullFailures.delete(backOffKey);
    const secs = ((Date.now() - started) / 1000).toFixed(3);
    this.recorder.event(key, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${secs}s`, fp);
    return true;
  }

  private readonly pullFailures = new Map<string, number>();

  private async pull(image: string): Promise<void> {
    const stream = await this.docker.pull(pullReference(image));
    await new Promise<void>((resolve, reject) => {
      let failure: string | undefined;
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : failure ? reject(new Error(failure)) : resolve()),
        // Docker reports some pull failures in the progress stream, not as an HTTP error.
        (evt: { error?: string }) => {
          if (evt.error) failure = evt.error;
        },
      );
    });
  }

  private async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (dockerStatusCode(e) === 404) return false;
      throw e;
    }
  }

  private async createContainer(
    pod: Pod,
    spec: Container,
    sandbox: PodContainer,
    volumes: ReadonlyMap<string, VolumeSource>,
    attempt: number,
  ): Promise<string | undefined> {
    const key = podKeyOf(pod);
    const sandboxId = sandbox.id;
    let env: string[];
    let commandLine: { command?: string[]; args?: string[] };
    let mounts: Docker.MountSettings[];
    let security: SecurityOptions;
    try {
      const view = this.opts.clusterView?.current();
      // The kubelet's rule: no container before the Services were read once (its variables would be missing).
      if (view && view.version === '' && (pod.spec as { enableServiceLinks?: unknown }).enableServiceLinks !== false) {
        throw new ContainerConfigError('services have not yet been read at least once, cannot construct envvars');
      }
      const resolved = await makeEnvironment(
        pod,
        spec,
        {
          podIP: this.podIPs(sandbox.info)[0],
          hostIP: this.opts.hostIP,
          nodeCpuCores: this.opts.nodeCpuCores ?? os.availableParallelism(),
          nodeMemoryBytes: this.opts.nodeMemoryBytes ?? os.totalmem(),
          // Always, even with enableServiceLinks false (the kubelet's rule).
          serviceEnv: kubernetesServiceEnv(this.opts.kubernetesService ?? kubernetesServiceAddress()),
          ...(view ? { services: view.services } : {}),
        },
        this.opts.config ?? noConfig,
      );
      if (resolved.invalidKeys.length > 0) {
        this.recorder.event(
          key,
          'Warning',
          'InvalidEnvironmentVariableNames',
          `Keys [${resolved.invalidKeys.join(', ')}] from the EnvFrom were skipped since they are considered invalid environment variable names.`,
          fieldPath(pod, spec.name),
        );
      }
      env = resolved.env.map((e) => `${e.name}=${e.value}`);
      // After the environment: a subPathExpr expands with it (the kubelet's makeMounts).
      mounts = await containerMounts(spec, volumes, this.volumes.subPathDir(key.uid), new Map(resolved.env.map((e) => [e.name, e.value])));
      commandLine = expandCommand(spec, resolved);
      security = securityOptions(
        (pod.spec as { securityContext?: unknown }).securityContext,
        (spec as { securityContext?: unknown }).securityContext,
        spec.name,
        this.opts.allowPrivileged ?? false,
      );
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e; // the API did not answer: retry the sync
      // The cause (a host path, say) is for the node's log only, as the kubelet keeps it.
      if (e.cause !== undefined) this.log.warn('container config error', { pod: `${key.namespace}/${key.name}`, container: spec.name, error: e.message, cause: String(e.cause) });
      if (this.setWaiting(key.uid, spec.name, { reason: 'CreateContainerConfigError', message: e.message })) {
        this.recorder.event(key, 'Warning', 'Failed', `Error: ${e.message}`, fieldPath(pod, spec.name));
      }
      return undefined;
    }
    const limits = spec.resources?.limits ?? {};
    const requests = spec.resources?.requests ?? {};
    const memory = tryParseQuantity(limits.memory);
    const cpuLimit = tryParseQuantity(limits.cpu);
    // An unset request defaults to the limit, as in the API server.
    const cpuRequest = tryParseQuantity(requests.cpu) ?? cpuLimit;
    const labels = {
      ...this.labelsFor(key, spec.name, attempt),
      [LABELS.hash]: containerHash(spec),
      [LABELS.image]: spec.image ?? '',
      // Docker rejects ExposedPorts in a shared network namespace; ports are recorded for later use.
      ...(spec.ports?.length ? { [LABELS.ports]: JSON.stringify(spec.ports) } : {}),
      ...(lifecycleOf(spec).preStop ? { [LABELS.preStop]: JSON.stringify(lifecycleOf(spec).preStop) } : {}),
    };
    const options: Docker.ContainerCreateOptions = {
      name: dockerContainerName(this.opts.tenant, key, spec.name, attempt),
      Image: spec.image,
      // Kubernetes' command replaces the entrypoint, args the cmd; command alone drops the image's cmd.
      ...(commandLine.command ? { Entrypoint: commandLine.command } : {}),
      ...(commandLine.args ? { Cmd: commandLine.args } : commandLine.command ? { Cmd: [] } : {}),
      Env: env,
      ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      ...(security.User ? { User: security.User } : {}),
      // stdin/stdinOnce/tty as the kubelet passes them to the runtime: `kubectl run -it` and
      // `kubectl attach -i` reach the container's own stdin (node-agent/exec.ts prepareAttach).
      ...(spec.stdin ? { OpenStdin: true, AttachStdin: true, StdinOnce: spec.stdinOnce === true } : {}),
      ...(spec.tty ? { Tty: true } : {}),
      Labels: labels,
      HostConfig: {
        ...security.HostConfig,
        NetworkMode: `container:${sandboxId}`,
        IpcMode: `container:${sandboxId}`,
        RestartPolicy: { Name: 'no' },
        ...(mounts.length ? { Mounts: mounts } : {}),
        // MemorySwap = Memory: no swap, so going over the limit is an OOM kill, as under the kubelet.
        ...(memory !== undefined ? { Memory: Math.round(memory), MemorySwap: Math.round(memory) } : {}),
        ...(cpuLimit !== undefined ? { NanoCpus: Math.round(cpuLimit * 1e9) } : {}),
        // Docker's minimum is 2 shares; 1 core = 1024 shares, as the kubelet maps it.
        ...(cpuRequest !== undefined ? { CpuShares: Math.max(2, Math.round(cpuRequest * 1024)) } : {}),
      },
    };
    try {
      const c = await this.docker.createContainer(options);
      this.recorder.event(key, 'Normal', 'Created', `Created container ${spec.name}`, fieldPath(pod, spec.name));
      return c.id;
    } catch (e) {
      // 409: the name exists, made by a sync that raced this one or an earlier agent; the next sync adopts it.
      if (dockerStatusCode(e) === 409) return undefined;
      const message = dockerMessage(e);
      this.log.warn('create container failed', { pod: `${key.namespace}/${key.name}`, container: spec.name, error: message });
      this.setWaiting(key.uid, spec.name, { reason: 'CreateContainerError', message });
      this.recorder.event(key, 'Warning', 'Failed', `Error: ${message}`, fieldPath(pod, spec.name));
      return undefined;
    }
  }

  private async startContainer(pod: Pod, spec: Container, id: string): Promise<void> {
    const key = podKeyOf(pod);
    try {
      await this.docker.getContainer(id).start();
      this.clearWaiting(key.uid, spec.name);
      this.recorder.event(key, 'Normal', 'Started', `Started container ${spec.name}`, fieldPath(pod, spec.name));
      this.log.info('started container', { pod: `${key.namespace}/${key.name}`, container: spec.name, id: id.slice(0, 12) });
    } catch (e) {
      // Docker keeps the container "created" with State.Error: status reports it as StartError.
      const message = dockerMessage(e);
      this.clearWaiting(key.uid, spec.name);
      this.log.warn('start container failed', { pod: `${key.namespace}/${key.name}`, container: spec.name, error: message });
      this.recorder.event(key, 'Warning', 'Failed', `Error: ${message}`, fieldPath(pod, spec.name));
      return;
    }
    const postStart = lifecycleOf(spec).postStart;
    if (!postStart) return;
    const outcome = await runHook(
      postStart,
      { containerID: id, container: spec, podDescription: `${key.name}_${key.namespace}(${key.uid})`, ...(await this.podIPOf(id)) },
      this,
      POST_START_TIMEOUT_MS,
    );
    if (outcome.ok) return;
    // The kubelet kills a container whose postStart failed; restartPolicy decides what follows.
    this.log.warn('postStart hook failed', { pod: `${key.namespace}/${key.name}`, container: spec.name, error: outcome.message });
    this.recorder.event(key, 'Warning', 'FailedPostStartHook', outcome.message, fieldPath(pod, spec.name));
    await this.stopContainer(id, gracePeriodOf(pod));
  }

  /**
   * The container's preStop hook (from its label) when it runs and has one, then SIGTERM (the
   * image's StopSignal), then SIGKILL after what is left of the grace period; a stopped or gone
   * container is fine.
   */
  async stopContainer(id: string, gracePeriodSeconds: number): Promise<void> {
    let grace = Math.max(0, Math.floor(gracePeriodSeconds));
    try {
      const info = await this.docker.getContainer(id).inspect();
      const raw = info.Config.Labels?.[LABELS.preStop];
      if (raw && info.State.Running && grace > 0) grace = await this.runPreStop(info, raw, grace);
    } catch (e) {
      if (dockerStatusCode(e) === 404) return;
      throw e;
    }
    try {
      await this.docker.getContainer(id).stop({ t: grace });
    } catch (e) {
      const code = dockerStatusCode(e);
      if (code !== 304 && code !== 404) throw e;
    }
  }

  /** Runs the labelled preStop hook within the grace period; returns the seconds left for SIGTERM. */
  private async runPreStop(info: Docker.ContainerInspectInfo, raw: string, graceSeconds: number): Promise<number> {
    const labels = info.Config.Labels ?? {};
    let handler: LifecycleHandler;
    try {
      handler = LifecycleHandlerSchema.parse(JSON.parse(raw));
    } catch {
      return graceSeconds; // a label we cannot read: stop as if there were no hook
    }
    const key: PodKey = { uid: labels[LABELS.podUid] ?? '', namespace: labels[LABELS.podNamespace] ?? 'default', name: labels[LABELS.podName] ?? '' };
    const name = labels[LABELS.containerName] ?? '';
    const ports = z.array(z.looseObject({ name: z.string().optional(), containerPort: z.number().int() })).safeParse(JSON.parse(labels[LABELS.ports] ?? '[]'));
    const started = Date.now();
    const outcome = await runHook(
      handler,
      {
        containerID: info.Id,
        container: { name, ...(ports.success ? { ports: ports.data } : {}) },
        podDescription: `${key.name}_${key.namespace}(${key.uid})`,
        ...(await this.podIPOf(info.Id, info)),
      },
      this,
      graceSeconds * 1000,
    );
    if (!outcome.ok) {
      this.log.warn('preStop hook failed', { pod: `${key.namespace}/${key.name}`, container: name, error: outcome.message });
      this.recorder.event(key, 'Warning', 'FailedPreStopHook', outcome.message, `spec.containers{${name}}`);
    }
    return graceAfterHook(graceSeconds, Date.now() - started);
  }

  /** The pod IP of an app container: its sandbox's, whose network namespace it joined. */
  private async podIPOf(id: string, known?: Docker.ContainerInspectInfo): Promise<{ podIP?: string }> {
    try {
      const info = known ?? (await this.docker.getContainer(id).inspect());
      const m = /^container:(.+)$/.exec(info.HostConfig?.NetworkMode ?? '');
      if (!m) return {};
      const sandbox = await this.docker.getContainer(m[1]!).inspect();
      const ip = this.podIPs(sandbox)[0];
      return ip ? { podIP: ip } : {};
    } catch {
      return {};
    }
  }

  private async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const code = dockerStatusCode(e);
      // 404: already gone; 409: removal already in progress.
      if (code !== 404 && code !== 409) throw e;
    }
  }

  // ---- observation ----

  private scopeLabels(): string[] {
    return [`${LABELS.node}=${this.opts.nodeName}`, `${LABELS.tenant}=${this.opts.tenant}`];
  }

  private labelsFor(pod: PodKey, container: string, attempt: number): Record<string, string> {
    return {
      [LABELS.podUid]: pod.uid,
      [LABELS.podName]: pod.name,
      [LABELS.podNamespace]: pod.namespace,
      [LABELS.tenant]: this.opts.tenant,
      [LABELS.node]: this.opts.nodeName,
      [LABELS.containerName]: container,
      [LABELS.attempt]: String(attempt),
      [LABELS.k8sPodUid]: pod.uid,
      [LABELS.k8sPodName]: pod.name,
      [LABELS.k8sPodNamespace]: pod.namespace,
      [LABELS.k8sContainerName]: container,
    };
  }

  /**
   * docker inspect, once more after a moment for a container that just died by SIGKILL under a
   * memory limit without OOMKilled set: Docker handles the exit and the OOM event separately and
   * may report the exit first, so a status read at once would say Error for an OOMKilled container.
   * Read again every OOM_SETTLE_DELAY_MS until OOMKilled shows or OOM_SETTLE_TRIES reads were made
   * (a loaded host once took longer than one 300 ms pause to record the OOM, and a full CI-like run
   * once longer than 6 reads of 250 ms: up to 3 s now).
   */
  private async inspectSettled(id: string): Promise<Docker.ContainerInspectInfo> {
    let info = await this.docker.getContainer(id).inspect();
    const s = info.State;
    const justDied = !s.Running && s.ExitCode === 137 && !s.OOMKilled && (info.HostConfig.Memory ?? 0) > 0 && this.now().getTime() - Date.parse(s.FinishedAt) < OOM_SETTLE_WINDOW_MS;
    if (!justDied) return info;
    for (let i = 0; i < OOM_SETTLE_TRIES && !info.State.OOMKilled; i++) {
      await sleep(OOM_SETTLE_DELAY_MS);
      info = await this.docker.getContainer(id).inspect();
    }
    return info;
  }

  private async inspectPod(uid: string): Promise<{ sandbox?: PodContainer; apps: PodContainer[] }> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [...this.scopeLabels(), `${LABELS.podUid}=${uid}`] },
    });
    const inspected = await Promise.all(
      list.map(async (c): Promise<PodContainer | undefined> => {
        try {
          const info = await this.inspectSettled(c.Id);
          const labels = info.Config.Labels ?? {};
          return {
            id: info.Id,
            name: labels[LABELS.containerName] ?? '',
            attempt: Number(labels[LABELS.attempt] ?? 0) || 0,
            labels,
            info,
          };
        } catch (e) {
          if (dockerStatusCode(e) === 404) return undefined; // removed between list and inspect
          throw e;
        }
      }),
    );
    // A container Docker is removing (`docker rm -f`: "removing", then "dead") is already gone
    // for us: its run vanished (status.ts runVanished), and it must not be started or restarted.
    const all = inspected.filter((c): c is PodContainer => c !== undefined && !(c.name !== SANDBOX_CONTAINER_NAME && isBeingRemoved(c.info)));
    // Two sandboxes can only exist after a crash mid-recreate; the running (or newest) one wins.
    const sandboxes = all
      .filter((c) => c.name === SANDBOX_CONTAINER_NAME)
      .sort((a, b) => Number(b.info.State.Running) - Number(a.info.State.Running) || b.info.Created.localeCompare(a.info.Created));
    for (const extra of sandboxes.slice(1)) await this.removeContainer(extra.id);
    return { sandbox: sandboxes[0], apps: all.filter((c) => c.name !== SANDBOX_CONTAINER_NAME) };
  }

  private async observePod(pod: Pod): Promise<ObservedPod | undefined> {
    const { sandbox, apps } = await this.inspectPod(pod.metadata.uid);
    const waiting = this.waiting.get(pod.metadata.uid) ?? new Map<string, ContainerWaiting>();
    if (!sandbox && apps.length === 0 && waiting.size === 0) return undefined;
    let observedSandbox: ObservedSandbox | undefined;
    if (sandbox) {
      const ips = this.podIPs(sandbox.info);
      observedSandbox = { id: sandbox.id, running: sandbox.info.State.Running, ...(ips.length ? { ips } : {}) };
    }
    const blocked = this.blocked.get(pod.metadata.uid);
    return { sandbox: observedSandbox, containers: apps.map(toObserved), waiting, ...(blocked ? { blocked: { reason: 'Forbidden', message: blocked } } : {}) };
  }

  /** Returns true when the reason is new (so events are posted once per change, not per sync). */
  private setWaiting(uid: string, container: string, w: ContainerWaiting): boolean {
    let m = this.waiting.get(uid);
    if (!m) this.waiting.set(uid, (m = new Map<string, ContainerWaiting>()));
    const old = m.get(container);
    m.set(container, w);
    return !old || old.reason !== w.reason;
  }

  /** The pod's IPs from its sandbox: the node's for hostNetwork, else what the pod network says. */
  private podIPs(sandbox: Docker.ContainerInspectInfo): string[] {
    if (sandbox.HostConfig?.NetworkMode === 'host') return [this.opts.hostIP];
    return this.network.podIPs(sandbox);
  }

  private clearWaiting(uid: string, container: string): void {
    this.waiting.get(uid)?.delete(container);
  }
}

/** Whether Docker is removing the container (or left it dead after a failed removal). */
function isBeingRemoved(info: Docker.ContainerInspectInfo): boolean {
  return info.State.Status === 'removing' || info.State.Status === 'dead' || info.State.Dead;
}


function toObserved(c: PodContainer): ObservedContainer {
  const s = c.info.State;
  return {
    name: c.name,
    attempt: c.attempt,
    id: c.id,
    image: c.labels[LABELS.image] ?? c.info.Config.Image,
    imageID: c.info.Image,
    state: {
      status: s.Status,
      running: s.Running,
      exitCode: s.ExitCode,
      startedAt: s.StartedAt,
      finishedAt: s.FinishedAt,
      oomKilled: s.OOMKilled,
      error: s.Error,
    },
  };
}

function fieldPath(_pod: Pod, container: string): string {
  return `spec.containers{${container}}`;
}

function gracePeriodOf(pod: Pod): number {
  return pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
}

const DockerEventSchema = z.object({
  Actor: z.object({ Attributes: z.record(z.string(), z.string()) }),
});

/** The pod of a Docker event line (`{"Actor":{"Attributes":{labels...}}}`), if it is one of ours. */
function podKeyOfEvent(line: string): PodKey | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const evt = DockerEventSchema.safeParse(json);
  if (!evt.success) return undefined;
  const a = evt.data.Actor.Attributes;
  const uid = a[LABELS.podUid];
  const name = a[LABELS.podName];
  const namespace = a[LABELS.podNamespace];
  if (!uid || !name || !namespace) return undefined;
  return { uid, name, namespace };
}
