import { z } from 'zod';
import { ConditionTimeFields, ResourceListSchema, typeMeta } from './meta';

const opaque = z.record(z.string(), z.unknown());

export const TaintSchema = z.strictObject({
  key: z.string(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
  timeAdded: z.string().optional(),
});

export const NodeConditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  ...ConditionTimeFields,
});

export const NodeSchema = z.strictObject({
  ...typeMeta('v1', 'Node'),
  spec: z
    .strictObject({
      podCIDR: z.string().optional(),
      podCIDRs: z.array(z.string()).optional(),
      providerID: z.string().optional(),
      unschedulable: z.boolean().optional(),
      taints: z.array(TaintSchema).optional(),
      configSource: opaque.optional(),
      externalID: z.string().optional(),
    })
    .default({}),
  status: z
    .looseObject({
      capacity: ResourceListSchema.optional(),
      allocatable: ResourceListSchema.optional(),
      phase: z.string().optional(),
      conditions: z.array(NodeConditionSchema).optional(),
      addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })).optional(),
      daemonEndpoints: opaque.optional(),
      nodeInfo: opaque.optional(),
      images: z.array(opaque).optional(),
      volumesInUse: z.array(z.string()).optional(),
      volumesAttached: z.array(opaque).optional(),
      config: opaque.optional(),
    })
    .optional(),
});
export type Node = z.infer<typeof NodeSchema>;
