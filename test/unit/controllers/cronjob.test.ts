import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { mostRecentScheduleTime, reconcileCronJob } from '../../../functions/controllers/cronjob';
import { nextScheduleTime, parseCron } from '../../../shared/cron';
import type { KubeObject } from '../../../shared/resources';
import { NOW, ago, stored } from './fixtures';

function cronJob(spec: Record<string, unknown>, status?: Record<string, unknown>, created = ago(3600)): KubeObject {
  return stored(
    'cronjobs',
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'tick' },
      spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1' }] } } } }, ...spec },
      ...(status ? { status } : {}),
    },
    created,
  );
}
function jobOf(cj: KubeObject, name: string, finished?: 'Complete' | 'Failed', created = ago(60)): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: `job-${name}`, creationTimestamp: created, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: cj.metadata.uid!, controller: true }] },
    spec: {},
    status: finished ? { conditions: [{ type: finished, status: 'True' }], completionTime: created } : { active: 1 },
  };
}

describe('cron schedules', () => {
  // Hand-computed; 2026-01-01 is a Thursday. AFTER is 12:00:00 UTC.
  const AFTER = new Date('2026-01-01T12:00:00Z');
  it.each([
    ['*/15 9-17 * JAN-MAR mon-fri', undefined, AFTER, '2026-01-01T12:15:00Z'],
    ['@hourly', undefined, AFTER, '2026-01-01T13:00:00Z'],
    ['@daily', undefined, AFTER, '2026-01-02T00:00:00Z'],
    ['@midnight', undefined, AFTER, '2026-01-02T00:00:00Z'],
    ['@weekly', undefined, AFTER, '2026-01-04T00:00:00Z'], // the next Sunday
    ['@monthly', undefined, AFTER, '2026-02-01T00:00:00Z'],
    ['@yearly', undefined, AFTER, '2027-01-01T00:00:00Z'],
    ['@annually', undefined, AFTER, '2027-01-01T00:00:00Z'],
    ['@every 90s', undefined, new Date('2026-01-01T12:00:00.700Z'), '2026-01-01T12:01:30Z'],
    ['0 12 * * *', undefined, AFTER, '2026-01-02T12:00:00Z'], // strictly after
    ['? 13 * * ?', undefined, AFTER, '2026-01-01T13:00:00Z'],
    // Day of month OR day of week when both are restricted (13th or a Friday: Friday the 2nd).
    ['0 0 13 * 5', undefined, AFTER, '2026-01-02T00:00:00Z'],
    // With a * in one day field, the other alone decides (a Friday).
    ['0 0 * * FRI', undefined, new Date('2026-01-02T00:00:00Z'), '2026-01-09T00:00:00Z'],
    // 09:00 in New York is 14:00 UTC in winter, 13:00 in summer.
    ['0 9 * * *', 'America/New_York', new Date('2026-01-01T15:00:00Z'), '2026-01-02T14:00:00Z'],
    ['0 9 * * *', 'America/New_York', new Date('2026-07-01T15:00:00Z'), '2026-07-02T13:00:00Z'],
    ['0 0 * * *', 'Asia/Kolkata', AFTER, '2026-01-01T18:30:00Z'],
    // 02:30 does not exist in New York on 2026-03-08 (spring forward): skipped, as robfig/cron does.
    ['30 2 * * *', 'America/New_York', new Date('2026-03-08T00:00:00Z'), '2026-03-09T06:30:00Z'],
    ['59 23 31 2 *', undefined, AFTER, undefined], // February 31st never comes
  ])('%s in %s after %s: %s', (schedule, tz, after, want) => {
    expect(nextScheduleTime(parseCron(schedule), after, tz)?.toISOString().replace('.000Z', 'Z')).toBe(want);
  });

  it.each([
    ['* * *', 'expected exactly 5 fields, found 3: [* * *]'],
    ['0 * * * * *', 'expected exactly 5 fields, found 6: [0 * * * * *]'],
    ['61 * * * *', 'end of range (61) above maximum (59): 61'],
    ['0 0 0 * *', 'beginning of range (0) below minimum (1): 0'],
    ['5-1 * * * *', 'beginning of range (5) beyond end of range (1): 5-1'],
    ['0 0 * * 7', 'end of range (7) above maximum (6): 7'],
    ['0 0 L * *', 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'],
    ['0 0 * * 5#2', 'failed to parse int from 5#2: strconv.Atoi: parsing "5#2": invalid syntax'],
    ['*/0 * * * *', 'step of range should be a positive number: */0'],
    ['@reboot', 'unrecognized descriptor: @reboot'],
    ['@every 5x', 'failed to parse duration @every 5x: time: invalid duration "5x"'],
  ])('rejects %s as robfig/cron does', (schedule, message) => {
    expect(() => parseCron(schedule)).toThrow(message);
  });

  it.each([
    // */5 from 11:41 to 12:00: 11:45, 11:50, 11:55, 12:00
    ['*/5 * * * *', '2026-01-01T11:41:00Z', '2026-01-01T12:00:00Z', 4],
    ['*/5 * * * *', '2026-01-01T11:57:00Z', '2026-01-01T12:00:00Z', 0], // one due, none missed
    ['*/5 * * * *', '2026-01-01T12:00:00Z', undefined, 0], // nothing due yet
    // hourly since 2025-12-27 12:00: 120 start times, the latest at 12:00
    ['0 * * * *', '2025-12-27T12:00:00Z', '2026-01-01T12:00:00Z', 120],
    // irregular: 30 6-16/4 * * 1-5 (06:30, 10:30, 14:30 on weekdays) since Monday 2025-12-29. The
    // count is Kubernetes' estimate, time since the first start over the first interval (77.5 h /
    // 4 h) + 1 = 20, not the exact 11; the most recent time is exact.
    ['30 6-16/4 * * 1-5', '2025-12-29T00:00:00Z', '2026-01-01T10:30:00Z', 20],
  ])('%s since %s: most recent %s, %i missed', (schedule, earliest, time, missed) => {
    const r = mostRecentScheduleTime(parseCron(schedule), undefined, new Date(earliest), NOW);
    expect(r.time?.toISOString().replace('.000Z', 'Z')).toBe(time);
    expect(r.missed).toBe(missed);
    expect(r.error).toBeUndefined();
  });

  it('reports a schedule that never fires as Kubernetes does', () => {
    expect(mostRecentScheduleTime(parseCron('59 23 31 2 *'), undefined, new Date('2025-01-01T00:00:00Z'), NOW)).toEqual({
      missed: 0,
      error: 'time difference between two schedules is less than 1 second',
    });
  });
});

describe('reconcileCronJob: Kubernetes events', () => {
  const warnings = (actions: ReturnType<typeof reconcileCronJob>) =>
    actions.flatMap((a) => (a.type === 'event' && a.note.type === 'Warning' ? [`${a.note.reason}: ${a.note.message}`] : []));

  it.each([
    ['59 23 31 2 *', undefined, ['InvalidSchedule: invalid schedule: 59 23 31 2 * : time difference between two schedules is less than 1 second']],
    ['61 * * * *', undefined, ['UnparseableSchedule: unparseable schedule: "61 * * * *" : end of range (61) above maximum (59): 61']],
    ['* * * * *', 'Mars/Olympus', ['UnknownTimeZone: invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus']],
  ])('%s (timeZone %s): a Warning, no Job and no timer', (schedule, timeZone, want) => {
    const cj = cronJob({ schedule, ...(timeZone ? { timeZone } : {}) });
    const actions = reconcileCronJob({ cronJob: cj, jobs: [], now: NOW });
    expect(warnings(actions)).toEqual(want);
    expect(creates(actions, 'jobs')).toHaveLength(0);
    expect(actions.find((a) => a.type === 'requeueAt')).toBeUndefined();
  });

  it('more than 100 missed start times: TooManyMissedTimes, and the latest still runs', () => {
    // every minute, created 3 hours ago: 180 missed
    const actions = reconcileCronJob({ cronJob: cronJob({ schedule: '* * * * *' }, undefined, ago(3 * 3600)), jobs: [], now: NOW });
    expect(warnings(actions)).toEqual(['TooManyMissedTimes: too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew']);
    expect(creates(actions, 'jobs').map((c) => c.object.metadata.name)).toEqual([`tick-${NOW.getTime() / 60_000}`]);
  });

  it('startingDeadlineSeconds bounds the look-back: no TooManyMissedTimes', () => {
    const actions = reconcileCronJob({ cronJob: cronJob({ schedule: '* * * * *', startingDeadlineSeconds: 200 }, undefined, ago(3 * 3600)), jobs: [], now: NOW });
    expect(warnings(actions)).toEqual([]);
    expect(creates(actions, 'jobs')).toHaveLength(1);
  });

  it('a start older than startingDeadlineSeconds is not looked at: no Job, no event, a timer for the next', () => {
    // scheduled 12:00, now 12:02:30, deadline 60 s: Kubernetes looks back to 12:01:30 only
    const cj = cronJob({ schedule: '0 * * * *', startingDeadlineSeconds: 60 }, { lastScheduleTime: ago(3600) });
    const actions = reconcileCronJob({ cronJob: cj, jobs: [], now: new Date(NOW.getTime() + 150_000) });
    expect(warnings(actions)).toEqual([]);
    expect(creates(actions, 'jobs')).toHaveLength(0);
    expect(actions.find((a) => a.type === 'requeueAt')).toEqual({ type: 'requeueAt', at: new Date('2026-01-01T13:00:00Z') });
  });
});

describe('reconcileCronJob', () => {
  it('creates the Job for the latest scheduled time, named by its unix minute, and asks for the next', () => {
    // Prepare
    const cj = cronJob({}, { lastScheduleTime: ago(300) });
    // Act
    const actions = reconcileCronJob({ cronJob: cj, jobs: [], now: NOW });
    // Assess
    const [c] = creates(actions, 'jobs');
    expect(c!.object.metadata.name).toBe(`tick-${NOW.getTime() / 60_000}`);
    expect(c!.object.metadata.ownerReferences?.[0]?.uid).toBe(cj.metadata.uid);
    expect((updates(actions, 'cronjobs')[0]!.object.status as { lastScheduleTime: string }).lastScheduleTime).toBe('2026-01-01T12:00:00Z');
    expect(actions.find((a) => a.type === 'requeueAt')).toEqual({ type: 'requeueAt', at: new Date('2026-01-01T12:05:00Z') });
  });

  it('Forbid skips while a Job runs; Replace deletes the running one; suspend does nothing', () => {
    // Prepare
    const base = { lastScheduleTime: ago(300) };
    const forbid = cronJob({ concurrencyPolicy: 'Forbid' }, base);
    const replace = cronJob({ concurrencyPolicy: 'Replace' }, base);
    // Act
    const f = reconcileCronJob({ cronJob: forbid, jobs: [jobOf(forbid, 'tick-1')], now: NOW });
    const r = reconcileCronJob({ cronJob: replace, jobs: [jobOf(replace, 'tick-1')], now: NOW });
    const s = reconcileCronJob({ cronJob: cronJob({ suspend: true }, base), jobs: [], now: NOW });
    // Assess
    expect(creates(f, 'jobs')).toHaveLength(0);
    expect(deletes(r, 'jobs').map((d) => d.name)).toEqual(['tick-1']);
    expect(creates(r, 'jobs')).toHaveLength(1);
    expect(creates(s, 'jobs')).toHaveLength(0);
  });

  it('misses a start later than startingDeadlineSeconds', () => {
    // Prepare: scheduled at 12:00, now 12:02, deadline 60 s
    const cj = cronJob({ startingDeadlineSeconds: 60 }, { lastScheduleTime: ago(420) });
    // Act
    const actions = reconcileCronJob({ cronJob: cj, jobs: [], now: new Date(NOW.getTime() + 120_000) });
    // Assess
    expect(creates(actions, 'jobs')).toHaveLength(0);
  });

  it('keeps successfulJobsHistoryLimit and failedJobsHistoryLimit finished Jobs', () => {
    // Prepare
    const cj = cronJob({ successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 0 }, { lastScheduleTime: ago(0) });
    const jobs = [jobOf(cj, 'tick-1', 'Complete', ago(900)), jobOf(cj, 'tick-2', 'Complete', ago(600)), jobOf(cj, 'tick-3', 'Failed', ago(300))];
    // Act
    const actions = reconcileCronJob({ cronJob: cj, jobs, now: NOW });
    // Assess
    expect(deletes(actions, 'jobs').map((d) => d.name).sort()).toEqual(['tick-1', 'tick-3']);
  });

  it('lists running Jobs in status.active', () => {
    const cj = cronJob({}, { lastScheduleTime: ago(0) });
    const actions = reconcileCronJob({ cronJob: cj, jobs: [jobOf(cj, 'tick-9')], now: NOW });
    expect((updates(actions, 'cronjobs')[0]!.object.status as { active: { name: string }[] }).active.map((a) => a.name)).toEqual(['tick-9']);
  });
});
