/**
 * Secure defaults for every resource the CDK app makes, in one pure place (the AWS Solutions
 * Constructs `*-defaults.ts` idea): the constructs under infra/constructs/ only combine these with
 * what the wiring table and tables.ts say. Nothing here creates a resource; each function returns
 * props, so a reviewer can read the whole security posture on one page and tests can assert it.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { DynamoEventSourceProps } from 'aws-cdk-lib/aws-lambda-event-sources';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { BuildOptions } from 'esbuild';
import type { TableSpec } from './tables';
import type { FunctionWiring, TableName, Trigger } from './wiring';

// ---------------------------------------------------------------------------------------------
// Tables

/**
 * Props of a table built from its key schema (tables.ts): on-demand (an idle tenant costs
 * nothing), encrypted with the given customer managed key (Secrets live in `objects` and their
 * images pass through the `changes` watch log, so both use the key the operator controls),
 * point-in-time recovery on, and RETAIN: deleting the stack never deletes cluster state.
 *
 * GSIs are not table props in CDK; see {@link globalIndexProps}.
 */
export function tableProps(spec: TableSpec, encryptionKey: kms.IKey): dynamodb.TableProps {
  return {
    partitionKey: { name: spec.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: spec.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: true,
    // Stream consumers need the old image too (e.g. "nodeName was just set", "deletionTimestamp appeared").
    stream: spec.stream ? dynamodb.StreamViewType.NEW_AND_OLD_IMAGES : undefined,
    timeToLiveAttribute: spec.ttlAttribute,
  };
}

/** GSIs of a table, projecting ALL: readers of byNode (node agents via the api) need whole pods. */
export function globalIndexProps(spec: TableSpec): dynamodb.GlobalSecondaryIndexProps[] {
  return spec.globalIndexes.map((index) => ({
    indexName: index.name,
    partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.ALL,
  }));
}

/** The customer managed key for state at rest: yearly rotation, never deleted with the stack. */
export const stateKeyProps = {
  enableKeyRotation: true,
  removalPolicy: RemovalPolicy.RETAIN,
  description: 'Stratus: encrypts cluster state at rest (objects incl. Secrets, and the watch log)',
} as const;

// ---------------------------------------------------------------------------------------------
// Functions

export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;
export const FUNCTION_ARCHITECTURE = lambda.Architecture.ARM_64;
export const FUNCTION_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * Props every handler function gets, whatever its trigger and however its code is built.
 * Memory and timeout come from the wiring row; everything else is the same for all functions.
 */
export function functionProps(
  w: FunctionWiring,
  environment: Readonly<Record<string, string>>,
): Pick<
  lambda.FunctionProps,
  'runtime' | 'architecture' | 'memorySize' | 'timeout' | 'tracing' | 'loggingFormat' | 'environment' | 'description'
> {
  return {
    runtime: FUNCTION_RUNTIME,
    architecture: FUNCTION_ARCHITECTURE,
    memorySize: w.memoryMiB,
    timeout: Duration.seconds(w.timeoutSeconds),
    tracing: lambda.Tracing.ACTIVE,
    // JSON lines: the handlers already log JSON; CloudWatch then indexes the fields.
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: { ...environment, ...powertoolsEnvironment(w), NODE_OPTIONS: '--enable-source-maps' },
    description: `Stratus ${w.name} (${w.entry} ${w.handler}, ${w.trigger.type} trigger)`,
  };
}

/** CloudWatch namespace of the handlers' own (Powertools) metrics. */
export const METRICS_NAMESPACE = 'Stratus';

/**
 * What Powertools for AWS Lambda reads when the handlers adopt it (Logger's `service` key, Metrics'
 * namespace and `service` dimension). Set now so logs and metrics are named the same way from the
 * first handler that uses it, without another deployment.
 */
export function powertoolsEnvironment(w: FunctionWiring): Record<string, string> {
  return { POWERTOOLS_SERVICE_NAME: `stratus-${w.name}`, POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE };
}

/** The function's own log group (logRetention's custom resource is deprecated). */
export const logGroupProps: logs.LogGroupProps = {
  retention: FUNCTION_LOG_RETENTION,
  removalPolicy: RemovalPolicy.RETAIN,
};

/**
 * esbuild options for NodejsFunction: ESM (the repo is `"type": "module"`), with a `require`
 * shim for the CommonJS dependencies that call it, minified with source maps (NODE_OPTIONS
 * --enable-source-maps turns stack traces back into TypeScript lines). Always the local esbuild:
 * no Docker on the build machines.
 *
 * The AWS SDK is bundled rather than taken from the runtime, so the function runs the exact SDK
 * versions package-lock.json pins and the tests exercised.
 */
export const bundlingOptions: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  minify: true,
  sourceMap: true,
  bundleAwsSDK: true,
  forceDockerBundling: false,
};

/**
 * The api function's bundling: the same, plus the web dashboard's static files (index.html and
 * hashed assets), built by scripts/build-dashboard.mjs into `dashboard/` beside the bundled
 * handler, where functions/api/dashboard.ts looks for them.
 */
