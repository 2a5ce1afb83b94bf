import { resourceByName, type KubeObject } from '../../shared/resources';
import { scaledValue } from '../../shared/kinds/apps';
import type { Deployment, ReplicaSet, WorkloadCondition } from '../../shared/schemas/apps';
import type { Action, EventNote } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { claim } from './claim';
import { byCreation, controllerRefOf, findCondition, isTerminal, newControllerRef, sameJson, semanticCopy, setCondition, templateHash, timestamp, withoutLabel } from './common';

/*
 * The Deployment controller (Kubernetes' pkg/controller/deployment): one ReplicaSet per pod
 * template (named by pod-template-hash), RollingUpdate and Recreate, revisions in ReplicaSet
 * annotations, history cleanup, pause, conditions Available/Progressing with the progress
 * deadline. One step per reconcile, as there: the ReplicaSet changes it makes come back on the
 * stream and drive the next step.
 */

export const COMPONENT = 'deployment-controller';
export const HASH_LABEL = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
const NOT_COPIED = new Set(['kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS]);

type D = Deployment & KubeObject;
type RS = ReplicaSet & KubeObject;

export interface DeploymentObserved {
  readonly deployment: KubeObject;
  /** Every ReplicaSet of the namespace (claiming needs the orphans too). */
  readonly replicaSets: readonly KubeObject[];
  /** Pods of the namespace; only Recreate looks at them (it waits for old pods to be gone). */
  readonly pods: readonly KubeObject[];
  readonly now: Date;
}

const revisionOf = (rs: KubeObject) => Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0;
const replicasOf = (rs: RS) => rs.spec.replicas ?? 0;
const statusOf = (rs: RS) => rs.status ?? { replicas: 0 };
const sum = (list: readonly RS[], f: (rs: RS) => number) => list.reduce((n, rs) => n + f(rs), 0);
const isRolling = (d: D) => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

/** Kubernetes' ResolveFenceposts: surge rounds up, unavailable down, and both 0 means 1 unavailable. */
export function fenceposts(d: D): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  if (!isRolling(d)) return { maxSurge: 0, maxUnavailable: 0 };
  const ru = d.spec.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge ?? '25%', replicas, true);
  let maxUnavailable = scaledValue(ru?.maxUnavailable ?? '25%', replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

const templateKey = (t: unknown) => semanticCopy(withoutLabel(t as { metadata?: { labels?: Record<string, string> } }, HASH_LABEL));

/**
 * The ReplicaSet whose template is the Deployment's (ignoring the hash label, compared
 * semantically as Kubernetes' EqualIgnoreHash); the oldest if several. After `kubectl rollout
 * undo` this is the old ReplicaSet, adopted again as the newest revision.
 */
export function findNewReplicaSet(d: D, rsList: readonly RS[]): RS | undefined {
  const want = templateKey(d.spec.template);
  return [...rsList].sort(byCreation).find((rs) => sameJson(templateKey(rs.spec.template), want));
}

function copyAnnotations(d: D, rs: RS): boolean {
  const ann = { ...rs.metadata.annotations };
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (NOT_COPIED.has(k) || ann[k] === v) continue;
    ann[k] = v;
    changed = true;
  }
  rs.metadata.annotations = ann;
  return changed;
}

/** Kubernetes' rollingUpdate NewRSNewReplicas: grow the new ReplicaSet within maxSurge. */
function newRSNewReplicas(d: D, all: readonly RS[], newRS: RS | undefined): number {
  const replicas = d.spec.replicas ?? 1;
  if (!isRolling(d)) return replicas;
  const current = newRS ? replicasOf(newRS) : 0;
  const total = sum(all, replicasOf);
  const maxTotal = replicas + fenceposts(d).maxSurge;
  if (total >= maxTotal) return current;
  return current + Math.max(0, Math.min(maxTotal - total, replicas - current));
}

export function reconcileDeployment({ deployment, replicaSets, pods, now }: DeploymentObserved): Action[] {
  const d = deployment as D;
  const replicas = d.spec.replicas ?? 1;
  const actions: Action[] = [];
  const events: EventNote[] = [];
  const ref = newControllerRef(d, 'apps/v1', 'Deployment');
  const c = claim(d, d.spec.selector, replicaSets, ref);
  for (const rs of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'replicasets', object: rs });

  // Working copies: steps below change them; what changed becomes one write per ReplicaSet.
  const original = new Map(c.owned.map((rs) => [rs.metadata.name!, rs]));
  const all: RS[] = c.owned.map((rs) => structuredClone(rs) as RS);
  let created: RS | undefined;
  const { maxSurge, maxUnavailable } = fenceposts(d);
  const scale = (rs: RS, to: number) => {
    const from = replicasOf(rs);
    rs.metadata.annotations = { ...rs.metadata.annotations, [DESIRED_REPLICAS]: String(replicas), [MAX_REPLICAS]: String(replicas + maxSurge) };
    if (from === to) return false;
    rs.spec = { ...rs.spec, replicas: to };
    events.push({ about: d, type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${to}` });
    return true;
  };

  let conditions: WorkloadCondition[] = [...(d.status?.conditions ?? [])];
  const progressingCond = (status: 'True' | 'False' | 'Unknown', reason: string, message: string): WorkloadCondition => ({
    type: 'Progressing',
    status,
    lastUpdateTime: timestamp(now),
    lastTransitionTime: timestamp(now),
    reason,
    message,
  });
  const paused = !!d.spec.paused;
  const prevProgressing = findCondition(conditions, 'Progressing');
  if (paused && prevProgressing?.reason !== 'DeploymentPaused') conditions = setCondition(conditions, progressingCond('Unknown', 'DeploymentPaused', 'Deployment is paused'));
  if (!paused && prevProgressing?.reason === 'DeploymentPaused') conditions = setCondition(conditions, progressingCond('Unknown', 'DeploymentResumed', 'Deployment is resumed'));

  let newRS = findNewReplicaSet(d, all);
  let oldRSs = all.filter((rs) => rs !== newRS);
  const newRevision = Math.max(0, ...oldRSs.map(revisionOf)) + 1;
  const annotations = { ...d.metadata.annotations };
  if (newRS) {
    copyAnnotations(d, newRS);
    const current = revisionOf(newRS);
    if (current < newRevision) {
      const ann: Record<string, string> = { ...newRS.metadata.annotations, [REVISION]: String(newRevision) };
      if (current > 0) ann[REVISION_HISTORY] = [ann[REVISION_HISTORY], String(current)].filter(Boolean).join(',');
      newRS.metadata.annotations = ann;
    }
  }
  const createNewRS = (initialReplicas: number): RS => {
    const hash = templateHash(d.spec.template, d.status?.collisionCount ?? 0);
    const template = structuredClone(d.spec.template ?? {});
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH_LABEL]: hash } };
    const rs = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...template.metadata.labels },
        annotations: { [REVISION]: String(newRevision), [DESIRED_REPLICAS]: String(replicas), [MAX_REPLICAS]: String(replicas + maxSurge) },
        ownerReferences: [ref],
      },
      spec: {
        replicas: initialReplicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: { ...d.spec.selector, matchLabels: { ...d.spec.selector?.matchLabels, [HASH_LABEL]: hash } },
        template,
      },
      status: { replicas: 0 },
    } as RS;
    copyAnnotations(d, rs);
    created = rs;
    all.push(rs);
    conditions = setCondition(conditions, progressingCond('True', 'NewReplicaSetCreated', `Created new replica set "${rs.metadata.name}"`));
    if (initialReplicas > 0) events.push({ about: d, type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set ${rs.metadata.name} from 0 to ${initialReplicas}` });
    return rs;
  };

  const deleting = !!d.metadata.deletionTimestamp;
  let complete = false;
  if (deleting) {
    // Being deleted: only report status.
  } else if (paused) {
    // Paused: no rollout, but scaling still applies to the one active ReplicaSet.
    const active = all.filter((rs) => replicasOf(rs) > 0);
    const target = active.length === 1 ? active[0] : active.length === 0 ? newRS : undefined;
    if (target) scale(target, replicas);
  } else if (isRolling(d)) {
    if (!newRS) newRS = createNewRS(newRSNewReplicas(d, all, undefined));
    oldRSs = all.filter((rs) => rs !== newRS);
    let changed = false;
    // reconcileNewReplicaSet
    if (replicasOf(newRS) > replicas) changed = scale(newRS, replicas);
    else if (replicasOf(newRS) < replicas) changed = scale(newRS, newRSNewReplicas(d, all, newRS));
    else scale(newRS, replicas);
    if (!changed) changed = scaleDownOldForRollingUpdate(d, all, newRS, maxUnavailable, scale);
    complete = !changed;
  } else {
    // Recreate: all old pods gone before any new one starts.
    const activeOld = oldRSs.filter((rs) => replicasOf(rs) > 0);
    let changed = false;
    for (const rs of activeOld) changed = scale(rs, 0) || changed;
    const oldUids = new Set(oldRSs.map((rs) => rs.metadata.uid));
    const oldPodsRunning = pods.some((p) => oldUids.has(controllerRefOf(p)?.uid) && !isTerminal(p));
    if (!changed && !oldPodsRunning) {
      if (!newRS) newRS = createNewRS(replicas);
      else scale(newRS, replicas);
      complete = true;
    }
  }

  // Status, as Kubernetes' calculateStatus + syncRolloutStatus.
  const available = sum(all, (rs) => statusOf(rs).availableReplicas ?? 0);
  const total = sum(all, replicasOf);
  const status: NonNullable<Deployment['status']> = {
    ...d.status,
    observedGeneration: d.metadata.generation,
    replicas: sum(all, (rs) => statusOf(rs).replicas ?? 0),
    updatedReplicas: newRS ? statusOf(newRS).replicas ?? 0 : 0,
    readyReplicas: sum(all, (rs) => statusOf(rs).readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
  };
  conditions =
    available >= replicas - maxUnavailable
      ? setCondition(conditions, { type: 'Available', status: 'True', lastUpdateTime: timestamp(now), lastTransitionTime: timestamp(now), reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' })
      : setCondition(conditions, { type: 'Available', status: 'False', lastUpdateTime: timestamp(now), lastTransitionTime: timestamp(now), reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' });
  let requeue: Date | undefined;
  const deadline = d.spec.progressDeadlineSeconds;
  if (!paused && !deleting && deadline !== undefined) {
    const cur = findCondition(conditions, 'Progressing');
    const isComplete = status.replicas === status.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
    const old = d.status ?? {};
    const what = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
    const deploymentComplete =
      status.updatedReplicas === replicas && status.replicas === replicas && status.availableReplicas === replicas && (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
    const progressing =
      (status.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
      (status.replicas ?? 0) - (status.updatedReplicas ?? 0) < (old.replicas ?? 0) - (old.updatedReplicas ?? 0) ||
      (status.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
      (status.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
    const lastUpdate = cur?.lastUpdateTime ? Date.parse(cur.lastUpdateTime) : NaN;
    const timedOut = !!cur && (cur.reason === 'ProgressDeadlineExceeded' || (Number.isFinite(lastUpdate) && lastUpdate + deadline * 1000 < now.getTime()));
    if (!isComplete) {
      if (deploymentComplete) conditions = setCondition(conditions, progressingCond('True', 'NewReplicaSetAvailable', `${what} has successfully progressed.`));
      else if (progressing) {
        // Progress moves lastUpdateTime (the deadline's start) even with the same reason.
        const next = progressingCond('True', 'ReplicaSetUpdated', `${what} is progressing.`);
        if (cur?.status === 'True') next.lastTransitionTime = cur.lastTransitionTime;
        conditions = [...conditions.filter((x) => x.type !== 'Progressing'), next];
      } else if (timedOut) conditions = setCondition(conditions, progressingCond('False', 'ProgressDeadlineExceeded', `${what} has timed out progressing.`));
      else if (!cur && newRS) conditions = setCondition(conditions, progressingCond('True', 'FoundNewReplicaSet', `Found new replica set "${newRS.metadata.name}"`));
    }
    const after = findCondition(conditions, 'Progressing');
    if (after && after.status === 'True' && after.reason !== 'NewReplicaSetAvailable' && after.lastUpdateTime)
      requeue = new Date(Date.parse(after.lastUpdateTime) + deadline * 1000 + 1000);
  } else if (deadline === undefined) conditions = conditions.filter((x) => x.type !== 'Progressing');
  status.conditions = conditions;

  if (complete && !paused) {
    // cleanupDeployment: keep revisionHistoryLimit old ReplicaSets that are scaled to zero.
    const cleanable = oldRSs
      .filter((rs) => replicasOf(rs) === 0 && (statusOf(rs).replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp)
      .sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    const excess = cleanable.length - (d.spec.revisionHistoryLimit ?? Number.MAX_SAFE_INTEGER);
    for (const rs of cleanable.slice(0, Math.max(0, excess)))
      actions.push({ type: 'delete', resource: 'replicasets', namespace: rs.metadata.namespace!, name: rs.metadata.name!, uid: rs.metadata.uid, propagationPolicy: 'Background' });
  }

  // Writes: the new ReplicaSet, changed ReplicaSets, events, then the Deployment itself.
  if (created) actions.push({ type: 'create', resource: 'replicasets', object: created, event: { about: d, type: 'Normal', reason: 'ScalingReplicaSet', message: `Created new replica set ${created.metadata.name}` } });
  for (const rs of all) {
    if (rs === created) continue;
    const before = original.get(rs.metadata.name!);
    if (before && !sameJson(before, rs)) actions.push({ type: 'update', resource: 'replicasets', object: rs });
  }
  for (const note of events) actions.push({ type: 'event', note });
  if (newRS && annotations[REVISION] !== newRS.metadata.annotations?.[REVISION]) {
    const rev = newRS.metadata.annotations?.[REVISION];
    if (rev) annotations[REVISION] = rev;
  }
  const nextD = { ...d, metadata: { ...d.metadata, annotations }, status };
  if (!sameJson(nextD, d)) actions.push({ type: 'update', resource: 'deployments', object: nextD });
  if (requeue) actions.push({ type: 'requeueAt', at: requeue });
  return actions;
}

/** Kubernetes' reconcileOldReplicaSets: scale old ReplicaSets down as far as availability allows. */
function scaleDownOldForRollingUpdate(d: D, all: RS[], newRS: RS, maxUnavailable: number, scale: (rs: RS, to: number) => boolean): boolean {
  const replicas = d.spec.replicas ?? 1;
  const old = all.filter((rs) => rs !== newRS).sort(byCreation);
  if (sum(old, replicasOf) === 0) return false;
  const minAvailable = replicas - maxUnavailable;
  const newUnavailable = replicasOf(newRS) - (statusOf(newRS).availableReplicas ?? 0);
  let maxScaledDown = sum(all, replicasOf) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  let changed = false;
  // First the old pods that are not available anyway (cleanupUnhealthyReplicas).
  for (const rs of old) {
    if (maxScaledDown <= 0) break;
    const unhealthy = replicasOf(rs) - (statusOf(rs).availableReplicas ?? 0);
    if (replicasOf(rs) === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown, unhealthy);
    changed = scale(rs, replicasOf(rs) - n) || changed;
    maxScaledDown -= n;
  }
  // Then available ones, while the total available stays at least minAvailable.
  const availableNow = sum(all, (rs) => Math.min(replicasOf(rs), statusOf(rs).availableReplicas ?? 0));
  let budget = availableNow - minAvailable;
  for (const rs of old) {
    if (budget <= 0) break;
    if (replicasOf(rs) === 0) continue;
    const n = Math.min(replicasOf(rs), budget);
    changed = scale(rs, replicasOf(rs) - n) || changed;
    budget -= n;
  }
  return changed;
}

/** Re-reads the Deployment, its namespace's ReplicaSets (and pods for Recreate), reconciles, applies. */
export async function syncDeployment(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const deployment = await ctx.store.get(ctx.tenant, resourceByName('deployments'), namespace, name);
  if (!deployment) return;
  const { items: replicaSets } = await ctx.store.list(ctx.tenant, resourceByName('replicasets'), { namespace, versioned: false });
  const recreate = (deployment.spec as D['spec']).strategy?.type === 'Recreate';
  const pods = recreate ? (await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false })).items : [];
  const actions = reconcileDeployment({ deployment, replicaSets, pods, now: ctx.now });
  await applyActions(ctx, COMPONENT, key, actions);
}
