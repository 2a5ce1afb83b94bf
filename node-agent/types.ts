/**
 * The core/v1 objects the node agent reads, from the shared zod schemas (shared/schemas), the
 * ones the API server admits them with. A stored pod always has what admission fills in (its
 * name, uid, a name per container), so the agent's view makes those required: a pod without
 * them cannot be the server's and is refused at the boundary like any malformed answer.
 */
import { z } from 'zod';
import {
  ContainerSchema as SharedContainerSchema,
  ContainerStateSchema,
  ContainerStatusSchema,
  LeaseSchema as SharedLeaseSchema,
  NodeSchema as SharedNodeSchema,
  ObjectMetaSchema,
  PodConditionSchema,
  PodSchema as SharedPodSchema,
  PodSpecSchema,
  PodStatusSchema,
} from '../shared/schemas';

export { ContainerStateSchema, ContainerStatusSchema, PodConditionSchema, PodStatusSchema };
export type ContainerState = z.infer<typeof ContainerStateSchema>;
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;
export type PodCondition = z.infer<typeof PodConditionSchema>;
export type PodStatus = z.infer<typeof PodStatusSchema>;
export type PodPhase = NonNullable<PodStatus['phase']>;

/** resource.Quantity as the agent reads it: a string ("100m", "128Mi") or, from some clients, a number. */
export type Quantity = string | number;

/** A container of a stored pod: admission requires its name. */
export const ContainerSchema = SharedContainerSchema.extend({ name: z.string() });
export type Container = z.infer<typeof ContainerSchema>;

/** A stored object's metadata: the server sets name and uid. */
const StoredMetaSchema = ObjectMetaSchema.extend({ name: z.string(), uid: z.string() });

/** A pod as the API server stores and returns it. */
export const PodSchema = SharedPodSchema.extend({
  metadata: StoredMetaSchema,
  spec: PodSpecSchema.extend({
    containers: z.array(ContainerSchema),
    initContainers: z.array(ContainerSchema).optional(),
  }),
});
export type Pod = z.infer<typeof PodSchema>;

export const PodListSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional() }).optional(),
  items: z.array(PodSchema),
});

export const NodeSchema = SharedNodeSchema.extend({ metadata: StoredMetaSchema });
export type Node = z.infer<typeof NodeSchema>;

export const LeaseSchema = SharedLeaseSchema.extend({ metadata: ObjectMetaSchema.extend({ name: z.string() }) });
export type Lease = z.infer<typeof LeaseSchema>;

/** A pod's identity, enough to find and kill its containers even after the object is gone. */
export interface PodKey {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
}

export const podKeyOf = (pod: Pod): PodKey => ({
  uid: pod.metadata.uid,
  namespace: pod.metadata.namespace ?? 'default',
  name: pod.metadata.name,
});

/** "namespace/name", the key Kubernetes controllers use. */
export const keyString = (k: PodKey): string => `${k.namespace}/${k.name}`;
