import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { tables } from '../tables';
import { KubeletRelay } from './kubelet-relay';
import { NodeFleet } from './node-fleet';
import { NodeQueues } from './node-queues';
import { QueueConsumer } from './queue-consumer';
import { StateTables } from './state-tables';
import { StreamConsumer } from './stream-consumer';

/**
 * Runs the AWS Solutions rules of cdk-nag on every stack of `scope` at synthesis. cdk-nag 3 reports
 * through CDK's policy validation: any finding not acknowledged below fails `cdk synth`.
 */
export function applyNagChecks(scope: IConstruct): void {
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope, { verbose: true }));
}

/** One acknowledged cdk-nag finding: which rule (and finding), on which constructs, and why. */
export interface NagSuppression {
  /** Rule id, with the finding for multi-finding rules: `AwsSolutions-IAM5[Resource::...]`. */
  readonly id: string;
  /** Constructs it is acknowledged on (and their children); never the whole stack. */
  readonly on: readonly IConstruct[];
  readonly reason: string;
}

/**
 * Every cdk-nag finding this app accepts, with its reason: the one place to review them. Found by
 * construct type, so a new wiring row gets the same treatment as the existing ones.
 */
export function nagSuppressions(stack: Stack, opts: { readonly alarmTopic: boolean }): NagSuppression[] {
  const all = stack.node.findAll();
  const functions = all.filter((c): c is lambda.Function => c instanceof lambda.Function);
  const state = all.filter((c): c is StateTables => c instanceof StateTables);
  const queues = all.filter((c): c is NodeQueues => c instanceof NodeQueues);
  const consumers = all.filter((c): c is StreamConsumer => c instanceof StreamConsumer);
  const fleets = all.filter((c): c is NodeFleet => c instanceof NodeFleet);
  const relays = all.filter((c): c is KubeletRelay => c instanceof KubeletRelay);
  // Findings name resources the way cdk-nag prints them: `<LogicalId.Arn>`, `<AWS::Region>`.
  const flat = (value: string) => flattenCfnReference(stack.resolve(value));
  const managed = (name: string) => flat(iam.ManagedPolicy.fromAwsManagedPolicyName(name).managedPolicyArn);

  const out: NagSuppression[] = [
    {
      id: 'AwsSolutions-L1',
      on: functions,
      reason:
        'Node.js 22 on purpose: the handlers are bundled for node22 (infra/defaults.ts) and the local runtime and tests run them on Node 20/22. A runtime upgrade is its own change.',
    },
    {
      id: `AwsSolutions-IAM4[Policy::${managed('service-role/AWSLambdaBasicExecutionRole')}]`,
      on: functions,
      reason:
        'The AWS managed basic execution policy (CreateLogStream/PutLogEvents) is what CDK gives every function; each function writes only to its own log group with a retention.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      on: functions,
      reason:
        'Only actions without resource-level permissions: xray:PutTraceSegments/PutTelemetryRecords (active tracing) and dynamodb:ListStreams (event source mappings). A unit test asserts no other action has a `*` resource.',
    },
    {
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      on: functions,
      reason: "From the tables' read/write grant: data key actions on the one state key (resource is that key's ARN), which encrypts both tables.",
    },
    {
      id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      on: functions,
      reason: "From the tables' read/write grant: re-encryption on the one state key only (resource is that key's ARN).",
    },
  ];
  for (const s of state) {
    for (const name of ['objects', 'changes'] as const) {
      if (tables[name].globalIndexes.length === 0) continue;
      out.push({
        id: `AwsSolutions-IAM5[Resource::${flat(`${s.byName(name).tableArn}/index/*`)}]`,
        on: functions,
        reason: `Queries of the ${name} table's own GSIs (byNode: a node's pods); scoped to that table's indexes.`,
      });
    }
  }
  for (const q of queues) {
    out.push({
      id: `AwsSolutions-IAM5[Resource::${flat(q.queueArnPattern)}]`,
      on: functions,
      reason: `Node queues are created at run time by each node agent (${q.queuePrefix}-<cluster tag>-<cluster>-<node>-<hash>), so they have no ARN at deploy time; the control plane's statements are scoped to this deployment's prefix.`,
    });
    for (const { policy, arnPattern } of q.nodeAgentPolicies()) {
      out.push({
        id: `AwsSolutions-IAM5[Resource::${flat(arnPattern)}]`,
        on: [policy],
        reason: 'A node agent creates its own queue at run time, so it has no ARN at deploy time; the statement is scoped to its own cluster\'s queues (a fixed-width hash of the cluster in every name).',
      });
    }
  }
  out.push({
    id: 'AwsSolutions-SQS3',
    on: [...consumers.map((c) => c.failureQueue), ...all.filter((c): c is QueueConsumer => c instanceof QueueConsumer).map((c) => c.deadLetterQueue)],
    reason: "This queue is itself a dead-letter queue: the stream mapping's on-failure destination, holding metadata of records that failed every retry.",
  });
  for (const f of fleets) {
    out.push({
      id: `AwsSolutions-IAM4[Policy::${managed('AmazonSSMManagedInstanceCore')}]`,
      on: [f.role],
      reason: 'AmazonSSMManagedInstanceCore is what SSM Session Manager needs; it replaces SSH (no key pair, no inbound rule).',
    });
    if (!opts.alarmTopic) {
      out.push({
        id: 'AwsSolutions-AS3',
        on: [f.autoScalingGroup],
        reason: 'Scaling notifications go to the alarm topic when the stack is given one (alarmTopic); without it there is nowhere to send them.',
      });
    }
  }
  for (const r of relays) {
    out.push(
      {
        id: 'AwsSolutions-APIG4',
        on: [r.api],
        reason:
          "The kubelet relay authorizes in its $connect handler: the API side's one-time session key, or a node credential naming the session's node (shared/relay/session.ts authorizeRelaySide); $default and $disconnect take no authorizer. The bytes relayed are mutual TLS the relay cannot read.",
      },
      {
        id: 'AwsSolutions-APIG1',
        on: [r.stage],
        reason:
          'No access log: it would log every relayed message (each call is a dozen or more), a cost per call; the relay function logs every refused side, and API Gateway metrics count connections and messages.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${flat(`arn:${Aws.PARTITION}:execute-api:${Aws.REGION}:${Aws.ACCOUNT_ID}:${r.api.apiId}/*/*/@connections/*`)}]`,
        on: [r.function],
        reason: "execute-api:ManageConnections on this WebSocket API's own connections (any stage, any connection id: connection ids exist only at run time).",
      },
    );
  }
  return out.filter((s) => s.on.length > 0);
}

/** Acknowledges every finding of {@link nagSuppressions} on its constructs. */
export function applyNagSuppressions(stack: Stack, opts: { readonly alarmTopic: boolean }): void {
  for (const s of nagSuppressions(stack, opts)) {
    for (const c of s.on) Validations.of(c).acknowledge({ id: s.id, reason: s.reason });
  }
}

/** A resolved CloudFormation value as cdk-nag prints it in finding ids (its flattenCfnReference). */
function flattenCfnReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const o = node as Record<string, unknown>;
  if (o['Fn::Join']) {
    const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
    return items.map(flattenCfnReference).join(delimiter);
  }
  if (o['Fn::Sub']) return flattenCfnReference(o['Fn::Sub']);
  if (o['Fn::GetAtt']) {
    const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenCfnReference(resource)}.${flattenCfnReference(attribute)}>`;
  }
  if (o['Fn::ImportValue']) return flattenCfnReference(o['Fn::ImportValue']);
  if (o.Ref) return `<${flattenCfnReference(o.Ref)}>`;
  return JSON.stringify(node);
}
