import { z } from 'zod';
import { ConditionTimeFields, ResourceListSchema, typeMeta } from './meta';

/** Structures Stratus stores and returns but does not interpret yet (probes, volumes, affinity...). */
const opaque = z.record(z.string(), z.unknown());

export const ContainerPortSchema = z.strictObject({
  name: z.string().optional(),
  containerPort: z.number().int(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
  hostPort: z.number().int().optional(),
  hostIP: z.string().optional(),
});

export const EnvVarSchema = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: opaque.optional(),
});

export const ResourceRequirementsSchema = z.strictObject({
  requests: ResourceListSchema.optional(),
  limits: ResourceListSchema.optional(),
  claims: z.array(opaque).optional(),
});

export const ContainerSchema = z.strictObject({
  name: z.string().optional(),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  workingDir: z.string().optional(),
  ports: z.array(ContainerPortSchema).optional(),
  env: z.array(EnvVarSchema).optional(),
  envFrom: z.array(opaque).optional(),
  resources: ResourceRequirementsSchema.optional(),
  resizePolicy: z.array(opaque).optional(),
  restartPolicy: z.string().optional(),
  volumeMounts: z.array(opaque).optional(),
  volumeDevices: z.array(opaque).optional(),
  livenessProbe: opaque.optional(),
  readinessProbe: opaque.optional(),
  startupProbe: opaque.optional(),
  lifecycle: opaque.optional(),
  terminationMessagePath: z.string().optional(),
  terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  securityContext: opaque.optional(),
  stdin: z.boolean().optional(),
  stdinOnce: z.boolean().optional(),
  tty: z.boolean().optional(),
});
export type Container = z.infer<typeof ContainerSchema>;

export const PodSpecSchema = z.strictObject({
  volumes: z.array(opaque).optional(),
  initContainers: z.array(ContainerSchema).optional(),
  containers: z.array(ContainerSchema).optional(),
  ephemeralContainers: z.array(opaque).optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  terminationGracePeriodSeconds: z.number().int().optional(),
  activeDeadlineSeconds: z.number().int().optional(),
  dnsPolicy: z.string().optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  serviceAccountName: z.string().optional(),
  serviceAccount: z.string().optional(),
  automountServiceAccountToken: z.boolean().optional(),
  nodeName: z.string().optional(),
  hostNetwork: z.boolean().optional(),
  hostPID: z.boolean().optional(),
  hostIPC: z.boolean().optional(),
  shareProcessNamespace: z.boolean().optional(),
  securityContext: opaque.optional(),
  imagePullSecrets: z.array(opaque).optional(),
  hostname: z.string().optional(),
  subdomain: z.string().optional(),
  affinity: opaque.optional(),
  schedulerName: z.string().optional(),
  tolerations: z.array(opaque).optional(),
  hostAliases: z.array(opaque).optional(),
  priorityClassName: z.string().optional(),
  priority: z.number().int().optional(),
  dnsConfig: opaque.optional(),
  readinessGates: z.array(opaque).optional(),
  runtimeClassName: z.string().optional(),
  enableServiceLinks: z.boolean().optional(),
  preemptionPolicy: z.string().optional(),
  overhead: ResourceListSchema.optional(),
  topologySpreadConstraints: z.array(opaque).optional(),
  setHostnameAsFQDN: z.boolean().optional(),
  os: opaque.optional(),
  hostUsers: z.boolean().optional(),
  schedulingGates: z.array(opaque).optional(),
  resourceClaims: z.array(opaque).optional(),
  resources: ResourceRequirementsSchema.optional(),
});
export type PodSpec = z.infer<typeof PodSpecSchema>;

export const PodConditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  ...ConditionTimeFields,
});
export type PodCondition = z.infer<typeof PodConditionSchema>;

/** core/v1 ContainerState: at most one of waiting, running, terminated. */
export const ContainerStateSchema = z.looseObject({
  waiting: z.looseObject({ reason: z.string().optional(), message: z.string().optional() }).optional(),
  running: z.looseObject({ startedAt: z.string().nullable().optional() }).optional(),
  terminated: z
    .looseObject({
      exitCode: z.number().int(),
      signal: z.number().int().optional(),
      reason: z.string().optional(),
      message: z.string().optional(),
      startedAt: z.string().nullable().optional(),
      finishedAt: z.string().nullable().optional(),
      containerID: z.string().optional(),
    })
    .optional(),
});
export type ContainerState = z.infer<typeof ContainerStateSchema>;

export const ContainerStatusSchema = z.looseObject({
  name: z.string(),
  state: ContainerStateSchema.optional(),
  lastState: ContainerStateSchema.optional(),
  ready: z.boolean().optional(),
  restartCount: z.number().int().optional(),
  image: z.string().optional(),
  imageID: z.string().optional(),
  containerID: z.string().optional(),
  started: z.boolean().optional(),
});
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;

export const PodStatusSchema = z.looseObject({
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).optional(),
  conditions: z.array(PodConditionSchema).optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  nominatedNodeName: z.string().optional(),
  hostIP: z.string().optional(),
  hostIPs: z.array(opaque).optional(),
  podIP: z.string().optional(),
  podIPs: z.array(opaque).optional(),
  startTime: z.string().optional(),
  initContainerStatuses: z.array(ContainerStatusSchema).optional(),
  containerStatuses: z.array(ContainerStatusSchema).optional(),
  ephemeralContainerStatuses: z.array(ContainerStatusSchema).optional(),
  qosClass: z.enum(['Guaranteed', 'Burstable', 'BestEffort']).optional(),
});
export type PodStatus = z.infer<typeof PodStatusSchema>;

export const PodSchema = z.strictObject({
  ...typeMeta('v1', 'Pod'),
  spec: PodSpecSchema.default({}),
  status: PodStatusSchema.optional(),
});
export type Pod = z.infer<typeof PodSchema>;
