import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { controllerTicksQueueName } from '../shared/config';
import type { Construct } from 'constructs';
import {
  ApiFunction,
  applyNagSuppressions,
  KubeletRelay,
  Monitoring,
  NodeFleet,
  NodeQueues,
  QueueConsumer,
  ScheduledFunction,
  StateTables,
  StreamConsumer,
  type CodeFor,
  type MonitoredFunction,
  type NodeFleetProps,
} from './constructs';
import { defaultAccess, type FunctionAccess } from './defaults';
import { wiring as defaultWiring, type FunctionWiring } from './wiring';

export interface StratusStackProps extends StackProps {
  /**
   * Prefix of every node queue name; IAM for queues is scoped to `${queuePrefix}-*`. Give each
   * deployment in one account and region its own.
   * @default 'stratus' (the default of shared/config.ts)
   */
  readonly queuePrefix?: string;
  /**
   * The functions to deploy.
   * @default the wiring table of infra/wiring.ts
   */
  readonly wiring?: readonly FunctionWiring[];
  /**
   * Code for each function instead of bundling its entry with esbuild. Unit tests only (fast,
   * offline synthesis that needs no handler files).
   * @default - bundle `wiring.entry` with NodejsFunction
   */
  readonly codeFor?: CodeFor;
  /**
   * What each function may touch.
   * @default defaultAccess(trigger) from infra/defaults.ts
   */
  readonly accessFor?: (w: FunctionWiring) => FunctionAccess;
  /**
   * The node fleet (an Auto Scaling group of node agents joining one tenant), or `false` for none
   * (nodes joined by hand, docs/aws.md). Needs an HTTP row: the agents talk to the `api` row's URL.
   * @default - a fleet for tenant `default` with 0 instances (costs nothing until scaled out)
   */
  readonly nodeFleet?: NodeFleetOptions | false;
  /**
   * ARN of an SNS topic for alarm (and OK) notifications and the fleet's scaling events.
   * @default - none: alarms show on the dashboard and in the console only
   */
  readonly alarmTopicArn?: string;
  /**
   * Reserved concurrency of each HTTP row's function (the api): the most instances it may run at
   * once, set aside for it alone. A flood, even one the rate limits refuse in a few milliseconds,
   * can then never take the concurrency the scheduler and the controllers need from the account's
   * pool (docs/cost.md, "Fairness"). Lambda keeps 100 of the account's limit unreserved, so this
   * needs an account limit of at least N + 100 (new accounts may start at 10: leave it unset there).
   * CDK context: `-c apiReservedConcurrency=N`.
   * @default - none: the api draws from the account's unreserved pool
   */
  readonly apiReservedConcurrency?: number;
}

/** What a stack user chooses about the fleet; the URL, queue prefix and policy come from the stack. */
export interface NodeFleetOptions extends Partial<Omit<NodeFleetProps, 'apiUrl' | 'relayUrl' | 'queuePrefix' | 'nodeAgentPolicy' | 'notificationTopic' | 'vpc'>> {
  /**
   * An existing VPC for the nodes, looked up at synthesis (needs the stack's env: account and region).
   * @default - a new VPC (NodeFleet)
   */
  readonly vpcId?: string;
}

/**
 * The whole Stratus control plane: state tables, one function per wiring row built from its
 * trigger type (HTTP → Function URL, stream → event source mapping, schedule → EventBridge rule),
 * least-privilege grants, the IAM for node queues, alarms and a dashboard for every row, and the
 * node fleet (0 instances unless asked). No function is named here: a new wiring row is deployed
 * and monitored by this stack as it is. cdk-nag findings it accepts are acknowledged, with their
 * reasons, in constructs/nag.ts.
 */
export class StratusStack extends Stack {
  public readonly state: StateTables;
  public readonly nodeQueues: NodeQueues;
  public readonly monitoring: Monitoring;
  /** Undefined when `nodeFleet: false`. */
  public readonly nodeFleet?: NodeFleet;
  /** Every function, by wiring name. */
  public readonly functions = new Map<string, lambda.Function>();

