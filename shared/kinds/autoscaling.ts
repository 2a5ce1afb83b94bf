import { freshStatus } from './common';
import { z } from 'zod';
import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { ObjectMetaSchema } from '../schemas/meta';
import { isQuantity } from '../schemas/quantity';
import { horizontalPodAutoscalers } from '../printers/autoscaling';

/*
 * Issue #17: autoscaling/v2 HorizontalPodAutoscaler, with Kubernetes' defaulting
 * (SetDefaults_HorizontalPodAutoscaler: minReplicas 1, cpu at 80% when no metric, the behavior's
 * default rules) and validation (pkg/apis/autoscaling/validation). The controller is
 * functions/controllers/hpa.ts.
 */

const CrossVersionObjectReference = z.looseObject({ kind: z.string(), name: z.string(), apiVersion: z.string().optional() });
const MetricTarget = z.looseObject({
  type: z.enum(['Utilization', 'Value', 'AverageValue']),
  averageUtilization: z.number().int().optional(),
  averageValue: z.union([z.string(), z.number()]).optional(),
  value: z.union([z.string(), z.number()]).optional(),
});
const MetricSpec = z.looseObject({
  type: z.enum(['Resource', 'ContainerResource', 'Pods', 'Object', 'External']),
  resource: z.looseObject({ name: z.string(), target: MetricTarget }).optional(),
});
const Policy = z.looseObject({ type: z.enum(['Pods', 'Percent']), value: z.number().int(), periodSeconds: z.number().int() });
const Rules = z.looseObject({ stabilizationWindowSeconds: z.number().int().optional(), selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(), policies: z.array(Policy).optional() });
export const HorizontalPodAutoscalerSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    scaleTargetRef: CrossVersionObjectReference,
    minReplicas: z.number().int().optional(),
    maxReplicas: z.number().int(),
    metrics: z.array(MetricSpec).optional(),
    behavior: z.looseObject({ scaleUp: Rules.optional(), scaleDown: Rules.optional() }).optional(),
  }),
  status: z.looseObject({}).optional(),
});

export interface HpaSpec {
  scaleTargetRef: { kind: string; name: string; apiVersion?: string };
  minReplicas?: number;
  maxReplicas: number;
  metrics?: { type: string; resource?: { name: string; target: { type: string; averageUtilization?: number; averageValue?: string | number } } }[];
  behavior?: {
    scaleUp?: { stabilizationWindowSeconds?: number; selectPolicy?: 'Max' | 'Min' | 'Disabled'; policies?: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[] };
    scaleDown?: { stabilizationWindowSeconds?: number; selectPolicy?: 'Max' | 'Min' | 'Disabled'; policies?: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[] };
  };
}
export const hpaSpec = (o: KubeObject) => (o.spec ?? {}) as HpaSpec;

const DEFAULT_UP = { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] } as const;
const DEFAULT_DOWN = { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } as const;

/** SetDefaults_HorizontalPodAutoscaler (v2). */
export function defaultHpa(o: KubeObject): KubeObject {
  const spec = { ...hpaSpec(o) };
  spec.minReplicas ??= 1;
  if (!spec.metrics || spec.metrics.length === 0) spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
  const b = spec.behavior ?? {};
  spec.behavior = {
    scaleUp: { ...structuredClone(DEFAULT_UP), ...b.scaleUp } as NonNullable<HpaSpec['behavior']>['scaleUp'],
    scaleDown: { ...structuredClone(DEFAULT_DOWN), ...b.scaleDown } as NonNullable<HpaSpec['behavior']>['scaleDown'],
  };
  return { ...o, spec };
}

