/**
 * The functions' own metrics as CloudWatch embedded metric format (EMF) documents, through
 * @aws-lambda-powertools/metrics: printed to stdout at the end of each invocation, which on AWS
 * CloudWatch Logs turns into metrics in namespace `Stratus` with no PutMetricData call (no cost
 * per request beyond the log bytes). Locally the same documents are printed when
 * STRATUS_PRINT_METRICS=1 (the local stack sets POWERTOOLS_METRICS_DISABLED otherwise, so a
 * terminal is not flooded with one document per request).
 *
 * Dimensions are the service only (the function), so the number of metric series stays fixed
 * whatever the traffic: per-tenant or per-resource detail belongs in logs, not in metric names.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';

export const METRICS_NAMESPACE = 'Stratus';
export { MetricUnit };

/** Powertools' own diagnostics, less its note about an empty flush (an idle tick has nothing to count). */
const quietLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('No application metrics to publish')) return;
    console.warn(...args);
  },
  error: (...args: unknown[]) => console.error(...args),
};

export const functionMetrics = (serviceName: string): Metrics => new Metrics({ namespace: METRICS_NAMESPACE, serviceName, logger: quietLogger });

/**
 * Middy middleware: publishes the invocation's metrics (and ColdStart once) when it ends, also on
 * errors. Every invocation counts one `Invocations`, so no document is ever empty (powertools
 * warns on stdout about an empty one, e.g. a schedule tick with nothing due).
 */
export function withMetrics(metrics: Metrics): ReturnType<typeof logMetrics> {
  const inner = logMetrics(metrics, { captureColdStartMetric: true });
  return {
    ...inner,
    before: async (request) => {
      await inner.before?.(request);
      metrics.addMetric('Invocations', MetricUnit.Count, 1);
    },
  };
}
