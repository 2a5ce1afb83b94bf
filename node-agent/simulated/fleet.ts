/**
 * Simulated nodes — a TEST TOOL for scale tests and benchmarks, never the default (as kubemark
 * and KWOK are for Kubernetes). One process registers N Nodes through the API, renews their
 * Leases in kube-node-lease, and reports the pods bound to them Running (and finishes their
 * deletion) without Docker: nothing runs. Everything goes through the public API, with the
 * writes a real agent makes, so the control plane cannot tell the difference (apart from the
 * `stratus.io/simulated=true` label and the credential: one process acting for N nodes needs one
 * that may act for all of them, e.g. the cluster's admin token, since a node identity may act
 * only for its own node).
 *
 * Pods are followed with one watch on all pods (ndjson WatchEvents), not one queue per node.
 */
import { request as httpsRequest } from 'node:https';
import pLimit, { type LimitFunction } from 'p-limit';
import { z } from 'zod';
import { isAlreadyExists, isConflict, isNotFound, KubeApiClient } from '../api-client';
import { errorMessage, type Logger } from '../log';
import { LeaseSchema, PodSchema, type Lease, type Pod } from '../types';
import { sleep } from '../../shared/sleep';

export interface FleetOptions {
  readonly server: string;
  readonly token: string;
  readonly ca?: string;
  /** Node names are `${prefix}-${i}`. */
  readonly prefix: string;
  readonly count: number;
  /** Per node. @default '32', '128Gi', '110' */
  readonly cpu?: string;
  readonly memory?: string;
  readonly pods?: string;
  /** Lease renewal period per node (spread evenly over it). @default 10 */
  readonly leaseRenewSeconds?: number;
  /** Extra labels per node index (zones for topology tests). */
  readonly labels?: (i: number) => Record<string, string>;
  /** Requests in flight at once (registration, pod status). @default 32 */
  readonly concurrency?: number;
  /**
   * Lease renewals in flight at once, apart from the rest: real kubelets renew independently, so
   * the simulator must not be what makes renewals fall behind.
   * @default enough for one renewal period's worth at a second each (count / leaseRenewSeconds), at least 32
   */
  readonly leaseConcurrency?: number;
  readonly log: Logger;
}

const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const kubeTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const WatchEventSchema = z.object({ type: z.string(), object: z.unknown() });
const ListMetaSchema = z.object({ metadata: z.object({ resourceVersion: z.string().optional() }).loose() }).loose();

/** A bounded pool of async jobs. */
/** At most `limit` calls at once (p-limit), behind the fleet's `pool.run(fn)` call sites. */
class Pool {
  private readonly limit: LimitFunction;
  constructor(limit: number) {
    this.limit = pLimit(limit);
  }
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.limit(fn);
  }
}

export class SimulatedFleet {
  private readonly api: KubeApiClient;
  private readonly pool: Pool;
  private readonly leasePool: Pool;
  private readonly names: string[];
  private readonly nameSet: Set<string>;
  private readonly leases = new Map<string, Lease>();
  private readonly reported = new Set<string>();
  private stopped = false;
  private watching = false;
  private timers: NodeJS.Timeout[] = [];
  private watchReq?: { destroy(): void };
  /** Pods reported Running, in total (for benchmarks). */
  runningReported = 0;

  constructor(private readonly opts: FleetOptions) {
    this.api = new KubeApiClient({ server: opts.server, token: opts.token, ca: opts.ca, userAgent: 'stratus-simulated-fleet' });
    this.pool = new Pool(opts.concurrency ?? 32);
    this.leasePool = new Pool(opts.leaseConcurrency ?? Math.max(32, Math.ceil(opts.count / (opts.leaseRenewSeconds ?? 10))));
    this.names = Array.from({ length: opts.count }, (_, i) => `${opts.prefix}-${i}`);
    this.nameSet = new Set(this.names);
  }

  get nodeNames(): readonly string[] {
    return this.names;
  }

