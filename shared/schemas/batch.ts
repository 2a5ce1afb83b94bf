import { z } from 'zod';
import { ObjectMetaSchema, typeMeta } from './meta';
import { ObjectReferenceSchema } from './misc';
import { LabelSelectorSchema, PodTemplateSpecSchema, WorkloadConditionSchema } from './apps';

/** Structures Stratus stores and returns but does not interpret (podFailurePolicy, ...). */
const opaque = z.record(z.string(), z.unknown());
const count = z.number().int().optional();

export const JobSpecSchema = z.strictObject({
  parallelism: z.number().int().optional(),
  completions: z.number().int().optional(),
  activeDeadlineSeconds: z.number().int().optional(),
  podFailurePolicy: opaque.optional(),
  successPolicy: opaque.optional(),
  backoffLimit: z.number().int().optional(),
  backoffLimitPerIndex: z.number().int().optional(),
  maxFailedIndexes: z.number().int().optional(),
  selector: LabelSelectorSchema.optional(),
  manualSelector: z.boolean().optional(),
  template: PodTemplateSpecSchema.default({}),
  ttlSecondsAfterFinished: z.number().int().optional(),
  completionMode: z.enum(['NonIndexed', 'Indexed']).optional(),
  suspend: z.boolean().optional(),
  podReplacementPolicy: z.enum(['TerminatingOrFailed', 'Failed']).optional(),
  managedBy: z.string().optional(),
});
export type JobSpec = z.infer<typeof JobSpecSchema>;

export const JobStatusSchema = z.looseObject({
  conditions: z.array(WorkloadConditionSchema).optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  active: count,
  succeeded: count,
  failed: count,
  terminating: count,
  ready: count,
  completedIndexes: z.string().optional(),
  failedIndexes: z.string().optional(),
  uncountedTerminatedPods: z.looseObject({ succeeded: z.array(z.string()).optional(), failed: z.array(z.string()).optional() }).optional(),
});
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const JobSchema = z.strictObject({
  ...typeMeta('batch/v1', 'Job'),
  spec: JobSpecSchema.default({ template: {} }),
  status: JobStatusSchema.optional(),
});
export type Job = z.infer<typeof JobSchema>;

export const JobTemplateSpecSchema = z.strictObject({
  metadata: ObjectMetaSchema.optional(),
  spec: JobSpecSchema.default({ template: {} }),
});

export const CronJobSpecSchema = z.strictObject({
  schedule: z.string().default(''),
  timeZone: z.string().optional(),
  startingDeadlineSeconds: z.number().int().optional(),
  concurrencyPolicy: z.enum(['Allow', 'Forbid', 'Replace']).optional(),
  suspend: z.boolean().optional(),
  jobTemplate: JobTemplateSpecSchema.default({ spec: { template: {} } }),
  successfulJobsHistoryLimit: z.number().int().optional(),
  failedJobsHistoryLimit: z.number().int().optional(),
});

export const CronJobStatusSchema = z.looseObject({
  active: z.array(ObjectReferenceSchema).optional(),
  lastScheduleTime: z.string().optional(),
  lastSuccessfulTime: z.string().optional(),
});

export const CronJobSchema = z.strictObject({
  ...typeMeta('batch/v1', 'CronJob'),
  spec: CronJobSpecSchema.default({ schedule: '', jobTemplate: { spec: { template: {} } } }),
  status: CronJobStatusSchema.optional(),
});
export type CronJob = z.infer<typeof CronJobSchema>;
