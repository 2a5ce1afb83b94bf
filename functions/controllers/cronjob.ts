import { resourceByName, type KubeObject } from '../../shared/resources';
import { isValidTimeZone, nextScheduleTime, parseCron, type CronSchedule } from '../../shared/cron';
import type { CronJob, Job } from '../../shared/schemas/batch';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { byCreation, controllerRefOf, newControllerRef, sameJson, timestamp } from './common';
import { isFinished } from './job';

/*
 * The CronJob controller (Kubernetes' cronjob_controllerv2): at each scheduled time (in
 * spec.timeZone), create a Job named `${cronjob}-${unix minutes}` — the name makes a replayed or
 * concurrent run harmless (AlreadyExists) — honouring concurrencyPolicy, suspend and
 * startingDeadlineSeconds; keep the history limits; track active Jobs. Time drives it: every
 * reconcile asks for a timer at the next scheduled time (the schedule function runs it).
 */

export const COMPONENT = 'cronjob-controller';
export const SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** As Kubernetes: past this many missed start times, only the latest is considered. */
const MAX_MISSED = 100;

type CJ = CronJob & KubeObject;
type J = Job & KubeObject;

export interface CronJobObserved {
  readonly cronJob: KubeObject;
  /** Jobs of the CronJob's namespace. */
  readonly jobs: readonly KubeObject[];
  readonly now: Date;
}

