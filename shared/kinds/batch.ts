import { freshStatus } from './common';
import { randomUUID } from 'node:crypto';
import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { CronJobSchema, JobSchema, type JobSpec } from '../schemas/batch';
import type { PodSpec } from '../schemas/pod';
import { canonicalJson } from '../canonical';
import { validatePod } from '../validation/pod';
import { defaultTemplate, nonNegative, validateSelectorAndTemplate } from './apps';
import { isValidTimeZone, parseCron } from '../cron';
import { cronJobs, jobs } from '../printers/workloads';

// Cron schedules (robfig/cron syntax, times by croner) live in ../cron.
export { isValidTimeZone, nextScheduleTime, parseCron, type CronSchedule } from '../cron';

// ---------------------------------------------------------------------------------------------
// batch/v1 kinds.

export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';

/**
 * Job defaults. Kubernetes selects a Job's pods by its uid, which the API server knows before the
 * write; our store assigns the uid inside the write, so the selector gets a fresh uuid of its
 * own here instead: as unique per Job, and fixed for its life (the selector is immutable).
 */
function defaultJob(o: KubeObject): KubeObject {
  const spec = { ...((o.spec ?? {}) as JobSpec) };
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  if (!spec.podFailurePolicy) spec.podReplacementPolicy ??= 'TerminatingOrFailed';
  const template = defaultTemplate(spec.template);
  if (!spec.manualSelector) {
    const uid = spec.selector?.matchLabels?.[CONTROLLER_UID_LABEL] ?? template.metadata?.labels?.[CONTROLLER_UID_LABEL] ?? randomUUID();
    const name = o.metadata.name ?? '';
    template.metadata = {
      ...template.metadata,
      labels: { ...template.metadata?.labels, [CONTROLLER_UID_LABEL]: uid, [LEGACY_CONTROLLER_UID_LABEL]: uid, [JOB_NAME_LABEL]: name, [LEGACY_JOB_NAME_LABEL]: name },
    };
    spec.selector ??= { matchLabels: { [CONTROLLER_UID_LABEL]: uid } };
  }
  spec.template = template;
  return { ...o, spec };
}

function validateJobSpec(spec: JobSpec, prefix: string): StatusCause[] {
  const causes: StatusCause[] = [
    ...nonNegative(`${prefix}.parallelism`, spec.parallelism),
    ...nonNegative(`${prefix}.completions`, spec.completions),
    ...nonNegative(`${prefix}.backoffLimit`, spec.backoffLimit),
    ...nonNegative(`${prefix}.ttlSecondsAfterFinished`, spec.ttlSecondsAfterFinished),
  ];
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds <= 0)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${spec.activeDeadlineSeconds}: must be greater than 0`, field: `${prefix}.activeDeadlineSeconds` });
  if (spec.completionMode === 'Indexed' && spec.completions === undefined)
    causes.push({ reason: 'FieldValueRequired', message: 'Required value: when completion mode is Indexed', field: `${prefix}.completions` });
  return causes;
}

function validateJob(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = (o.spec ?? {}) as JobSpec;
  const oldSpec = old ? ((old.spec ?? {}) as JobSpec) : undefined;
  const causes = [...validateSelectorAndTemplate('Job', spec, oldSpec, ['OnFailure', 'Never']), ...validateJobSpec(spec, 'spec')];
  if (oldSpec) {
    if (canonicalJson(spec.template) !== canonicalJson(oldSpec.template))
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'spec.template' });
    if (spec.completions !== oldSpec.completions)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${spec.completions}: field is immutable`, field: 'spec.completions' });
    if (spec.completionMode !== oldSpec.completionMode)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${spec.completionMode}": field is immutable`, field: 'spec.completionMode' });
  }
  return causes;
}

interface CronJobSpecShape {
  schedule?: string;
  timeZone?: string;
  startingDeadlineSeconds?: number;
  concurrencyPolicy?: string;
  suspend?: boolean;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  jobTemplate?: { metadata?: KubeObject['metadata']; spec?: JobSpec };
}

function defaultCronJob(o: KubeObject): KubeObject {
  const spec = { ...((o.spec ?? {}) as CronJobSpecShape) };
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  const jt = spec.jobTemplate ?? {};
  spec.jobTemplate = { ...jt, spec: { ...jt.spec, template: defaultTemplate(jt.spec?.template) } };
  return { ...o, spec };
}

function validateCronJob(o: KubeObject): StatusCause[] {
  const spec = (o.spec ?? {}) as CronJobSpecShape;
  const causes: StatusCause[] = [
    ...nonNegative('spec.startingDeadlineSeconds', spec.startingDeadlineSeconds),
    ...nonNegative('spec.successfulJobsHistoryLimit', spec.successfulJobsHistoryLimit),
    ...nonNegative('spec.failedJobsHistoryLimit', spec.failedJobsHistoryLimit),
  ];
  const name = o.metadata.name ?? '';
  // Job names get an 11-character suffix, and must stay valid labels.
  if (name.length > 52) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": must be no more than 52 characters`, field: 'metadata.name' });
  const schedule = spec.schedule ?? '';
  if (!schedule) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.schedule' });
  else if (schedule.includes('TZ'))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${schedule}": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`, field: 'spec.schedule' });
  else {
    try {
      parseCron(schedule);
    } catch (e) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${schedule}": ${(e as Error).message}`, field: 'spec.schedule' });
    }
  }
  if (spec.timeZone !== undefined && !isValidTimeZone(spec.timeZone))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${spec.timeZone}": unknown time zone ${spec.timeZone}`, field: 'spec.timeZone' });
  const jobSpec: JobSpec = spec.jobTemplate?.spec ?? { template: {} };
  causes.push(...validateJobSpec(jobSpec, 'spec.jobTemplate.spec'));
  for (const c of validatePod({ metadata: {}, spec: jobSpec.template?.spec ?? {} }))
    causes.push({ ...c, field: `spec.jobTemplate.spec.template.${c.field ?? 'spec'}` });
  const rp = (jobSpec.template?.spec as PodSpec | undefined)?.restartPolicy;
  if (rp !== undefined && rp !== 'OnFailure' && rp !== 'Never')
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${rp}": supported values: "OnFailure", "Never"`, field: 'spec.jobTemplate.spec.template.spec.restartPolicy' });
  return causes;
}

/** batch/v1: Job, CronJob (issue #4). */
export const batchTypes: readonly ResourceType[] = [
  {
    group: 'batch',
    version: 'v1',
    resource: 'jobs',
    table: jobs,
    kind: 'Job',
    singular: 'job',
    namespaced: true,
    shortNames: [],
    subresources: ['status'],
    prepareForCreate: freshStatus({}),
    schema: JobSchema,
    validate: validateJob,
    applyDefaults: defaultJob,
    nameIsLabel: false,
    // batch/v1 Jobs orphan their pods unless told otherwise (kubectl always sends Background).
    defaultPropagation: 'Orphan',
  },
  {
    group: 'batch',
    version: 'v1',
    resource: 'cronjobs',
    table: cronJobs,
    kind: 'CronJob',
    singular: 'cronjob',
    namespaced: true,
    shortNames: ['cj'],
    subresources: ['status'],
    prepareForCreate: freshStatus({}),
    schema: CronJobSchema,
    validate: validateCronJob,
    applyDefaults: defaultCronJob,
    nameIsLabel: false,
  },
];
