import { describe, expect, it } from 'vitest';
import {
  CalculationError,
  DEFAULT_SCALE_DOWN,
  DEFAULT_SCALE_UP,
  normalize,
  recordRecommendation,
  resourceReplicas,
  scaleDownLimit,
  scaleUpLimit,
  type PodSample,
  type PodUsage,
  type ResourceTarget,
} from '../../../functions/controllers/hpa-algorithm';

const NOW = 10_000_000;
const LONG_AGO = NOW - 3_600_000;
/** A Running pod, Ready for an hour, requesting 100m. */
const pod = (name: string, extra: Partial<PodSample> = {}): PodSample => ({ name, phase: 'Running', deleting: false, ready: true, readyTransition: LONG_AGO + 10_000, startTime: LONG_AGO, request: 100, ...extra });
const usage = (entries: Record<string, number>) => new Map<string, PodUsage>(Object.entries(entries).map(([k, v]) => [k, { value: v, timestamp: NOW - 1000, windowMs: 15_000 }]));
const cpu50: ResourceTarget = { type: 'Utilization', averageUtilization: 50 };

describe('resourceReplicas (replica_calculator.go)', () => {
  it.each<[string, number, ResourceTarget, PodSample[], Record<string, number>, number, number | undefined]>([
    ['at target: unchanged', 1, cpu50, [pod('a')], { a: 50 }, 1, 50],
    ['within the 10% tolerance up', 2, cpu50, [pod('a'), pod('b')], { a: 54, b: 54 }, 2, 54],
    ['within the 10% tolerance down', 2, cpu50, [pod('a'), pod('b')], { a: 46, b: 46 }, 2, 46],
    ['180% of a 50% target on 1 pod → 4', 1, cpu50, [pod('a')], { a: 180 }, 4, 180],
    ['burning 100% of request, target 50%, 1 → 2', 1, cpu50, [pod('a')], { a: 100 }, 2, 100],
    ['scale down: 10% of 50% on 4 pods → 1', 4, cpu50, [pod('a'), pod('b'), pod('c'), pod('d')], { a: 10, b: 10, c: 10, d: 10 }, 1, 10],
    ['AverageValue 200m target, 300m avg on 2 → 3', 2, { type: 'AverageValue', averageValue: 200 }, [pod('a'), pod('b')], { a: 300, b: 300 }, 3, undefined],
    // Missing metrics: scale down assumes them at the target (100% of request × target), damping the step.
    ['missing metrics on scale down count at the target', 3, cpu50, [pod('a'), pod('b'), pod('c')], { a: 10, b: 10 }, 2, 10],
    // Missing metrics on scale up count at 0.
    ['missing metrics on scale up count as 0', 2, cpu50, [pod('a'), pod('b')], { a: 150 }, 3, 150],
    // A missing pod that turns a scale-up into a "down" keeps the count.
    ['missing metrics flipping the direction keep the count', 2, cpu50, [pod('a'), pod('b')], { a: 60 }, 2, 60],
    // Unready pods on scale up count at 0: 2 ready at 100% + 2 unready → ratio (200/400)/0.5 = 1.0 → unchanged.
    ['unready pods count as 0 when scaling up', 4, cpu50, [pod('a'), pod('b'), pod('c', { ready: false, phase: 'Pending' }), pod('d', { ready: false, phase: 'Pending' })], { a: 100, b: 100 }, 4, 100],
    // Failed and deleting pods are ignored.
    ['failed and deleting pods are ignored', 1, cpu50, [pod('a'), pod('x', { phase: 'Failed' }), pod('y', { deleting: true })], { a: 100, x: 999, y: 999 }, 2, 100],
    // Within the cpu initialization period, a pod whose sample predates readiness + window is unready.
    ['a just-ready pod\'s stale sample is not counted (it counts as 0 on scale up)', 2, cpu50, [pod('a'), pod('b', { startTime: NOW - 60_000, readyTransition: NOW - 5_000 })], { a: 100, b: 500 }, 2, 100],
  ])('%s', (_, current, target, pods, m, want, utilization) => {
    const r = resourceReplicas(current, target, 'cpu', pods, usage(m), NOW);
    expect(r.replicas).toBe(want);
    expect(r.utilization).toBe(utilization);
  });

  it.each<[string, PodSample[], Record<string, number>, string]>([
    ['no pods', [], {}, 'no pods returned by selector while calculating replica count'],
    ['no request', [pod('a', { request: undefined, containerWithoutRequest: 'app' })], { a: 1 }, 'missing request for cpu in container app of Pod a'],
    ['no metrics at all', [pod('a')], {}, 'did not receive metrics for any ready pods'],
  ])('cannot say: %s', (_, pods, m, message) => {
    expect(() => resourceReplicas(1, cpu50, 'cpu', pods, usage(m), NOW)).toThrow(new CalculationError(message));
  });
});

