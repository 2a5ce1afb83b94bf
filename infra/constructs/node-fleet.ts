import * as path from 'node:path';
import { Arn, ArnFormat, AssetHashType, Aws, BundlingOutput, DockerImage, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import {
  logGroupProps,
  nodeAgentBuildOptions,
  nodeLaunchTemplateProps,
  nodeMachineImage,
  nodeVpcProps,
  NODE_INSTANCE_TYPE,
  NODE_PAUSE_IMAGE,
} from '../defaults';
import { repoRoot } from './handler-function';

export interface NodeFleetProps {
  /** The api's Function URL (ends with `/`); agents use `${apiUrl}clusters/${tenant}`. */
  readonly apiUrl: string;
  /** The virtual cluster (tenant) these nodes join. */
  readonly tenant: string;
  /**
   * The kubelet relay's wss:// URL (the stack's KubeletRelay): agents then run in relay mode
   * (`--relay-url`), with no listening kubelet port; the API reaches them through the relay.
   * @default - direct mode
   */
  readonly relayUrl?: string;
  /** Prefix of node queue names (STRATUS_QUEUE_PREFIX), the same as the control plane's. */
  readonly queuePrefix: string;
  /** The node agents' queue policy (NodeQueues.nodeAgentPolicy): their own queues, nothing else. */
  readonly nodeAgentPolicy: iam.IManagedPolicy;
  /**
   * Name of the SSM SecureString parameter that holds a join token of `tenant` (npx stratus
   * cluster join-token NAME): each agent joins with it and gets a node identity of its own
   * (system:node:INSTANCE-ID), so no node credential is shared. CloudFormation cannot create
   * SecureStrings, so the operator puts it (docs/aws.md); agents read it at every start.
   * @default `/${queuePrefix}/${tenant}/node-token`
   */
  readonly tokenParameterName?: string;
  /**
   * Customer managed key of that parameter, when it is not encrypted with the AWS managed
   * `aws/ssm` key (whose key policy already lets account principals decrypt through SSM).
   * @default - the AWS managed key `aws/ssm`
   */
  readonly tokenParameterKey?: kms.IKey;
  /**
   * The VPC to launch nodes in.
   * @default - a new VPC with public subnets in 2 AZs and no NAT gateway (infra/defaults.ts nodeVpcProps)
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of `vpc` for the nodes. Nodes need egress to the internet (image registries, the
   * Function URL, SQS, SSM): public subnets, or private ones behind NAT.
   * @default - the public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default t4g.small (arm64: the AMI is the arm64 AL2023) */
  readonly instanceType?: ec2.InstanceType;
  /** @default 30 */
  readonly rootVolumeGiB?: number;
  /** @default 0: an idle deployment runs no instance */
  readonly minCapacity?: number;
  /**
   * The ceiling for scaling out (`aws autoscaling set-desired-capacity`) without a deployment.
   * A ceiling costs nothing; instances do.
   * @default 3
   */
  readonly maxCapacity?: number;
  /**
   * Desired capacity written into the template. Left unset, the group starts at `minCapacity`
   * and later deployments keep whatever it was scaled to; set, every deployment resets it.
   * @default - unset (starts at minCapacity, 0)
   */
  readonly desiredCapacity?: number;
  /** @default registry.k8s.io/pause:3.10 */
  readonly pauseImage?: string;
  /** Where scaling events are sent. @default - none */
  readonly notificationTopic?: sns.ITopic;
  /**
   * A prebuilt node agent (one ESM file) instead of bundling node-agent/main.ts with esbuild.
   * Unit tests only, for fast synthesis, like the functions' `codeFor`.
   * @default - bundle node-agent/main.ts with the local esbuild
   */
  readonly agentBundleFile?: string;
}

/** Where things live on a node. */
const AGENT_DIR = '/opt/stratus';
const AGENT_FILE = `${AGENT_DIR}/agent.mjs`;
const AGENT_ENV_FILE = '/etc/stratus/agent.env';

/**
 * The node fleet: an Auto Scaling group of Amazon Linux 2023 arm64 hosts, each running Docker and
 * the node agent (the kubelet's role) as a systemd service that joins one tenant's cluster.
 *
 * - Launch template from infra/defaults.ts: IMDSv2 only with hop limit 1, encrypted gp3 root, no
 *   key pair (no SSH); a security group without a single inbound rule. Shell access is SSM
 *   Session Manager.
 * - Instance role: the NodeQueues policy of its cluster (`${queuePrefix}-<cluster tag>-*` queues only), SSM managed instance
 *   core, read of the one token parameter and of the one agent object in the asset bucket.
 * - User data installs Docker and Node.js 22, fetches the agent bundle (an S3 asset built locally
 *   with esbuild from node-agent/main.ts), and runs `stratus agent --server <ApiUrl>clusters/<tenant>`
 *   with the token read from SSM at every start and the instance id as the node name.
 * - Capacity from props; by default 0 instances, so an idle deployment costs nothing.
 */
export class NodeFleet extends Construct {
  /** The cluster these nodes join. */
  public readonly tenant: string;
  public readonly vpc: ec2.IVpc;
  public readonly role: iam.Role;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly launchTemplate: ec2.LaunchTemplate;
  public readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  /** The node agent bundle on S3 (an asset). */
  public readonly agentAsset: s3assets.Asset;
  /** The SSM parameter the agents read their token from. */
  public readonly tokenParameterName: string;

  constructor(scope: Construct, id: string, props: NodeFleetProps) {
    super(scope, id);
    this.tenant = props.tenant;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(props.tenant)) {
      throw new Error(`NodeFleet: tenant ${JSON.stringify(props.tenant)} must be a DNS label`);
    }
    this.tokenParameterName = props.tokenParameterName ?? `/${props.queuePrefix}/${props.tenant}/node-token`;
    if (!this.tokenParameterName.startsWith('/')) {
      throw new Error(`NodeFleet: tokenParameterName must be a path (start with "/"), got ${this.tokenParameterName}`);
    }

    this.vpc = props.vpc ?? this.newVpc();
    const vpcSubnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PUBLIC };

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Stratus nodes: no inbound rules (SSM for shell access); all egress',
      allowAllOutbound: true,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `Stratus node agents of tenant ${props.tenant}`,
      managedPolicies: [props.nodeAgentPolicy, iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NodeToken',
        actions: ['ssm:GetParameter'],
        resources: [
          Arn.format(
            { service: 'ssm', resource: 'parameter', resourceName: this.tokenParameterName.slice(1), arnFormat: ArnFormat.SLASH_RESOURCE_NAME },
            Stack.of(this),
          ),
        ],
      }),
    );
    props.tokenParameterKey?.grantDecrypt(this.role);

    this.agentAsset = this.agentBundle(props.agentBundleFile);
    // Only the one object, not the whole bootstrap bucket.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NodeAgentBundle',
        actions: ['s3:GetObject'],
        resources: [this.agentAsset.bucket.arnForObjects(this.agentAsset.s3ObjectKey)],
      }),
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      ...nodeLaunchTemplateProps(props.rootVolumeGiB ?? 30),
      machineImage: nodeMachineImage(),
      instanceType: props.instanceType ?? new ec2.InstanceType(NODE_INSTANCE_TYPE),
      role: this.role,
      securityGroup: this.securityGroup,
      userData: this.userData(props),
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: this.vpc,
      vpcSubnets,
      launchTemplate: this.launchTemplate,
      minCapacity: props.minCapacity ?? 0,
      maxCapacity: props.maxCapacity ?? 3,
      desiredCapacity: props.desiredCapacity,
      healthChecks: autoscaling.HealthChecks.ec2(),
      notifications: props.notificationTopic ? [{ topic: props.notificationTopic }] : undefined,
    });
  }

  private newVpc(): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', nodeVpcProps);
    // Flow logs scale with traffic only (nothing while no node runs); they show what pods talked to.
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(new logs.LogGroup(this, 'FlowLogs', logGroupProps)),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    return vpc;
  }

  /** node-agent/main.ts bundled by the local esbuild into one file (or a prebuilt one). */
  private agentBundle(prebuilt: string | undefined): s3assets.Asset {
    if (prebuilt) return new s3assets.Asset(this, 'Agent', { path: prebuilt });
    return new s3assets.Asset(this, 'Agent', {
      path: path.join(repoRoot, 'node-agent'),
      // The bundle also holds shared/ and dependencies: hash what was built, not the folder.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never used: local bundling always succeeds or throws (no Docker on the build machines).
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
        outputType: BundlingOutput.SINGLE_FILE,
        local: {
          tryBundle(outputDir: string): boolean {
            buildSync({
              ...nodeAgentBuildOptions,
              absWorkingDir: repoRoot,
              entryPoints: [path.join(repoRoot, 'node-agent', 'main.ts')],
              outfile: path.join(outputDir, 'agent.mjs'),
              logLevel: 'error',
            });
            return true;
          },
        },
      },
    });
  }

  /**
   * Cloud-init user data (bash, as root, once at first boot). The token is not written to disk:
   * the wrapper reads it from SSM at every service start and hands it to the agent, whose CLI takes
   * `--token` today (so it is visible in the process list to local root; the node runs nothing
   * else that is not root or a container).
   */
  private userData(props: NodeFleetProps): ec2.UserData {
    const ud = ec2.UserData.forLinux();
    ud.addCommands(
      'set -euo pipefail',
      'dnf install -y docker nodejs22',
      'systemctl enable --now docker',
    );
    ud.addS3DownloadCommand({
      bucket: this.agentAsset.bucket,
      bucketKey: this.agentAsset.s3ObjectKey,
      localFile: AGENT_FILE,
      region: Aws.REGION,
    });
    ud.addCommands(
      `chmod 0644 ${AGENT_FILE}`,
      `install -d -m 0755 ${path.posix.dirname(AGENT_ENV_FILE)}`,
      `cat > ${AGENT_ENV_FILE} <<'EOF'`,
      `AWS_REGION=${Aws.REGION}`,
      `STRATUS_QUEUE_PREFIX=${props.queuePrefix}`,
      `STRATUS_SERVER=${props.apiUrl}clusters/${props.tenant}`,
      `STRATUS_TOKEN_PARAMETER=${this.tokenParameterName}`,
      `STRATUS_PAUSE_IMAGE=${props.pauseImage ?? NODE_PAUSE_IMAGE}`,
      `STRATUS_RELAY_URL=${props.relayUrl ?? ''}`,
      'EOF',
      `chmod 0600 ${AGENT_ENV_FILE}`,
      `cat > ${AGENT_DIR}/run-agent.sh <<'EOF'`,
      '#!/bin/bash',
      '# Starts the node agent: the instance id is the node name; it joins with the join token from SSM',
      '# (in its environment, never on a command line) and keeps its own node identity.',
      'set -euo pipefail',
      'imds=http://169.254.169.254/latest',
      'imds_token=$(curl -sf -X PUT "$imds/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")',
      'node_name=$(curl -sf -H "X-aws-ec2-metadata-token: $imds_token" "$imds/meta-data/instance-id")',
      'token=$(aws ssm get-parameter --name "$STRATUS_TOKEN_PARAMETER" --with-decryption --query Parameter.Value --output text)',
      `STRATUS_JOIN_TOKEN="$token" exec /usr/bin/node-22 ${AGENT_FILE} agent --server "$STRATUS_SERVER" --name "$node_name" --pause-image "$STRATUS_PAUSE_IMAGE" \${STRATUS_RELAY_URL:+--relay-url "$STRATUS_RELAY_URL"}`,
      'EOF',
      `chmod 0700 ${AGENT_DIR}/run-agent.sh`,
      "cat > /etc/systemd/system/stratus-agent.service <<'EOF'",
      '[Unit]',
      'Description=Stratus node agent',
      'After=docker.service network-online.target',
      'Requires=docker.service',
      'Wants=network-online.target',
      '[Service]',
      `EnvironmentFile=${AGENT_ENV_FILE}`,
      `ExecStart=${AGENT_DIR}/run-agent.sh`,
      // Stopping the agent leaves containers running; a restarted agent adopts them.
      'KillMode=process',
      'Restart=always',
      'RestartSec=5',
      'TimeoutStopSec=30',
      '[Install]',
      'WantedBy=multi-user.target',
      'EOF',
      'systemctl daemon-reload',
      'systemctl enable --now stratus-agent.service',
    );
    return ud;
  }
}
