/**
 * The node agent (the kubelet's role): registers the Node, renews its Lease, and keeps the
 * containers of the pods bound to this node in line with the API, level-triggered:
 *
 *   SQS message "sync ns/name uid"  ─┐
 *     (+ the pod as sent)            │                        newest pod known
 *   Docker event (container died)  ──┼─▶ per-pod serializer ─▶ (else GET pod) ─▶ runtime.syncPod / killPod
 *   resync every N s (list by      ──┘                                         ─▶ PATCH status if changed
 *   spec.nodeName; orphans killed)
 *
 * Any trigger may be lost or duplicated; each only says "look at this pod again". On start the
 * first resync adopts what the runtime already runs, so restarting the agent restarts no pod.
 *
 * What the agent knows of a pod: the newest object it has seen of it (from a message, a GET, the
 * resync list or the answer to its own status patch, compared by resourceVersion within the
 * pod's uid), or that its uid is gone. A sync works on that, so a Docker event or a probe change
 * costs no API call, and the pod a message carries saves the GET unless the agent already knows
 * a newer one (SQS reorders and redelivers): then the carried pod is ignored. A message for a
 * uid the agent knows is gone is ignored, and one without a pod (a removal, an older sender, a
 * pod too large to carry) makes the agent read the pod from the API, as every message once did.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { z } from 'zod';
import { isAlreadyExists, isConflict, isNotFound, KubeApiError, type KubeApiClient } from './api-client';
import { KeyedSerializer } from './keyed-serializer';
import { errorMessage, withLogKeys, type Logger } from './log';
import { buildNodeStatus, nodeLabels, nodeStatusChanged, type HostFacts, type NodeObservation } from './node-status';
import type { PlacementMessage, PlacementQueue, PlacementReceipt } from './placement-queue';
import type { AgentMetrics } from './metrics';
import type { ApiClusterView } from './network/api-cluster-view';
import { ProbeManager } from './prober';
import { noopRecorder, type ContainerCommander, type EventRecorder, type PodChangeNotifier, type PodRuntime } from './runtime';
import { applyProbeResults, statusChanged } from './status';
import { keyString, LeaseSchema, NodeSchema, PodListSchema, PodSchema, podKeyOf, type Lease, type Pod, type PodKey } from './types';
import { sleep } from '../shared/sleep';

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
  /** How often the node status is checked against the stored one (the kubelet's nodeStatusUpdateFrequency). @default 30 */
  readonly nodeStatusSeconds?: number;
  /**
   * How often the node status is posted when nothing but heartbeat times changed (the kubelet's
   * nodeStatusReportFrequency, 5 minutes): the Lease renewal is the heartbeat. @default 300
   */
  readonly nodeStatusReportSeconds?: number;
  /** Pods synced at once during a resync. @default 4 */
  readonly resyncConcurrency?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Reads what changes on the host (kubelet port, memory/disk/PID readings, images) before each
   * node status update; a failure is logged and the update goes on without it. @default nothing
   */
  readonly observeNode?: () => Promise<NodeObservation>;
  /** Annotations the Node carries (e.g. the Ingress proxy's port), set at registration and kept. @default none */
  readonly nodeAnnotations?: Readonly<Record<string, string>>;
  /** Taints the node registers with (the kubelet's --register-with-taints). @default none */
  readonly registerWithTaints?: readonly { key: string; value?: string; effect: string }[];
  /** The pod CIDRs the pod network allocates from, registered as spec.podCIDR(s). @default none */
  readonly podCIDRs?: readonly string[];
  /**
   * Called after registration with the Node's spec.podCIDRs (node IPAM gives every Node one), before
   * any pod runs: the pod network makes its bridge and rules (network/pod-network.ts configure).
   */
  readonly configureNetwork?: (podCIDRs: readonly string[]) => Promise<void>;
  /** Counts probes, placements and syncs for the agent's /metrics (metrics.ts). Optional. */
  readonly metrics?: AgentMetrics;
  /**
   * The cluster's Services, EndpointSlices and pod addresses (network/api-cluster-view.ts), for the
   * service proxy and DNS: listed after registration, again on each services signal from the
   * queue, and every resyncSeconds of its own. @default none (no service proxy)
   */
  readonly clusterView?: ApiClusterView;
}

/** Grace period for containers of a pod whose API object is already gone (force-deleted). */
const ORPHAN_GRACE_SECONDS = 2;
const DEFAULT_GRACE_SECONDS = 30;

