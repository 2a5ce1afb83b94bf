import { isConflict, isNotFound } from '../../shared/errors';
import { Placements, podSyncMessage, type NodeQueues } from '../../shared/queue';
import { resourceByName, type KubeObject } from '../../shared/resources';
import {
  BatchBindFailed,
  bindBatchItems,
  LogEntryTooLarge,
  MAX_TRANSACT_ITEMS,
  NodeCapacityChanged,
  type ObjectStore,
  type PodBinding,
} from '../../shared/store/store';
import { recordEvent, recordEvents, type EventInput, type EventRecord } from '../../shared/events';
import { systemContext } from '../../shared/registry/context';
import { deleteObject } from '../../shared/registry/generic';
import type { SchedulerCache } from './cache';
import { schedulePod, type FilterPlugin, type ScorePlugin } from './framework';
import { defaultFilters, defaultScores } from './plugins';
import { annotateSelectedNode, attachVolumeView, loadVolumeView } from './plugins/volume-binding';
import { disruptionBudgets, findPreemption, priorityOf, type PodDisruptionBudgetInfo } from './preemption';

const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
/** Rounds of decide-and-bind for pods whose bind lost a race. */
const MAX_ROUNDS = 8;
/**
 * Pods per bind transaction at most; the item limit (bindBatchItems: 2 + pods + nodes) decides
 * first: 49 pods on distinct nodes, up to 97 when they share one node.
 */
const MAX_PODS_PER_BIND = 97;
/**
 * Bind transactions handed to the store at once: the store commits three of a sequence at a time
 * (PARALLEL_GROUPS; their versions are reserved, not compare-and-set), a fourth is built while
 * they are out. Pods decided meanwhile wait in the BindPool, where they group by node.
 * (3 → 4, with the store's 2 → 3: 895 → 1,060 pods/s at 5,000 nodes × 50,000 pods, BENCHMARKS.md.)
 */
const BINDS_IN_FLIGHT = 4;
/** Decided pods waiting for a transaction at most; decisions pause beyond it (memory, and a bound on how far ahead they run). */
const BIND_POOL_MAX = 20_000;
/**
 * Pods the pool gathers before a transaction goes out while decisions continue: a full
 * transaction even when every pod has its own node (2 + 49 + 49 items).
 */
const BIND_POOL_READY = 49;
/** Concurrent side effects (queue messages) after a bind. */
const FANOUT = 16;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
}

/** Whether the scheduler is responsible for this pod now. */
export function needsScheduling(pod: KubeObject, schedulerName = 'default-scheduler'): boolean {
  const spec = (pod.spec ?? {}) as { nodeName?: string; schedulerName?: string; schedulingGates?: unknown[] };
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return (
    !spec.nodeName &&
    !pod.metadata.deletionTimestamp &&
    (spec.schedulerName ?? 'default-scheduler') === schedulerName &&
    (spec.schedulingGates ?? []).length === 0 &&
    phase !== 'Succeeded' &&
    phase !== 'Failed'
  );
}

export function withCondition(pod: KubeObject, cond: PodCondition): KubeObject {
  const status = { ...((pod.status ?? {}) as { conditions?: PodCondition[] }) };
  const conditions = [...(status.conditions ?? [])];
  const i = conditions.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? conditions[i] : undefined;
  const next = { ...cond, lastProbeTime: null, lastTransitionTime: prev && prev.status === cond.status ? prev.lastTransitionTime : now() };
  if (i >= 0) conditions[i] = next;
  else conditions.push(next);
  return { ...pod, status: { ...status, conditions } };
}

