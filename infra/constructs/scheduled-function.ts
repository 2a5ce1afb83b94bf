import { Annotations, Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { scheduleRateMinutes } from '../defaults';
import type { Trigger } from '../wiring';
import { createHandlerFunction, type HandlerFunctionProps } from './handler-function';

type ScheduleTrigger = Extract<Trigger, { type: 'schedule' }>;

export interface ScheduledFunctionProps extends HandlerFunctionProps {
  readonly trigger: ScheduleTrigger;
}

/**
 * A handler run on a rate schedule by an EventBridge rule. A rule rather than EventBridge
 * Scheduler because a rule's Lambda target receives the `Scheduled Event` (aws-lambda
 * ScheduledEvent) that the local runtime also sends, so the handler sees one event shape
 * everywhere; Scheduler would deliver a payload of our own making.
 *
 * EventBridge rates are whole minutes: a sub-minute `everySeconds` is rounded up, with a
 * synthesis warning (the local runtime keeps the seconds).
 */
export class ScheduledFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: ScheduledFunctionProps) {
    super(scope, id);
    this.function = createHandlerFunction(this, props);
    const { minutes, rounded } = scheduleRateMinutes(props.trigger.everySeconds);
    if (rounded) {
      Annotations.of(this).addWarningV2(
        'stratus:scheduleRounded',
        `${props.wiring.name}: every ${props.trigger.everySeconds} s is not a whole number of minutes; EventBridge runs it every ${minutes} min`,
      );
    }
    this.rule = new events.Rule(this, 'Schedule', {
      schedule: events.Schedule.rate(Duration.minutes(minutes)),
      description: `Stratus ${props.wiring.name}: every ${minutes} min`,
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 2 })],
    });
  }
}
