import { isConflict, isNotFound } from '../../shared/errors';
import type { NodeQueues } from '../../shared/queue';
import { resourceByName, type KubeObject } from '../../shared/resources';
import {
  BatchBindFailed,
  bindBatchItems,
  MAX_TRANSACT_ITEMS,
  NodeCapacityChanged,
  type ObjectStore,
  type PodBinding,
} from '../../shared/store/store';
import { recordEvent } from '../../shared/events';
import { deleteObject } from '../api/rest';
import type { ObjectCache } from './cache';
import { schedulePod, type FilterPlugin, type ScorePlugin } from './framework';
import { defaultFilters, defaultScores } from './plugins';
import { findPreemption, priorityOf } from './preemption';
import { MutableSnapshot } from './snapshot';

const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
/** Rounds of decide-and-bind for pods whose bind lost a race. */
const MAX_ROUNDS = 8;
/** Pods per bind transaction at most (the item limit may allow fewer when they spread over nodes). */
const MAX_PODS_PER_BIND = 32;
/** Concurrent side effects (queue messages, events) after a bind. */
const FANOUT = 16;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

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

/** Splits decided bindings into transactions within DynamoDB's item limit. */
export function chunkBindings(bindings: readonly PodBinding[], maxPods = MAX_PODS_PER_BIND): PodBinding[][] {
  const chunks: PodBinding[][] = [];
  let cur: PodBinding[] = [];
  let curNodes = new Set<string>();
  for (const b of bindings) {
    const n = b.target.node.metadata.name!;
    const nodesAfter = curNodes.has(n) ? curNodes.size : curNodes.size + 1;
    if (cur.length > 0 && (cur.length + 1 > maxPods || bindBatchItems(cur.length + 1, nodesAfter) > MAX_TRANSACT_ITEMS)) {
      chunks.push(cur);
      cur = [];
      curNodes = new Set();
    }
    cur.push(b);
    curNodes.add(n);
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

export interface ScheduleResult {
  readonly bound: number;
  readonly unschedulable: number;
  readonly preempting: number;
  /** Bind transactions that lost a race (and were decided again). */
  readonly lostRaces: number;
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
 * Schedules pods of one tenant in batches: brings its node and pod caches up to date from the
 * change log, decides every waiting pod against ONE snapshot (assuming each placement so later
 * pods see it), then binds them several per conditional transaction (store.bindPods). Losing a
 * race is not an error: those pods are decided again from fresh state. The store's conditions,
 * not the snapshot, guarantee that no node is overcommitted and no pod bound twice.
 */
export class Scheduler {
  private readonly filters: readonly FilterPlugin[];
  private readonly scores: readonly ScorePlugin[];
  private rotate = 0;
  /** Scheduled events, written off the bind path; flush() before the invocation ends. */
  readonly events = new EventQueue();

  constructor(
    private readonly store: ObjectStore,
    private readonly queues: NodeQueues,
    private readonly tenant: string,
    private readonly cache: { readonly nodes: ObjectCache; readonly pods: ObjectCache },
    private readonly opts: SchedulerOptions = {},
  ) {
    this.filters = opts.filters ?? defaultFilters;
    this.scores = opts.scores ?? defaultScores;
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

  /** Schedules the named pods (or every pending pod when `keys` is undefined). */
  async scheduleBatch(keys: readonly { namespace: string; name: string }[] | undefined): Promise<ScheduleResult> {
    const result = { bound: 0, unschedulable: 0, preempting: 0, lostRaces: 0 };
    let wanted = keys ? new Set(keys.map((k) => `${k.namespace}/${k.name}`)) : undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      await Promise.all([this.cache.nodes.sync(), this.cache.pods.sync()]);
      const pending: KubeObject[] = [];
      if (wanted) {
        for (const key of wanted) {
          const [ns, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
          const pod = this.cache.pods.get(ns, name);
          if (pod && needsScheduling(pod, this.opts.schedulerName)) pending.push(pod);
        }
      } else for (const pod of this.cache.pods.values()) if (needsScheduling(pod, this.opts.schedulerName)) pending.push(pod);
      if (pending.length === 0) break;
      pending.sort(queueOrder);
      const snapshot = new MutableSnapshot(this.cache.nodes.values(), this.cache.pods.values());
      const bindings: PodBinding[] = [];
      for (const pod of pending) {
        const decision = schedulePod(pod, snapshot, this.filters, this.scores, {
          percentageOfNodesToScore: this.opts.percentageOfNodesToScore,
          startIndex: this.rotate++,
        });
        if (decision.kind === 'bind') {
          const nodeName = decision.node.node.metadata.name!;
          snapshot.assume(pod, nodeName);
          bindings.push({
            pod,
            target: { node: decision.node.node, capacity: { ...decision.node.capacity }, allocated: { ...decision.node.allocated } },
            transform: (p) => withCondition({ ...p, spec: { ...(p.spec as object), nodeName }, status: { ...(p.status as object), nominatedNodeName: undefined } }, { type: 'PodScheduled', status: 'True' }),
          });
          continue;
        }
        const preemption = priorityOf(pod) > 0 ? findPreemption(pod, snapshot, this.filters, decision.reasonsByNode) : undefined;
        if (preemption) {
          result.preempting++;
          await this.preempt(pod, preemption.node.node.metadata.name!, preemption.victims);
          // Its room is taken now: pods after it must not fill what the victims free.
          snapshot.assume(pod, preemption.node.node.metadata.name!);
        } else {
          result.unschedulable++;
          await this.markUnschedulable(pod, decision.message);
        }
      }
      const retry = await this.bindAll(bindings, result);
      if (retry.length === 0) break;
      wanted = new Set(retry.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    }
    return result;
  }

  /** Binds decided pods chunk by chunk; returns the pods whose chunk lost a race. */
  private async bindAll(bindings: readonly PodBinding[], result: { bound: number; lostRaces: number }): Promise<KubeObject[]> {
    const retry: KubeObject[] = [];
    for (const chunk of this.opts.batchBind === false ? bindings.map((b) => [b]) : chunkBindings(bindings)) {
      let bound: KubeObject[];
      try {
        if (chunk.length === 1) {
          const b = chunk[0]!;
          bound = [await this.store.bindPod(this.tenant, pods, nodes, b.pod, b.target, b.transform)];
        } else bound = await this.store.bindPods(this.tenant, pods, nodes, chunk);
      } catch (e) {
        if (e instanceof BatchBindFailed || e instanceof NodeCapacityChanged || isConflict(e) || isNotFound(e)) {
          result.lostRaces++;
          retry.push(...chunk.map((b) => b.pod));
          continue;
        }
        throw e;
      }
      result.bound += bound.length;
      for (const p of bound) this.cache.pods.put(p);
      await runLimited(
        bound.map((p) => async () => {
          const nodeName = (p.spec as { nodeName: string }).nodeName;
          const { namespace, name, uid } = p.metadata;
          await this.queues.send(nodeName, { kind: 'sync', tenant: this.tenant, namespace: namespace!, name: name!, uid: uid! });
          this.events.push(() => recordEvent(this.store, this.tenant, p, { type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${namespace}/${name} to ${nodeName}`, component: 'default-scheduler' }));
        }),
      );
    }
    return retry;
  }

  /** Evicts the victims (graceful delete) and nominates the node for the preemptor. */
  private async preempt(pod: KubeObject, nodeName: string, victims: readonly KubeObject[]): Promise<void> {
    const ctx = { store: this.store, tenant: this.tenant };
    const req = { method: 'DELETE', path: '', query: new URLSearchParams(), headers: {} };
    for (const v of victims) {
      try {
        await deleteObject(ctx, { rt: pods, namespace: v.metadata.namespace, name: v.metadata.name }, req, { preconditions: { uid: v.metadata.uid } });
        await recordEvent(this.store, this.tenant, v, { type: 'Normal', reason: 'Preempted', message: `Preempted by pod ${pod.metadata.uid} on node ${nodeName}`, component: 'default-scheduler' });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
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

/**
 * Events written in the background, one at a time (writers of one resource type contend on its
 * sequence, so one writer is the fastest), as client-go's recorder does it: asynchronous, and
 * dropping events rather than holding up scheduling when too many are waiting.
 */
export class EventQueue {
  private readonly pending: (() => Promise<void>)[] = [];
  private running: Promise<void> | undefined;
  dropped = 0;
  constructor(private readonly max = 1000) {}

  push(write: () => Promise<void>): void {
    if (this.pending.length >= this.max) {
      this.dropped++;
      return;
    }
    this.pending.push(write);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.length) await this.pending.shift()!().catch(() => undefined);
    this.running = undefined;
  }

  /** Resolves when every queued event is written. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }
}

async function runLimited(jobs: readonly (() => Promise<void>)[], limit = FANOUT): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}
