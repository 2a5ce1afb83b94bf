/**
 * The HorizontalPodAutoscaler's arithmetic, pure (Kubernetes' pkg/controller/podautoscaler
 * replica_calculator.go and horizontal.go, rewritten): from per-pod usage and requests to a
 * replica count, with the 10% tolerance, missing-metrics and not-yet-ready pods handled as
 * Kubernetes does, then the behavior's stabilization windows and rate policies.
 */

export const TOLERANCE = 0.1;
/** --horizontal-pod-autoscaler-cpu-initialization-period */
export const CPU_INITIALIZATION_PERIOD_MS = 5 * 60_000;
/** --horizontal-pod-autoscaler-initial-readiness-delay */
export const INITIAL_READINESS_DELAY_MS = 30_000;

/** One pod as the calculator sees it. */
export interface PodSample {
  readonly name: string;
  /** Pending, Running, Succeeded, Failed. */
  readonly phase: string;
  readonly deleting: boolean;
  /** Ready condition True. */
  readonly ready: boolean;
  /** Ready condition's lastTransitionTime (ms), if any. */
  readonly readyTransition?: number;
  /** status.startTime (ms), if any. */
  readonly startTime?: number;
  /** Sum of the containers' requests of the resource (milli-units for cpu, bytes for memory); undefined when a container has none. */
  readonly request?: number;
  /** The container without a request, for the error message. */
  readonly containerWithoutRequest?: string;
}

/** A pod's usage (milli-units for cpu, bytes for memory) and its sample's timestamp and window. */
export interface PodUsage {
  readonly value: number;
  readonly timestamp: number;
  readonly windowMs: number;
}

export type ResourceTarget = { readonly type: 'Utilization'; readonly averageUtilization: number } | { readonly type: 'AverageValue'; readonly averageValue: number };

export interface ReplicaResult {
  readonly replicas: number;
  /** Utilization (percent of requests, integer) when the target is Utilization. */
  readonly utilization?: number;
  /** Average usage per pod with metrics (the raw value). */
  readonly averageValue: number;
}

export class CalculationError extends Error {}

/** Which pods count (GroupPods): ready with metrics, unready, missing metrics; failed or deleted ones are ignored. */
export function groupPods(pods: readonly PodSample[], metrics: ReadonlyMap<string, PodUsage>, resource: string, now: number) {
  const ready = new Set<string>();
  const unready = new Set<string>();
  const missing = new Set<string>();
  const ignored = new Set<string>();
  for (const p of pods) {
    if (p.deleting || p.phase === 'Failed') {
      ignored.add(p.name);
      continue;
    }
    if (p.phase === 'Pending') {
      unready.add(p.name);
      continue;
    }
    const m = metrics.get(p.name);
    if (!m) {
      missing.add(p.name);
      continue;
    }
    let isUnready = false;
    if (resource === 'cpu') {
      if (p.startTime === undefined || p.readyTransition === undefined) isUnready = true;
      else if (p.startTime + CPU_INITIALIZATION_PERIOD_MS > now) {
        // Within the initialization period: unready, or the sample predates readiness plus its window.
        isUnready = !p.ready || m.timestamp < p.readyTransition + m.windowMs;
      } else {
        // Later: unready only if it never became ready since starting (within the readiness delay).
        isUnready = !p.ready && p.readyTransition < p.startTime + INITIAL_READINESS_DELAY_MS;
      }
    }
    (isUnready ? unready : ready).add(p.name);
  }
  return { ready, unready, missing, ignored };
}

const within = (ratio: number) => Math.abs(1 - ratio) <= TOLERANCE;

/**
 * GetResourceReplicas / GetRawResourceReplicas: the replica count for one resource metric.
 * Throws CalculationError with Kubernetes' messages when it cannot say.
 */
