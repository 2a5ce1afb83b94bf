import { isConflict, isNotFound } from '../../shared/errors';
import type { NodeQueues } from '../../shared/queue';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { NodeCapacityChanged, type NodeSnapshot, type ObjectStore } from '../../shared/store/store';
import { recordEvent } from '../../shared/events';
import { schedulePod, type FilterPlugin, type ScorePlugin } from './framework';
import { defaultFilters, defaultScores } from './plugins';

const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
const MAX_BIND_ATTEMPTS = 8;
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
export function needsScheduling(pod: KubeObject): boolean {
  const spec = (pod.spec ?? {}) as { nodeName?: string; schedulerName?: string; schedulingGates?: unknown[] };
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return (
    !spec.nodeName &&
    !pod.metadata.deletionTimestamp &&
    (spec.schedulerName ?? 'default-scheduler') === 'default-scheduler' &&
    (spec.schedulingGates ?? []).length === 0 &&
    phase !== 'Succeeded' &&
    phase !== 'Failed'
  );
}

function withCondition(pod: KubeObject, cond: PodCondition): KubeObject {
  const status = { ...((pod.status ?? {}) as { conditions?: PodCondition[] }) };
  const conditions = [...(status.conditions ?? [])];
  const i = conditions.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? conditions[i] : undefined;
  const next = { ...cond, lastProbeTime: null, lastTransitionTime: prev && prev.status === cond.status ? prev.lastTransitionTime : now() };
  if (i >= 0) conditions[i] = next;
  else conditions.push(next);
  return { ...pod, status: { ...status, conditions } };
}

/**
 * Schedules pods of one tenant: decides on a snapshot of nodes, binds with a conditional
 * transaction (store.bindPod), and tells the chosen node's agent. Losing a bind race is not an
 * error: refresh the snapshot and decide again.
 */
export class Scheduler {
  private snapshot: NodeSnapshot[] | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly queues: NodeQueues,
    private readonly tenant: string,
    private readonly filters: readonly FilterPlugin[] = defaultFilters,
    private readonly scores: readonly ScorePlugin[] = defaultScores,
  ) {}

  private async nodes(refresh = false): Promise<NodeSnapshot[]> {
    if (!this.snapshot || refresh) this.snapshot = await this.store.listNodeSnapshots(this.tenant, nodes);
    return this.snapshot;
  }

  /** Schedules one pod (re-read fresh). Returns the node it was bound to, if any. */
  async schedule(namespace: string, name: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const pod = await this.store.get(this.tenant, pods, namespace, name);
      if (!pod || !needsScheduling(pod)) return undefined;
      const decision = schedulePod(pod, await this.nodes(attempt > 0), this.filters, this.scores);
      if (decision.kind === 'unschedulable') {
        await this.markUnschedulable(pod, decision.message);
        return undefined;
      }
      const nodeName = decision.node.node.metadata.name!;
      try {
        const bound = await this.store.bindPod(this.tenant, pods, nodes, pod, decision.node, (p) =>
          withCondition({ ...p, spec: { ...(p.spec as object), nodeName } }, { type: 'PodScheduled', status: 'True' }),
        );
        // Keep the snapshot honest for the next pod of this batch.
        this.snapshot = undefined;
        await this.queues.send(nodeName, { kind: 'sync', tenant: this.tenant, namespace, name, uid: bound.metadata.uid! });
        await recordEvent(this.store, this.tenant, bound, { type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${namespace}/${name} to ${nodeName}`, component: 'default-scheduler' });
        return nodeName;
      } catch (e) {
        if (e instanceof NodeCapacityChanged || isConflict(e)) continue; // lost a race: decide again
        if (isNotFound(e)) return undefined;
        throw e;
      }
    }
    return undefined;
  }

  private async markUnschedulable(pod: KubeObject, message: string): Promise<void> {
    const conditions = ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []);
    const current = conditions.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.message === message) return; // nothing new to say
    const next = withCondition(pod, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message });
    try {
      await this.store.update(this.tenant, pods, next, pod.metadata.resourceVersion!);
      await recordEvent(this.store, this.tenant, pod, { type: 'Warning', reason: 'FailedScheduling', message, component: 'default-scheduler' });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e; // a newer version will come through the stream
    }
  }

  /** Retries every pod of the tenant still waiting for a node (after nodes or capacity change). */
  async retryPending(): Promise<void> {
    const { items } = await this.store.list(this.tenant, pods, { filter: needsScheduling });
    for (const pod of items) await this.schedule(pod.metadata.namespace!, pod.metadata.name!);
  }
}