/**
 * A pod carried in a message sent longer ago than this is not used (the agent GETs instead):
 * messages that waited in the queue while the agent was down may carry pods deleted since, which
 * a restarted agent, knowing nothing yet, must not start. Within it, a carried pod is as fresh as
 * a GET answered just before the pod was deleted, a race the kubelet has too.
 */
export const CARRIED_POD_MAX_AGE_MS = 60_000;
/** How long a gone uid is remembered (messages for it ignored): longer than a stream record's retries. */
const GONE_MEMORY_MS = 30 * 60_000;
const GONE_MEMORY_MAX = 50_000;
/** A pod neither listed by the resync nor held by the runtime is forgotten after this. */
const FORGET_AFTER_MS = 60_000;
/**
 * A Pending status (an init container running, containers being created) is reported this long
 * after it is first seen, unless the pod has moved on by then (e.g. a short init container
 * finished and the app container runs): then only the later status is sent, one patch instead of
 * two. The status a pod settles in is always reported, at most this much later.
 */
export const PENDING_REPORT_DELAY_MS = 300;

/**
 * A Stratus resourceVersion is the per-(tenant, resource type) sequence: an integer, so two
 * versions of one pod compare as numbers. Undefined for anything else (an opaque version).
 */
function versionOf(pod: Pod): number | undefined {
  const rv = pod.metadata.resourceVersion;
  if (rv === undefined || !/^\d{1,15}$/.test(rv)) return undefined;
  return Number(rv);
}