export function resourceReplicas(currentReplicas: number, target: ResourceTarget, resource: string, pods: readonly PodSample[], allMetrics: ReadonlyMap<string, PodUsage>, now: number): ReplicaResult {
  if (pods.length === 0) throw new CalculationError('no pods returned by selector while calculating replica count');
  const { ready, unready, missing, ignored } = groupPods(pods, allMetrics, resource, now);
  const metrics = new Map<string, number>();
  for (const [name, m] of allMetrics) if (!unready.has(name) && !ignored.has(name) && pods.some((p) => p.name === name)) metrics.set(name, m.value);
  if (metrics.size === 0 && missing.size === 0 && unready.size === 0) throw new CalculationError(`did not receive metrics for targeted pods (pods might be unready)`);
  const byName = new Map(pods.map((p) => [p.name, p]));

  const requests = new Map<string, number>();
  if (target.type === 'Utilization') {
    for (const p of pods) {
      if (p.request === undefined) throw new CalculationError(`missing request for ${resource} in container ${p.containerWithoutRequest ?? ''} of Pod ${p.name}`);
      requests.set(p.name, p.request);
    }
  }

  /** (usage ratio, utilization, average) of the metrics as they stand. */
  const ratioOf = (m: ReadonlyMap<string, number>) => {
    let usage = 0;
    let req = 0;
    for (const [name, v] of m) {
      usage += v;
      if (target.type === 'Utilization') req += requests.get(name) ?? 0;
    }
    const average = m.size ? usage / m.size : 0;
    if (target.type === 'Utilization') {
      if (req === 0) throw new CalculationError(`no metrics returned matched known pods`);
      const utilization = Math.trunc((usage * 100) / req);
      return { ratio: (usage * 100) / req / target.averageUtilization, utilization, average };
    }
    return { ratio: average / target.averageValue, utilization: undefined, average };
  };

  if (metrics.size === 0) {
    // Only unready or missing pods: nothing to go on.
    throw new CalculationError('did not receive metrics for any ready pods');
  }
  const first = ratioOf(metrics);
  const result = (replicas: number): ReplicaResult => ({ replicas, averageValue: first.average, ...(first.utilization !== undefined ? { utilization: first.utilization } : {}) });
  const scaleUpWithUnready = unready.size > 0 && first.ratio > 1;
  if (!scaleUpWithUnready && missing.size === 0) {
    if (within(first.ratio)) return result(currentReplicas);
    return result(Math.ceil(first.ratio * ready.size));
  }

  // Fill in the gaps conservatively: missing pods at the target when scaling down (100% of their
  // request, or the target value), at 0 when scaling up; unready pods at 0 when scaling up.
  const filled = new Map(metrics);
  for (const name of missing) {
    if (first.ratio < 1) filled.set(name, target.type === 'Utilization' ? ((byName.get(name)?.request ?? 0) * target.averageUtilization) / 100 : target.averageValue);
    else filled.set(name, 0);
  }
  if (scaleUpWithUnready) for (const name of unready) filled.set(name, 0);
  const next = ratioOf(filled);
  if (within(next.ratio) || (first.ratio < 1 && next.ratio > 1) || (first.ratio > 1 && next.ratio < 1)) return result(currentReplicas);
  const replicas = Math.ceil(next.ratio * filled.size);
  if ((next.ratio < 1 && replicas > currentReplicas) || (next.ratio > 1 && replicas < currentReplicas)) return result(currentReplicas);
  return result(replicas);
}

// ---- behavior ----

export interface ScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  readonly value: number;
  readonly periodSeconds: number;
}
export interface ScalingRules {
  readonly stabilizationWindowSeconds?: number;
  readonly selectPolicy?: 'Max' | 'Min' | 'Disabled';
  readonly policies?: readonly ScalingPolicy[];
}
export interface Behavior {
  readonly scaleUp?: ScalingRules;
  readonly scaleDown?: ScalingRules;
}

/** Kubernetes' defaults (SetDefaults_HorizontalPodAutoscalerBehavior). */
export const DEFAULT_SCALE_UP: Required<ScalingRules> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: Required<ScalingRules> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};
export const withDefaults = (r: ScalingRules | undefined, d: Required<ScalingRules>): Required<ScalingRules> => ({
  stabilizationWindowSeconds: r?.stabilizationWindowSeconds ?? d.stabilizationWindowSeconds,
  selectPolicy: r?.selectPolicy ?? d.selectPolicy,
  policies: r?.policies ?? d.policies,
});

/** A past recommendation, [replicas, since ms]: it held from `since` until the next one's (or now). */
export type Recommendation = readonly [replicas: number, since: number];
/** A past rescale, [ms, replicas added (negative: removed)]. */
export type ScaleEvent = readonly [time: number, change: number];

/**
 * stabilizeRecommendationWithBehaviors: the highest recommendation of the scale-down window and
 * the lowest of the scale-up window bound the new one. Recommendations are kept as runs (value,
 * since), so only a change of value needs remembering.
 */
