import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alarmRules, type AlarmRule } from '../defaults';
import type { FunctionWiring } from '../wiring';

/** One deployed wiring row, as the monitoring sees it. */
export interface MonitoredFunction {
  readonly wiring: FunctionWiring;
  readonly function: lambda.IFunction;
  /** The on-failure queue of a stream consumer. */
  readonly failureQueue?: sqs.IQueue;
}

export interface MonitoringProps {
  readonly functions: readonly MonitoredFunction[];
  /**
   * Where alarms (and their return to OK) are sent.
   * @default - no actions: alarms show on the dashboard and in the console only
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Name of the dashboard.
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;
}

/**
 * Alarms and a dashboard for the control plane, derived from the wiring like everything else, so
 * a new row is monitored without a change here:
 * - every function: Errors and Throttles;
 * - stream rows: IteratorAge of the function (how far the mapping is behind the table's stream)
 *   and the depth of its on-failure queue;
 * - HTTP rows: Url5xxCount and UrlRequestLatency of the Function URL (AWS/Lambda, dimension
 *   FunctionName), with Url4xxCount and UrlRequestCount on the dashboard.
 * Rules (thresholds, statistics, periods) come from infra/defaults.ts `alarmRules`. Missing data is
 * never breaching: an idle deployment publishes nothing and must stay OK.
 */
export class Monitoring extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });

    const rows: cloudwatch.IWidget[][] = [];
    for (const m of props.functions) {
      const w = m.wiring;
      const fn = m.function;
      const widgets: cloudwatch.IWidget[] = [];
      const errors = this.alarm(props, `${w.name}-errors`, `${w.name}: invocation errors`, fn.metricErrors(), alarmRules.functionErrors);
      const throttles = this.alarm(props, `${w.name}-throttles`, `${w.name}: throttled invocations`, fn.metricThrottles(), alarmRules.functionThrottles);
      widgets.push(
        graph(`${w.name}: invocations, errors, throttles`, [fn.metricInvocations(), fn.metricErrors(), fn.metricThrottles()]),
        graph(`${w.name}: duration (p50, p99; timeout ${w.timeoutSeconds} s)`, [
          fn.metricDuration({ statistic: cloudwatch.Stats.p(50) }),
          fn.metricDuration({ statistic: cloudwatch.Stats.p(99) }),
        ]),
      );
      const alarmsOfRow = [errors, throttles];

      const t = w.trigger;
      if (t.type === 'http') {
        const url5xx = fn.metric('Url5xxCount', { statistic: cloudwatch.Stats.SUM });
        const latencyRule = t.streaming ? alarmRules.urlLatencyStreaming : alarmRules.urlLatency;
        const latency = fn.metric('UrlRequestLatency', { statistic: latencyRule.statistic });
        alarmsOfRow.push(
          this.alarm(props, `${w.name}-url-5xx`, `${w.name}: Function URL 5xx responses`, url5xx, alarmRules.url5xx),
          this.alarm(props, `${w.name}-url-latency`, `${w.name}: Function URL latency ${latencyRule.statistic}`, latency, latencyRule),
        );
        widgets.push(
          graph(`${w.name}: Function URL requests, 4xx, 5xx`, [
            fn.metric('UrlRequestCount', { statistic: cloudwatch.Stats.SUM }),
            fn.metric('Url4xxCount', { statistic: cloudwatch.Stats.SUM }),
            url5xx,
          ]),
          graph(`${w.name}: Function URL latency (ms)`, [
            fn.metric('UrlRequestLatency', { statistic: cloudwatch.Stats.p(50) }),
            fn.metric('UrlRequestLatency', { statistic: cloudwatch.Stats.p(99) }),
          ]),
        );
      } else if (t.type === 'stream') {
        const iteratorAge = fn.metric('IteratorAge', { statistic: alarmRules.iteratorAge.statistic });
        alarmsOfRow.push(this.alarm(props, `${w.name}-iterator-age`, `${w.name}: behind the ${t.table} stream`, iteratorAge, alarmRules.iteratorAge));
        widgets.push(graph(`${w.name}: iterator age (ms)`, [iteratorAge]));
        if (m.failureQueue) {
          const depth = m.failureQueue.metricApproximateNumberOfMessagesVisible({ statistic: alarmRules.failureQueueDepth.statistic });
          alarmsOfRow.push(
            this.alarm(props, `${w.name}-failed-records`, `${w.name}: stream records that failed every retry (on-failure queue)`, depth, alarmRules.failureQueueDepth),
          );
          widgets.push(graph(`${w.name}: on-failure queue depth`, [depth]));
        }
      }
      rows.push([new cloudwatch.AlarmStatusWidget({ title: `${w.name}: alarms`, alarms: alarmsOfRow, width: 24, height: 2 })], widgets);
    }
    for (const row of rows) this.dashboard.addWidgets(...row);
  }

  private alarm(props: MonitoringProps, id: string, description: string, metric: cloudwatch.Metric, rule: AlarmRule): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: metric.with({ statistic: rule.statistic, period: rule.period }),
      threshold: rule.threshold,
      evaluationPeriods: rule.evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Stratus ${description}`,
    });
    if (props.alarmTopic) {
      alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(props.alarmTopic));
    }
    this.alarms.push(alarm);
    return alarm;
  }
}

function graph(title: string, metrics: cloudwatch.IMetric[]): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left: metrics, width: 12, height: 6 });
}