export const apiBundlingOptions: BundlingOptions = {
  ...bundlingOptions,
  commandHooks: {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir: string, outputDir: string) => [`node "${inputDir}/scripts/build-dashboard.mjs" --quiet --out "${outputDir}/dashboard"`],
  },
};

// ---------------------------------------------------------------------------------------------
// Stream consumers

/**
 * The on-failure destination of a stream consumer: records that still fail after the retries
 * land here (as metadata: shard, sequence numbers) for inspection and replay. 14 days, the SQS
 * maximum, so a weekend does not lose them; SQS-managed encryption; TLS only.
 */
export const failureQueueProps: sqs.QueueProps = {
  retentionPeriod: Duration.days(14),
  encryption: sqs.QueueEncryption.SQS_MANAGED,
  enforceSSL: true,
  removalPolicy: RemovalPolicy.RETAIN,
};

type StreamTrigger = Extract<Trigger, { type: 'stream' }>;

/**
 * Event source mapping props from a wiring row's stream trigger. Always ReportBatchItemFailures
 * (the handlers return partial batch responses) and an on-failure destination; TRIM_HORIZON so a
 * consumer deployed after writes began still sees them (the scheduler must not miss an unbound pod).
 * ParallelizationFactor stays 1: records of one item then arrive in order, which the level-
 * triggered consumers do not need but the local runtime also gives.
 */
export function streamConsumerProps(
  trigger: StreamTrigger,
  onFailure: lambda.IEventSourceDlq,
): DynamoEventSourceProps {
  return {
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: trigger.batchSize,
    maxBatchingWindow: Duration.seconds(Math.ceil(trigger.maxBatchingWindowMs / 1000)),
    retryAttempts: trigger.maxRetryAttempts,
    bisectBatchOnError: trigger.bisectOnError,
    reportBatchItemFailures: true,
    onFailure,
  };
}

// ---------------------------------------------------------------------------------------------
// Schedules

/**
 * EventBridge rates are whole minutes (at least one). The local runtime honours seconds; on AWS a
 * sub-minute or fractional schedule is rounded UP to whole minutes and the stack warns about it.
 */
export function scheduleRateMinutes(everySeconds: number): { minutes: number; rounded: boolean } {
  const minutes = Math.max(1, Math.ceil(everySeconds / 60));
  return { minutes, rounded: minutes * 60 !== everySeconds };
}

// ---------------------------------------------------------------------------------------------
// Access

/**
 * What a function may touch. Derived from the trigger by {@link defaultAccess}; the stack accepts
 * an override per row (`accessFor`) until the wiring table carries it itself.
 */
export interface FunctionAccess {
  /** Tables the function reads and writes (item-level actions only; never `dynamodb:*`). */
  readonly readWriteTables: readonly TableName[];
  /** May send to node queues (`${queuePrefix}-*`): GetQueueUrl + SendMessage. */
  readonly sendToNodeQueues: boolean;
}

/**
 * Every function writes through the store, which appends to the watch log in the same
 * transaction, so every function reads and writes both tables. Stream consumers (the scheduler,
 * and later the controllers that delete pods) also tell node agents through their queues; the api
 * and schedules do not (node agents reconcile from the api).
 */
export function defaultAccess(trigger: Trigger): FunctionAccess {
  // The kubelet relay writes only its session and connection items (changes); it reads node
  // tokens (objects) through its construct's read grant.
  if (trigger.type === 'websocket') return { readWriteTables: ['changes'], sendToNodeQueues: false };
  return {
    readWriteTables: ['objects', 'changes'],
    // The api tells a relay-mode node of each relay session on its queue (shared/relay/api-side.ts).
    sendToNodeQueues: trigger.type === 'stream' || trigger.type === 'http',
  };
}

