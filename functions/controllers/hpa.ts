import { isNotFound } from '../../shared/errors';
import { recordEvent } from '../../shared/events';
import { hpaSpec } from '../../shared/kinds/autoscaling';
import { podMetricsFor } from '../../shared/metrics/resource-metrics';
import { systemContext } from '../../shared/registry/context';
import { listObjects, updateWhole } from '../../shared/registry/generic';
import { getScale, writeScale } from '../../shared/registry/scale';
import { resourceByName, resourceTypes, type KubeObject, type ResourceType } from '../../shared/resources';
import { cpuMillis, quantityValue } from '../../shared/schemas/quantity';
import { byteQuantity } from '../../shared/metrics/resource-metrics';
import type { ControllerContext } from './apply';
import { sameJson, timestamp } from './common';
import {
  CalculationError,
  normalize,
  recordRecommendation,
  resourceReplicas,
  type PodSample,
  type PodUsage,
  type Recommendation,
  type ResourceTarget,
  type ScaleEvent,
} from './hpa-algorithm';

/*
 * The HorizontalPodAutoscaler controller (pkg/controller/podautoscaler/horizontal.go): every
 * SYNC_PERIOD_MS per HPA, read the target's scale, the pods its selector matches and their
 * metrics (asked of the node agents, shared/metrics/), compute the replica count
 * (hpa-algorithm.ts), rescale through the scale subresource, and write status, conditions and
 * events. Only HPAs tick: each reconcile requeues its own key (the controllers' timers), so a
 * cluster without HPAs has no timer and costs nothing.
 *
 * What Kubernetes keeps in the controller's memory (recent recommendations and scale events, for
 * the behavior's windows and rate policies) lives in the HPA's STATE_ANNOTATION, written with
 * the status and only when it changed (recommendations are runs: an unchanged one adds nothing).
 */

export const COMPONENT = 'horizontal-pod-autoscaler';
/** --horizontal-pod-autoscaler-sync-period */
export const SYNC_PERIOD_MS = 15_000;
export const STATE_ANNOTATION = 'autoscaling.stratus.io/state';

/**
 * The next sync: the next slot of a SYNC_PERIOD_MS grid offset per key, so a sync off the stream
 * (creation, spec change: dispatch.ts hpaChangeNeedsSync; never the HPA's own status writes) asks
 * for the same timer (one timer item, overwritten) rather than a second one.
 */
export function nextTick(key: string, now: number): Date {
  let h = 0;
  for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const offset = h % SYNC_PERIOD_MS;
  return new Date(Math.floor((now - offset) / SYNC_PERIOD_MS) * SYNC_PERIOD_MS + offset + SYNC_PERIOD_MS);
}

interface State {
  r: Recommendation[];
  e: ScaleEvent[];
}

function stateOf(hpa: KubeObject): State {
  try {
    const s = JSON.parse(hpa.metadata.annotations?.[STATE_ANNOTATION] ?? '{}') as Partial<State>;
    return { r: Array.isArray(s.r) ? s.r : [], e: Array.isArray(s.e) ? s.e : [] };
  } catch {
    return { r: [], e: [] };
  }
}

/** The scalable kind a scaleTargetRef names (by kind, and by group when apiVersion says one). */
export function scaleTargetType(ref: { kind: string; apiVersion?: string }): ResourceType | undefined {
  const group = ref.apiVersion?.includes('/') ? ref.apiVersion.split('/')[0] : ref.apiVersion === undefined ? undefined : '';
  return resourceTypes.find((rt) => rt.kind === ref.kind && rt.subresources.includes('scale') && (group === undefined || rt.group === group));
}

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

function setCondition(list: Condition[], c: Condition, now: Date): Condition[] {
  const old = list.find((x) => x.type === c.type);
  const next = { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : timestamp(now) };
  return old ? list.map((x) => (x.type === c.type ? next : x)) : [...list, next];
}

const RESOURCE_WORDS: Record<string, string> = { cpu: 'cpu resource utilization (percentage of request)', memory: 'memory resource utilization (percentage of request)' };

