import { resourceByName, type KubeObject } from '../../shared/resources';
import type { Job, JobStatus } from '../../shared/schemas/batch';
import type { PodSpec } from '../../shared/schemas/pod';
import type { WorkloadCondition } from '../../shared/schemas/apps';
import type { Action, EventNote } from './actions';
import { applyActions, BURST, type ControllerContext } from './apply';
import { claim } from './claim';
import { deletionOrder, findCondition, isActive, isPodReady, newControllerRef, podPhase, restartCount, sameJson, setCondition, timestamp } from './common';

/*
 * The Job controller (Kubernetes' pkg/controller/job) and the TTL-after-finished controller:
 * run pods until `completions` succeed (NonIndexed or Indexed), never more than `parallelism`
 * at once; fail on backoffLimit or activeDeadlineSeconds; delete the Job ttlSecondsAfterFinished
 * after it finished.
 *
 * Counting: Kubernetes counts finished pods through a tracking finalizer so a deleted pod is
 * never forgotten. Here counts are taken from the pods present and never go down (Indexed: the
 * union of completed indexes), which is exact as long as finished pods are not deleted by hand
 * while the Job runs (they are kept until the Job goes; see the report of issue #4).
 */

export const COMPONENT = 'job-controller';
export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';

type J = Job & KubeObject;

export interface JobObserved {
  readonly job: KubeObject;
  readonly pods: readonly KubeObject[];
  readonly now: Date;
}