/** SQS queue names allow [A-Za-z0-9_-]; the prefix is also used in IAM ARNs, so no wildcards. */
export function assertQueuePrefix(prefix: string): void {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) {
    throw new Error(`queuePrefix must match [A-Za-z0-9_-]{1,40}, got ${JSON.stringify(prefix)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Alarms

/** One alarm's rule: `statistic` of the metric over `period`, breaching at >= `threshold` for `evaluationPeriods`. */
export interface AlarmRule {
  readonly threshold: number;
  readonly statistic: string;
  readonly period: Duration;
  readonly evaluationPeriods: number;
}

/**
 * The alarm rules of the control plane. Every alarm treats missing data as not breaching: an idle
 * deployment publishes no Lambda, Function URL or SQS data points and must stay OK.
 */
export const alarmRules = {
  /** Any invocation error (a handler crash or timeout; the api turns handled errors into Status responses). */
  functionErrors: { threshold: 1, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), evaluationPeriods: 1 },
  /** Any throttle: the account's concurrency is exhausted, requests or batches are waiting. */
  functionThrottles: { threshold: 1, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), evaluationPeriods: 1 },
  /**
   * A stream consumer a minute behind for three minutes: pods wait that long to be scheduled, and
   * DynamoDB Streams keep records for 24 h only.
   */
  iteratorAge: { threshold: 60_000, statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(1), evaluationPeriods: 3 },
  /** Any record on a stream consumer's on-failure queue: it failed every retry and needs a look. */
  failureQueueDepth: { threshold: 1, statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(5), evaluationPeriods: 1 },
  /** 5xx from a Function URL (an unhandled error becomes InternalError; timeouts and throttles too). */
  url5xx: { threshold: 5, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), evaluationPeriods: 1 },
  /**
   * Function URL latency, in ms. BUFFERED rows: p99. Streaming rows serve watches and log follows
   * that stay open up to the timeout by design and fill the top percentiles, so there the alarm
   * watches the median, which ordinary requests (gets, lists, status patches, Lease renewals) make up.
   */
  urlLatency: { threshold: 3_000, statistic: cloudwatch.Stats.p(99), period: Duration.minutes(5), evaluationPeriods: 3 },
  urlLatencyStreaming: { threshold: 3_000, statistic: cloudwatch.Stats.p(50), period: Duration.minutes(5), evaluationPeriods: 3 },
} as const satisfies Record<string, AlarmRule>;

// ---------------------------------------------------------------------------------------------
// Node fleet

/**
 * Node hosts: Amazon Linux 2023 on Graviton (the functions are arm64 too), resolved at deploy time
 * from AWS's public SSM parameter, so every deployment launches the current patched AMI.
 */
export const nodeMachineImage = (): ec2.IMachineImage =>
  ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 });

/** The smallest Graviton burstable size with room for Docker, the agent and a few pods. */
export const NODE_INSTANCE_TYPE = 't4g.small';

/** Image of the pod infra ("pause") container on AWS nodes: the upstream multi-arch image. */
export const NODE_PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

/**
 * Launch template props every node gets:
 * - IMDSv2 only, with a PUT hop limit of 1, so containers on Docker's bridge (one hop further)
 *   cannot get a metadata token and with it the instance role's credentials; the agent on the
 *   host can. (AL2023 AMIs default to a hop limit of 2, which would let pods in.)
 * - an encrypted gp3 root volume (images and container layers live there), deleted with the node;
 * - no key pair: no SSH. Operators use SSM Session Manager, which needs no inbound rule.
 * - basic (5-minute) monitoring: detailed monitoring costs per instance and the agent reports
 *   node status to the API itself.
 */
export function nodeLaunchTemplateProps(rootVolumeGiB: number): Pick<
  ec2.LaunchTemplateProps,
  'requireImdsv2' | 'httpTokens' | 'httpPutResponseHopLimit' | 'httpEndpoint' | 'instanceMetadataTags' | 'blockDevices' | 'detailedMonitoring'
> {
  return {
    requireImdsv2: true,
    httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
    httpPutResponseHopLimit: 1,
    httpEndpoint: true,
    instanceMetadataTags: false,
    blockDevices: [
      {
        deviceName: '/dev/xvda', // the AL2023 root device
        volume: ec2.BlockDeviceVolume.ebs(rootVolumeGiB, {
          encrypted: true,
          volumeType: ec2.EbsDeviceVolumeType.GP3,
          deleteOnTermination: true,
        }),
      },
    ],
    detailedMonitoring: false,
  };
}

/**
 * The VPC the fleet makes when none is given: public subnets in two AZs and no NAT gateway.
 * Nodes get public IPv4 addresses for egress (image pulls, the Function URL, SQS, SSM) and a
 * security group with no inbound rule at all, so nothing on the internet can open a connection
 * to them. A NAT gateway would cost about $33 per month per AZ while idle, which breaks "an idle
 * deployment costs nothing"; bring your own VPC (props.vpc) for private subnets behind NAT.
 */
export const nodeVpcProps: ec2.VpcProps = {
  maxAzs: 2,
  natGateways: 0,
  subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
  // Nothing uses the default security group; restricting it would add a custom-resource Lambda.
  restrictDefaultSecurityGroup: false,
};

/**
 * esbuild options for the node agent: one self-contained ESM file for Node 22 (the
 * `node-agent/main.ts` CLI), with the `require`/`__dirname` shims its CommonJS dependencies need.
 * ssh2's optional native addons (dockerode pulls ssh2 in for ssh:// Docker hosts, which the agent
 * does not use) stay out: they would be this machine's architecture, not the node's, and ssh2
 * falls back to pure JavaScript when they are missing. Not minified: stack traces on a node then
 * name real functions without shipping a source map.
 */
export const nodeAgentBuildOptions: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  mainFields: ['module', 'main'],
  external: ['*.node'],
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  banner: {
    js: [
      "import { createRequire as __stratusCreateRequire } from 'node:module';",
      "import { fileURLToPath as __stratusFileURLToPath } from 'node:url';",
      "import { dirname as __stratusDirname } from 'node:path';",
      'const require = __stratusCreateRequire(import.meta.url);',
      'const __filename = __stratusFileURLToPath(import.meta.url);',
      'const __dirname = __stratusDirname(__filename);',
    ].join(' '),
  },
};
