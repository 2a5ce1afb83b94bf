import { z } from 'zod';
import { ObjectMetaSchema, typeMeta } from './meta';

export const NamespaceSchema = z.strictObject({
  ...typeMeta('v1', 'Namespace'),
  spec: z.strictObject({ finalizers: z.array(z.string()).optional() }).optional(),
  status: z
    .looseObject({
      phase: z.enum(['Active', 'Terminating']).optional(),
      conditions: z.array(z.record(z.string(), z.unknown())).optional(),
    })
    .optional(),
});
export type Namespace = z.infer<typeof NamespaceSchema>;

/** coordination.k8s.io/v1 Lease: node heartbeats. Written often, so it has its own sequence. */
export const LeaseSchema = z.strictObject({
  ...typeMeta('coordination.k8s.io/v1', 'Lease'),
  spec: z
    .strictObject({
      holderIdentity: z.string().optional(),
      leaseDurationSeconds: z.number().int().optional(),
      acquireTime: z.string().optional(),
      renewTime: z.string().optional(),
      leaseTransitions: z.number().int().optional(),
      strategy: z.string().optional(),
      preferredHolder: z.string().optional(),
    })
    .default({}),
});
export type Lease = z.infer<typeof LeaseSchema>;

export const ObjectReferenceSchema = z.looseObject({
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  apiVersion: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

export const EventSchema = z.strictObject({
  ...typeMeta('v1', 'Event'),
  metadata: ObjectMetaSchema.default({}),
  involvedObject: ObjectReferenceSchema.default({}),
  reason: z.string().optional(),
  message: z.string().optional(),
  source: z.looseObject({ component: z.string().optional(), host: z.string().optional() }).optional(),
  firstTimestamp: z.string().nullable().optional(),
  lastTimestamp: z.string().nullable().optional(),
  count: z.number().int().optional(),
  type: z.string().optional(),
  eventTime: z.string().nullable().optional(),
  series: z.record(z.string(), z.unknown()).optional(),
  action: z.string().optional(),
  related: ObjectReferenceSchema.optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
});
export type Event = z.infer<typeof EventSchema>;
