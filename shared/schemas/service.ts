import { z } from 'zod';
import { ConditionTimeFields, typeMeta } from './meta';

/*
 * core/v1 Service and Endpoints, discovery.k8s.io/v1 EndpointSlice (issue #15). Enumerations are
 * plain strings here: the strategies (shared/kinds/service.ts) reject unsupported values with
 * Kubernetes' own "Unsupported value" causes, which a zod enum could not word the same way.
 */

/** intstr.IntOrString: a port number or a container port's name. */
const IntOrString = z.union([z.number().int(), z.string()]);
const opaque = z.record(z.string(), z.unknown());

export const ServicePortSchema = z.strictObject({
  name: z.string().optional(),
  protocol: z.string().optional(),
  appProtocol: z.string().optional(),
  port: z.number().int(),
  targetPort: IntOrString.optional(),
  nodePort: z.number().int().optional(),
});
export type ServicePort = z.infer<typeof ServicePortSchema>;

export const ServiceSpecSchema = z.strictObject({
  ports: z.array(ServicePortSchema).optional(),
  selector: z.record(z.string(), z.string()).optional(),
  clusterIP: z.string().optional(),
  clusterIPs: z.array(z.string()).optional(),
  type: z.string().optional(),
  externalIPs: z.array(z.string()).optional(),
  sessionAffinity: z.string().optional(),
  loadBalancerIP: z.string().optional(),
  loadBalancerSourceRanges: z.array(z.string()).optional(),
  externalName: z.string().optional(),
  externalTrafficPolicy: z.string().optional(),
  healthCheckNodePort: z.number().int().optional(),
  publishNotReadyAddresses: z.boolean().optional(),
  sessionAffinityConfig: z.strictObject({ clientIP: z.strictObject({ timeoutSeconds: z.number().int().optional() }).optional() }).optional(),
  ipFamilies: z.array(z.string()).optional(),
  ipFamilyPolicy: z.string().optional(),
  allocateLoadBalancerNodePorts: z.boolean().optional(),
  loadBalancerClass: z.string().optional(),
  internalTrafficPolicy: z.string().optional(),
  trafficDistribution: z.string().optional(),
});
export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;

const PortStatusSchema = z.strictObject({ port: z.number().int(), protocol: z.string(), error: z.string().optional() });

export const LoadBalancerIngressSchema = z.strictObject({
  ip: z.string().optional(),
  hostname: z.string().optional(),
  ipMode: z.string().optional(),
  ports: z.array(PortStatusSchema).optional(),
});

export const ServiceStatusSchema = z.looseObject({
  loadBalancer: z.strictObject({ ingress: z.array(LoadBalancerIngressSchema).optional() }).optional(),
  conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), ...ConditionTimeFields })).optional(),
});

export const ServiceSchema = z.strictObject({
  ...typeMeta('v1', 'Service'),
  spec: ServiceSpecSchema.default({}),
  status: ServiceStatusSchema.optional(),
});
export type Service = z.infer<typeof ServiceSchema>;

const ObjectReferenceSchema = z.strictObject({
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  apiVersion: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

export const EndpointAddressSchema = z.strictObject({
  ip: z.string(),
  hostname: z.string().optional(),
  nodeName: z.string().optional(),
  targetRef: ObjectReferenceSchema.optional(),
});
export type EndpointAddress = z.infer<typeof EndpointAddressSchema>;

export const EndpointPortSchema = z.strictObject({
  name: z.string().optional(),
  port: z.number().int(),
  protocol: z.string().optional(),
  appProtocol: z.string().optional(),
});
export type EndpointPort = z.infer<typeof EndpointPortSchema>;

export const EndpointSubsetSchema = z.strictObject({
  addresses: z.array(EndpointAddressSchema).optional(),
  notReadyAddresses: z.array(EndpointAddressSchema).optional(),
  ports: z.array(EndpointPortSchema).optional(),
});
export type EndpointSubset = z.infer<typeof EndpointSubsetSchema>;

export const EndpointsSchema = z.strictObject({
  ...typeMeta('v1', 'Endpoints'),
  subsets: z.array(EndpointSubsetSchema).optional(),
});
export type Endpoints = z.infer<typeof EndpointsSchema>;

export const SliceEndpointSchema = z.strictObject({
  addresses: z.array(z.string()),
  conditions: z.strictObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() }).optional(),
  hostname: z.string().optional(),
  targetRef: ObjectReferenceSchema.optional(),
  deprecatedTopology: z.record(z.string(), z.string()).optional(),
  nodeName: z.string().optional(),
  zone: z.string().optional(),
  hints: opaque.optional(),
});
export type SliceEndpoint = z.infer<typeof SliceEndpointSchema>;

export const SlicePortSchema = z.strictObject({
  name: z.string().optional(),
  protocol: z.string().optional(),
  port: z.number().int().optional(),
  appProtocol: z.string().optional(),
});
export type SlicePort = z.infer<typeof SlicePortSchema>;

export const EndpointSliceSchema = z.strictObject({
  ...typeMeta('discovery.k8s.io/v1', 'EndpointSlice'),
  addressType: z.string(),
  endpoints: z.array(SliceEndpointSchema).default([]),
  ports: z.array(SlicePortSchema).optional(),
});
export type EndpointSlice = z.infer<typeof EndpointSliceSchema>;
