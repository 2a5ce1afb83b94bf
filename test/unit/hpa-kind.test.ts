import { describe, expect, it } from 'vitest';
import { defaultHpa, validateHpa } from '../../shared/kinds/autoscaling';
import { hpaTargets, horizontalPodAutoscalers } from '../../shared/printers/autoscaling';
import { nextTick, podSample, podUsages, scaleTargetType, SYNC_PERIOD_MS } from '../../functions/controllers/hpa';
import type { KubeObject } from '../../shared/resources';

const hpa = (spec: Record<string, unknown>): KubeObject => ({ metadata: { name: 'h', namespace: 'default' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 3, ...spec } });

describe('HorizontalPodAutoscaler autoscaling/v2', () => {
  it('defaults minReplicas 1, cpu 80%, and the behavior rules', () => {
    const d = defaultHpa(hpa({})).spec as Record<string, any>;
    expect(d.minReplicas).toBe(1);
    expect(d.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }]);
    expect(d.behavior.scaleDown).toEqual({ stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] });
    expect(d.behavior.scaleUp.policies).toHaveLength(2);
    // A given rule wins over the default.
    expect((defaultHpa(hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } })).spec as any).behavior.scaleDown.stabilizationWindowSeconds).toBe(0);
  });

  it.each([
    ['minReplicas 0', { minReplicas: 0 }, 'spec.minReplicas'],
    ['max below min', { minReplicas: 4 }, 'spec.maxReplicas'],
    ['no target name', { scaleTargetRef: { kind: 'Deployment', name: '' } }, 'spec.scaleTargetRef.name'],
    ['utilization 0', { metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0 } } }] }, 'spec.metrics[0].resource.target.averageUtilization'],
    ['window above an hour', { behavior: { scaleDown: { stabilizationWindowSeconds: 3601 } } }, 'spec.behavior.scaleDown.stabilizationWindowSeconds'],
    ['external metrics', { metrics: [{ type: 'External' }] }, 'spec.metrics[0].type'],
  ])('refuses %s', (_, spec, field) => {
    expect(validateHpa(hpa(spec)).map((c) => c.field)).toContain(field);
  });

  it('accepts a valid one', () => expect(validateHpa(defaultHpa(hpa({ minReplicas: 1 })))).toEqual([]));

  it.each([
    ['utilization known', [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }], [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 180, averageValue: '180m' } } }], 'cpu: 180%/50%'],
    ['utilization unknown', [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }], undefined, 'cpu: <unknown>/50%'],
    ['average value', [{ type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } }], [{ type: 'Resource', resource: { name: 'memory', current: { averageValue: '30Mi' } } }], 'memory: 30Mi/100Mi'],
    ['none', [], undefined, '<none>'],
  ])('TARGETS: %s', (_, metrics, current, want) => expect(hpaTargets(metrics, current)).toBe(want));

  it('columns: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE', () => {
    expect(horizontalPodAutoscalers.columns.map((c) => c.name)).toEqual(['Name', 'Reference', 'Targets', 'MinPods', 'MaxPods', 'Replicas', 'Age']);
    const o = { ...defaultHpa(hpa({})), status: { currentReplicas: 2 } };
    expect(horizontalPodAutoscalers.cells(o, Date.now()).slice(0, 6)).toEqual(['h', 'Deployment/web', 'cpu: <unknown>/80%', '1', 3, 2]);
  });
});

describe('HPA controller helpers', () => {
  it.each([
    [{ kind: 'Deployment', apiVersion: 'apps/v1' }, 'deployments'],
    [{ kind: 'ReplicaSet', apiVersion: 'apps/v1' }, 'replicasets'],
    [{ kind: 'StatefulSet' }, 'statefulsets'],
    [{ kind: 'ReplicationController', apiVersion: 'v1' }, 'replicationcontrollers'],
    [{ kind: 'Deployment', apiVersion: 'extensions/v1beta1' }, undefined],
    [{ kind: 'Pod', apiVersion: 'v1' }, undefined],
  ])('scale target %j → %s', (ref, want) => expect(scaleTargetType(ref)?.resource).toBe(want));

  it('pod requests are summed over containers; a container without one is named', () => {
    const p = (reqs: (string | undefined)[]): KubeObject => ({
      metadata: { name: 'p' },
      spec: { containers: reqs.map((r, i) => ({ name: `c${i}`, resources: r ? { requests: { cpu: r } } : {} })) },
      status: { phase: 'Running', startTime: '2026-01-01T00:00:00Z', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:05Z' }] },
    });
    expect(podSample(p(['100m', '0.25']), 'cpu')).toMatchObject({ request: 350, ready: true, phase: 'Running', readyTransition: Date.parse('2026-01-01T00:00:05Z') });
    expect(podSample(p(['100m', undefined]), 'cpu')).toMatchObject({ containerWithoutRequest: 'c1' });
    expect(podSample(p(['100m', undefined]), 'cpu').request).toBeUndefined();
  });

  it('pod usage sums containers, window parsed from metrics-server durations', () => {
    const m = podUsages([{ metadata: { name: 'p' }, timestamp: '2026-01-01T00:00:00Z', window: '1m0.5s', containers: [{ usage: { cpu: '250m', memory: '1Mi' } }, { usage: { cpu: '1234567n', memory: '0' } }] }], 'cpu');
    expect(m.get('p')).toEqual({ value: 252, timestamp: Date.parse('2026-01-01T00:00:00Z'), windowMs: 60_500 });
  });

  it('ticks land on one slot per period and key, whatever reconcile asks', () => {
    const a = nextTick('k', 1_000_000);
    expect(nextTick('k', 1_000_000 + 300)).toEqual(a);
    expect(a.getTime() - 1_000_000).toBeGreaterThan(0);
    expect(a.getTime() - 1_000_000).toBeLessThanOrEqual(SYNC_PERIOD_MS);
    expect(nextTick('k', a.getTime()).getTime() - a.getTime()).toBe(SYNC_PERIOD_MS);
  });
});

describe('autoscaling/v1 ↔ v2 conversion', () => {
  it('v1 cpu target ↔ v2 Resource metric; v2-only fields do not show in v1', async () => {
    const { hpaV1ToV2, hpaV2ToV1 } = await import('../../shared/kinds/autoscaling');
    const v1: KubeObject = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50 } };
    const v2 = hpaV1ToV2(v1);
    expect(v2.apiVersion).toBe('autoscaling/v2');
    expect((v2.spec as any).metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }]);
    expect((v2.spec as any).targetCPUUtilizationPercentage).toBeUndefined();
    const stored = { ...defaultHpa(v2), status: { currentReplicas: 2, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 180 } } }], conditions: [{ type: 'AbleToScale' }] } };
    const back = hpaV2ToV1(stored);
    expect(back.apiVersion).toBe('autoscaling/v1');
    expect(back.spec).toEqual({ scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50 });
    expect(back.status).toEqual({ currentReplicas: 2, currentCPUUtilizationPercentage: 180 });
    expect(horizontalPodAutoscalers.cells(back, Date.now())[2]).toBe('cpu: 180%/50%');
  });
});