/** "0-2,4" ⇄ {0,1,2,4}: Kubernetes' completedIndexes format. */
export function parseIndexes(s: string | undefined): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? '').split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a!; i <= (b ?? a)!; i++) out.add(i);
  }
  return out;
}
export function formatIndexes(set: ReadonlySet<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

const indexOf = (p: KubeObject) => {
  const v = p.metadata.annotations?.[COMPLETION_INDEX] ?? p.metadata.labels?.[COMPLETION_INDEX];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
};

export const isFinished = (job: KubeObject) =>
  ((job.status as JobStatus | undefined)?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

export function reconcileJob({ job: obj, pods, now }: JobObserved): Action[] {
  const job = obj as J;
  const spec = job.spec;
  const actions: Action[] = [];
  const events: EventNote[] = [];
  const prev: JobStatus = job.status ?? {};
  const ref = newControllerRef(job, 'batch/v1', 'Job');
  const c = claim(job, spec.selector, pods, ref);
  for (const p of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'pods', object: p });
  const owned = c.owned;
  const active = owned.filter(isActive);
  const indexed = spec.completionMode === 'Indexed';
  const condition = (type: string, reason: string, message: string): WorkloadCondition => ({
    type,
    status: 'True',
    lastProbeTime: timestamp(now),
    lastTransitionTime: timestamp(now),
    reason,
    message,
  });

  // Finished already: only the TTL is left to watch.
  if (isFinished(job)) {
    for (const p of active) actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid });
    const ttl = spec.ttlSecondsAfterFinished;
    if (ttl !== undefined && !job.metadata.deletionTimestamp) {
      const done = (prev.conditions ?? []).find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
      const finishedAt = Date.parse(prev.completionTime ?? done?.lastTransitionTime ?? '') || now.getTime();
      const expireAt = new Date(finishedAt + ttl * 1000);
      if (expireAt.getTime() <= now.getTime())
        actions.push({ type: 'delete', resource: 'jobs', namespace: job.metadata.namespace!, name: job.metadata.name!, uid: job.metadata.uid, propagationPolicy: 'Background' });
      else actions.push({ type: 'requeueAt', at: expireAt });
    }
    return actions;
  }

  const succeededPods = owned.filter((p) => podPhase(p) === 'Succeeded');
  const failedPods = owned.filter((p) => podPhase(p) === 'Failed');
  const completed = parseIndexes(prev.completedIndexes);
  if (indexed) for (const p of succeededPods) if (indexOf(p) !== undefined && indexOf(p)! < (spec.completions ?? 0)) completed.add(indexOf(p)!);
  const succeeded = indexed ? completed.size : Math.max(prev.succeeded ?? 0, succeededPods.length);
  const failed = Math.max(prev.failed ?? 0, failedPods.length);
  const restarts = spec.template.spec?.restartPolicy === 'OnFailure' ? active.reduce((n, p) => n + restartCount(p), 0) : 0;
  const startTime = prev.startTime ?? (spec.suspend ? undefined : timestamp(now));
  let conditions = [...(prev.conditions ?? [])];
  let finished: 'Complete' | 'Failed' | undefined;
  let wantDeleteAll = false;

  const ads = spec.activeDeadlineSeconds;
  const deadlineAt = ads !== undefined && startTime ? Date.parse(startTime) + ads * 1000 : undefined;
  if (failed + restarts > (spec.backoffLimit ?? 6)) {
    finished = 'Failed';
    conditions = setCondition(conditions, condition('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'));
    events.push({ about: job, type: 'Warning', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
  } else if (deadlineAt !== undefined && deadlineAt <= now.getTime() && !spec.suspend) {
    finished = 'Failed';
    conditions = setCondition(conditions, condition('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'));
    events.push({ about: job, type: 'Warning', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
  } else {
    const done = spec.completions === undefined ? succeeded > 0 && active.length === 0 : succeeded >= spec.completions;
    if (done) {
      finished = 'Complete';
      conditions = setCondition(conditions, condition('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods'));
      events.push({ about: job, type: 'Normal', reason: 'Completed', message: 'Job completed' });
    }
  }
  if (finished === 'Failed') wantDeleteAll = true;

  let activeCount = active.length;
  if (!finished && !job.metadata.deletionTimestamp) {
    const parallelism = spec.suspend ? 0 : (spec.parallelism ?? 1);
    if (indexed) {
      const running = new Set(active.map(indexOf));
      const pending = [...Array(spec.completions ?? 0).keys()].filter((i) => !completed.has(i) && !running.has(i));
      const room = Math.max(0, parallelism - active.length);
      for (const i of pending.slice(0, Math.min(room, BURST))) actions.push(createPod(job, ref, i));
      activeCount += Math.min(room, pending.length);
      if (active.length > parallelism) wantDeleteAll = parallelism === 0;
    } else {
      const remaining = spec.completions === undefined ? (succeeded > 0 ? 0 : parallelism) : spec.completions - succeeded;
      const want = Math.min(parallelism, Math.max(0, remaining));
      if (active.length < want && !(spec.completions === undefined && succeeded > 0)) {
        const n = Math.min(want - active.length, BURST);
        for (let i = 0; i < n; i++) actions.push(createPod(job, ref));
        activeCount += n;
      } else if (active.length > want && spec.completions !== undefined) {
        for (const p of [...active].sort(deletionOrder).slice(0, active.length - want)) {
          actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid, event: { about: job, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${p.metadata.name}` } });
          activeCount--;
        }
      }
    }
    if (spec.suspend) conditions = setCondition(conditions, { ...condition('Suspended', 'JobSuspended', 'Job suspended'), status: 'True' });
    else if (findCondition(conditions, 'Suspended')?.status === 'True') conditions = setCondition(conditions, { ...condition('Suspended', 'JobResumed', 'Job resumed'), status: 'False' });
  }
  if (wantDeleteAll || (spec.suspend && !finished)) {
    for (const p of active) actions.push({ type: 'delete', resource: 'pods', namespace: p.metadata.namespace!, name: p.metadata.name!, uid: p.metadata.uid });
    activeCount = 0;
  }

  const status: JobStatus = {
    ...prev,
    active: activeCount,
    ready: active.filter(isPodReady).length,
    succeeded,
    failed,
    terminating: owned.filter((p) => !!p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(podPhase(p))).length,
    uncountedTerminatedPods: {},
    ...(startTime ? { startTime } : {}),
    ...(indexed ? { completedIndexes: formatIndexes(completed) } : {}),
    ...(finished === 'Complete' ? { completionTime: timestamp(now) } : {}),
    conditions: conditions.length ? conditions : undefined,
  };
  if (finished) status.active = 0;
  if (!status.conditions) delete status.conditions;
  if (!sameJson(status, prev)) actions.push({ type: 'update', resource: 'jobs', object: { ...job, status } });
  for (const note of events) actions.push({ type: 'event', note });
  if (finished && spec.ttlSecondsAfterFinished !== undefined) actions.push({ type: 'requeueAt', at: new Date(now.getTime() + spec.ttlSecondsAfterFinished * 1000) });
  if (!finished && deadlineAt !== undefined) actions.push({ type: 'requeueAt', at: new Date(deadlineAt) });
  return actions;
}

function createPod(job: J, ref: ReturnType<typeof newControllerRef>, index?: number): Action {
  const template = job.spec.template;
  const labels = { ...template.metadata?.labels };
  const annotations = { ...template.metadata?.annotations };
  const spec = structuredClone(template.spec ?? {}) as PodSpec;
  if (index !== undefined) {
    labels[COMPLETION_INDEX] = String(index);
    annotations[COMPLETION_INDEX] = String(index);
    spec.hostname ??= `${job.metadata.name}-${index}`;
    spec.containers = (spec.containers ?? []).map((c) => ({ ...c, env: [...(c.env ?? []).filter((e) => e.name !== 'JOB_COMPLETION_INDEX'), { name: 'JOB_COMPLETION_INDEX', value: String(index) }] }));
  }
  return {
    type: 'create',
    resource: 'pods',
    generateName: index === undefined ? `${job.metadata.name}-` : `${job.metadata.name}-${index}-`,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace: job.metadata.namespace, labels, ...(Object.keys(annotations).length ? { annotations } : {}), ownerReferences: [ref] },
      spec,
    },
    event: { about: job, type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: $NAME' },
  };
}

/** Re-reads the Job and its namespace's pods, reconciles, applies. NotFound is done. */
export async function syncJob(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const job = await ctx.store.get(ctx.tenant, resourceByName('jobs'), namespace, name);
  if (!job) return;
  const { items: pods } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false });
  await applyActions(ctx, COMPONENT, key, reconcileJob({ job, pods, now: ctx.now }));
}
