import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { assertQueuePrefix } from '../defaults';

export interface NodeQueuesProps {
  /** Prefix of every node queue name (STRATUS_QUEUE_PREFIX); see shared/config.ts nodeQueueName. */
  readonly queuePrefix: string;
}

/**
 * The per-node SQS queues. They are not CloudFormation resources: a node agent creates its own
 * queue (and DLQ) when it registers, named `${queuePrefix}-<tenant>-<node>-<hash of the pair>` (shared/config.ts nodeQueueName),
 * so an idle tenant has no queue and no cost. What this construct owns is who may do what to
 * queues under the prefix:
 *
 * - node agents: create their queue, long-poll it, delete and re-time messages, set and read its
 *   attributes (redrive policy) -- the managed policy `nodeAgentPolicy`, for the node fleet's
 *   instance role (or any host's credentials);
 * - senders (the scheduler): find a queue's URL and send to it -- {@link grantSend}.
 *
 * Every statement names only `arn:...:sqs:<region>:<account>:${queuePrefix}-*`.
 */
export class NodeQueues extends Construct {
  public readonly queuePrefix: string;
  /** ARN pattern of every node queue of this deployment (and their DLQs). */
  public readonly queueArnPattern: string;
  /** Attach to the node agents' role. */
  public readonly nodeAgentPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: NodeQueuesProps) {
    super(scope, id);
    assertQueuePrefix(props.queuePrefix);
    this.queuePrefix = props.queuePrefix;
    this.queueArnPattern = Arn.format(
      { service: 'sqs', resource: `${props.queuePrefix}-*`, arnFormat: ArnFormat.NO_RESOURCE_NAME },
      Stack.of(this),
    );
    this.nodeAgentPolicy = new iam.ManagedPolicy(this, 'NodeAgentPolicy', {
      description: `Stratus node agents: their own SQS queues (${props.queuePrefix}-*)`,
      statements: this.nodeAgentStatements(),
    });
  }

  /** The statements a node agent needs on its queues. */
  public nodeAgentStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'NodeQueues',
        actions: [
          'sqs:CreateQueue',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:SetQueueAttributes',
          'sqs:GetQueueAttributes',
        ],
        resources: [this.queueArnPattern],
      }),
    ];
  }

  /** Lets `grantee` (the scheduler) look up node queues and send placements to them. */
  public grantSend(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['sqs:GetQueueUrl', 'sqs:SendMessage'],
      resourceArns: [this.queueArnPattern],
    });
  }
}
