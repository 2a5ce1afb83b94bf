import { describe, expect, it } from 'vitest';
import { decideDependent } from '../../../functions/controllers/gc';
import { validateObject } from '../../../shared/registry/decode';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import { StatusError } from '../../../shared/errors';
import { pod, stored, template } from './fixtures';

describe('garbage collector decisions', () => {
  const owner = { metadata: { name: 'rs', uid: 'owner-1' } } as KubeObject;
  it('deletes a dependent whose every owner is gone', () => {
    const dep = pod('p', {}, { owner });
    expect(decideDependent(resourceByName('pods'), dep, new Set())).toMatchObject({ type: 'delete', name: 'p', uid: dep.metadata.uid });
  });
  it('only drops the dangling reference when another owner lives', () => {
    const dep = pod('p', {}, { owner });
    dep.metadata.ownerReferences!.push({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'other', uid: 'owner-2' });
    const a = decideDependent(resourceByName('pods'), dep, new Set(['owner-2']));
    expect(a).toMatchObject({ type: 'update' });
    expect(a?.type === 'update' && a.object.metadata.ownerReferences!.map((r) => r.uid)).toEqual(['owner-2']);
  });
  it('leaves a dependent with live owners alone', () => {
    expect(decideDependent(resourceByName('pods'), pod('p', {}, { owner }), new Set(['owner-1']))).toBeUndefined();
  });
});

function invalidOf(resource: string, obj: KubeObject, old?: KubeObject): StatusError | undefined {
  try {
    validateObject(resourceByName(resource), obj, old);
    return undefined;
  } catch (e) {
    return e as StatusError;
  }
}

describe('workload kinds: defaults and validation in Kubernetes\' words', () => {
  it('Deployment defaults: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600', () => {
    const d = stored('deployments', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: template({ a: 'b' }) } });
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600 });
    expect((d.spec as { template: { spec: { restartPolicy: string } } }).template.spec.restartPolicy).toBe('Always');
  });

  it('a selector that does not match the template labels is 422 Invalid', () => {
    const d = stored('deployments', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: template({ a: 'c' }) } });
    const e = invalidOf('deployments', d);
    expect(e?.code).toBe(422);
    expect(e?.message).toContain('spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: `selector` does not match template `labels`');
  });

  it('selectors are immutable; replicas may not be negative', () => {
    const old = stored('replicasets', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: template({ a: 'b', c: 'd' }) } });
    const changed = { ...old, spec: { ...(old.spec as object), replicas: -1, selector: { matchLabels: { c: 'd' } } } };
    const e = invalidOf('replicasets', changed, old);
    expect(e?.message).toContain('spec.selector: Invalid value');
    expect(e?.message).toContain('field is immutable');
    expect(e?.message).toContain('spec.replicas: Invalid value: -1: must be greater than or equal to 0');
  });

  it('Job defaults (parallelism, completions, backoffLimit, selector on its own labels) and its restartPolicy rule', () => {
    const j = stored('jobs', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'i:1' }] } } } });
    const spec = j.spec as { completions: number; parallelism: number; backoffLimit: number; completionMode: string; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    expect(spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed' });
    expect(spec.template.metadata.labels['batch.kubernetes.io/job-name']).toBe('pi');
    expect(spec.template.metadata.labels['batch.kubernetes.io/controller-uid']).toBe(spec.selector.matchLabels['batch.kubernetes.io/controller-uid']);
    expect(invalidOf('jobs', j)).toBeUndefined();
    const always = stored('jobs', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi' }, spec: { template: { spec: { containers: [{ name: 'm', image: 'i:1' }] } } } });
    expect(invalidOf('jobs', always)?.message).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"');
  });

  it('CronJob: defaults, and bad schedules and time zones are 422', () => {
    const cj = (schedule: string, timeZone?: string) =>
      stored('cronjobs', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule, ...(timeZone ? { timeZone } : {}), jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'i:1' }] } } } } } });
    expect(cj('* * * * *').spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(invalidOf('cronjobs', cj('* * * * *'))).toBeUndefined();
    expect(invalidOf('cronjobs', cj('every minute'))?.message).toContain('spec.schedule: Invalid value: "every minute"');
    expect(invalidOf('cronjobs', cj('* * * * *', 'Mars/Olympus'))?.message).toContain('spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus');
    expect(invalidOf('cronjobs', cj('TZ=UTC * * * * *'))?.message).toContain('cannot use TZ or CRON_TZ in schedule');
  });

  it.each([
    ['CRON_TZ=Europe/Paris 0 9 * * *', 'spec.schedule: Invalid value: "CRON_TZ=Europe/Paris 0 9 * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'],
    ['TZ=UTC @hourly', 'spec.schedule: Invalid value: "TZ=UTC @hourly": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'],
    ['0 0 * * 7', 'spec.schedule: Invalid value: "0 0 * * 7": end of range (7) above maximum (6): 7'],
    ['@reboot', 'spec.schedule: Invalid value: "@reboot": unrecognized descriptor: @reboot'],
  ])('CronJob schedule %s is 422 with robfig/cron and Kubernetes wording', (schedule, message) => {
    const o = stored('cronjobs', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'i:1' }] } } } } } });
    expect(invalidOf('cronjobs', o)?.message).toContain(message);
  });

  it.each(['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually', '@every 1h30m', '*/5 9-17 * jan-mar MON-FRI', '59 23 31 2 *'])('CronJob schedule %s is valid', (schedule) => {
    const o = stored('cronjobs', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'i:1' }] } } } } } });
    expect(invalidOf('cronjobs', o)).toBeUndefined();
  });
});
