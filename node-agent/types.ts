/**
 * The parts of core/v1 objects the node agent reads, as zod schemas (the single source of each
 * type). Objects are parsed "loose": fields the agent does not know are kept, never rejected,
 * because the API server is the authority on validation and may be newer than the agent.
 *
 * TODO: when shared/schemas lands, derive these from it instead of keeping a subset here.
 */
import { z } from 'zod';

const StringMap = z.record(z.string(), z.string());

/** resource.Quantity on the wire: a string ("100m", "128Mi") or, from some clients, a number. */
export const QuantitySchema = z.union([z.string(), z.number()]);
export type Quantity = z.infer<typeof QuantitySchema>;

export const ResourceRequirementsSchema = z.looseObject({
  limits: z.record(z.string(), QuantitySchema).optional(),
  requests: z.record(z.string(), QuantitySchema).optional(),
});
export type ResourceRequirements = z.infer<typeof ResourceRequirementsSchema>;

export const EnvVarSchema = z.looseObject({
  name: z.string(),
  value: z.string().optional(),
  /** Parsed where it is used (env.ts), so one odd entry never makes the whole pod unreadable. */
  valueFrom: z.unknown().optional(),
});

export const ContainerPortSchema = z.looseObject({
  name: z.string().optional(),
  containerPort: z.number().int(),
  hostPort: z.number().int().optional(),
  protocol: z.string().optional(),
});

export const ContainerSchema = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(EnvVarSchema).optional(),
  workingDir: z.string().optional(),
  ports: z.array(ContainerPortSchema).optional(),
  resources: ResourceRequirementsSchema.optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  /** Only on init containers: Always makes it a sidecar (started in order, kept running). */
  restartPolicy: z.string().optional(),
  // Parsed where they are used (prober.ts, env.ts): a malformed one fails that probe or that
  // container, never the reading of the whole pod.
  envFrom: z.array(z.unknown()).optional(),
  livenessProbe: z.unknown().optional(),
  readinessProbe: z.unknown().optional(),
  startupProbe: z.unknown().optional(),
});
export type Container = z.infer<typeof ContainerSchema>;

export const ObjectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string(),
  resourceVersion: z.string().optional(),
  labels: StringMap.optional(),
  annotations: StringMap.optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
});

export const ContainerStateSchema = z.looseObject({
  waiting: z.looseObject({ reason: z.string().optional(), message: z.string().optional() }).optional(),
  running: z.looseObject({ startedAt: z.string().optional() }).optional(),
  terminated: z
    .looseObject({
      exitCode: z.number().int(),
      signal: z.number().int().optional(),
      reason: z.string().optional(),
      message: z.string().optional(),
      startedAt: z.string().optional(),
      finishedAt: z.string().optional(),
      containerID: z.string().optional(),
    })
    .optional(),
});
export type ContainerState = z.infer<typeof ContainerStateSchema>;

export const ContainerStatusSchema = z.looseObject({
  name: z.string(),
  state: ContainerStateSchema.optional(),
  lastState: ContainerStateSchema.optional(),
  ready: z.boolean(),
  restartCount: z.number().int(),
  image: z.string(),
  imageID: z.string(),
  containerID: z.string().optional(),
  started: z.boolean().optional(),
});
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;

export const PodConditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastProbeTime: z.string().nullable().optional(),
  lastTransitionTime: z.string().optional(),
});
export type PodCondition = z.infer<typeof PodConditionSchema>;

export const PodPhaseSchema = z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);
export type PodPhase = z.infer<typeof PodPhaseSchema>;

export const PodStatusSchema = z.looseObject({
  phase: PodPhaseSchema.optional(),
  conditions: z.array(PodConditionSchema).optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  hostIP: z.string().optional(),
  hostIPs: z.array(z.looseObject({ ip: z.string() })).optional(),
  podIP: z.string().optional(),
  podIPs: z.array(z.looseObject({ ip: z.string() })).optional(),
  startTime: z.string().optional(),
  containerStatuses: z.array(ContainerStatusSchema).optional(),
  initContainerStatuses: z.array(ContainerStatusSchema).optional(),
  qosClass: z.enum(['Guaranteed', 'Burstable', 'BestEffort']).optional(),
});
export type PodStatus = z.infer<typeof PodStatusSchema>;

export const PodSpecSchema = z.looseObject({
  nodeName: z.string().optional(),
  containers: z.array(ContainerSchema),
  initContainers: z.array(ContainerSchema).optional(),
  hostNetwork: z.boolean().optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  terminationGracePeriodSeconds: z.number().int().optional(),
  hostname: z.string().optional(),
});

export const PodSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  spec: PodSpecSchema,
  status: PodStatusSchema.optional(),
});
export type Pod = z.infer<typeof PodSchema>;

export const PodListSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional() }).optional(),
  items: z.array(PodSchema),
});

export const NodeSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    labels: StringMap.optional(),
  }),
  status: z
    .looseObject({
      conditions: z
        .array(
          z.looseObject({
            type: z.string(),
            status: z.string(),
            lastTransitionTime: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type Node = z.infer<typeof NodeSchema>;

export const LeaseSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
  }),
  spec: z
    .looseObject({
      holderIdentity: z.string().optional(),
      leaseDurationSeconds: z.number().int().optional(),
      renewTime: z.string().optional(),
    })
    .optional(),
});
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
