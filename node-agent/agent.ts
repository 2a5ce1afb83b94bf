/**
 * The node agent (the kubelet's role): registers the Node, renews its Lease, and keeps the
 * containers of the pods bound to this node in line with the API, level-triggered:
 *
 *   SQS message "sync ns/name uid" ─┐
 *   Docker event (container died) ──┼─▶ per-pod serializer ─▶ GET pod ─▶ runtime.syncPod / killPod
 *   resync every N s (list by       ─┘                                  ─▶ PATCH status if changed
 *   spec.nodeName; orphans killed)
 *
 * Any trigger may be lost or duplicated; each only says "look at this pod again". On start the
 * first resync adopts what the runtime already runs, so restarting the agent restarts no pod.
 */
import { z } from 'zod';
import { isAlreadyExists, isConflict, isNotFound, KubeApiError, type KubeApiClient } from './api-client';
import { KeyedSerializer } from './keyed-serializer';
import { errorMessage, type Logger } from './log';
import { buildNodeStatus, nodeLabels, type HostFacts, type NodeObservation } from './node-status';
import type { PlacementMessage, PlacementQueue } from './placement-queue';
import { ProbeManager } from './prober';
import { noopRecorder, type ContainerCommander, type EventRecorder, type PodChangeNotifier, type PodRuntime } from './runtime';
import { applyProbeResults, statusChanged } from './status';
import { keyString, LeaseSchema, NodeSchema, PodListSchema, PodSchema, podKeyOf, type Lease, type Pod, type PodKey } from './types';
import { sleep } from './sleep';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeAgentOptions {
  readonly api: KubeApiClient;
  readonly runtime: PodRuntime & Partial<PodChangeNotifier> & Partial<ContainerCommander>;
  /** Where probe events (Unhealthy, Killing) go. @default noopRecorder */
  readonly recorder?: EventRecorder;
  readonly nodeName: string;
  readonly tenant: string;
  readonly host: HostFacts;
  /** Placement queue; without one the agent relies on the periodic resync alone. */
  readonly queue?: PlacementQueue;
  readonly log: Logger;
  /** @default 10 */
  readonly resyncSeconds?: number;
  /** @default 110 */
  readonly maxPods?: number;
  /** Lease renewal period. @default 10 */
  readonly leaseRenewSeconds?: number;
  /** @default 40 */
  readonly leaseDurationSeconds?: number;
  /** Node status refresh (lastHeartbeatTime). @default 30 */
  readonly nodeStatusSeconds?: number;
  /** Pods synced at once during a resync. @default 4 */
  readonly resyncConcurrency?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Reads what changes on the host (kubelet port, memory/disk/PID readings, images) before each
   * node status update; a failure is logged and the update goes on without it. @default nothing
   */
  readonly observeNode?: () => Promise<NodeObservation>;
  /** Taints the node registers with (the kubelet's --register-with-taints). @default none */
  readonly registerWithTaints?: readonly { key: string; value?: string; effect: string }[];
}

/** Grace period for containers of a pod whose API object is already gone (force-deleted). */
const ORPHAN_GRACE_SECONDS = 2;
const DEFAULT_GRACE_SECONDS = 30;