  constructor(scope: Construct, id: string, props: StratusStackProps = {}) {
    super(scope, id, props);
    const rows = props.wiring ?? defaultWiring;
    const queuePrefix = props.queuePrefix ?? 'stratus';
    const accessFor = props.accessFor ?? ((w: FunctionWiring) => defaultAccess(w.trigger));
    assertUniqueNames(rows);

    this.state = new StateTables(this, 'State');
    this.nodeQueues = new NodeQueues(this, 'NodeQueues', { queuePrefix });

    // The KEK of Secrets' data keys (shared/secrets/kek.ts KmsKek; never run against real KMS yet):
    // the tables' own customer managed key, which rotates its material and keeps the old for decryption.
    const secretsKey = this.state.stateKey;

    // The names shared/config.ts reads.
    const environment = {
      STRATUS_SECRETS_KMS_KEY_ID: secretsKey.keyArn,
      STRATUS_OBJECTS_TABLE: this.state.objects.tableName,
      STRATUS_CHANGES_TABLE: this.state.changes.tableName,
      STRATUS_QUEUE_PREFIX: queuePrefix,
      // No tick queue wired: timers are run by the schedule alone (coordination.ts).
      ...(rows.some((r) => r.trigger.type === 'queue') ? {} : { STRATUS_TICKS_QUEUE: '' }),
    };

    const monitored: MonitoredFunction[] = [];
    let ticksQueue: sqs.IQueue | undefined;
    let relay: KubeletRelay | undefined;
    const urls = new Map<string, string>();
    for (const w of rows) {
      const id = constructId(w.name);
      const common = { wiring: w, environment, codeFor: props.codeFor };
      const t = w.trigger;
      let fn: lambda.Function;
      let failureQueue: MonitoredFunction['failureQueue'];
      switch (t.type) {
        case 'http': {
          const api = new ApiFunction(this, id, { ...common, trigger: t });
          fn = api.function;
          // A ceiling and a guarantee at once: the api can neither starve the stream consumers nor be starved.
          if (props.apiReservedConcurrency !== undefined) (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = props.apiReservedConcurrency;
          urls.set(w.name, api.url.url);
          new CfnOutput(this, `${id}Url`, {
            value: api.url.url,
            description: `Function URL of ${w.name}: the kubeconfig server is <url>clusters/<cluster>`,
          });
          break;
        }
        case 'stream': {
          const consumer = new StreamConsumer(this, id, { ...common, trigger: t, table: this.state.byName(t.table) });
          fn = consumer.function;
          failureQueue = consumer.failureQueue;
          break;
        }
        case 'schedule':
          fn = new ScheduledFunction(this, id, { ...common, trigger: t }).function;
          break;
        case 'queue': {
          const consumer = new QueueConsumer(this, id, { ...common, trigger: t, queueName: controllerTicksQueueName(queuePrefix) });
          fn = consumer.function;
          ticksQueue = consumer.queue;
          break;
        }
        case 'websocket': {
          if (relay) throw new Error(`${w.name}: only one websocket row (the kubelet relay) is supported`);
          relay = new KubeletRelay(this, id, { ...common, trigger: t, objects: this.state.objects });
          fn = relay.function;
          new CfnOutput(this, `${id}Url`, { value: relay.url, description: `WebSocket URL of ${w.name}: the node agents' --relay-url` });
          break;
        }
        default: {
          const never: never = t;
          throw new Error(`${w.name}: unsupported trigger ${JSON.stringify(never)}`);
        }
      }
      const access = accessFor(w);
      for (const table of access.readWriteTables) this.state.byName(table).grantReadWriteData(fn);
      if (access.sendToNodeQueues) this.nodeQueues.grantSend(fn);
      // Every function may read or write Secrets through the store: it wraps and unwraps data keys.
      secretsKey.grantEncryptDecrypt(fn);
      this.functions.set(w.name, fn);
      monitored.push({ wiring: w, function: fn, failureQueue });
    }

    // The API reaches relay-mode nodes through the relay (shared/relay/api-side.ts).
    if (relay) for (const w of rows) if (w.trigger.type === 'http') this.functions.get(w.name)!.addEnvironment('STRATUS_KUBELET_RELAY_URL', relay.url);

    // Whatever sets controller timers sends their wake-ups (functions/controllers/coordination.ts).
    if (ticksQueue) for (const w of rows) if (w.entry === 'functions/controllers/handler.ts') ticksQueue.grantSendMessages(this.functions.get(w.name)!);

    const alarmTopic = props.alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) : undefined;
    this.monitoring = new Monitoring(this, 'Monitoring', { functions: monitored, alarmTopic });

    if (props.nodeFleet !== false) {
      // The agents' server: the row named `api`, else the only HTTP row.
      const apiUrl = urls.get('api') ?? (urls.size === 1 ? [...urls.values()][0] : undefined);
      if (apiUrl === undefined) {
        throw new Error('nodeFleet: the wiring has no `api` HTTP row for node agents to talk to (or pass nodeFleet: false)');
      }
      const { vpcId, ...options } = props.nodeFleet ?? {};
      const fleetTenant = options.tenant ?? 'default';
      this.nodeFleet = new NodeFleet(this, 'NodeFleet', {
        ...options,
        tenant: fleetTenant,
        vpc: vpcId ? ec2.Vpc.fromLookup(this, 'NodeVpc', { vpcId }) : undefined,
        apiUrl,
        ...(relay ? { relayUrl: relay.url } : {}),
        queuePrefix,
        nodeAgentPolicy: this.nodeQueues.nodeAgentPolicyOf(fleetTenant),
        notificationTopic: alarmTopic,
      });
      new CfnOutput(this, 'NodeFleetGroupName', {
        value: this.nodeFleet.autoScalingGroup.autoScalingGroupName,
        description: 'Scale nodes with: aws autoscaling set-desired-capacity --auto-scaling-group-name <this> --desired-capacity N',
      });
      new CfnOutput(this, 'NodeTokenParameter', {
        value: this.nodeFleet.tokenParameterName,
        description: 'SSM SecureString the node agents read their token from (put it before scaling out)',
      });
    }

    new CfnOutput(this, 'ObjectsTableName', { value: this.state.objects.tableName });
    new CfnOutput(this, 'ChangesTableName', { value: this.state.changes.tableName });
    new CfnOutput(this, 'QueuePrefix', { value: queuePrefix });
    new CfnOutput(this, 'NodeAgentPolicyArn', {
      value: this.nodeQueues.nodeAgentPolicyOf(this.nodeFleet ? this.nodeFleet.tenant : 'default').managedPolicyArn,
      description: "Attach to the role of the fleet tenant's node agents elsewhere (that cluster's SQS queues only; other clusters: NodeQueues.nodeAgentPolicyOf)",
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    Tags.of(this).add('app', 'stratus');
    applyNagSuppressions(this, { alarmTopic: alarmTopic !== undefined });
  }
}

/** `api` → `Api`, `node-lifecycle` → `NodeLifecycle`: construct IDs (and output names) per row. */
export function constructId(name: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`wiring name ${JSON.stringify(name)} must be kebab-case`);
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function assertUniqueNames(rows: readonly FunctionWiring[]): void {
  const seen = new Set<string>();
  for (const w of rows) {
    const id = constructId(w.name);
    if (seen.has(id)) throw new Error(`wiring name ${w.name} is not unique`);
    seen.add(id);
  }
}
