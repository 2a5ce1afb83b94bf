import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { failureQueueProps } from '../defaults';
import type { Trigger } from '../wiring';
import { createHandlerFunction, type HandlerFunctionProps } from './handler-function';

type QueueTrigger = Extract<Trigger, { type: 'queue' }>;

export interface QueueConsumerProps extends HandlerFunctionProps {
  readonly trigger: QueueTrigger;
  /** The queue's name (shared/config.ts names it; senders look it up by name). */
  readonly queueName: string;
}

/**
 * A handler fed by an SQS queue the stack owns (the controllers' tick queue): an event source
 * mapping with ReportBatchItemFailures, the queue's visibility timeout six times the function's
 * (AWS's advice for mappings), and a dead-letter queue after 5 receives so a poison message is
 * kept, not retried forever. A message costs nothing while it waits out its delay.
 */
export class QueueConsumer extends Construct {
  public readonly function: lambda.Function;
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueueConsumerProps) {
    super(scope, id);
    this.function = createHandlerFunction(this, props);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', failureQueueProps);
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: props.queueName,
      visibilityTimeout: Duration.seconds(props.wiring.timeoutSeconds * 6),
      retentionPeriod: Duration.days(1),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.trigger.batchSize,
        ...(props.trigger.maxBatchingWindowMs > 0 ? { maxBatchingWindow: Duration.seconds(Math.ceil(props.trigger.maxBatchingWindowMs / 1000)) } : {}),
        reportBatchItemFailures: true,
      }),
    );
  }
}
