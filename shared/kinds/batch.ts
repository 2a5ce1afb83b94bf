import { randomUUID } from 'node:crypto';
import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { CronJobSchema, JobSchema, type JobSpec } from '../schemas/batch';
import type { PodSpec } from '../schemas/pod';
import { canonicalJson } from '../canonical';
import { validatePod } from '../validation/pod';
import { defaultTemplate, nonNegative, validateSelectorAndTemplate } from './apps';

// ---------------------------------------------------------------------------------------------
// Cron schedules, as CronJobs read them (robfig/cron's standard five-field parser).

/** A parsed five-field cron schedule. */
export interface CronSchedule {
  readonly minute: ReadonlySet<number>;
  readonly hour: ReadonlySet<number>;
  readonly dom: ReadonlySet<number>;
  readonly month: ReadonlySet<number>;
  readonly dow: ReadonlySet<number>;
  /** `*` or `?` in a day field: the two day fields then AND instead of OR (as cron does). */
  readonly domStar: boolean;
  readonly dowStar: boolean;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function parseField(field: string, min: number, max: number, names?: string[]): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  const num = (s: string) => {
    const i = names?.indexOf(s.toLowerCase()) ?? -1;
    if (i >= 0) return i + min;
    if (!/^\d+$/.test(s)) throw new Error(`failed to parse int from ${s}`);
    return Number(s);
  };
  let star = false;
  for (const part of field.split(',')) {
    const [range, stepRaw] = part.split('/');
    const step = stepRaw === undefined ? 1 : Number(stepRaw);
    if (!Number.isInteger(step) || step < 1) throw new Error(`failed to parse int from ${stepRaw}`);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      [lo, hi] = [min, max];
      if (stepRaw === undefined) star = true;
    } else if (range!.includes('-')) {
      const [a, b] = range!.split('-');
      [lo, hi] = [num(a!), num(b!)];
    } else {
      lo = num(range!);
      hi = stepRaw === undefined ? lo : max;
    }
    if (lo < min) throw new Error(`beginning of range (${lo}) below minimum (${min}): ${part}`);
    if (hi > max) throw new Error(`end of range (${hi}) above maximum (${max}): ${part}`);
    if (lo > hi) throw new Error(`beginning of range (${lo}) beyond end of range (${hi}): ${part}`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, star };
}

/** Parses a schedule; throws an Error worded as robfig/cron words it. */
export function parseCron(expr: string): CronSchedule {
  const text = DESCRIPTORS[expr.trim()] ?? expr.trim();
  if (text.startsWith('@')) throw new Error(`unrecognized descriptor: ${text}`);
  const fields = text.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  const dom = parseField(fields[2]!, 1, 31);
  const dow = parseField(fields[4]!, 0, 6, DAYS);
  return {
    minute: parseField(fields[0]!, 0, 59).values,
    hour: parseField(fields[1]!, 0, 23).values,
    dom: dom.values,
    month: parseField(fields[3]!, 1, 12, MONTHS).values,
    dow: dow.values,
    domStar: dom.star,
    dowStar: dow.star,
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Wall-clock fields of `t` in `timeZone` (IANA name; UTC when undefined). */
function wallClock(t: number, timeZone = 'UTC') {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(t))) parts[p.type] = p.value;
  return { month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour) % 24, minute: Number(parts.minute), dow: WEEKDAYS[parts.weekday!]! };
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const MINUTE = 60_000;

/** The first scheduled time strictly after `after`, or undefined if none within five years. */
export function nextScheduleTime(s: CronSchedule, after: Date, timeZone?: string): Date | undefined {
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  const end = after.getTime() + 5 * 366 * 24 * 60 * MINUTE;
  while (t <= end) {
    const w = wallClock(t, timeZone);
    const domOk = s.dom.has(w.day);
    const dowOk = s.dow.has(w.dow);
    const dayOk = s.domStar || s.dowStar ? domOk && dowOk : domOk || dowOk;
    // Whole hours that cannot match are skipped at once (DST-safe: re-read the clock each step).
    if (!s.month.has(w.month) || !dayOk || !s.hour.has(w.hour)) t += (60 - w.minute) * MINUTE;
    else if (!s.minute.has(w.minute)) t += MINUTE;
    else return new Date(t);
  }
  return undefined;
}

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
  else if (/(^|\s)(CRON_)?TZ=/.test(schedule))
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
    kind: 'Job',
    singular: 'job',
    namespaced: true,
    shortNames: [],
    subresources: ['status'],
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
    kind: 'CronJob',
    singular: 'cronjob',
    namespaced: true,
    shortNames: ['cj'],
    subresources: ['status'],
    schema: CronJobSchema,
    validate: validateCronJob,
    applyDefaults: defaultCronJob,
    nameIsLabel: false,
  },
];