  /** Registers every node (Node + status + Lease); resolves when all are registered. */
  async register(): Promise<void> {
    const o = this.opts;
    await Promise.all(
      this.names.map((name, i) =>
        this.pool.run(async () => {
          const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'stratus.io/simulated': 'true', ...o.labels?.(i) };
          try {
            await this.api.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {} }, z.unknown());
          } catch (e) {
            if (!isAlreadyExists(e)) throw e;
          }
          await this.api.mergePatch(`/api/v1/nodes/${name}/status`, { status: this.nodeStatus() }, z.unknown());
          await this.renew(name);
        }),
      ),
    );
  }

  private nodeStatus() {
    const now = kubeTime(new Date());
    const capacity = { cpu: this.opts.cpu ?? '32', memory: this.opts.memory ?? '128Gi', pods: this.opts.pods ?? '110' };
    const cond = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: now, lastTransitionTime: now });
    return {
      capacity,
      allocatable: capacity,
      conditions: [cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'), cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'), cond('PIDPressure', 'False', 'KubeletHasSufficientPID'), cond('Ready', 'True', 'KubeletReady')],
      addresses: [{ type: 'InternalIP', address: '10.255.255.1' }],
      nodeInfo: { kubeletVersion: 'stratus-simulated', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'simulated://0' },
    };
  }

  private async renew(name: string): Promise<void> {
    const base = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(new Date()) };
    const have = this.leases.get(name);
    try {
      if (have) this.leases.set(name, await this.api.put(`${base}/${name}`, { ...have, spec: { ...have.spec, ...spec } }, LeaseSchema));
      else this.leases.set(name, await this.api.post(base, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec }, LeaseSchema));
    } catch (e) {
      if (isConflict(e) || isNotFound(e) || isAlreadyExists(e)) {
        this.leases.delete(name);
        if (isAlreadyExists(e)) this.leases.set(name, await this.api.get(`${base}/${name}`, LeaseSchema));
        return;
      }
      throw e;
    }
  }

  /**
   * Starts heartbeats (spread over the period) and, unless `reportPods` is false, the pod watch
   * that reports pods Running (startPodReports() starts it later).
   */
  start(opts: { reportPods?: boolean } = {}): void {
    const period = (this.opts.leaseRenewSeconds ?? 10) * 1000;
    const slots = Math.max(1, Math.min(this.names.length, Math.floor(period / 100)));
    for (let s = 0; s < slots; s++) {
      const batch = this.names.filter((_, i) => i % slots === s);
      const t = setTimeout(() => {
        const tick = () => {
          for (const name of batch) void this.leasePool.run(() => this.renew(name)).catch((e) => this.opts.log.warn('lease renewal failed', { node: name, error: errorMessage(e) }));
        };
        tick();
        this.timers.push(setInterval(tick, period));
      }, (period * s) / slots);
      this.timers.push(t);
    }
    if (opts.reportPods !== false) this.startPodReports();
  }

  /** Starts following pods: bound ones are reported Running, deleted ones finished. */
  startPodReports(): void {
    if (this.watching) return;
    this.watching = true;
    void this.watchLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.watchReq?.destroy();
    this.api.close();
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const list = await this.api.get('/api/v1/pods', ListMetaSchema.extend({ items: z.array(PodSchema) }));
        for (const p of list.items) this.onPod('ADDED', p);
        await this.watch(list.metadata.resourceVersion ?? '0');
      } catch (e) {
        if (!this.stopped) this.opts.log.warn('pod watch failed; restarting', { error: errorMessage(e) });
        await sleep(1000);
      }
    }
  }

  private watch(resourceVersion: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const url = new URL(`${this.opts.server.replace(/\/+$/, '')}/api/v1/pods`);
      url.searchParams.set('watch', 'true');
      url.searchParams.set('resourceVersion', resourceVersion);
      url.searchParams.set('allowWatchBookmarks', 'true');
      url.searchParams.set('timeoutSeconds', '600');
      const req = httpsRequest(url, { headers: { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' }, ...(this.opts.ca ? { ca: this.opts.ca } : {}) }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`watch: HTTP ${res.statusCode}`));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const ev = WatchEventSchema.safeParse(JSON.parse(line));
            if (!ev.success || ev.data.type === 'BOOKMARK' || ev.data.type === 'ERROR') continue;
            const pod = PodSchema.safeParse(ev.data.object);
            if (pod.success) this.onPod(ev.data.type, pod.data);
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', reject);
      this.watchReq = req;
      req.end();
    });
  }

  /** A pod on one of our nodes: report it Running once; finish its deletion when asked. */
  private onPod(type: string, pod: Pod): void {
    const node = pod.spec.nodeName;
    if (type === 'DELETED' || !node || !this.nameSet.has(node)) return;
    const key = pod.metadata.uid;
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
      void this.pool.run(() => this.api.delete(path, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: key } })).catch((e) => {
        if (!isNotFound(e) && !isConflict(e)) this.opts.log.warn('pod delete failed', { pod: path, error: errorMessage(e) });
      });
      return;
    }
    if (pod.status?.phase !== 'Pending' || this.reported.has(key)) return;
    this.reported.add(key);
    const now = kubeTime(new Date());
    const status = {
      phase: 'Running',
      hostIP: '10.255.255.1',
      podIP: '10.255.255.1',
      startTime: now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now })),
      containerStatuses: (pod.spec.containers ?? []).map((c) => ({ name: c.name, ready: true, started: true, restartCount: 0, image: c.image ?? '', imageID: '', state: { running: { startedAt: now } } })),
    };
    void this.pool
      .run(() => this.api.mergePatch(`${path}/status`, { status }, z.unknown()))
      .then(() => this.runningReported++)
      .catch((e) => {
        this.reported.delete(key);
        if (!isNotFound(e)) this.opts.log.warn('pod status failed', { pod: path, error: errorMessage(e) });
      });
  }
}
