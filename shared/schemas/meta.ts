import { z } from 'zod';
import { isQuantity } from './quantity';

/** RFC 1123 DNS subdomain: most object names (pods, nodes, events, leases). */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 DNS label: namespaces, container names, port names. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function dns1123SubdomainProblem(name: string): string | undefined {
  if (name.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(name))
    return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
  return undefined;
}

export function dns1123LabelProblem(name: string): string | undefined {
  if (name.length > 63) return 'must be no more than 63 characters';
  if (!DNS1123_LABEL.test(name))
    return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`;
  return undefined;
}

const stringMap = z.record(z.string(), z.string());

export const OwnerReferenceSchema = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});

export const ManagedFieldsEntrySchema = z.looseObject({ manager: z.string().optional() });

/** meta/v1 ObjectMeta. System fields (uid, resourceVersion, ...) are set by the store, never trusted from clients. */
export const ObjectMetaSchema = z.strictObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().nullable().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  ownerReferences: z.array(OwnerReferenceSchema).optional(),
  finalizers: z.array(z.string()).optional(),
  managedFields: z.array(ManagedFieldsEntrySchema).optional(),
  selfLink: z.string().optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

export const QuantitySchema = z
  .union([z.string(), z.number()])
  .refine((q) => (typeof q === 'number' ? Number.isFinite(q) : isQuantity(q)), {
    message: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
  })
  .transform((q) => String(q));

export const ResourceListSchema = z.record(z.string(), QuantitySchema);

export const ConditionTimeFields = {
  lastProbeTime: z.string().nullable().optional(),
  lastTransitionTime: z.string().nullable().optional(),
  lastHeartbeatTime: z.string().nullable().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
};

/** Fields every top-level object has. */
export const typeMeta = <K extends string>(apiVersion: string, kind: K) => ({
  apiVersion: z.literal(apiVersion).optional(),
  kind: z.literal(kind).optional(),
  metadata: ObjectMetaSchema.default({}),
});