const podPath = (k: { namespace: string; name: string }): string =>
  `/api/v1/namespaces/${encodeURIComponent(k.namespace)}/pods/${encodeURIComponent(k.name)}`;

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class NodeAgent {
  private readonly serializer = new KeyedSerializer();
  private readonly stopController = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private stopWatching?: () => void;
  private nodeUid?: string;
  private lease?: Lease;
  private started = false;
  /** Probes need exec and single-container kills; a runtime without them runs pods unprobed. */
  private readonly prober?: ProbeManager;

  constructor(private readonly opts: NodeAgentOptions) {
    const { runtime } = opts;
    if (runtime.execInContainer && runtime.stopContainer) {
      const commander: ContainerCommander = {
        execInContainer: runtime.execInContainer.bind(runtime),
        stopContainer: runtime.stopContainer.bind(runtime),
      };
      this.prober = new ProbeManager({
        commander,
        recorder: opts.recorder ?? noopRecorder,
        log: opts.log,
        onChange: (pod) => {
          if (this.stopController.signal.aborted) return;
          void this.syncByKey(pod).catch((e: unknown) => opts.log.warn('sync after probe change failed', { pod: keyString(pod), error: errorMessage(e) }));
        },
      });
    }
  }

  private get now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }

  /**
   * Registers the node (retrying while the API is unreachable), then starts the heartbeat, resync
   * and queue loops. Resolves once registered, or when stop() is called first.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { log, nodeName, tenant } = this.opts;
    const signal = this.stopController.signal;
    // Like the kubelet, keep trying while the API is unreachable; wrong credentials are fatal.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.registerNode();
        break;
      } catch (e) {
        if (e instanceof KubeApiError && [400, 401, 403, 422].includes(e.code)) throw e;
        if (signal.aborted) return;
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
        log.warn('node registration failed, retrying', { attempt, error: errorMessage(e), retryInMs: delayMs });
        await sleep(delayMs, signal);
        if (signal.aborted) return;
      }
    }
    log.info('node registered', { node: nodeName, tenant, internalIP: this.opts.host.internalIP });
    await this.renewLease().catch((e: unknown) => log.warn('lease renewal failed', { error: errorMessage(e) }));

    this.loops.push(
      this.every('lease', (this.opts.leaseRenewSeconds ?? 10) * 1000, () => this.renewLease()),
      this.every('node status', (this.opts.nodeStatusSeconds ?? 30) * 1000, () => this.patchNodeStatus()),
      this.every('resync', (this.opts.resyncSeconds ?? 10) * 1000, () => this.resync(), true),
    );
    if (this.opts.runtime.watchPodChanges) {
      this.stopWatching = this.opts.runtime.watchPodChanges((pod) => {
        void this.syncByKey(pod).catch((e: unknown) => log.warn('sync after container change failed', { pod: keyString(pod), error: errorMessage(e) }));
      });
    }
    if (this.opts.queue) {
      this.loops.push(this.opts.queue.poll(signal, (msg) => this.onPlacement(msg)));
    } else {
      log.warn('no placement queue: relying on the periodic resync alone');
    }
  }

  /** Stops polling and loops, waits for syncs in progress; containers keep running (a new agent adopts them). */
  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    this.stopController.abort();
    this.stopWatching?.();
    this.prober?.stopAll();
    await Promise.allSettled(this.loops);
    await this.serializer.idle();
    this.opts.log.info('node agent stopped', { node: this.opts.nodeName });
  }

  // ---- pods ----

  /** One SQS message: re-read the pod it names and sync it. Rejects to leave the message for a retry. */
  private async onPlacement(msg: PlacementMessage): Promise<void> {
    if (msg.tenant !== this.opts.tenant) {
      // Retrying cannot make it ours; resolving deletes it.
      this.opts.log.warn('placement message for another tenant dropped', { tenant: msg.tenant, pod: `${msg.namespace}/${msg.name}` });
      return;
    }
    await this.syncByKey({ uid: msg.uid, namespace: msg.namespace, name: msg.name });
  }

  /** Syncs the pod the key names, as it is now in the API; containers of a uid that is gone are killed. */
  async syncByKey(key: PodKey): Promise<void> {
    await this.serializer.run(key.uid, async () => {
      let pod: Pod | undefined;
      try {
        pod = await this.opts.api.get(podPath(key), PodSchema);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      if (!pod || pod.metadata.uid !== key.uid || pod.spec.nodeName !== this.opts.nodeName) {
        this.prober?.removePod(key.uid);
        await this.opts.runtime.killPod(key, ORPHAN_GRACE_SECONDS);
      }
      if (pod && pod.spec.nodeName === this.opts.nodeName && pod.metadata.uid === key.uid) await this.syncPodLocked(pod);
    });
    // Same name, new uid (deleted and recreated): the new pod is its own key.
  }

  /** Syncs a pod object already read (from the resync list). */
  private syncPod(pod: Pod): Promise<void> {
    return this.serializer.run(pod.metadata.uid, () => this.syncPodLocked(pod));
  }

  private async syncPodLocked(pod: Pod): Promise<void> {
    const { api, runtime, log } = this.opts;
    const key = podKeyOf(pod);
    if (pod.metadata.deletionTimestamp) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
      this.prober?.removePod(key.uid);
      await runtime.killPod(key, grace);
      try {
        // As the kubelet: grace 0 (the containers are stopped; the api removes the pod in one
        // write) with a uid precondition, so a pod recreated under the same name is never hit.
        await api.delete(podPath(key), { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: key.uid } });
        log.info('pod deleted', { pod: keyString(key), uid: key.uid });
      } catch (e) {
        if (!isNotFound(e)) throw e; // 404: already done
      }
      return;
    }
    await runtime.syncPod(pod);
    let status = await runtime.getPodStatus(pod);
    if (status && this.prober) {
      const prober = this.prober;
      prober.sync(pod, status);
      status = applyProbeResults(pod, status, (name, id) => prober.stateOf(pod, name, id), this.now);
    }
    if (!status || !statusChanged(pod.status, status)) return;
    try {
      await api.mergePatch(`${podPath(key)}/status`, { status }, z.unknown());
      log.info('pod status updated', {
        pod: keyString(key),
        phase: status.phase,
        containers: (status.containerStatuses ?? []).map((c) => `${c.name}:${Object.keys(c.state ?? {})[0] ?? '?'}${c.state?.waiting?.reason ? `(${c.state.waiting.reason})` : ''}`),
      });
    } catch (e) {
      if (!isNotFound(e)) throw e; // deleted meanwhile: the next trigger kills its containers
    }
  }

  /** Lists this node's pods and syncs each; kills containers of pods no longer bound here. */
  async resync(): Promise<void> {
    const { api, runtime, nodeName, log } = this.opts;
    // Snapshot the runtime BEFORE listing the API: a pod created between the two is in neither
    // "orphan" set, so a pod just started from a message is never mistaken for an orphan.
    const known = await runtime.listPods();
    const list = await api.get('/api/v1/pods', PodListSchema, { fieldSelector: `spec.nodeName=${nodeName}` });
    // Filtered again here: a server that ignored the field selector must not make us run every pod.
    const mine = list.items.filter((p) => p.spec.nodeName === nodeName);
    const bound = new Set(mine.map((p) => p.metadata.uid));

    const jobs: (() => Promise<void>)[] = mine.map((p) => () => this.syncPod(p));
    for (const k of known) {
      if (!bound.has(k.uid)) {
        jobs.push(async () => {
          log.info('killing orphaned pod containers', { pod: keyString(k), uid: k.uid });
          this.prober?.removePod(k.uid);
          await this.serializer.run(k.uid, () => runtime.killPod(k, ORPHAN_GRACE_SECONDS));
        });
      }
    }
    await runLimited(jobs, this.opts.resyncConcurrency ?? 4, (e) => log.warn('resync of a pod failed', { error: errorMessage(e) }));
  }

  // ---- node and lease ----

  private async registerNode(): Promise<void> {
    const { api, nodeName, host } = this.opts;
    const labels = nodeLabels(nodeName, host);
    try {
      const node = await api.get(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, NodeSchema);
      this.nodeUid = node.metadata.uid;
      const have = node.metadata.labels ?? {};
      if (Object.entries(labels).some(([k, v]) => have[k] !== v)) {
        await api.mergePatch(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, { metadata: { labels } }, z.unknown());
      }
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const taints = this.opts.registerWithTaints ?? [];
      const body = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: nodeName, labels },
        spec: taints.length ? { taints } : {},
        status: buildNodeStatus(host, this.opts.maxPods ?? 110, this.now, [], await this.observeNode()),
      };
      try {
        const created = await api.post('/api/v1/nodes', body, NodeSchema);
        this.nodeUid = created.metadata.uid;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err; // another start of this agent won the race: fine
      }
    }
    // The API server may drop status on create (it does for most kinds), so always patch it.
    await this.patchNodeStatus();
  }

  private async patchNodeStatus(): Promise<void> {
    const { api, nodeName, host } = this.opts;
    const path = `/api/v1/nodes/${encodeURIComponent(nodeName)}`;
    let previous: { type: string; status: string; lastTransitionTime?: string }[] = [];
    try {
      const node = await api.get(path, NodeSchema);
      this.nodeUid = node.metadata.uid;
      previous = node.status?.conditions ?? [];
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // Deleted while we run (e.g. by an admin): register again, as the kubelet does.
      this.opts.log.warn('node object is gone, registering again', { node: nodeName });
      await this.registerNode();
      return;
    }
    const observed = await this.observeNode();
    await api.mergePatch(`${path}/status`, { status: buildNodeStatus(host, this.opts.maxPods ?? 110, this.now, previous, observed) }, z.unknown());
  }

  private async observeNode(): Promise<NodeObservation> {
    if (!this.opts.observeNode) return {};
    try {
      return await this.opts.observeNode();
    } catch (e) {
      this.opts.log.warn('reading host conditions failed', { error: errorMessage(e) });
      return {};
    }
  }

  private async renewLease(): Promise<void> {
    const { api, nodeName } = this.opts;
    const base = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`;
    const spec = {
      holderIdentity: nodeName,
      leaseDurationSeconds: this.opts.leaseDurationSeconds ?? 40,
      renewTime: microTime(this.now),
    };
    try {
      if (!this.lease) {
        try {
          this.lease = await api.get(`${base}/${encodeURIComponent(nodeName)}`, LeaseSchema);
        } catch (e) {
          if (!isNotFound(e)) throw e;
          const ownerReferences = this.nodeUid
            ? [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.nodeUid }]
            : undefined;
          this.lease = await api.post(
            base,
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE, ...(ownerReferences ? { ownerReferences } : {}) },
              spec: { ...spec, acquireTime: spec.renewTime },
            },
            LeaseSchema,
          );
          return;
        }
      }
      // PUT with the resourceVersion we read: optimistic concurrency, never a blind overwrite.
      this.lease = await api.put(`${base}/${encodeURIComponent(nodeName)}`, { ...this.lease, spec: { ...this.lease.spec, ...spec } }, LeaseSchema);
    } catch (e) {
      // Conflict or gone: re-read on the next renewal.
      if (isConflict(e) || isNotFound(e) || isAlreadyExists(e)) this.lease = undefined;
      throw e;
    }
  }

  /** Runs `fn` every `periodMs` until stop; a failure is logged and the loop goes on. */
  private async every(name: string, periodMs: number, fn: () => Promise<void>, runFirst = false): Promise<void> {
    const signal = this.stopController.signal;
    let first = runFirst;
    while (!signal.aborted) {
      if (!first) await sleep(periodMs, signal);
      first = false;
      if (signal.aborted) break;
      try {
        await fn();
      } catch (e) {
        this.opts.log.warn(`${name} failed`, { error: errorMessage(e) });
      }
    }
  }
}

async function runLimited(jobs: readonly (() => Promise<void>)[], limit: number, onError: (e: unknown) => void): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await job();
      } catch (e) {
        onError(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}