/** ValidateHorizontalPodAutoscaler (the parts clients meet). */
export function validateHpa(o: KubeObject): StatusCause[] {
  const spec = hpaSpec(o);
  const causes: StatusCause[] = [];
  const bad = (field: string, message: string) => causes.push({ reason: 'FieldValueInvalid', message, field });
  if (spec.minReplicas !== undefined && spec.minReplicas < 1) bad('spec.minReplicas', `Invalid value: ${spec.minReplicas}: must be greater than or equal to 1`);
  if (spec.maxReplicas < 1) bad('spec.maxReplicas', `Invalid value: ${spec.maxReplicas}: must be greater than 0`);
  if (spec.minReplicas !== undefined && spec.maxReplicas < spec.minReplicas) bad('spec.maxReplicas', `Invalid value: ${spec.maxReplicas}: must be greater than or equal to \`minReplicas\``);
  if (!spec.scaleTargetRef?.kind) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.scaleTargetRef.kind' });
  if (!spec.scaleTargetRef?.name) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.scaleTargetRef.name' });
  (spec.metrics ?? []).forEach((m, i) => {
    const f = `spec.metrics[${i}]`;
    if (m.type !== 'Resource') return void bad(`${f}.type`, `Unsupported value: "${m.type}": Stratus serves Resource metrics only`);
    const t = m.resource?.target;
    if (!m.resource?.name) return void causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${f}.resource.name` });
    if (t?.type === 'Utilization' && (t.averageUtilization === undefined || t.averageUtilization <= 0)) bad(`${f}.resource.target.averageUtilization`, 'Invalid value: must be greater than 0');
    if (t?.type === 'AverageValue' && (t.averageValue === undefined || !isQuantity(String(t.averageValue)))) bad(`${f}.resource.target.averageValue`, 'Invalid value: must be a positive quantity');
    if (t?.type === 'Value') bad(`${f}.resource.target.type`, 'Invalid value: "Value": must be either Utilization or AverageValue');
  });
  for (const dir of ['scaleUp', 'scaleDown'] as const) {
    const r = spec.behavior?.[dir];
    if (r?.stabilizationWindowSeconds !== undefined && (r.stabilizationWindowSeconds < 0 || r.stabilizationWindowSeconds > 3600))
      bad(`spec.behavior.${dir}.stabilizationWindowSeconds`, `Invalid value: ${r.stabilizationWindowSeconds}: must be between 0 and 3600`);
    (r?.policies ?? []).forEach((p, i) => {
      if (p.value <= 0) bad(`spec.behavior.${dir}.policies[${i}].value`, `Invalid value: ${p.value}: must be greater than zero`);
      if (p.periodSeconds <= 0 || p.periodSeconds > 1800) bad(`spec.behavior.${dir}.policies[${i}].periodSeconds`, `Invalid value: ${p.periodSeconds}: must be between 1 and 1800`);
    });
  }
  return causes;
}

const HorizontalPodAutoscalerV1Schema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    scaleTargetRef: CrossVersionObjectReference,
    minReplicas: z.number().int().optional(),
    maxReplicas: z.number().int(),
    targetCPUUtilizationPercentage: z.number().int().optional(),
  }),
  status: z.looseObject({}).optional(),
});

/** autoscaling/v1 → v2 (Convert_v1_HorizontalPodAutoscaler_To_autoscaling_...): the cpu target becomes a Resource metric. */
export function hpaV1ToV2(o: KubeObject): KubeObject {
  const { targetCPUUtilizationPercentage: cpu, ...spec } = (o.spec ?? {}) as Record<string, unknown>;
  const { currentCPUUtilizationPercentage: _current, ...status } = (o.status ?? {}) as Record<string, unknown>;
  void _current;
  const metrics = typeof cpu === 'number' ? [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } } }] : undefined;
  return { ...o, apiVersion: 'autoscaling/v2', spec: { ...spec, ...(metrics ? { metrics } : {}) }, ...(o.status ? { status } : {}) };
}

/** autoscaling/v2 → v1: the cpu Utilization target (and its current value); other metrics and behavior are not in v1. */
export function hpaV2ToV1(o: KubeObject): KubeObject {
  const { metrics, behavior: _b, ...spec } = (o.spec ?? {}) as Record<string, unknown> & HpaSpec;
  void _b;
  const cpu = (metrics ?? []).find((m) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization');
  const { currentMetrics, conditions: _c, ...status } = (o.status ?? {}) as Record<string, unknown> & { currentMetrics?: { resource?: { name: string; current?: { averageUtilization?: number } } }[] };
  void _c;
  const current = currentMetrics?.find((m) => m.resource?.name === 'cpu')?.resource?.current?.averageUtilization;
  return {
    ...o,
    apiVersion: 'autoscaling/v1',
    spec: { ...spec, ...(cpu?.resource?.target.averageUtilization !== undefined ? { targetCPUUtilizationPercentage: cpu.resource.target.averageUtilization } : {}) },
    ...(o.status ? { status: { ...status, ...(current !== undefined ? { currentCPUUtilizationPercentage: current } : {}) } } : {}),
  };
}

export const autoscalingTypes: readonly ResourceType[] = [
  {
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    singular: 'horizontalpodautoscaler',
    namespaced: true,
    shortNames: ['hpa'],
    subresources: ['status'],
    prepareForCreate: freshStatus({ desiredReplicas: 0 }),
    schema: HorizontalPodAutoscalerSchema,
    validate: validateHpa,
    applyDefaults: defaultHpa,
    nameIsLabel: false,
    table: horizontalPodAutoscalers,
  },
  {
    // Served from v2's storage (the same GroupResource, so the same items), converted both ways.
    group: 'autoscaling',
    version: 'v1',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    singular: 'horizontalpodautoscaler',
    namespaced: true,
    shortNames: ['hpa'],
    subresources: ['status'],
    prepareForCreate: freshStatus({ desiredReplicas: 0 }),
    schema: HorizontalPodAutoscalerV1Schema,
    validate: validateHpa,
    applyDefaults: defaultHpa,
    nameIsLabel: false,
    table: horizontalPodAutoscalers,
    conversion: { toStorage: hpaV1ToV2, fromStorage: hpaV2ToV1 },
  },
];
