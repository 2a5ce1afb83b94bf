import { z } from 'zod';
import { ObjectMetaSchema, typeMeta } from './meta';

/** intstr.IntOrString: 2 or "25%". */
const IntOrString = z.union([z.number().int(), z.string()]);

const LabelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(z.strictObject({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() }))
    .optional(),
});

/** policy/v1 PodDisruptionBudget. Status is computed at eviction time (functions/api/eviction.ts). */
export const PodDisruptionBudgetSchema = z.strictObject({
  ...typeMeta('policy/v1', 'PodDisruptionBudget'),
  spec: z
    .strictObject({
      minAvailable: IntOrString.optional(),
      maxUnavailable: IntOrString.optional(),
      selector: LabelSelector.nullable().optional(),
      unhealthyPodEvictionPolicy: z.enum(['IfHealthyBudget', 'AlwaysAllow']).optional(),
    })
    .default({}),
  status: z
    .looseObject({
      observedGeneration: z.number().int().optional(),
      disruptedPods: z.record(z.string(), z.string()).optional(),
      disruptionsAllowed: z.number().int().optional(),
      currentHealthy: z.number().int().optional(),
      desiredHealthy: z.number().int().optional(),
      expectedPods: z.number().int().optional(),
      conditions: z.array(z.record(z.string(), z.unknown())).optional(),
    })
    .optional(),
});
export type PodDisruptionBudget = z.infer<typeof PodDisruptionBudgetSchema>;

/** scheduling.k8s.io/v1 PriorityClass: resolved into spec.priority at pod admission. */
export const PriorityClassSchema = z.strictObject({
  ...typeMeta('scheduling.k8s.io/v1', 'PriorityClass'),
  value: z.number().int(),
  globalDefault: z.boolean().optional(),
  description: z.string().optional(),
  preemptionPolicy: z.enum(['PreemptLowerPriority', 'Never']).optional(),
});
export type PriorityClass = z.infer<typeof PriorityClassSchema>;

/** policy/v1 Eviction: the body of POST pods/{name}/eviction. */
export const EvictionSchema = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.literal('Eviction').optional(),
  metadata: ObjectMetaSchema.default({}),
  deleteOptions: z
    .looseObject({
      gracePeriodSeconds: z.number().int().nonnegative().optional(),
      preconditions: z.looseObject({ uid: z.string().optional(), resourceVersion: z.string().optional() }).optional(),
      dryRun: z.array(z.string()).optional(),
      propagationPolicy: z.string().optional(),
    })
    .optional(),
});
export type Eviction = z.infer<typeof EvictionSchema>;
