import middy from '@middy/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { functionMetrics, MetricUnit, withMetrics } from '../../shared/function-metrics';

/** The EMF documents a handler printed (one JSON line each, on stdout). */
function emfDocuments(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls
    .map((c: unknown[]) => String(c[0]))
    .flatMap((line: string) => {
      try {
        const doc = JSON.parse(line) as Record<string, unknown>;
        return doc._aws ? [doc] : [];
      } catch {
        return [];
      }
    });
}

describe('function metrics (CloudWatch EMF via powertools)', () => {
  const saved = process.env.POWERTOOLS_METRICS_DISABLED;
  afterEach(() => {
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = saved;
  });

  it('publishes the invocation metrics in namespace Stratus, with the service as the only dimension, at the end of each invocation', async () => {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const metrics = functionMetrics('stratus-test');
    const handler = middy(() => {
      metrics.addMetric('Reconciles', MetricUnit.Count, 3);
      return Promise.resolve('ok');
    }).use(withMetrics(metrics));
    await handler({}, { functionName: 'f', awsRequestId: 'r' } as never);
    await handler({}, { functionName: 'f', awsRequestId: 'r2' } as never);
    const docs = [...emfDocuments(out), ...emfDocuments(log)];
    const withReconciles = docs.filter((d) => 'Reconciles' in d);
    expect(withReconciles).toHaveLength(2);
    const aws = withReconciles[0]!._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
    expect(aws.CloudWatchMetrics[0]!.Namespace).toBe('Stratus');
    expect(aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service']]);
    expect(aws.CloudWatchMetrics[0]!.Metrics).toEqual([
      { Name: 'Invocations', Unit: 'Count' },
      { Name: 'Reconciles', Unit: 'Count' },
    ]);
    expect(withReconciles[0]!.Reconciles).toBe(3);
    expect(withReconciles[0]!.service).toBe('stratus-test');
  });

  it('an invocation that adds nothing still publishes Invocations (no empty-metrics warning)', async () => {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const metrics = functionMetrics('stratus-idle');
    await middy(() => Promise.resolve('ok')).use(withMetrics(metrics))({}, { functionName: 'f', awsRequestId: 'r' } as never);
    expect([...emfDocuments(out), ...emfDocuments(log)].filter((d) => d.Invocations === 1)).toHaveLength(1);
    expect(warn).not.toHaveBeenCalled();
  });

  it('prints nothing when POWERTOOLS_METRICS_DISABLED is set (the local stack default)', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const metrics = functionMetrics('stratus-test');
    const handler = middy(() => {
      metrics.addMetric('Reconciles', MetricUnit.Count, 1);
      return Promise.resolve('ok');
    }).use(withMetrics(metrics));
    await handler({}, { functionName: 'f', awsRequestId: 'r' } as never);
    expect([...emfDocuments(out), ...emfDocuments(log)]).toEqual([]);
  });
});
