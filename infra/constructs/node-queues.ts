import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { assertQueuePrefix } from '../defaults';
import { nodeQueueClusterPrefix } from '../../shared/config';

export interface NodeQueuesProps {
  /** Prefix of every node queue name (STRATUS_QUEUE_PREFIX); see shared/config.ts nodeQueueName. */
  readonly queuePrefix: string;
}

/**
 * The per-node SQS queues. They are not CloudFormation resources: a node agent creates its own
 * queue (and DLQ) when it registers, named `${queuePrefix}-<cluster tag>-<tenant>-<node>-<hash of the pair>` (shared/config.ts nodeQueueName; the tag is a fixed-width hash of the cluster),
 * so an idle tenant has no queue and no cost. What this construct owns is who may do what to
 * queues under the prefix:
 *
 * - node agents: create their queue, long-poll it, delete and re-time messages, set and read its
 *   attributes (redrive policy) -- the managed policy `nodeAgentPolicy`, for the node fleet's
 *   instance role (or any host's credentials);
 * - senders (the scheduler): find a queue's URL and send to it -- {@link grantSend}.
 *
 * The senders' statements name only `arn:...:sqs:<region>:<account>:${queuePrefix}-*`; a node agent
 * policy names only its cluster's `${queuePrefix}-<cluster tag>-*` (nodeAgentPolicyOf).
 */
export class NodeQueues extends Construct {
  public readonly queuePrefix: string;
  /** ARN pattern of every node queue of this deployment (and their DLQs). */
  public readonly queueArnPattern: string;
  private readonly agentPolicies = new Map<string, { policy: iam.ManagedPolicy; arnPattern: string }>();

  constructor(scope: Construct, id: string, props: NodeQueuesProps) {
    super(scope, id);
    assertQueuePrefix(props.queuePrefix);
    this.queuePrefix = props.queuePrefix;
    this.queueArnPattern = Arn.format(
      { service: 'sqs', resource: `${props.queuePrefix}-*`, arnFormat: ArnFormat.NO_RESOURCE_NAME },
      Stack.of(this),
    );
  }

  /**
   * The managed policy for the node agents of cluster `tenant` (attach to their role): their own
   * cluster's queues only, `${nodeQueueClusterPrefix}*` (a fixed-width hash of the cluster in
   * every name), never another cluster's. One per cluster, made on first use.
   */
  public nodeAgentPolicyOf(tenant: string): iam.ManagedPolicy {
    let entry = this.agentPolicies.get(tenant);
    if (!entry) {
      const pattern = nodeQueueClusterPrefix(this.queuePrefix, tenant);
      const policy = new iam.ManagedPolicy(this, `NodeAgentPolicy-${tenant}`, {
        description: `Stratus node agents of cluster ${tenant}: its own SQS queues (${pattern}*)`,
        statements: this.nodeAgentStatements(tenant),
      });
      entry = { policy, arnPattern: this.clusterArnPattern(tenant) };
      this.agentPolicies.set(tenant, entry);
    }
    return entry.policy;
  }

  /** The node agent policies made so far, each with the queue ARN pattern it is scoped to. */
  public nodeAgentPolicies(): { policy: iam.ManagedPolicy; arnPattern: string }[] {
    return [...this.agentPolicies.values()];
  }

  /** ARN pattern of cluster `tenant`'s node queues (and their DLQs). */
  public clusterArnPattern(tenant: string): string {
    return Arn.format({ service: 'sqs', resource: `${nodeQueueClusterPrefix(this.queuePrefix, tenant)}*`, arnFormat: ArnFormat.NO_RESOURCE_NAME }, Stack.of(this));
  }

  /** The statements a node agent of cluster `tenant` needs on its queues. */
  public nodeAgentStatements(tenant: string): iam.PolicyStatement[] {
    const pattern = this.clusterArnPattern(tenant);
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
        resources: [pattern],
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
