import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { failureQueueProps, streamConsumerProps } from '../defaults';
import { assertSupported } from '../stream-filter';
import type { Trigger } from '../wiring';
import { createHandlerFunction, type HandlerFunctionProps } from './handler-function';

type StreamTrigger = Extract<Trigger, { type: 'stream' }>;

export interface StreamConsumerProps extends HandlerFunctionProps {
  /** The row's stream trigger: batch size, batching window, retries, bisect. */
  readonly trigger: StreamTrigger;
  /** The table whose stream feeds the function (must have a stream). */
  readonly table: dynamodb.ITable;
}

/**
 * A handler fed by a DynamoDB Streams event source mapping (the aws-dynamodbstreams-lambda
 * pattern): batch size, batching window, retry attempts and bisect-on-error from the wiring row;
 * always ReportBatchItemFailures (handlers return `batchItemFailures`), and an SQS on-failure
 * destination that keeps what still fails after the retries, so a poison record neither blocks
 * its shard for 24 hours nor disappears silently. The row's `filters` become the mapping's
 * FilterCriteria: records none of them matches never invoke the function (infra/stream-filter.ts;
 * the local runtime honours the same patterns).
 */
export class StreamConsumer extends Construct {
  public readonly function: lambda.Function;
  /** Where records go after the last retry (metadata only: shard and sequence numbers). */
  public readonly failureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    if (!props.table.tableStreamArn) {
      throw new Error(`${props.wiring.name}: table ${props.trigger.table} has no stream to consume`);
    }
    this.function = createHandlerFunction(this, props);
    this.failureQueue = new sqs.Queue(this, 'FailureQueue', failureQueueProps);
    // DynamoEventSource also grants the role the stream read actions (on this stream's ARN only).
    const filters = props.trigger.filters ?? [];
    assertSupported(filters);
    this.function.addEventSource(
      new DynamoEventSource(props.table, {
        ...streamConsumerProps(props.trigger, new SqsDlq(this.failureQueue)),
        ...(filters.length ? { filters: filters.map((p) => lambda.FilterCriteria.filter(p as Record<string, unknown>)) } : {}),
      }),
    );
  }
}