/** Kubernetes' scheduling queue order: higher priority first, then older first. */
export function queueOrder(a: KubeObject, b: KubeObject): number {
  const p = priorityOf(b) - priorityOf(a);
  if (p !== 0) return p;
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/**
 * Decided bindings waiting for a bind transaction, by node. A transaction writes every pod, but
 * each node only once (its allocation sums) and one log entry, so `take` packs the nodes with
 * the most pods waiting first: the longer the store is busy, the more pods wait per node and the
 * fewer items each pod costs (1 + 1/pods-per-node, down from 2 when every pod has its own node).
 */
export class BindPool {
  private readonly byNode = new Map<string, PodBinding[]>();
  private count = 0;
  constructor(private readonly maxPods = MAX_PODS_PER_BIND) {}

  add(b: PodBinding): void {
    const name = b.target.node.metadata.name!;
    let list = this.byNode.get(name);
    if (!list) this.byNode.set(name, (list = []));
    list.push(b);
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** The next transaction's bindings (empty when none wait): nodes with the most pods first, within the item limit. */
  take(): PodBinding[] {
    const byCount = new Map<number, string[]>();
    for (const [name, list] of this.byNode) {
      const names = byCount.get(list.length);
      if (names) names.push(name);
      else byCount.set(list.length, [name]);
    }
    const chunk: PodBinding[] = [];
    let nodeCount = 0;
    for (const count of [...byCount.keys()].sort((a, b) => b - a)) {
      for (const name of byCount.get(count)!) {
        const room = Math.min(this.maxPods - chunk.length, MAX_TRANSACT_ITEMS - bindBatchItems(chunk.length, nodeCount + 1));
        if (room <= 0) break;
        const list = this.byNode.get(name)!;
        chunk.push(...list.splice(0, room));
        nodeCount++;
        if (list.length === 0) this.byNode.delete(name);
      }
    }
    this.count -= chunk.length;
    return chunk;
  }
}

/** Splits decided bindings into transactions within DynamoDB's item limit (as the scheduler's pool does). */
export function chunkBindings(bindings: readonly PodBinding[], maxPods = MAX_PODS_PER_BIND): PodBinding[][] {
  const pool = new BindPool(maxPods);
  for (const b of bindings) pool.add(b);
  const chunks: PodBinding[][] = [];
  while (pool.size > 0) chunks.push(pool.take());
  return chunks;
}

export interface ScheduleResult {
  readonly bound: number;
  readonly unschedulable: number;
  readonly preempting: number;
  /** Bind transactions that lost a race (and were decided again). */
  readonly lostRaces: number;
}

/** Where an invocation's time went (ms, cumulative over its rounds), for benchmarks and logs. */
export interface SchedulerTimings {
  /** Bringing the caches (and so the snapshot) up to date from the change log. */
  sync: number;
  /** Filter and score (CPU), including preemption's what-ifs. */
  decide: number;
  /** Waiting for in-flight bind transactions (room for the next one, or the last ones). */
  bindWait: number;
  /** Bind transactions sent, and pods in them. */
  transactions: number;
  podsInTransactions: number;
}

export interface SchedulerOptions {
  readonly filters?: readonly FilterPlugin[];
  readonly scores?: readonly ScorePlugin[];
  /** Bind several pods per transaction (the default); false binds one by one. */
  readonly batchBind?: boolean;
  readonly percentageOfNodesToScore?: number;
  /** The profile's schedulerName: pods naming another scheduler are left alone. @default 'default-scheduler' */
  readonly schedulerName?: string;
}

/**
 * Schedules pods of one tenant in batches: brings its scheduler cache (nodes, pods and the
 * snapshot kept from them) up to date from the change log, then decides waiting pods one after
 * another, assuming each placement in the snapshot so later pods see it, and binds them several
 * per conditional transaction (store.bindPods) WHILE it decides the next ones: up to
 * BINDS_IN_FLIGHT transactions are in flight, and decided pods wait in a BindPool that packs
 * them by node, all with their pods assumed, as kube-scheduler's assume cache and asynchronous
 * binding do. Losing a race is not an error: those pods are
 * un-assumed (forget) and decided again from fresh state. The store's conditions, not the
 * snapshot, guarantee that no node is overcommitted and no pod bound twice.
 */
export class Scheduler {
  private readonly filters: readonly FilterPlugin[];
  private readonly scores: readonly ScorePlugin[];
  private rotate = 0;
  /** Scheduled events, written off the bind path; flush() before the invocation ends. */
  readonly events: EventQueue;
  /** Placement messages to node agents, sent off the bind path. */
  private readonly messages = new BackgroundQueue();
  readonly timings: SchedulerTimings = { sync: 0, decide: 0, bindWait: 0, transactions: 0, podsInTransactions: 0 };

  constructor(
    private readonly store: ObjectStore,
    private readonly queues: NodeQueues,
    private readonly tenant: string,
    private readonly cache: SchedulerCache,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.filters = opts.filters ?? defaultFilters;
    this.scores = opts.scores ?? defaultScores;
    this.events = new EventQueue((batch) => recordEvents(store, tenant, batch));
  }

  /** Schedules one pod; returns the node it was bound to, if any. */
  async schedule(namespace: string, name: string): Promise<string | undefined> {
    await this.scheduleBatch([{ namespace, name }]);
    const pod = this.cache.pods.get(namespace, name);
    return (pod?.spec as { nodeName?: string } | undefined)?.nodeName;
  }

  /** Retries every pod of the tenant still waiting for a node (after nodes or capacity change). */
  retryPending(): Promise<ScheduleResult> {
    return this.scheduleBatch(undefined);
  }

  /** Resolves when the side effects of this invocation (messages, events) are done. */
  async flush(): Promise<void> {
    await this.messages.flush();
    await this.events.flush();
  }

  /** Schedules the named pods (or every pending pod when `keys` is undefined). */
  async scheduleBatch(keys: readonly { namespace: string; name: string }[] | undefined): Promise<ScheduleResult> {
    const result = { bound: 0, unschedulable: 0, preempting: 0, lostRaces: 0 };
    const snapshot = this.cache.snapshot;
    let wanted = keys ? new Set(keys.map((k) => `${k.namespace}/${k.name}`)) : undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let t = performance.now();
      await this.cache.sync();
      this.timings.sync += performance.now() - t;
      const pending: KubeObject[] = [];
      if (wanted) {
        for (const key of wanted) {
          const [ns, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
          const pod = this.cache.pods.get(ns, name);
          if (pod && needsScheduling(pod, this.opts.schedulerName) && !snapshot.isAssumed(pod)) pending.push(pod);
        }
      } else for (const pod of this.cache.pods.values()) if (needsScheduling(pod, this.opts.schedulerName) && !snapshot.isAssumed(pod)) pending.push(pod);
      if (pending.length === 0) break;
      pending.sort(queueOrder);
      attachVolumeView(snapshot, await loadVolumeView(this.store, this.tenant, pending)); // VolumeBinding: only when a pod mounts claims

      const retry: KubeObject[] = [];
      const inFlight = new Set<Promise<void>>();
      const pool = new BindPool(this.opts.batchBind === false ? 1 : MAX_PODS_PER_BIND);
      /** Preemptors hold their node's room for the rest of this round only. */
      const reserved: KubeObject[] = [];
      /** The first unexpected bind error (not a lost race): ends the round once seen. */
      const failures: unknown[] = [];
      /** Hands the pool's best chunks to the store while it has room; waits for one when the pool is full (or `drain`). */
      const dispatch = async (drain: boolean) => {
        for (;;) {
          while (inFlight.size < BINDS_IN_FLIGHT && pool.size >= (drain ? 1 : BIND_POOL_READY)) {
            const p: Promise<void> = this.bindChunk(pool.take(), result, retry)
              .catch((error: unknown) => void failures.push(error))
              .finally(() => inFlight.delete(p));
            inFlight.add(p);
          }
          if (failures.length > 0) throw failures[0];
          if (inFlight.size === 0 || !(drain || pool.size >= BIND_POOL_MAX)) break;
          const w = performance.now();
          await Promise.race(inFlight);
          this.timings.bindWait += performance.now() - w;
        }
        // Let transactions go out (and earlier ones come back) before deciding on.
        await yieldToIo();
        if (failures.length > 0) throw failures[0];
      };
      try {
        for (const pod of pending) {
          t = performance.now();
          const decision = schedulePod(pod, snapshot, this.filters, this.scores, {
            percentageOfNodesToScore: this.opts.percentageOfNodesToScore,
            startIndex: this.rotate++,
          });
          if (decision.kind === 'bind') {
            const nodeName = decision.node.node.metadata.name!;
            snapshot.assume(pod, nodeName);
            this.timings.decide += performance.now() - t;
            const binding: PodBinding = {
              pod,
              target: decision.node,
              transform: (p) => withCondition({ ...p, spec: { ...(p.spec as object), nodeName }, status: { ...(p.status as object), nominatedNodeName: undefined } }, { type: 'PodScheduled', status: 'True' }),
            };
            pool.add(binding);
            if ((inFlight.size < BINDS_IN_FLIGHT && pool.size >= BIND_POOL_READY) || pool.size >= BIND_POOL_MAX) await dispatch(false);
            continue;
          }
          const preemption = priorityOf(pod) > 0 ? findPreemption(pod, snapshot, this.filters, decision.reasonsByNode, await this.budgets()) : undefined;
          this.timings.decide += performance.now() - t;
          if (preemption) {
            result.preempting++;
            await this.preempt(pod, preemption.node.node.metadata.name!, preemption.victims);
            // Its room is taken now: pods after it must not fill what the victims free.
            snapshot.assume(pod, preemption.node.node.metadata.name!);
            reserved.push(pod);
          } else {
            result.unschedulable++;
            await this.markUnschedulable(pod, decision.message);
          }
        }
        await dispatch(true);
      } finally {
        // Whatever happened, reservations end with the round (binds settle on their own).
        for (const pod of reserved) snapshot.forget(pod, this.cache.pods.get(pod.metadata.namespace, pod.metadata.name!));
      }
      if (retry.length === 0) break;
      wanted = new Set(retry.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    }
    return result;
  }

  /** Binds one chunk; on a lost race un-assumes its pods and hands them back for another round. */
  private async bindChunk(chunk: readonly PodBinding[], result: { bound: number; lostRaces: number }, retry: KubeObject[]): Promise<void> {
    let bound: KubeObject[];
    this.timings.transactions++;
    this.timings.podsInTransactions += chunk.length;
    try {
      if (chunk.length === 1) {
        const b = chunk[0]!;
        bound = [await this.store.bindPod(this.tenant, pods, nodes, b.pod, b.target, b.transform)];
      } else bound = await this.store.bindPods(this.tenant, pods, nodes, chunk);
    } catch (e) {
      if (e instanceof LogEntryTooLarge && chunk.length > 1) {
        // Large pods: their changes do not fit one log entry together. Bind the halves one
        // after the other (queued together, the store would group them again).
        this.timings.transactions--;
        this.timings.podsInTransactions -= chunk.length;
        const half = Math.ceil(chunk.length / 2);
        await this.bindChunk(chunk.slice(0, half), result, retry);
        await this.bindChunk(chunk.slice(half), result, retry);
        return;
      }
      if (e instanceof BatchBindFailed || e instanceof NodeCapacityChanged || isConflict(e) || isNotFound(e)) {
        result.lostRaces++;
        for (const b of chunk) this.cache.snapshot.forget(b.pod, this.cache.pods.get(b.pod.metadata.namespace, b.pod.metadata.name!));
        retry.push(...chunk.map((b) => b.pod));
        return;
      }
      for (const b of chunk) this.cache.snapshot.forget(b.pod, this.cache.pods.get(b.pod.metadata.namespace, b.pod.metadata.name!));
      throw e;
    }
    result.bound += bound.length;
    // One message per pod, sent per node in as few requests as fit (NodeQueues.sendAll).
    const placements = new Placements();
    for (const p of bound) {
      this.cache.pods.put(p); // confirms the assumption in the snapshot
      // (unless the cache already holds a newer version: then the assumption ends here)
      if (this.cache.snapshot.isAssumed(p)) this.cache.snapshot.forget(p, this.cache.pods.get(p.metadata.namespace, p.metadata.name!));
      const nodeName = (p.spec as { nodeName: string }).nodeName;
      const { namespace, name } = p.metadata;
      this.messages.push(() => annotateSelectedNode(this.store, this.tenant, p, nodeName)); // WaitForFirstConsumer claims: provision there
      placements.add(nodeName, podSyncMessage(this.tenant, p)); // the bound pod rides along: no GET by the agent
      this.events.record(p, { type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${namespace}/${name} to ${nodeName}`, component: 'default-scheduler' });
    }
    for (const send of placements.sends(this.queues)) this.messages.push(send);
  }

  /** The tenant's PodDisruptionBudgets with their disruptions allowed now (for preemption only). */
  private pdbCache: PodDisruptionBudgetInfo[] | undefined;
  private async budgets(): Promise<PodDisruptionBudgetInfo[]> {
    if (!this.pdbCache) {
      const { items } = await this.store.list(this.tenant, resourceByName('poddisruptionbudgets'));
      this.pdbCache = disruptionBudgets(items, this.cache.pods.values(), Date.now());
    }
    return this.pdbCache;
  }

  /** Evicts the victims (graceful delete) and nominates the node for the preemptor. */
  private async preempt(pod: KubeObject, nodeName: string, victims: readonly KubeObject[]): Promise<void> {
    const ctx = systemContext(this.store, this.tenant);
    for (const v of victims) {
      try {
        await deleteObject(ctx, { rt: pods, namespace: v.metadata.namespace, name: v.metadata.name }, { preconditions: { uid: v.metadata.uid } });
        await recordEvent(this.store, this.tenant, v, { type: 'Normal', reason: 'Preempted', message: `Preempted by pod ${pod.metadata.uid} on node ${nodeName}`, component: 'default-scheduler' });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
    // Victims are going: budgets they counted in are spent for the rest of this invocation.
    this.pdbCache = undefined;
    const status = (pod.status ?? {}) as { nominatedNodeName?: string };
    if (status.nominatedNodeName === nodeName) return;
    const next = withCondition({ ...pod, status: { ...status, nominatedNodeName: nodeName } }, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: `preempting ${victims.length} pod(s) on node ${nodeName}` });
    try {
      this.cache.pods.put(await this.store.update(this.tenant, pods, next, pod.metadata.resourceVersion!));
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e;
    }
  }

  private async markUnschedulable(pod: KubeObject, message: string): Promise<void> {
    const conditions = ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []);
    const current = conditions.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.message === message) return; // nothing new to say
    const next = withCondition(pod, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message });
    try {
      this.cache.pods.put(await this.store.update(this.tenant, pods, next, pod.metadata.resourceVersion!));
      await recordEvent(this.store, this.tenant, pod, { type: 'Warning', reason: 'FailedScheduling', message, component: 'default-scheduler' });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e; // a newer version will come through the stream
    }
  }
}

/** Events per write: BatchWriteItem's limit (ObjectStore.createEvents). */
export const EVENT_BATCH = 25;

/**
 * Events written in the background, as client-go's recorder does it: asynchronous, and dropping
 * events rather than holding up scheduling when more than `max` are waiting. They go out in
 * batches of EVENT_BATCH (one BatchWriteItem each: the same write units as one PutItem each, a
 * twenty-fifth of the requests and of their CPU), several batches at once; a partial batch goes
 * out at flush, which an invocation awaits before it returns.
 */
export class EventQueue {
  private readonly queue: BackgroundQueue;
  private batch: EventRecord[] = [];
  dropped = 0;
  constructor(
    private readonly write: (batch: readonly EventRecord[]) => Promise<void>,
    private readonly max = 1000,
    concurrency = 4,
  ) {
    this.queue = new BackgroundQueue(concurrency);
  }

  record(about: KubeObject, event: EventInput): void {
    if (this.queue.waiting * EVENT_BATCH + this.batch.length >= this.max) {
      this.dropped++;
      return;
    }
    this.batch.push({ about, event });
    if (this.batch.length >= EVENT_BATCH) this.send();
  }

  private send(): void {
    const batch = this.batch;
    this.batch = [];
    this.queue.push(() => this.write(batch).catch(() => undefined)); // events are best effort
  }

  /** Resolves when every recorded event is written (or given up). */
  flush(): Promise<void> {
    if (this.batch.length) this.send();
    return this.queue.flush();
  }
}

/**
 * Side effects run in the background with bounded concurrency (placement messages after binds):
 * they never hold up the next bind. `flush` waits for all of them and then reports the first
 * failure, so the invocation still fails (and is retried) when a message could not be sent.
 */
export class BackgroundQueue {
  private readonly pending: (() => Promise<unknown>)[] = [];
  private running = 0;
  private idle: (() => void)[] = [];
  private failure: { error: unknown } | undefined;
  constructor(private readonly limit = FANOUT) {}

  /** Jobs queued and not started yet. */
  get waiting(): number {
    return this.pending.length;
  }

  push(job: () => Promise<unknown>): void {
    this.pending.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.limit && this.pending.length) {
      const job = this.pending.shift()!;
      this.running++;
      void job()
        .catch((error: unknown) => void (this.failure ??= { error }))
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.running === 0 && this.pending.length === 0) for (const done of this.idle.splice(0)) done();
  }

  /** Resolves when every queued job has finished; rejects with the first failure since the last flush. */
  async flush(): Promise<void> {
    if (this.running > 0 || this.pending.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    const failed = this.failure;
    this.failure = undefined;
    if (failed) throw failed.error;
  }
}
