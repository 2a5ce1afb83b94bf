import { z } from 'zod';
import { ResourceListSchema, typeMeta } from './meta';

/** core/v1 ScopedResourceSelectorRequirement (a ResourceQuota's scopeSelector). */
const ScopedResourceSelectorRequirement = z.strictObject({
  scopeName: z.string(),
  operator: z.string(),
  values: z.array(z.string()).optional(),
});

export const ResourceQuotaSpecSchema = z.strictObject({
  hard: ResourceListSchema.optional(),
  scopes: z.array(z.string()).optional(),
  scopeSelector: z.strictObject({ matchExpressions: z.array(ScopedResourceSelectorRequirement).optional() }).nullable().optional(),
});

/** core/v1 ResourceQuota: spec.hard limits, status.used kept by admission and the quota controller. */
export const ResourceQuotaSchema = z.strictObject({
  ...typeMeta('v1', 'ResourceQuota'),
  spec: ResourceQuotaSpecSchema.default({}),
  status: z.strictObject({ hard: ResourceListSchema.optional(), used: ResourceListSchema.optional() }).optional(),
});
export type ResourceQuota = z.infer<typeof ResourceQuotaSchema>;
export type ScopedResourceSelectorRequirement = z.infer<typeof ScopedResourceSelectorRequirement>;

export const LimitRangeItemSchema = z.strictObject({
  type: z.string(),
  max: ResourceListSchema.optional(),
  min: ResourceListSchema.optional(),
  default: ResourceListSchema.optional(),
  defaultRequest: ResourceListSchema.optional(),
  maxLimitRequestRatio: ResourceListSchema.optional(),
});

/** core/v1 LimitRange: defaults and bounds the LimitRanger admission plugin applies. */
export const LimitRangeSchema = z.strictObject({
  ...typeMeta('v1', 'LimitRange'),
  spec: z.strictObject({ limits: z.array(LimitRangeItemSchema).default([]) }).default({ limits: [] }),
});
export type LimitRange = z.infer<typeof LimitRangeSchema>;
export type LimitRangeItem = z.infer<typeof LimitRangeItemSchema>;
