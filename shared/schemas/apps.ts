import { z } from 'zod';
import { ObjectMetaSchema, typeMeta } from './meta';
import { ObjectReferenceSchema } from './misc';
import { PodSpecSchema } from './pod';

/** Structures Stratus stores and returns but does not interpret (volumeClaimTemplates, ...). */
const opaque = z.record(z.string(), z.unknown());

/** An int or a percentage string ("25%"), as Kubernetes' IntOrString. */
export const IntOrStringSchema = z.union([z.number().int(), z.string()]);
export type IntOrString = z.infer<typeof IntOrStringSchema>;

export const LabelSelectorRequirementSchema = z.strictObject({
  key: z.string(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});

/** meta/v1 LabelSelector: matchLabels AND matchExpressions; an empty selector matches everything. */
export const LabelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(LabelSelectorRequirementSchema).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

/** core/v1 PodTemplateSpec: what workload controllers stamp pods from. */
export const PodTemplateSpecSchema = z.strictObject({
  metadata: ObjectMetaSchema.optional(),
  spec: PodSpecSchema.optional(),
});
export type PodTemplateSpec = z.infer<typeof PodTemplateSpecSchema>;

/** Conditions of workloads (DeploymentCondition, ReplicaSetCondition, JobCondition...). */
export const WorkloadConditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  lastUpdateTime: z.string().nullable().optional(),
  lastTransitionTime: z.string().nullable().optional(),
  lastProbeTime: z.string().nullable().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type WorkloadCondition = z.infer<typeof WorkloadConditionSchema>;

const count = z.number().int().optional();

export const DeploymentSpecSchema = z.strictObject({
  replicas: z.number().int().optional(),
  selector: LabelSelectorSchema.optional(),
  template: PodTemplateSpecSchema.default({}),
  strategy: z
    .strictObject({
      type: z.enum(['RollingUpdate', 'Recreate']).optional(),
      rollingUpdate: z.strictObject({ maxSurge: IntOrStringSchema.optional(), maxUnavailable: IntOrStringSchema.optional() }).optional(),
    })
    .optional(),
  minReadySeconds: z.number().int().optional(),
  revisionHistoryLimit: z.number().int().optional(),
  paused: z.boolean().optional(),
  progressDeadlineSeconds: z.number().int().optional(),
});

export const DeploymentStatusSchema = z.looseObject({
  observedGeneration: count,
  replicas: count,
  updatedReplicas: count,
  readyReplicas: count,
  availableReplicas: count,
  unavailableReplicas: count,
  terminatingReplicas: count,
  conditions: z.array(WorkloadConditionSchema).optional(),
  collisionCount: count,
});

export const DeploymentSchema = z.strictObject({
  ...typeMeta('apps/v1', 'Deployment'),
  spec: DeploymentSpecSchema.default({ template: {} }),
  status: DeploymentStatusSchema.optional(),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

export const ReplicaSetSpecSchema = z.strictObject({
  replicas: z.number().int().optional(),
  minReadySeconds: z.number().int().optional(),
  selector: LabelSelectorSchema.optional(),
  template: PodTemplateSpecSchema.optional(),
});

export const ReplicaSetStatusSchema = z.looseObject({
  replicas: z.number().int().default(0),
  fullyLabeledReplicas: count,
  readyReplicas: count,
  availableReplicas: count,
  terminatingReplicas: count,
  observedGeneration: count,
  conditions: z.array(WorkloadConditionSchema).optional(),
});

export const ReplicaSetSchema = z.strictObject({
  ...typeMeta('apps/v1', 'ReplicaSet'),
  spec: ReplicaSetSpecSchema.default({}),
  status: ReplicaSetStatusSchema.optional(),
});
export type ReplicaSet = z.infer<typeof ReplicaSetSchema>;

export const DaemonSetSpecSchema = z.strictObject({
  selector: LabelSelectorSchema.optional(),
  template: PodTemplateSpecSchema.default({}),
  updateStrategy: z
    .strictObject({
      type: z.enum(['RollingUpdate', 'OnDelete']).optional(),
      rollingUpdate: z.strictObject({ maxUnavailable: IntOrStringSchema.optional(), maxSurge: IntOrStringSchema.optional() }).optional(),
    })
    .optional(),
  minReadySeconds: z.number().int().optional(),
  revisionHistoryLimit: z.number().int().optional(),
});

export const DaemonSetStatusSchema = z.looseObject({
  currentNumberScheduled: z.number().int().default(0),
  numberMisscheduled: z.number().int().default(0),
  desiredNumberScheduled: z.number().int().default(0),
  numberReady: z.number().int().default(0),
  observedGeneration: count,
  updatedNumberScheduled: count,
  numberAvailable: count,
  numberUnavailable: count,
  collisionCount: count,
  conditions: z.array(WorkloadConditionSchema).optional(),
});

export const DaemonSetSchema = z.strictObject({
  ...typeMeta('apps/v1', 'DaemonSet'),
  spec: DaemonSetSpecSchema.default({ template: {} }),
  status: DaemonSetStatusSchema.optional(),
});
export type DaemonSet = z.infer<typeof DaemonSetSchema>;

export const StatefulSetSpecSchema = z.strictObject({
  replicas: z.number().int().optional(),
  selector: LabelSelectorSchema.optional(),
  template: PodTemplateSpecSchema.default({}),
  volumeClaimTemplates: z.array(opaque).optional(),
  serviceName: z.string().optional(),
  podManagementPolicy: z.enum(['OrderedReady', 'Parallel']).optional(),
  updateStrategy: z
    .strictObject({
      type: z.enum(['RollingUpdate', 'OnDelete']).optional(),
      rollingUpdate: z.strictObject({ partition: z.number().int().optional(), maxUnavailable: IntOrStringSchema.optional() }).optional(),
    })
    .optional(),
  revisionHistoryLimit: z.number().int().optional(),
  minReadySeconds: z.number().int().optional(),
  persistentVolumeClaimRetentionPolicy: z.strictObject({ whenDeleted: z.enum(['Retain', 'Delete']).optional(), whenScaled: z.enum(['Retain', 'Delete']).optional() }).optional(),
  ordinals: z.strictObject({ start: z.number().int().optional() }).optional(),
});

export const StatefulSetStatusSchema = z.looseObject({
  observedGeneration: count,
  replicas: z.number().int().default(0),
  readyReplicas: count,
  currentReplicas: count,
  updatedReplicas: count,
  availableReplicas: count,
  currentRevision: z.string().optional(),
  updateRevision: z.string().optional(),
  collisionCount: count,
  conditions: z.array(WorkloadConditionSchema).optional(),
});

export const StatefulSetSchema = z.strictObject({
  ...typeMeta('apps/v1', 'StatefulSet'),
  spec: StatefulSetSpecSchema.default({ template: {} }),
  status: StatefulSetStatusSchema.optional(),
});
export type StatefulSet = z.infer<typeof StatefulSetSchema>;

/** autoscaling/v1 Scale: the scale subresource of Deployments, ReplicaSets and StatefulSets. */
export const ScaleSchema = z.strictObject({
  apiVersion: z.literal('autoscaling/v1').optional(),
  kind: z.literal('Scale').optional(),
  metadata: ObjectMetaSchema.default({}),
  spec: z.strictObject({ replicas: z.number().int().optional() }).default({}),
  status: z.looseObject({ replicas: z.number().int().optional(), selector: z.string().optional() }).optional(),
});
export type Scale = z.infer<typeof ScaleSchema>;

export { ObjectReferenceSchema };