export function stabilize(recommendations: readonly Recommendation[], desired: number, current: number, up: Required<ScalingRules>, down: Required<ScalingRules>, now: number): number {
  const upCutoff = now - up.stabilizationWindowSeconds * 1000;
  const downCutoff = now - down.stabilizationWindowSeconds * 1000;
  let upRecommendation = desired;
  let downRecommendation = desired;
  recommendations.forEach(([value, since], i) => {
    const until = recommendations[i + 1]?.[1] ?? now;
    // The run was last recommended just before the next one began (the last: at the last tick).
    if (until > upCutoff && since <= now) upRecommendation = Math.min(upRecommendation, value);
    if (until > downCutoff && since <= now) downRecommendation = Math.max(downRecommendation, value);
  });
  // Never move against the direction of the stabilized bounds.
  let recommendation = current;
  if (recommendation < upRecommendation) recommendation = upRecommendation;
  if (recommendation > downRecommendation) recommendation = downRecommendation;
  return recommendation;
}

/** Replicas added (up) or removed (down), as a positive count, within the period before now (getReplicasChangePerPeriod). */
function changedWithin(events: readonly ScaleEvent[], periodSeconds: number, now: number, up: boolean): number {
  const cutoff = now - periodSeconds * 1000;
  return events.filter(([t, c]) => t > cutoff && (up ? c > 0 : c < 0)).reduce((a, [, c]) => a + Math.abs(c), 0);
}

const periodStart = (current: number, events: readonly ScaleEvent[], periodSeconds: number, now: number) =>
  current - changedWithin(events, periodSeconds, now, true) + changedWithin(events, periodSeconds, now, false);

/** calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now. */
export function scaleUpLimit(current: number, events: readonly ScaleEvent[], rules: Required<ScalingRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies) {
    const start = periodStart(current, events, p.periodSeconds, now);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = rules.selectPolicy === 'Min' ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now. */
export function scaleDownLimit(current: number, events: readonly ScaleEvent[], rules: Required<ScalingRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies) {
    const start = periodStart(current, events, p.periodSeconds, now);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = rules.selectPolicy === 'Min' ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

export interface Normalized {
  readonly replicas: number;
  /** AbleToScale's reason and message (ScaleDownStabilized or ReadyForNewScale). */
  readonly able: { readonly reason: string; readonly message: string };
  /** ScalingLimited: status True when the rate or the bounds changed the stabilized count. */
  readonly limited: { readonly status: 'True' | 'False'; readonly reason: string; readonly message: string };
}

/** normalizeDesiredReplicasWithBehaviors: stabilization, then the rate policies and min/max (convertDesiredReplicasWithBehaviorRate). */
export function normalize(
  opts: { current: number; desired: number; min: number; max: number; behavior?: Behavior; recommendations: readonly Recommendation[]; events: readonly ScaleEvent[] },
  now: number,
): Normalized {
  const up = withDefaults(opts.behavior?.scaleUp, DEFAULT_SCALE_UP);
  const down = withDefaults(opts.behavior?.scaleDown, DEFAULT_SCALE_DOWN);
  const stabilized = stabilize(opts.recommendations, opts.desired, opts.current, up, down, now);
  const able =
    stabilized !== opts.desired
      ? { reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' }
      : { reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
  let replicas = stabilized;
  let reason = 'DesiredWithinRange';
  let message = 'the desired count is within the acceptable range';
  if (stabilized > opts.current) {
    const limit = Math.max(scaleUpLimit(opts.current, opts.events, up, now), opts.current);
    let allowed = opts.max;
    if (allowed > limit) {
      allowed = limit;
      [reason, message] = ['ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate'];
    } else [reason, message] = ['TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
    if (stabilized > allowed) replicas = allowed;
    else [reason, message] = ['DesiredWithinRange', 'the desired count is within the acceptable range'];
  } else if (stabilized < opts.current) {
    const limit = Math.min(scaleDownLimit(opts.current, opts.events, down, now), opts.current);
    let allowed = opts.min;
    if (allowed < limit) {
      allowed = limit;
      [reason, message] = ['ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate'];
    } else [reason, message] = ['TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
    if (stabilized < allowed) replicas = allowed;
    else [reason, message] = ['DesiredWithinRange', 'the desired count is within the acceptable range'];
  }
  return { replicas, able, limited: { status: replicas === stabilized ? 'False' : 'True', reason, message } };
}

/**
 * Appends a recommendation as a run (unchanged value: nothing new) and forgets runs that ended
 * before `keepMs`. The last run is still going on, so it is always kept: with both windows 0
 * (keepMs 0) an unchanged value must not start a new run every sync (a state change every tick).
 */
export function recordRecommendation(runs: readonly Recommendation[], replicas: number, now: number, keepMs: number): Recommendation[] {
  const out = runs.filter((_, i) => i === runs.length - 1 || runs[i + 1]![1] > now - keepMs);
  if (out[out.length - 1]?.[0] !== replicas) out.push([replicas, now]);
  return out;
}
