import { z } from 'zod';
import { typeMeta } from './meta';

/* networking.k8s.io/v1 Ingress and IngressClass (issue #15, API only). */

const ServiceBackendPort = z.strictObject({ name: z.string().optional(), number: z.number().int().optional() });
const TypedLocalObjectReference = z.strictObject({ apiGroup: z.string().nullable().optional(), kind: z.string(), name: z.string() });
export const IngressBackendSchema = z.strictObject({
  service: z.strictObject({ name: z.string(), port: ServiceBackendPort.optional() }).optional(),
  resource: TypedLocalObjectReference.optional(),
});
export type IngressBackend = z.infer<typeof IngressBackendSchema>;

export const HTTPIngressPathSchema = z.strictObject({ path: z.string().optional(), pathType: z.string().optional(), backend: IngressBackendSchema });
export const IngressRuleSchema = z.strictObject({ host: z.string().optional(), http: z.strictObject({ paths: z.array(HTTPIngressPathSchema) }).optional() });
export type IngressRule = z.infer<typeof IngressRuleSchema>;

const PortStatus = z.strictObject({ port: z.number().int(), protocol: z.string(), error: z.string().optional() });
export const IngressSchema = z.strictObject({
  ...typeMeta('networking.k8s.io/v1', 'Ingress'),
  spec: z
    .strictObject({
      ingressClassName: z.string().optional(),
      defaultBackend: IngressBackendSchema.optional(),
      tls: z.array(z.strictObject({ hosts: z.array(z.string()).optional(), secretName: z.string().optional() })).optional(),
      rules: z.array(IngressRuleSchema).optional(),
    })
    .default({}),
  status: z
    .looseObject({
      loadBalancer: z.strictObject({ ingress: z.array(z.strictObject({ ip: z.string().optional(), hostname: z.string().optional(), ports: z.array(PortStatus).optional() })).optional() }).optional(),
    })
    .optional(),
});

export const IngressClassSchema = z.strictObject({
  ...typeMeta('networking.k8s.io/v1', 'IngressClass'),
  spec: z
    .strictObject({
      controller: z.string().optional(),
      parameters: z.strictObject({ apiGroup: z.string().nullable().optional(), kind: z.string(), name: z.string(), scope: z.string().optional(), namespace: z.string().optional() }).optional(),
    })
    .default({}),
});