/** A pod as the calculator reads it, with its requests of `resource` summed over its containers. */
export function podSample(p: KubeObject, resource: string): PodSample {
  const status = (p.status ?? {}) as { phase?: string; startTime?: string; conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const containers = ((p.spec as { containers?: { name: string; resources?: { requests?: Record<string, string | number> } }[] } | undefined)?.containers ?? []);
  let request: number | undefined = 0;
  let without: string | undefined;
  for (const c of containers) {
    const q = c.resources?.requests?.[resource];
    if (q === undefined) {
      request = undefined;
      without ??= c.name;
    } else if (request !== undefined) request += resource === 'cpu' ? cpuMillis(q) : quantityValue(q);
  }
  return {
    name: p.metadata.name!,
    phase: status.phase ?? 'Pending',
    deleting: !!p.metadata.deletionTimestamp,
    ready: ready?.status === 'True',
    ...(ready?.lastTransitionTime ? { readyTransition: Date.parse(ready.lastTransitionTime) } : {}),
    ...(status.startTime ? { startTime: Date.parse(status.startTime) } : {}),
    ...(request !== undefined ? { request } : {}),
    ...(without ? { containerWithoutRequest: without } : {}),
  };
}

/** Per pod, the resource's usage summed over its containers (millicores for cpu, bytes otherwise). */
export function podUsages(metrics: readonly KubeObject[], resource: string): Map<string, PodUsage> {
  const out = new Map<string, PodUsage>();
  for (const m of metrics) {
    const containers = (m.containers ?? []) as { usage: Record<string, string> }[];
    const value = containers.reduce((a, c) => a + (resource === 'cpu' ? cpuMillis(c.usage[resource]) : quantityValue(c.usage[resource])), 0);
    const window = /^(?:(\d+)m)?([\d.]+)(ms|s)$/.exec(String(m.window ?? '0s'));
    const windowMs = window ? Number(window[1] ?? 0) * 60_000 + Number(window[2]) * (window[3] === 'ms' ? 1 : 1000) : 0;
    out.set(m.metadata.name!, { value, timestamp: Date.parse(String(m.timestamp ?? '')) || 0, windowMs });
  }
  return out;
}

function targetOf(t: { type: string; averageUtilization?: number; averageValue?: string | number }, resource: string): ResourceTarget {
  if (t.type === 'AverageValue') return { type: 'AverageValue', averageValue: resource === 'cpu' ? cpuMillis(t.averageValue) : quantityValue(t.averageValue) };
  return { type: 'Utilization', averageUtilization: t.averageUtilization ?? 80 };
}

const millisQuantity = (m: number) => (m % 1000 === 0 ? String(m / 1000) : `${Math.round(m)}m`);

/** One HPA, once: the sync of horizontal.go's reconcileAutoscaler. */
export async function syncHpa(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const reg = systemContext(ctx.store, ctx.tenant);
  const hpaType = resourceByName('horizontalpodautoscalers');
  const hpa = await ctx.store.get(ctx.tenant, hpaType, namespace, name);
  if (!hpa || hpa.metadata.deletionTimestamp) return; // gone: no more ticks
  const spec = hpaSpec(hpa);
  const now = ctx.now.getTime();
  const oldStatus = (hpa.status ?? {}) as { conditions?: Condition[]; currentReplicas?: number; desiredReplicas?: number; lastScaleTime?: string; currentMetrics?: unknown[] };
  let conditions = oldStatus.conditions ?? [];
  const events: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
  const state = stateOf(hpa);
  const min = spec.minReplicas ?? 1;
  const ref = spec.scaleTargetRef;
  const requeue = () => ctx.coordination.requeueAt(ctx.tenant, key, nextTick(key, now));

  const finish = async (status: Record<string, unknown>, nextState: State) => {
    const annotations = { ...hpa.metadata.annotations, [STATE_ANNOTATION]: JSON.stringify(nextState) };
    const next: KubeObject = { ...hpa, metadata: { ...hpa.metadata, annotations }, status: { ...status, observedGeneration: hpa.metadata.generation } };
    if (!sameJson(next.status, hpa.status) || annotations[STATE_ANNOTATION] !== hpa.metadata.annotations?.[STATE_ANNOTATION]) {
      try {
        await updateWhole(reg, hpaType, next);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        return;
      }
    }
    for (const e of events) await recordEvent(ctx.store, ctx.tenant, hpa, { ...e, component: COMPONENT });
    await requeue();
  };

  const targetType = scaleTargetType(ref);
  let scale;
  try {
    if (!targetType) throw new Error(`the server could not find the requested resource (kind ${ref.kind})`);
    scale = await getScale(reg, { rt: targetType, namespace, name: ref.name, subresource: 'scale' });
  } catch (e) {
    const message = `the HPA controller was unable to get the target's current scale: ${e instanceof Error ? e.message : String(e)}`;
    conditions = setCondition(conditions, { type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message }, ctx.now);
    events.push({ type: 'Warning', reason: 'FailedGetScale', message: e instanceof Error ? e.message : String(e) });
    return finish({ ...oldStatus, conditions }, state);
  }
  const current = scale.spec.replicas ?? 0;
  let desired = current;
  let rescaleReason = '';
  let currentMetrics: unknown[] = oldStatus.currentMetrics ?? [];
  let nextState = state;

  if (current === 0 && min !== 0) {
    conditions = setCondition(conditions, { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' }, ctx.now);
    desired = 0;
  } else if (current > spec.maxReplicas) {
    desired = spec.maxReplicas;
    rescaleReason = 'Current number of replicas above Spec.MaxReplicas';
  } else if (current < min) {
    desired = min;
    rescaleReason = 'Current number of replicas below Spec.MinReplicas';
  } else {
    // computeReplicasForMetrics: the largest proposal over the metrics.
    const pods = (await listObjects(reg, { rt: resourceByName('pods'), namespace }, { labelSelector: scale.status?.selector ?? ""  })).items;
    const metrics = await podMetricsFor(reg, pods);
    let proposal = 0;
    let proposalReason = '';
    let error: string | undefined;
    currentMetrics = [];
    for (const m of spec.metrics ?? []) {
      if (m.type !== 'Resource' || !m.resource) continue;
      const resource = m.resource.name;
      const target = targetOf(m.resource.target, resource);
      try {
        const r = resourceReplicas(current, target, resource, pods.map((p) => podSample(p, resource)), podUsages(metrics, resource), now);
        currentMetrics.push({
          type: 'Resource',
          resource: {
            name: resource,
            current: { ...(r.utilization !== undefined ? { averageUtilization: r.utilization } : {}), averageValue: resource === 'cpu' ? millisQuantity(r.averageValue) : byteQuantity(r.averageValue) },
          },
        });
        if (r.replicas > proposal) {
          proposal = r.replicas;
          proposalReason = `${RESOURCE_WORDS[resource] ?? `${resource} resource`} ${r.replicas > current ? 'above' : 'below'} target`;
        }
      } catch (e) {
        if (!(e instanceof CalculationError)) throw e;
        error = `failed to get ${resource} utilization: unable to get metrics for resource ${resource}: ${e.message}`;
        currentMetrics.push({ type: '' });
      }
    }
    if (error && proposal === 0) {
      conditions = setCondition(conditions, { type: 'ScalingActive', status: 'False', reason: 'FailedGetResourceMetric', message: `the HPA was unable to compute the replica count: ${error}` }, ctx.now);
      events.push({ type: 'Warning', reason: 'FailedGetResourceMetric', message: error });
      events.push({ type: 'Warning', reason: 'FailedComputeMetricsReplicas', message: `invalid metrics (1 invalid out of ${spec.metrics?.length ?? 1}), first error is: ${error}` });
      return finish({ ...oldStatus, currentReplicas: current, desiredReplicas: oldStatus.desiredReplicas ?? current, currentMetrics, conditions }, state);
    }
    const first = spec.metrics?.[0]?.resource?.name ?? 'cpu';
    conditions = setCondition(conditions, { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${RESOURCE_WORDS[first] ?? `${first} resource`}` }, ctx.now);
    const n = normalize({ current, desired: proposal, min, max: spec.maxReplicas, behavior: spec.behavior, recommendations: state.r, events: state.e }, now);
    const keepMs = Math.max(spec.behavior?.scaleUp?.stabilizationWindowSeconds ?? 0, spec.behavior?.scaleDown?.stabilizationWindowSeconds ?? 300) * 1000;
    nextState = { ...state, r: recordRecommendation(state.r, proposal, now, keepMs) };
    conditions = setCondition(conditions, { type: 'AbleToScale', status: 'True', ...n.able }, ctx.now);
    conditions = setCondition(conditions, { type: 'ScalingLimited', ...n.limited }, ctx.now);
    desired = n.replicas;
    rescaleReason = proposalReason;
  }

  let lastScaleTime = oldStatus.lastScaleTime;
  if (desired !== current) {
    try {
      await writeScale(reg, { rt: targetType!, namespace, name: ref.name, subresource: 'scale' }, { patchType: 'application/merge-patch+json', patch: { spec: { replicas: desired } } });
    } catch (e) {
      const message = `failed to rescale ${ref.kind}/${ref.name}: ${e instanceof Error ? e.message : String(e)}`;
      conditions = setCondition(conditions, { type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: `the HPA controller was unable to update the target scale: ${message}` }, ctx.now);
      events.push({ type: 'Warning', reason: 'FailedRescale', message: `New size: ${desired}; reason: ${rescaleReason}; error: ${message}` });
      return finish({ ...oldStatus, currentReplicas: current, desiredReplicas: desired, currentMetrics, conditions }, nextState);
    }
    conditions = setCondition(conditions, { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` }, ctx.now);
    events.push({ type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${desired}; reason: ${rescaleReason}` });
    lastScaleTime = timestamp(ctx.now);
    const horizon = now - 1800 * 1000; // the longest policy period
    nextState = { ...nextState, e: [...nextState.e.filter(([t]) => t > horizon), [now, desired - current]] };
  }
  return finish(
    { ...(lastScaleTime ? { lastScaleTime } : {}), currentReplicas: current, desiredReplicas: desired, currentMetrics, conditions },
    nextState,
  );
}
