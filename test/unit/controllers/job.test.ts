import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { COMPLETION_INDEX, formatIndexes, parseIndexes, reconcileJob } from '../../../functions/controllers/job';
import type { KubeObject } from '../../../shared/resources';
import { NOW, ago, pod, stored } from './fixtures';

function job(spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject {
  return stored('jobs', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pi' },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1' }] } }, ...spec },
    ...(status ? { status } : {}),
  });
}
const labelsOf = (j: KubeObject) => (j.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
const statusOf = (a: ReturnType<typeof reconcileJob>) => updates(a, 'jobs')[0]?.object.status as Record<string, unknown> & { conditions?: { type: string; reason: string }[] };

describe('reconcileJob', () => {
  it('starts at most parallelism pods towards completions', () => {
    // Prepare
    const j = job({ completions: 5, parallelism: 2 });
    // Act
    const actions = reconcileJob({ job: j, pods: [], now: NOW });
    // Assess
    expect(creates(actions)).toHaveLength(2);
    expect(statusOf(actions)).toMatchObject({ active: 2, succeeded: 0, failed: 0, startTime: '2026-01-01T12:00:00Z' });
  });

  it('never runs more than parallelism, and never more than the completions left', () => {
    // Prepare
    const j = job({ completions: 3, parallelism: 3 });
    const pods = [
      pod('pi-a', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Succeeded' }),
      pod('pi-b', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Succeeded' }),
      pod('pi-c', labelsOf(j), { owner: j, ownerKind: 'Job', ready: true }),
      pod('pi-d', labelsOf(j), { owner: j, ownerKind: 'Job', ready: true }),
    ];
    // Act
    const actions = reconcileJob({ job: j, pods, now: NOW });
    // Assess: one completion left, two running: one goes
    expect(creates(actions)).toHaveLength(0);
    expect(deletes(actions)).toHaveLength(1);
  });

  it('is Complete when completions pods succeeded', () => {
    // Prepare
    const j = job({ completions: 2 }, { startTime: ago(60), succeeded: 1 });
    const pods = [pod('pi-a', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Succeeded' }), pod('pi-b', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Succeeded' })];
    // Act
    const actions = reconcileJob({ job: j, pods, now: NOW });
    // Assess
    const s = statusOf(actions);
    expect(s).toMatchObject({ succeeded: 2, active: 0, completionTime: '2026-01-01T12:00:00Z' });
    expect(s.conditions?.map((c) => [c.type, c.reason])).toEqual([['Complete', 'CompletionsReached']]);
    expect(creates(actions)).toHaveLength(0);
  });

  it('fails with BackoffLimitExceeded after backoffLimit failed pods', () => {
    // Prepare
    const j = job({ backoffLimit: 1 }, { startTime: ago(60) });
    const pods = [pod('pi-a', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Failed' }), pod('pi-b', labelsOf(j), { owner: j, ownerKind: 'Job', phase: 'Failed' })];
    // Act
    const actions = reconcileJob({ job: j, pods, now: NOW });
    // Assess
    expect(statusOf(actions).conditions?.map((c) => [c.type, c.reason])).toEqual([['Failed', 'BackoffLimitExceeded']]);
    expect(creates(actions)).toHaveLength(0);
  });

  it('fails with DeadlineExceeded past activeDeadlineSeconds and stops its pods; before that, asks to be woken at the deadline', () => {
    // Prepare
    const j = job({ activeDeadlineSeconds: 30 }, { startTime: ago(60) });
    const running = [pod('pi-a', labelsOf(j), { owner: j, ownerKind: 'Job', ready: true })];
    // Act
    const late = reconcileJob({ job: j, pods: running, now: NOW });
    const early = reconcileJob({ job: job({ activeDeadlineSeconds: 120 }, { startTime: ago(60) }), pods: [], now: NOW });
    // Assess
    expect(statusOf(late).conditions?.map((c) => c.reason)).toEqual(['DeadlineExceeded']);
    expect(deletes(late).map((d) => d.name)).toEqual(['pi-a']);
    expect(early.find((a) => a.type === 'requeueAt')).toEqual({ type: 'requeueAt', at: new Date(NOW.getTime() + 60_000) });
  });

  it('Indexed: one pod per pending index, named and labelled with its index, JOB_COMPLETION_INDEX set', () => {
    // Prepare
    const j = job({ completions: 3, parallelism: 3, completionMode: 'Indexed' });
    const done = pod('pi-0-x', { ...labelsOf(j), [COMPLETION_INDEX]: '0' }, { owner: j, ownerKind: 'Job', phase: 'Succeeded', annotations: { [COMPLETION_INDEX]: '0' } });
    // Act
    const actions = reconcileJob({ job: j, pods: [done], now: NOW });
    // Assess
    const c = creates(actions);
    expect(c.map((x) => x.generateName)).toEqual(['pi-1-', 'pi-2-']);
    expect(c[0]!.object.metadata.annotations?.[COMPLETION_INDEX]).toBe('1');
    expect((c[0]!.object.spec as { hostname: string; containers: { env: unknown[] }[] }).hostname).toBe('pi-1');
    expect((c[0]!.object.spec as { containers: { env: unknown[] }[] }).containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', value: '1' });
    expect(statusOf(actions)).toMatchObject({ completedIndexes: '0', succeeded: 1 });
  });

  it('a finished Job with ttlSecondsAfterFinished is deleted once the TTL passed', () => {
    // Prepare
    const finished = { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: ago(100) }], completionTime: ago(100) };
    // Act
    const expired = reconcileJob({ job: job({ ttlSecondsAfterFinished: 60 }, finished), pods: [], now: NOW });
    const waiting = reconcileJob({ job: job({ ttlSecondsAfterFinished: 600 }, finished), pods: [], now: NOW });
    // Assess
    expect(deletes(expired, 'jobs')).toHaveLength(1);
    expect(deletes(waiting, 'jobs')).toHaveLength(0);
    expect(waiting.find((a) => a.type === 'requeueAt')).toBeTruthy();
  });

  it('formats completed indexes as Kubernetes does', () => {
    expect(formatIndexes(new Set([0, 1, 2, 4, 6, 7]))).toBe('0-2,4,6-7');
    expect([...parseIndexes('0-2,4')]).toEqual([0, 1, 2, 4]);
  });
});