describe('behavior', () => {
  it.each<[string, number, number, [number, number][], number]>([
    ['default scale up: max(4 pods, 100%) from 1 → 5', 1, 0, [], 5],
    ['default scale up from 10: 100% → 20', 10, 0, [], 20],
    ['after adding 4 within 15 s, the period started at 6', 10, 0, [[NOW - 5_000, 4]], 12],
    ['an addition older than the period does not count', 10, 0, [[NOW - 20_000, 4]], 20],
  ])('scaleUpLimit: %s', (_, current, __, events, want) => {
    expect(scaleUpLimit(current, events, DEFAULT_SCALE_UP, NOW)).toBe(want);
  });

  it.each<[string, number, [number, number][], number]>([
    ['default scale down: 100% → 0', 10, [], 0],
    ['Percent 50: 10 → 5', 10, [], 5],
  ])('scaleDownLimit: %s', (name, current, events, want) => {
    const rules = name.includes('50') ? { ...DEFAULT_SCALE_DOWN, policies: [{ type: 'Percent' as const, value: 50, periodSeconds: 60 }] } : DEFAULT_SCALE_DOWN;
    expect(scaleDownLimit(current, events, rules, NOW)).toBe(want);
  });

  it.each<[string, Parameters<typeof normalize>[0], number, string, string]>([
    ['scale up within bounds', { current: 1, desired: 3, min: 1, max: 3, recommendations: [], events: [] }, 3, 'False', 'DesiredWithinRange'],
    ['scale up capped by max', { current: 1, desired: 4, min: 1, max: 3, recommendations: [], events: [] }, 3, 'True', 'TooManyReplicas'],
    ['scale up capped by rate (Pods 1 per 60 s)', { current: 1, desired: 4, min: 1, max: 10, behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } }, recommendations: [], events: [] }, 2, 'True', 'ScaleUpLimit'],
    // Scale-down stabilization (300 s default): a higher recommendation 100 s ago holds the count.
    ['scale down held by the 300 s window', { current: 3, desired: 1, min: 1, max: 3, recommendations: [[3, NOW - 100_000], [1, NOW - 15_000]], events: [] }, 3, 'False', 'DesiredWithinRange'],
    ['scale down once the window passed', { current: 3, desired: 1, min: 1, max: 3, recommendations: [[3, NOW - 400_000], [1, NOW - 350_000]], events: [] }, 1, 'False', 'DesiredWithinRange'],
    ['scale down floored at min', { current: 3, desired: 0, min: 1, max: 3, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } }, recommendations: [], events: [] }, 1, 'True', 'TooFewReplicas'],
    ['scale up disabled', { current: 2, desired: 5, min: 1, max: 9, behavior: { scaleUp: { selectPolicy: 'Disabled' } }, recommendations: [], events: [] }, 2, 'True', 'ScaleUpLimit'],
  ])('normalize: %s', (_, opts, want, limited, reason) => {
    const n = normalize(opts, NOW);
    expect(n.replicas).toBe(want);
    expect(n.limited.status).toBe(limited);
    expect(n.limited.reason).toBe(reason);
  });

  it('stabilization reports ScaleDownStabilized when it held the count', () => {
    const n = normalize({ current: 3, desired: 1, min: 1, max: 3, recommendations: [[3, NOW - 100_000]], events: [] }, NOW);
    expect(n.able.reason).toBe('ScaleDownStabilized');
  });

  it('recommendations are kept as runs: an unchanged value adds nothing; old runs are forgotten', () => {
    let runs = recordRecommendation([], 3, NOW - 400_000, 300_000);
    runs = recordRecommendation(runs, 3, NOW - 385_000, 300_000);
    expect(runs).toEqual([[3, NOW - 400_000]]);
    runs = recordRecommendation(runs, 1, NOW - 350_000, 300_000);
    runs = recordRecommendation(runs, 2, NOW, 300_000);
    expect(runs).toEqual([[1, NOW - 350_000], [2, NOW]]);
  });

  it.each<[string, [number, number][], number, number, [number, number][]]>([
    // Both stabilization windows 0 (keepMs 0): the ongoing run stays, so a steady HPA's state does not change every sync.
    ['windows 0, unchanged value: the run stays as it was', [[1, NOW - 30_000]], 1, 0, [[1, NOW - 30_000]]],
    ['windows 0, new value: a new run (the ended one goes at the next sync)', [[1, NOW - 30_000]], 3, 0, [[1, NOW - 30_000], [3, NOW]]],
    ['windows 0, ended runs are dropped, the ongoing one kept', [[3, NOW - 60_000], [1, NOW - 30_000]], 1, 0, [[1, NOW - 30_000]]],
    ['a run older than the window that is still going on is kept', [[2, NOW - 900_000]], 2, 300_000, [[2, NOW - 900_000]]],
  ])('recordRecommendation: %s', (_, runs, replicas, keepMs, want) => {
    expect(recordRecommendation(runs, replicas, NOW, keepMs)).toEqual(want);
  });
});