/** Whether `a` is known to be an older version of the same pod than `b`. */
function isOlder(a: Pod, b: Pod): boolean {
  const va = versionOf(a);
  const vb = versionOf(b);
  return a.metadata.uid === b.metadata.uid && va !== undefined && vb !== undefined && va < vb;
}

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
  /** The newest object seen of each pod (by uid), and when it was last seen anywhere. */
  private readonly pods = new Map<string, { pod: Pod; seenAt: number }>();
  /** Pod uids known to be gone (deleted, or the name now holds another uid): when that was learnt. */
  private readonly gone = new Map<string, number>();
  /** Pod uids whose next sync must read the pod from the API (a message that carried none). */
  private readonly readRequested = new Set<string>();
  /** Pods whose Pending status waits to be reported (PENDING_REPORT_DELAY_MS): since when, and the re-sync. */
  private readonly pendingReports = new Map<string, { since: number; timer: NodeJS.Timeout; due: boolean }>();

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
        ...(opts.metrics ? { onResult: opts.metrics.probeResult.bind(opts.metrics) } : {}),
        onChange: (pod) => {
          if (this.stopController.signal.aborted) return;
          void this.syncByKey(pod).catch((e: unknown) => opts.log.warn('sync after probe change failed', { pod: keyString(pod), error: errorMessage(e) }));
        },
      });
    }
  }

  /** The cluster view the agent keeps up to date (undefined when it has none). */
  get clusterView(): ApiClusterView | undefined {
    return this.opts.clusterView;
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
    if (this.opts.configureNetwork) await this.opts.configureNetwork(await this.nodePodCIDRs());
    await this.renewLease().catch((e: unknown) => log.warn('lease renewal failed', { error: errorMessage(e) }));

    this.loops.push(
      this.every('lease', (this.opts.leaseRenewSeconds ?? 10) * 1000, () => this.renewLease()),
      this.every('node status', (this.opts.nodeStatusSeconds ?? 30) * 1000, () => this.patchNodeStatus()),
      this.every('resync', (this.opts.resyncSeconds ?? 10) * 1000, () => this.resync(), true),
    );
    if (this.opts.clusterView) this.loops.push(this.opts.clusterView.run(signal));
    if (this.opts.runtime.watchPodChanges) {
      this.stopWatching = this.opts.runtime.watchPodChanges((pod) => {
        void this.syncByKey(pod).catch((e: unknown) => log.warn('sync after container change failed', { pod: keyString(pod), error: errorMessage(e) }));
      });
    }
    if (this.opts.queue) {
      const view = this.opts.clusterView;
      this.loops.push(
        this.opts.queue.poll(
          signal,
          (msg, receipt) => this.onPlacement(msg, receipt),
          async (msg) => {
            if (msg.tenant === tenant) await view?.signal(msg.changes);
          },
        ),
      );
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
    for (const uid of [...this.pendingReports.keys()]) this.forgetPendingReport(uid);
    await Promise.allSettled(this.loops);
    await this.serializer.idle();
    this.opts.log.info('node agent stopped', { node: this.opts.nodeName });
  }

  // ---- pods ----

  /**
   * One SQS message: sync the pod it names, from the pod it carries when that is usable (see the
   * file's header), else as read from the API. Rejects to leave the message for a retry.
   */
  private async onPlacement(msg: PlacementMessage, receipt: PlacementReceipt = {}): Promise<void> {
    try {
      await this.handlePlacement(msg, receipt);
      this.opts.metrics?.placementHandled('ok', receipt.sentAt);
    } catch (e) {
      this.opts.metrics?.placementHandled('error', receipt.sentAt);
      throw e;
    }
  }

  /** The pods bound here as last seen (for /metrics): spec and the status last reported. */
  knownPods(): Pod[] {
    return [...this.pods.values()].filter((e) => !this.gone.has(e.pod.metadata.uid)).map((e) => e.pod);
  }

  private async handlePlacement(msg: PlacementMessage, receipt: PlacementReceipt): Promise<void> {
    if (msg.tenant !== this.opts.tenant) {
      // Retrying cannot make it ours; resolving deletes it.
      this.opts.log.warn('placement message for another tenant dropped', { tenant: msg.tenant, pod: `${msg.namespace}/${msg.name}` });
      return;
    }
    // Gone for good (uids are never reused): a late or redelivered message changes nothing.
    if (this.gone.has(msg.uid)) return;
    const carried = this.usableCarriedPod(msg, receipt);
    if (carried) this.learn(carried);
    else this.readRequested.add(msg.uid);
    await this.syncByKey({ uid: msg.uid, namespace: msg.namespace, name: msg.name });
  }

  /** The pod a message carries, when it is that pod, fresh enough, and has a comparable version. */
  private usableCarriedPod(msg: PlacementMessage, receipt: PlacementReceipt): Pod | undefined {
    const pod = msg.pod;
    if (!pod || pod.metadata.uid !== msg.uid || pod.metadata.name !== msg.name || (pod.metadata.namespace ?? 'default') !== msg.namespace) return undefined;
    if (pod.spec.nodeName !== this.opts.nodeName) return undefined; // never expected: let the API say
    if (versionOf(pod) === undefined) return undefined;
    if (!receipt.sentAt || Date.now() - receipt.sentAt.getTime() > CARRIED_POD_MAX_AGE_MS) return undefined;
    return pod;
  }

  /** Records a pod object seen; returns the newest known of that uid (this one unless it is older). */
  private learn(pod: Pod): Pod {
    const uid = pod.metadata.uid;
    const have = this.pods.get(uid);
    if (have && isOlder(pod, have.pod)) {
      have.seenAt = Date.now();
      return have.pod;
    }
    this.pods.set(uid, { pod, seenAt: Date.now() });
    return pod;
  }

  /** Remembers that a uid is gone for good; its messages are ignored from now on. */
  private markGone(uid: string): void {
    this.forgetPendingReport(uid);
    this.pods.delete(uid);
    this.readRequested.delete(uid);
    this.gone.delete(uid);
    this.gone.set(uid, Date.now());
    if (this.gone.size > GONE_MEMORY_MAX) this.gone.delete(this.gone.keys().next().value!);
  }

  /**
   * Syncs the pod the key names: the newest object known of it, or as read from the API when none
   * is known or a message asked for a read; containers of a uid that is gone are killed.
   */
  async syncByKey(key: PodKey): Promise<void> {
    // What to sync is decided when the job starts, not now: a job coalesced with one already
    // waiting (KeyedSerializer) still sees everything learnt before it runs. Its log lines carry
    // a syncId (and the keys of the trigger that queued the run: a coalesced one shares them).
    try {
      await this.serializer.run(key.uid, () => withLogKeys({ syncId: randomUUID(), pod: keyString(key), podUID: key.uid }, () => this.syncKeyLocked(key)));
      this.opts.metrics?.podSynced('ok');
    } catch (e) {
      this.opts.metrics?.podSynced('error');
      throw e;
    }
    // Same name, new uid (deleted and recreated): the new pod is its own key.
  }

  private async syncKeyLocked(key: PodKey): Promise<void> {
    const { api, runtime, nodeName } = this.opts;
    if (!this.gone.has(key.uid)) {
      const read = this.readRequested.delete(key.uid);
      let pod = read ? undefined : this.pods.get(key.uid)?.pod;
      if (!pod) {
        let got: Pod | undefined;
        try {
          got = await api.get(podPath(key), PodSchema);
        } catch (e) {
          if (read) this.readRequested.add(key.uid); // still owed, by the retry of the message
          // 403: the node authorizer lets a node read only pods bound to it, so the name holds a
          // pod bound elsewhere now (deleted and recreated): ours is gone, as for 404.
          if (!isNotFound(e) && !(e instanceof KubeApiError && e.code === 403)) throw e;
        }
        // Not found, or the name holds another uid now, or (never expected) bound elsewhere.
        if (got && got.metadata.uid === key.uid && got.spec.nodeName === nodeName) pod = this.learn(got);
        else this.markGone(key.uid);
      }
      if (pod) {
        await this.syncPodLocked(pod);
        return;
      }
    }
    this.prober?.removePod(key.uid);
    await runtime.killPod(key, ORPHAN_GRACE_SECONDS);
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
      this.markGone(key.uid);
      return;
    }
    await runtime.syncPod(pod);
    let status = await runtime.getPodStatus(pod);
    if (status && this.prober) {
      const prober = this.prober;
      prober.sync(pod, status);
      status = applyProbeResults(pod, status, (name, id) => prober.stateOf(pod, name, id), this.now);
    }
    if (!status || !statusChanged(pod.status, status)) {
      this.forgetPendingReport(key.uid); // what waited to be reported is no longer the status
      return;
    }
    if (status.phase === 'Pending' && this.deferPendingReport(key)) return;
    this.forgetPendingReport(key.uid);
    try {
      const updated = PodSchema.safeParse(await api.mergePatch(`${podPath(key)}/status`, { status }, z.unknown()));
      // The pod as it is now (this status, and any change of others since the version synced):
      // the next sync compares with it. An answer that is not this pod: read it next time.
      if (updated.success && updated.data.metadata.uid === key.uid) this.learn(updated.data);
      else this.pods.delete(key.uid);
      log.info('pod status updated', {
        pod: keyString(key),
        phase: status.phase,
        containers: (status.containerStatuses ?? []).map((c) => `${c.name}:${Object.keys(c.state ?? {})[0] ?? '?'}${c.state?.waiting?.reason ? `(${c.state.waiting.reason})` : ''}`),
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // Deleted meanwhile: the next trigger reads it (and so finds it gone) and kills its containers.
      this.pods.delete(key.uid);
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

    // Each listed pod is synced as the newest version known (the list may be older than a
    // message's pod); a gone uid the list still shows (the index lags) is only killed.
    for (const p of mine) if (!this.gone.has(p.metadata.uid)) this.learn(p);
    const jobs: (() => Promise<void>)[] = mine.map((p) => () => this.syncByKey(podKeyOf(p)));
    this.forgetUnseen(bound, known);
    for (const k of known) {
      if (!bound.has(k.uid)) {
        jobs.push(async () => {
          log.info('killing orphaned pod containers', { pod: keyString(k), uid: k.uid });
          this.prober?.removePod(k.uid);
          await this.serializer.run(k.uid, () => {
            // Not known any more: the Docker events of this kill (or a message without a pod)
            // make the agent read it from the API rather than start it again from memory.
            this.pods.delete(k.uid);
            this.forgetPendingReport(k.uid);
            return runtime.killPod(k, ORPHAN_GRACE_SECONDS);
          });
        });
      }
    }
    await runLimited(jobs, this.opts.resyncConcurrency ?? 4, (e) => log.warn('resync of a pod failed', { error: errorMessage(e) }));
  }

  /**
   * Whether a Pending status should wait (see PENDING_REPORT_DELAY_MS): the first time, a sync of
   * the pod is set for when the delay is over, which reports whatever the pod's status is then.
   */
  private deferPendingReport(key: PodKey): boolean {
    const waiting = this.pendingReports.get(key.uid);
    if (waiting) return !waiting.due && Date.now() - waiting.since < PENDING_REPORT_DELAY_MS;
    const timer = setTimeout(() => {
      const entry = this.pendingReports.get(key.uid);
      if (entry) entry.due = true; // whatever the clock says: this sync reports
      if (this.stopController.signal.aborted) return;
      void this.syncByKey(key).catch((e: unknown) => this.opts.log.warn('sync to report a pending status failed', { pod: keyString(key), error: errorMessage(e) }));
    }, PENDING_REPORT_DELAY_MS);
    timer.unref();
    this.pendingReports.set(key.uid, { since: Date.now(), timer, due: false });
    return true;
  }

  private forgetPendingReport(uid: string): void {
    const waiting = this.pendingReports.get(uid);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.pendingReports.delete(uid);
  }

  /** Drops what is known of pods neither listed nor held by the runtime for a while, and old gone uids. */
  private forgetUnseen(listed: ReadonlySet<string>, held: readonly PodKey[]): void {
    const now = Date.now();
    const inRuntime = new Set(held.map((k) => k.uid));
    for (const [uid, entry] of this.pods) {
      if (listed.has(uid) || inRuntime.has(uid)) entry.seenAt = now;
      else if (now - entry.seenAt > FORGET_AFTER_MS) this.pods.delete(uid);
    }
    for (const [uid, at] of this.gone) {
      if (now - at <= GONE_MEMORY_MS) break; // oldest first (insertion order)
      this.gone.delete(uid);
    }
  }

  // ---- node and lease ----

  private async registerNode(): Promise<void> {
    const { api, nodeName, host } = this.opts;
    const labels = nodeLabels(nodeName, host);
    try {
      const node = await api.get(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, NodeSchema);
      this.nodeUid = node.metadata.uid;
      const have = node.metadata.labels ?? {};
      const annotations = this.opts.nodeAnnotations ?? {};
      const haveAnnotations = node.metadata.annotations ?? {};
      if (Object.entries(labels).some(([k, v]) => have[k] !== v) || Object.entries(annotations).some(([k, v]) => haveAnnotations[k] !== v)) {
        await api.mergePatch(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, { metadata: { labels, ...(Object.keys(annotations).length ? { annotations } : {}) } }, z.unknown());
      }
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const taints = this.opts.registerWithTaints ?? [];
      const body = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: nodeName, labels, ...(this.opts.nodeAnnotations ? { annotations: { ...this.opts.nodeAnnotations } } : {}) },
        spec: {
          ...(taints.length ? { taints } : {}),
          ...(this.opts.podCIDRs?.length ? { podCIDR: this.opts.podCIDRs[0], podCIDRs: [...this.opts.podCIDRs] } : {}),
        },
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

  /** The Node's spec.podCIDRs; a Node stored before node IPAM gets its range on an update. */
  private async nodePodCIDRs(): Promise<string[]> {
    const path = `/api/v1/nodes/${encodeURIComponent(this.opts.nodeName)}`;
    const cidrsOf = (n: { spec?: { podCIDR?: string; podCIDRs?: string[] } }) => n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : [];
    const node = await this.opts.api.get(path, NodeSchema);
    const have = cidrsOf(node);
    if (have.length) return have;
    return cidrsOf(await this.opts.api.mergePatch(path, { metadata: { labels: node.metadata.labels ?? {} } }, NodeSchema));
  }

  private async patchNodeStatus(): Promise<void> {
    const { api, nodeName, host } = this.opts;
    const path = `/api/v1/nodes/${encodeURIComponent(nodeName)}`;
    let previous: { type: string; status: string; lastTransitionTime?: string }[] = [];
    let stored: Record<string, unknown> | undefined;
    try {
      const node = await api.get(path, NodeSchema);
      this.nodeUid = node.metadata.uid;
      previous = (node.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, ...(c.lastTransitionTime ? { lastTransitionTime: c.lastTransitionTime } : {}) }));
      stored = node.status as Record<string, unknown> | undefined;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // Deleted while we run (e.g. by an admin): register again, as the kubelet does.
      this.opts.log.warn('node object is gone, registering again', { node: nodeName });
      await this.registerNode();
      return;
    }
    const observed = await this.observeNode();
    const status = buildNodeStatus(host, this.opts.maxPods ?? 110, this.now, previous, observed);
    const reportDue = this.lastNodeReport === undefined || this.now.getTime() - this.lastNodeReport >= (this.opts.nodeStatusReportSeconds ?? 300) * 1000;
    if (!reportDue && !nodeStatusChanged(status, stored)) return;
    await api.mergePatch(`${path}/status`, { status }, z.unknown());
    this.lastNodeReport = this.now.getTime();
  }

  /** When this agent last posted its node status (ms). */
  private lastNodeReport: number | undefined;

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
  const run = pLimit(limit);
  await Promise.all(
    jobs.map((job) =>
      run(async () => {
        try {
          await job();
        } catch (e) {
          onError(e);
        }
      }),
    ),
  );
}