const jobCondition = (j: KubeObject, type: string) => ((j as J).status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');

/** Returned by mostRecentScheduleTime for a schedule that never fires (`59 23 31 2 *`), as Kubernetes words it. */
export const NEVER_FIRES = 'time difference between two schedules is less than 1 second';

/**
 * Kubernetes' mostRecentScheduleTime: the most recent scheduled time in (earliest, now] and the
 * number of start times missed since earliest (estimated from the first interval, as Kubernetes
 * does), or an error for a schedule that never fires.
 */
export function mostRecentScheduleTime(schedule: CronSchedule, timeZone: string | undefined, earliest: Date, now: Date): { time?: Date; missed: number; error?: string } {
  const t1 = nextScheduleTime(schedule, earliest, timeZone);
  if (t1 && now < t1) return { missed: 0 };
  const t2 = t1 && nextScheduleTime(schedule, t1, timeZone);
  if (t1 && t2 && now < t2) return { time: t1, missed: 0 };
  const between = t1 && t2 ? Math.round((t2.getTime() - t1.getTime()) / 1000) : 0;
  if (between < 1) return { missed: 0, error: NEVER_FIRES };
  const missed = Math.floor(Math.floor((now.getTime() - t1!.getTime()) / 1000) / between) + 1;
  // Start one interval before the estimate and walk forward (irregular schedules like 30 6-16/4 * * 1-5).
  let time: Date | undefined;
  for (let t = nextScheduleTime(schedule, new Date(t1!.getTime() + (missed - 2) * between * 1000), timeZone); t && t <= now; t = nextScheduleTime(schedule, t, timeZone)) time = t;
  return { time, missed };
}

/** Go's time.RFC1123Z in UTC (`Thu, 01 Jan 2026 12:00:00 +0000`), as Kubernetes' MissSchedule event prints it. */
const rfc1123z = (t: Date) => t.toUTCString().replace(/GMT$/, '+0000');

export function reconcileCronJob({ cronJob: obj, jobs, now }: CronJobObserved): Action[] {
  const cj = obj as CJ;
  const spec = cj.spec;
  const actions: Action[] = [];
  const ref = newControllerRef(cj, 'batch/v1', 'CronJob');
  // CronJobs do not adopt: only Jobs they created (controllerRef) are theirs.
  const owned = jobs.filter((j) => controllerRefOf(j)?.uid === cj.metadata.uid).sort(byCreation);
  const running = owned.filter((j) => !isFinished(j) && !j.metadata.deletionTimestamp);
  const status = { ...cj.status };
  const activeRefs = running.map((j) => ({ kind: 'Job', namespace: j.metadata.namespace, name: j.metadata.name, uid: j.metadata.uid, apiVersion: 'batch/v1', resourceVersion: j.metadata.resourceVersion }));
  if (activeRefs.length) status.active = activeRefs;
  else delete status.active;
  const lastSuccess = owned
    .filter((j) => jobCondition(j, 'Complete'))
    .map((j) => (j as J).status?.completionTime)
    .filter((t): t is string => !!t)
    .sort()
    .pop();
  if (lastSuccess && (!status.lastSuccessfulTime || lastSuccess > status.lastSuccessfulTime)) status.lastSuccessfulTime = lastSuccess;

  /** Deleting one of this CronJob's Jobs, with its pods, as Kubernetes' CronJob controller does. */
  const deleteJob = (j: KubeObject): Action => ({
    type: 'delete',
    resource: 'jobs',
    namespace: j.metadata.namespace!,
    name: j.metadata.name!,
    uid: j.metadata.uid,
    propagationPolicy: 'Background',
    event: { about: cj, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted job ${j.metadata.name}` },
  });

  // History limits: the oldest finished Jobs beyond the limit go, with their pods.
  for (const [type, limit] of [['Complete', spec.successfulJobsHistoryLimit ?? 3], ['Failed', spec.failedJobsHistoryLimit ?? 1]] as const) {
    const finished = owned.filter((j) => jobCondition(j, type) && !j.metadata.deletionTimestamp);
    for (const j of finished.slice(0, Math.max(0, finished.length - limit))) actions.push(deleteJob(j));
  }

  if (!cj.metadata.deletionTimestamp && !spec.suspend) {
    // As Kubernetes' syncCronJob: a bad time zone or schedule gets a Warning and no Job (and no
    // timer: an update of the spec brings the CronJob back).
    const warn = (reason: string, message: string): Action => ({ type: 'event', note: { about: cj, type: 'Warning', reason, message } });
    let schedule: CronSchedule | undefined;
    if (spec.timeZone !== undefined && !isValidTimeZone(spec.timeZone)) {
      actions.push(warn('UnknownTimeZone', `invalid timeZone: "${spec.timeZone}": unknown time zone ${spec.timeZone}`));
    } else {
      try {
        schedule = parseCron(spec.schedule);
      } catch (e) {
        actions.push(warn('UnparseableSchedule', `unparseable schedule: "${spec.schedule}" : ${(e as Error).message}`));
      }
    }
    let earliest = new Date(Date.parse(status.lastScheduleTime ?? cj.metadata.creationTimestamp ?? now.toISOString()));
    if (spec.startingDeadlineSeconds !== undefined) earliest = new Date(Math.max(earliest.getTime(), now.getTime() - spec.startingDeadlineSeconds * 1000));
    const { time, missed, error } = schedule ? mostRecentScheduleTime(schedule, spec.timeZone, earliest, now) : { time: undefined, missed: 0, error: undefined };
    if (error) actions.push(warn('InvalidSchedule', `invalid schedule: ${spec.schedule} : ${error}`));
    const next = schedule && !error ? nextScheduleTime(schedule, now, spec.timeZone) : undefined;
    if (time && missed > MAX_MISSED)
      actions.push(warn('TooManyMissedTimes', 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew'));
    if (time) {
      const name = `${cj.metadata.name}-${Math.floor(time.getTime() / 60_000)}`;
      const exists = owned.some((j) => j.metadata.name === name);
      const tooLate = spec.startingDeadlineSeconds !== undefined && time.getTime() + spec.startingDeadlineSeconds * 1000 < now.getTime();
      if (exists) status.lastScheduleTime = timestamp(time);
      else if (tooLate) {
        actions.push(warn('MissSchedule', `Missed scheduled time to start a job: ${rfc1123z(time)}`));
      } else if (spec.concurrencyPolicy === 'Forbid' && running.length > 0) {
        // Not now; the active Job finishing brings us back (its change is on the stream).
      } else {
        if (spec.concurrencyPolicy === 'Replace')
          for (const j of running) actions.push(deleteJob(j));
        const jt = spec.jobTemplate;
        actions.push({
          type: 'create',
          resource: 'jobs',
          object: {
            apiVersion: 'batch/v1',
            kind: 'Job',
            metadata: {
              name,
              namespace: cj.metadata.namespace,
              labels: { ...jt.metadata?.labels },
              annotations: { ...jt.metadata?.annotations, [SCHEDULED_TIMESTAMP]: timestamp(time) },
              ownerReferences: [ref],
            },
            spec: structuredClone(jt.spec),
          },
          event: { about: cj, type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${name}` },
        });
        status.lastScheduleTime = timestamp(time);
      }
    }
    if (next) actions.push({ type: 'requeueAt', at: next });
  }
  if (!sameJson(status, cj.status ?? {})) actions.push({ type: 'update', resource: 'cronjobs', object: { ...cj, status } });
  return actions;
}

/** Re-reads the CronJob and its namespace's Jobs, reconciles, applies. NotFound is done. */
export async function syncCronJob(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const cronJob = await ctx.store.get(ctx.tenant, resourceByName('cronjobs'), namespace, name);
  if (!cronJob) return;
  const { items: jobs } = await ctx.store.list(ctx.tenant, resourceByName('jobs'), { namespace, versioned: false });
  await applyActions(ctx, COMPONENT, key, reconcileCronJob({ cronJob, jobs, now: ctx.now }));
}
