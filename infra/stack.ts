import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import {
  ApiFunction,
  NodeQueues,
  ScheduledFunction,
  StateTables,
  StreamConsumer,
  type CodeFor,
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
}

/**
 * The whole Stratus control plane: state tables, one function per wiring row built from its
 * trigger type (HTTP → Function URL, stream → event source mapping, schedule → EventBridge rule),
 * least-privilege grants, and the IAM for node queues. No function is named here: a new wiring row
 * is deployed by this stack as it is.
 */
export class StratusStack extends Stack {
  public readonly state: StateTables;
  public readonly nodeQueues: NodeQueues;
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

    // The names shared/config.ts reads.
    const environment = {
      STRATUS_OBJECTS_TABLE: this.state.objects.tableName,
      STRATUS_CHANGES_TABLE: this.state.changes.tableName,
      STRATUS_QUEUE_PREFIX: queuePrefix,
    };

    for (const w of rows) {
      const id = constructId(w.name);
      const common = { wiring: w, environment, codeFor: props.codeFor };
      const t = w.trigger;
      let fn: lambda.Function;
      switch (t.type) {
        case 'http': {
          const api = new ApiFunction(this, id, { ...common, trigger: t });
          fn = api.function;
          new CfnOutput(this, `${id}Url`, {
            value: api.url.url,
            description: `Function URL of ${w.name}: the kubeconfig server is <url>clusters/<cluster>`,
          });
          break;
        }
        case 'stream':
          fn = new StreamConsumer(this, id, { ...common, trigger: t, table: this.state.byName(t.table) }).function;
          break;
        case 'schedule':
          fn = new ScheduledFunction(this, id, { ...common, trigger: t }).function;
          break;
        default: {
          const never: never = t;
          throw new Error(`${w.name}: unsupported trigger ${JSON.stringify(never)}`);
        }
      }
      const access = accessFor(w);
      for (const table of access.readWriteTables) this.state.byName(table).grantReadWriteData(fn);
      if (access.sendToNodeQueues) this.nodeQueues.grantSend(fn);
      this.functions.set(w.name, fn);
    }

    new CfnOutput(this, 'ObjectsTableName', { value: this.state.objects.tableName });
    new CfnOutput(this, 'ChangesTableName', { value: this.state.changes.tableName });
    new CfnOutput(this, 'QueuePrefix', { value: queuePrefix });
    new CfnOutput(this, 'NodeAgentPolicyArn', {
      value: this.nodeQueues.nodeAgentPolicy.managedPolicyArn,
      description: "Attach to the node agents' role (their SQS queues)",
    });
    Tags.of(this).add('app', 'stratus');
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
