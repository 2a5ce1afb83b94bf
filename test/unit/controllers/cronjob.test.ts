import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { mostRecentScheduleTime, reconcileCronJob } from '../../../functions/controllers/cronjob';
import { nextScheduleTime, parseCron } from '../../../shared/kinds/batch';
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
  it('parses five fields, names and descriptors; rejects what robfig/cron rejects', () => {
    expect([...parseCron('*/15 9-17 * JAN-MAR mon-fri').minute]).toEqual([0, 15, 30, 45]);
    expect(parseCron('@hourly').minute.has(0)).toBe(true);
    expect(() => parseCron('* * *')).toThrow(/expected exactly 5 fields/);
    expect(() => parseCron('61 * * * *')).toThrow(/above maximum/);
  });

  it('finds the next time in a time zone, across the day', () => {
    // 09:00 in New York is 14:00 UTC in winter
    const next = nextScheduleTime(parseCron('0 9 * * *'), new Date('2026-01-01T15:00:00Z'), 'America/New_York');
    expect(next?.toISOString()).toBe('2026-01-02T14:00:00.000Z');
  });

  it('finds the most recent missed time and counts the misses', () => {
    const r = mostRecentScheduleTime('*/5 * * * *', undefined, new Date('2026-01-01T11:41:00Z'), NOW);
    expect(r.time?.toISOString()).toBe('2026-01-01T12:00:00.000Z');
    expect(r.missed).toBe(4);
    expect(r.next?.toISOString()).toBe('2026-01-01T12:05:00.000Z');
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
