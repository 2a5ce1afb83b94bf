import { z } from 'zod';
import { PodTemplateSpecSchema, WorkloadConditionSchema } from './apps';
import { typeMeta } from './meta';

/*
 * core/v1 ReplicationController and PodTemplate, apps/v1 ControllerRevision (issue #14 B).
 */

const count = z.number().int().optional();

export const ReplicationControllerSpecSchema = z.strictObject({
  replicas: z.number().int().optional(),
  minReadySeconds: z.number().int().optional(),
  /** A plain label map (equality only), unlike the LabelSelector of apps/v1 kinds. */
  selector: z.record(z.string(), z.string()).optional(),
  template: PodTemplateSpecSchema.optional(),
});

export const ReplicationControllerStatusSchema = z.looseObject({
  replicas: z.number().int().default(0),
  fullyLabeledReplicas: count,
  readyReplicas: count,
  availableReplicas: count,
  observedGeneration: count,
  conditions: z.array(WorkloadConditionSchema).optional(),
});

export const ReplicationControllerSchema = z.strictObject({
  ...typeMeta('v1', 'ReplicationController'),
  spec: ReplicationControllerSpecSchema.default({}),
  status: ReplicationControllerStatusSchema.optional(),
});
export type ReplicationController = z.infer<typeof ReplicationControllerSchema>;

export const PodTemplateSchema = z.strictObject({
  ...typeMeta('v1', 'PodTemplate'),
  template: PodTemplateSpecSchema.optional(),
});
export type PodTemplate = z.infer<typeof PodTemplateSchema>;

/** An immutable snapshot of a DaemonSet's or StatefulSet's template: `data` is the patch that restores it. */
export const ControllerRevisionSchema = z.strictObject({
  ...typeMeta('apps/v1', 'ControllerRevision'),
  data: z.unknown().optional(),
  revision: z.number().int().default(0),
});
export type ControllerRevision = z.infer<typeof ControllerRevisionSchema>;
